"""A benchmark's trial results: one JSON Lines file, ``OUT/trials.jsonl``, beside its ``results.json``.

Each finished trial (complete or failed) appends one line::

    {"trial": NAME, "sha256": HEX, "record": RECORD}

``RECORD`` is the trial's result record (what :func:`hwenvs.benchmark.trials.run_trial` builds, the content a
per-trial file held before) written compactly, and ``HEX`` the sha256 of exactly that compact text, so a line can be
checked on its own.

Guarantees:

* **Whole lines.** A line is built in memory, then appended with one write under an exclusive ``fcntl.flock`` on the
  file, flushed and ``fsync``-ed before the lock is released: two workers of a local pool, or Ray trials on one
  machine, never interleave. Readers take the shared lock, so they never see a line half written.
* **Validated on read.** A line that is not JSON, lacks a field or fails its checksum (a write cut short by a kill or
  a full disk, or a hand edit) is ignored with a :class:`TornLineWarning`: its trial counts as not finished and runs
  again. A writer that finds the file not ending in a newline starts a new line first, so a torn line never spoils
  the next one.
* **The last line wins.** A trial run again (a failure, a changed spec) appends a new line; readers take the last
  valid line of each trial. Failed trials are lines too (status ``"failed"`` with the traceback), so a run's whole
  history is in one file; a rerun that succeeds supersedes them.
* **Legacy files.** Runs from before the store kept one file per trial, ``OUT/trials/NAME.json``. They are still read
  (the store's line wins where both exist), and the first append into a folder that has them converts them: appended
  in the order of their names, the store ``fsync``-ed, and only then the files removed. :func:`convert` does the
  same on its own (``python -m hwenvs.benchmark.store OUT...``). Checkpoints of unfinished trials
  (``OUT/trials/NAME.ckpt``) stay files.

Where ``fcntl`` does not exist (Windows) the lock is skipped: one writer at a time is then the caller's to ensure.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows: no advisory locks (see the module's docstring)
    fcntl = None  # type: ignore[assignment]  # the module's name, None where it does not exist

STORE_NAME = "trials.jsonl"
"""The store's file name in a benchmark's output folder."""

LEGACY_FOLDER = "trials"
"""The folder of a benchmark's per-trial files before the store (and of its checkpoints still)."""

_CACHE: dict[str, tuple[tuple[int, int, int], dict[str, dict[str, Any]]]] = {}
"""Parsed stores by path, with the (inode, size, mtime) they were parsed at: every trial of a benchmark asks whether
it is finished, and parsing a store of hundreds of searches once per trial would cost seconds."""


class TornLineWarning(RuntimeWarning):
    """A line of a trial store that is not a whole, valid line (ignored: its trial runs again)."""


def encode_line(name: str, record: Mapping[str, Any]) -> bytes:
    """One store line for ``record`` (newline included).

    :param name: the trial's name.
    :param record: its result record (JSON values; NaN allowed, as in the per-trial files).
    """
    text = _compact(record)
    envelope = {"trial": name, "sha256": hashlib.sha256(text.encode()).hexdigest(), "record": json.loads(text)}
    return (_compact(envelope) + "\n").encode()


def decode_line(line: bytes) -> tuple[str, dict[str, Any]] | None:
    """(trial name, record) of a valid line; None for a torn or corrupt one."""
    try:
        envelope = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(envelope, dict) or set(envelope) != {"trial", "sha256", "record"}:
        return None
    name, digest, record = envelope["trial"], envelope["sha256"], envelope["record"]
    if not isinstance(name, str) or not isinstance(record, dict):
        return None
    # the compact text of a parsed record is the text that was hashed: Python's JSON round trip is exact
    if hashlib.sha256(_compact(record).encode()).hexdigest() != digest:
        return None
    return name, record


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=True)


class TrialStore:
    """The trial results of one benchmark output folder.

    :param out: the benchmark's output folder.
    """

    def __init__(self, out: str | os.PathLike) -> None:
        self.out = Path(out)
        self.path = self.out / STORE_NAME
        self.legacy_folder = self.out / LEGACY_FOLDER

    def records(self) -> dict[str, dict[str, Any]]:
        """The last valid record of each trial in the store file (legacy files not included), by trial name.

        Do not modify what it returns: it is shared with later calls until the file changes.
        """
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        key, stamp = str(self.path.resolve()), (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        cached = _CACHE.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        with open(self.path, "rb") as handle, _locked(handle, exclusive=False):
            data = handle.read()
            stat = os.fstat(handle.fileno())
        records = self._parse(data)
        _CACHE[key] = ((stat.st_ino, stat.st_size, stat.st_mtime_ns), records)
        return records

    def _parse(self, data: bytes) -> dict[str, dict[str, Any]]:
        records: dict[str, dict[str, Any]] = {}
        for number, line in enumerate(data.split(b"\n"), start=1):
            if not line.strip():
                continue
            decoded = decode_line(line)
            if decoded is None:
                warnings.warn(
                    f"{self.path}, line {number}: a torn or corrupt line is ignored (its trial runs again)",
                    TornLineWarning,
                    stacklevel=3,
                )
                continue
            records[decoded[0]] = decoded[1]
        return records

    def legacy_path(self, name: str) -> Path:
        """Where a run from before the store kept trial ``name``'s result."""
        return self.legacy_folder / f"{name}.json"

    def get(self, name: str) -> dict[str, Any] | None:
        """Trial ``name``'s record: the store's last valid line, else its legacy file; None if neither (or an
        unreadable legacy file: a trial to run again). The caller's own copy: changing it changes nothing stored."""
        record = self.records().get(name)
        return copy.deepcopy(record) if record is not None else _read_json(self.legacy_path(name))

    def names(self) -> list[str]:
        """Every trial with a record, in the store's order, then legacy files not yet converted (by name)."""
        names = list(self.records())
        legacy = sorted(p.stem for p in self.legacy_folder.glob("*.json")) if self.legacy_folder.is_dir() else []
        return names + [n for n in legacy if n not in names]

    def append(self, name: str, record: Mapping[str, Any]) -> None:
        """Append ``record`` as trial ``name``'s latest result (converting the folder's legacy files first).

        :raises OSError: the folder cannot be written (nothing half written stays valid).
        """
        self._write([(name, encode_line(name, record))])

    def convert(self) -> int:
        """Move the folder's legacy per-trial files into the store; returns how many were converted."""
        return self._write([])

    def _write(self, lines: list[tuple[str, bytes]]) -> int:
        self.out.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        with open(self.path, "a+b") as handle, _locked(handle, exclusive=True):
            legacy = self._legacy_lines(handle)
            handle.seek(0, os.SEEK_END)
            if handle.tell() > 0:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":  # a line a kill cut short: it stays alone, and invalid
                    handle.write(b"\n")
            payload = b"".join(line for _, _, line in legacy) + b"".join(line for _, line in lines)
            if payload:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            if created:
                _fsync_folder(self.out)
            # only once the store holds them durably: a kill before this point leaves both, and the store wins
            for _, path, _ in legacy:
                path.unlink(missing_ok=True)
        return len(legacy)

    def _legacy_lines(self, handle: IO[bytes]) -> list[tuple[str, Path, bytes]]:
        """The legacy files to convert, in the order of their names: (name, the file, the line to append; empty
        where the store already holds the trial, whose line is the newer one, see :meth:`get`).

        :param handle: the store, opened and locked by the caller (a second open would wait on its own lock).
        """
        paths = sorted(self.legacy_folder.glob("*.json")) if self.legacy_folder.is_dir() else []
        if not paths:
            return []
        handle.seek(0)
        held = self._parse(handle.read())
        out = []
        for path in paths:
            record = _read_json(path)
            if record is None:
                warnings.warn(f"{path}: not a readable trial result, left as it is", TornLineWarning, stacklevel=4)
                continue
            out.append((path.stem, path, b"" if path.stem in held else encode_line(path.stem, record)))
        return out


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@contextmanager
def _locked(handle: IO[bytes], exclusive: bool) -> Iterator[None]:
    """``flock`` on ``handle`` (exclusive for writers, shared for readers) for the block."""
    if fcntl is None:
        yield
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
    try:
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _fsync_folder(folder: Path) -> None:
    """Make a new file's name durable (its folder's entry), where the platform allows."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a folder: the data itself is already synced
    finally:
        os.close(fd)


def convert(out: str | os.PathLike) -> int:
    """Convert a benchmark folder's legacy per-trial files into its store (see :class:`TrialStore`).

    :param out: the benchmark's output folder.
    :returns: how many files were converted.
    """
    return TrialStore(out).convert()


def main(argv: list[str] | None = None) -> int:
    """``python -m hwenvs.benchmark.store OUT...``: convert each benchmark folder's legacy per-trial files."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m hwenvs.benchmark.store",
        description="Convert benchmark folders' per-trial result files (OUT/trials/*.json, before 0.2's store) into "
        "their trial store, OUT/trials.jsonl; the files are removed once the store is on disk.",
    )
    parser.add_argument("folders", nargs="+", type=Path, metavar="OUT", help="a benchmark's output folder")
    args = parser.parse_args(argv)
    missing = [str(f) for f in args.folders if not f.is_dir()]
    if missing:
        parser.error(f"not a folder: {', '.join(missing)} (give the --out folder of a benchmark)")
    for folder in args.folders:
        print(f"{folder}: {convert(folder)} trial files converted into {folder / STORE_NAME}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
