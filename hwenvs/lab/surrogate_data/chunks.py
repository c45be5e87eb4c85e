"""Resumable generation in chunks: how rows are shared among sampling sources, cut into fixed-size chunks, computed
(in a process pool if asked) and kept, each chunk in its own file written atomically into a cache folder.

A chunk is a range of one source's rows. Every row of a per-row source is drawn from its own generator, seeded by
(seed, source, row), so a row never depends on the chunk it falls in or on how many rows were asked for: a killed
run resumes with the chunks it has, and a run asking for more rows only computes the rows it lacks (the last chunk of
a source is extended, not redone). A *whole* chunk (a search, whose episodes follow each other) is kept only once
complete, under a name that says its length: a longer search is another file (the shorter one is not extended).
"""

from __future__ import annotations

import io
import math
import multiprocessing
import queue as queue_module
import zipfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hwenvs.cache import atomic_write_bytes, corrupt_cache_error
from hwenvs.threads import one_torch_thread  # the builders' `chunking.one_torch_thread()` reach it here too

ROW = "row"
"""The array every chunk file holds: the row index (within its source) of each row."""

Report = Callable[[int], object]
"""Called with the number of rows just finished (for the progress bar; what it returns is ignored, as tqdm's
``update`` returns a flag)."""


@dataclass(frozen=True)
class Chunk:
    """Rows ``start..stop-1`` of one sampling source.

    :param source: the source's name.
    :param index: the chunk's index within its source (row ``start`` is ``index * chunk_size``).
    :param start: first row.
    :param stop: one past the last row.
    :param tag: what else the rows depend on (the elite set perturbations start from, an architecture...), in the
        file name so that other inputs never reuse the file.
    :param whole: the rows come all at once (a search's episodes): kept only when all are done.
    """

    source: str
    index: int
    start: int
    stop: int
    tag: str = ""
    whole: bool = False

    @property
    def file_name(self) -> str:
        """The chunk's file in the cache folder."""
        tag = f"-{self.tag}" if self.tag else ""
        length = f"-n{self.stop - self.start}" if self.whole else ""
        return f"{self.source}{tag}-{self.index:05d}{length}.npz"

    @property
    def rows(self) -> np.ndarray:
        """Every row index the chunk holds."""
        return np.arange(self.start, self.stop)


class ChunkWorker(Protocol):
    """Computes rows of chunks. It is pickled to worker processes, so it holds only its configuration; what it
    builds once per process (an environment) it keeps in a module-level cache."""

    def __call__(self, chunk: Chunk, rows: np.ndarray, report: Report) -> dict[str, np.ndarray]:
        """The arrays of ``rows`` of ``chunk`` (each array's first axis one per row, :data:`ROW` included).

        :param chunk: the chunk.
        :param rows: the rows to compute (all of a whole chunk's).
        :param report: called after each row with 1.
        """
        ...


def allocate(count: int, shares: Mapping[str, float]) -> dict[str, int]:
    """``count`` rows shared among sources in proportion to ``shares``, by largest remainder (ties: the earlier
    source), so the parts sum to ``count`` exactly.

    :param count: rows to share.
    :param shares: source -> weight (>= 0; need not sum to 1).
    """
    total = sum(shares.values())
    exact = {name: count * share / total for name, share in shares.items()}
    parts = {name: math.floor(value) for name, value in exact.items()}
    left = count - sum(parts.values())
    by_remainder = sorted(exact, key=lambda name: -(exact[name] - parts[name]))
    for name in by_remainder[:left]:
        parts[name] += 1
    return parts


def source_chunks(source: str, rows: int, chunk_size: int, tag: str = "", whole: bool = False) -> list[Chunk]:
    """The chunks of ``rows`` rows of ``source``: full chunks and a shorter last one.

    :param source: the source's name.
    :param rows: rows asked for.
    :param chunk_size: rows per chunk.
    :param tag: see :class:`Chunk`.
    :param whole: see :class:`Chunk`.
    """
    count = math.ceil(rows / chunk_size)
    return [Chunk(source, i, i * chunk_size, min((i + 1) * chunk_size, rows), tag, whole) for i in range(count)]


def first_chunks(
    sources: Sequence[str], search_agents: Sequence[str], rows: dict[str, int], chunk_size: int
) -> list[Chunk]:
    """The chunks of every source but the perturbations (made from the others' elites), in source order.

    :param sources: the dataset's sources, in order.
    :param search_agents: the sources that are searches, whose chunks run whole.
    :param rows: rows asked of each source.
    :param chunk_size: rows per chunk.
    """
    chunks = []
    for source in sources:
        if source != "perturbation" and rows.get(source, 0):
            chunks += source_chunks(source, rows[source], chunk_size, whole=source in search_agents)
    return chunks


def read_chunk(folder: Path, chunk: Chunk) -> dict[str, np.ndarray] | None:
    """The rows of ``chunk`` already in ``folder`` (those inside its range), or None if it has no file yet.

    :raises CorruptCacheError: the chunk's file cannot be read, naming it and saying to delete it.
    """
    path = folder / chunk.file_name
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        rows = arrays[ROW]
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        # a file cut short or overwritten (np.load's BadZipFile, EOFError...), or an .npz of something else
        problem = f"no {ROW!r} array" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise corrupt_cache_error(path, "bench-data chunk", problem, "computed again (its rows only)") from exc
    keep = (rows >= chunk.start) & (rows < chunk.stop)
    return {key: value[keep] for key, value in arrays.items()}


def missing_rows(folder: Path, chunk: Chunk) -> np.ndarray:
    """The rows of ``chunk`` not in its file yet (a whole chunk's file is all or nothing)."""
    done = read_chunk(folder, chunk)
    if done is None:
        return chunk.rows
    return np.setdiff1d(chunk.rows, done[ROW])


def load_chunks(folder: Path, chunks: Sequence[Chunk]) -> dict[str, np.ndarray]:
    """Every row of ``chunks``, concatenated in their order (rows sorted within a chunk), with ``source_name``.

    :raises FileNotFoundError: a chunk has not been computed (or not completely).
    """
    parts = []
    for chunk in chunks:
        arrays = read_chunk(folder, chunk)
        if arrays is None or len(arrays[ROW]) != chunk.stop - chunk.start:
            raise FileNotFoundError(f"chunk {chunk.file_name} is missing or incomplete in {folder}")
        order = np.argsort(arrays[ROW], kind="stable")
        arrays = {key: value[order] for key, value in arrays.items()}
        arrays["source_name"] = np.full(len(order), chunk.source)
        parts.append(arrays)
    if not parts:
        return {}
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` as a compressed ``.npz``, atomically (a killed run leaves the old file or the new one)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=True, **arrays)  # its default, named: else mypy matches **arrays to it
    atomic_write_bytes(path, buffer.getvalue())


def _save(folder: Path, chunk: Chunk, new: dict[str, np.ndarray]) -> None:
    """Add ``new`` rows to ``chunk``'s file."""
    done = read_chunk(folder, chunk)
    write_npz(folder / chunk.file_name, new if done is None else {k: np.concatenate([done[k], new[k]]) for k in new})


def compute_chunk(folder: Path, chunk: Chunk, worker: ChunkWorker, report: Report) -> None:
    """Compute the rows ``chunk`` lacks with ``worker`` and save them.

    :param folder: the cache folder.
    :param chunk: the chunk.
    :param worker: computes the rows.
    :param report: progress callback.
    """
    rows = missing_rows(folder, chunk)
    if rows.size:
        _save(folder, chunk, worker(chunk, rows, report))


def run_chunks(
    chunks: Sequence[Chunk],
    folder: Path,
    worker: ChunkWorker,
    workers: int = 1,
    progress: bool = True,
    desc: str = "rows",
) -> None:
    """Compute every row ``chunks`` still lack, with a progress bar over rows.

    :param chunks: the chunks wanted.
    :param folder: the cache folder (created).
    :param worker: computes rows; pickled to the worker processes.
    :param workers: processes: 1 computes in this process; more start a pool of fresh (spawned) processes, each
        with one torch thread.
    :param progress: show a progress bar.
    :param desc: the bar's label.
    """
    from tqdm.auto import tqdm

    folder.mkdir(parents=True, exist_ok=True)
    todo = [(chunk, len(missing_rows(folder, chunk))) for chunk in chunks]
    todo = [(chunk, n) for chunk, n in todo if n]
    total = sum(chunk.stop - chunk.start for chunk in chunks)
    left = sum(n for _, n in todo)
    with tqdm(total=total, initial=total - left, desc=desc, unit="row", disable=not progress, smoothing=0.05) as bar:
        if workers <= 1:
            with one_torch_thread():
                for chunk, _ in todo:
                    compute_chunk(folder, chunk, worker, bar.update)
        else:
            _run_in_pool([chunk for chunk, _ in todo], folder, worker, workers, bar.update)


def _init_process() -> None:
    import torch

    torch.set_num_threads(1)


def _pool_task(folder: Path, chunk: Chunk, worker: ChunkWorker, progress: Any) -> None:
    compute_chunk(folder, chunk, worker, progress.put)


def _run_in_pool(chunks: list[Chunk], folder: Path, worker: ChunkWorker, workers: int, report: Report) -> None:
    """Chunks in a pool of spawned processes (never forked: the parent may hold torch's thread pool), with each
    finished row reported through a queue; the first failure cancels the chunks not started and is raised."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        rows = manager.Queue()
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_process)
        try:
            pending: set[Future] = {pool.submit(_pool_task, folder, chunk, worker, rows) for chunk in chunks}
            while pending:
                finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                _drain(rows, report)
                for future in finished:
                    future.result()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        _drain(rows, report)


def _drain(rows: Any, report: Report) -> None:
    while True:
        try:
            report(rows.get_nowait())
        except queue_module.Empty:
            return
