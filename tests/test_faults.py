"""Faults beyond inputs (issue 31, section 4): a full disk or a read-only folder during a search, a benchmark or a
cache write gives one clear line and leaves the files written before intact; SIGTERM stops a search as Ctrl-C does
(status ``interrupted``, resumable); two searches cannot write one ``--out``; corrupt caches name the file to delete.

Faults are injected by patching the write (``Path.write_bytes``, through which every hwenvs result and cache file is
written atomically): the tests may run as root, whom a read-only folder does not stop. Environments use surrogate
accuracy, so whole searches take a second.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import pytest
from test_cli_misuse import assert_one_line_error

import hwenvs  # noqa: F401  (registers the ids)
from hwenvs.cache import CorruptCacheError, atomic_write_bytes
from hwenvs.cli.main import UsageError, main

pytestmark = pytest.mark.usefixtures("one_thread")

HAQ = "HAQ-MobileNetV2-BISMO"
SEARCH = ["search", HAQ, "--agent", "random", "--env-kwarg", "accuracy=surrogate", "--no-progress", "--no-plot"]
REAL_WRITE_BYTES = Path.write_bytes


def inject(monkeypatch: pytest.MonkeyPatch, target: str, code: int, after: int = 0) -> list[Path]:
    """Make writes of ``target`` (through its temporary file) fail with ``code`` after ``after`` good ones, half
    written as a full disk leaves them; returns the paths that failed.

    :param target: the file name (``policy.json``).
    :param code: the errno (ENOSPC, EROFS...).
    :param after: writes of ``target`` that succeed first.
    """
    failed: list[Path] = []
    done = [0]

    def write_bytes(self: Path, data: bytes) -> int:
        if not (self.name.startswith(f".{target}") and self.name.endswith(".tmp")):
            return REAL_WRITE_BYTES(self, data)
        if done[0] < after:
            done[0] += 1
            return REAL_WRITE_BYTES(self, data)
        REAL_WRITE_BYTES(self, data[: len(data) // 2])
        failed.append(self)
        raise OSError(code, os.strerror(code), str(self))

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    return failed


def no_temporaries(folder: Path) -> bool:
    return not [p for p in folder.rglob(".*.tmp")]


# -- the write itself --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_failed_write_keeps_the_previous_file(code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "policy.json"
    atomic_write_bytes(path, b'{"old": true}')
    failed = inject(monkeypatch, "policy.json", code)
    with pytest.raises(OSError) as caught:
        atomic_write_bytes(path, b'{"new": true, "padding": "' + b"x" * 100 + b'"}')
    assert failed and caught.value.errno == code  # the system's errno (and class: EACCES stays a PermissionError)
    assert isinstance(caught.value, PermissionError) == (code == errno.EACCES)
    assert f"cannot write {path}" in str(caught.value) and "previous content is unchanged" in str(caught.value)
    assert json.loads(path.read_text()) == {"old": True}
    assert no_temporaries(tmp_path)  # the half-written temporary is gone


# -- during a search ---------------------------------------------------------------------------------------------------


def test_a_full_disk_during_a_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The disk fills after the first result was written: one line naming the file and what to do; the first
    result stays readable; the search resumes once there is space."""
    out = tmp_path / "run"
    failed = inject(monkeypatch, "policy.json", errno.ENOSPC, after=1)
    assert main([*SEARCH, "--episodes", "6", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert_one_line_error(err, "search", "cannot write", "policy.json", "No space left on device", "--resume")
    assert failed
    record = json.loads((out / "policy.json").read_text())  # the one written before the disk filled
    assert record["status"] == "running" and record["episodes_run"] >= 1
    assert no_temporaries(out)

    monkeypatch.setattr(Path, "write_bytes", REAL_WRITE_BYTES)  # space again
    assert main([*SEARCH, "--episodes", "6", "--out", str(out), "--resume"]) == 0
    record = json.loads((out / "policy.json").read_text())
    assert record["status"] == "complete" and record["episodes_run"] == 6


def test_a_read_only_folder_during_a_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The folder turns read-only under a running search (a remount): the checkpoint cannot be written."""
    out = tmp_path / "run"
    inject(monkeypatch, "checkpoint.pt", errno.EROFS, after=2)
    assert main([*SEARCH, "--episodes", "8", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert_one_line_error(err, "search", "checkpoint.pt", "Read-only file system", "--resume")
    assert json.loads((out / "policy.json").read_text())["episodes_run"] >= 2
    assert no_temporaries(out)


# -- during a benchmark ------------------------------------------------------------------------------------------------

TINY_SUITE = """
name: tiny
description: one surrogate HAQ environment, random search, two episodes
seeds: 1
episodes: 2
random_episodes: 2
envs:
  - {name: haq, id: HAQ-MobileNetV2-BISMO, kwargs: {}}
agents:
  - {name: random, agent: random}
"""


def test_a_full_disk_during_a_benchmark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The trials finish, then results.json cannot be written: one line; the trial store is intact, and the
    same command run again keeps its trials and finishes."""
    suite = tmp_path / "tiny.yaml"
    suite.write_text(TINY_SUITE)
    out = tmp_path / "bench"
    argv = ["benchmark", "--suite", str(suite), "--accuracy", "surrogate", "--out", str(out)]
    inject(monkeypatch, "results.json", errno.ENOSPC)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert_one_line_error(captured.err, "benchmark", "results.json", "No space left on device", "finished trials")
    from hwenvs.benchmark.store import TrialStore

    trials = TrialStore(out).records()  # the trial store, written before results.json
    assert sorted(trials) == ["haq__random__default__s0", "haq__reference"]
    assert all(record["status"] == "complete" for record in trials.values())
    assert not (out / "results.json").exists() and no_temporaries(out)

    monkeypatch.setattr(Path, "write_bytes", REAL_WRITE_BYTES)
    assert main(argv) == 0
    assert "2 already finished" in capsys.readouterr().out
    assert json.loads((out / "results.json").read_text())["trials"]


# -- cache writes and corrupt caches -----------------------------------------------------------------------------------


@pytest.fixture
def fresh_surrogate_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], Path]:
    """An empty ``$HWENVS_CACHE`` and no surrogate fitted in this process yet; returns the fitted HAQ
    surrogate's cache path."""
    from hwenvs.surrogate import accuracy

    monkeypatch.setenv("HWENVS_CACHE", str(tmp_path / "cache"))
    accuracy.load_haq_surrogate.cache_clear()
    yield lambda: next((tmp_path / "cache" / "surrogates").glob("haq-mobilenet_v2-mnist-*.pkl"))
    accuracy.load_haq_surrogate.cache_clear()  # the next test's surrogate comes from its own cache


def test_a_full_disk_while_caching_the_surrogate(
    fresh_surrogate_cache: Callable[[], Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    inject(monkeypatch, "haq-mobilenet_v2-mnist-", errno.ENOSPC)
    with pytest.raises(OSError, match=r"cannot write .*surrogates/haq-mobilenet_v2-mnist-.*\.pkl: No space left"):
        gym.make(HAQ, accuracy="surrogate")
    assert not list(Path(os.environ["HWENVS_CACHE"]).rglob("*.pkl")) and no_temporaries(
        Path(os.environ["HWENVS_CACHE"])
    )
    out = Path(os.environ["HWENVS_CACHE"]).parent / "run"
    assert main([*SEARCH, "--episodes", "1", "--out", str(out)]) == 2
    assert_one_line_error(capsys.readouterr().err, "search", "cannot write", "No space left on device")


def test_a_wrong_object_in_the_surrogate_cache_is_refit(fresh_surrogate_cache: Callable[[], Path]) -> None:
    """A readable pickle of something else (it ended in an AttributeError at the first prediction)."""
    from hwenvs.surrogate import accuracy
    from hwenvs.surrogate.predictor import FittedSurrogate

    gym.make(HAQ, accuracy="surrogate")
    path = fresh_surrogate_cache()
    path.write_bytes(pickle.dumps({"not": "a fitted surrogate"}))
    accuracy.load_haq_surrogate.cache_clear()
    with pytest.warns(UserWarning, match=f"the cached surrogate {path} is corrupt or not a .* fit"):
        env = gym.make(HAQ, accuracy="surrogate")
    env.reset(seed=0)
    assert isinstance(pickle.loads(path.read_bytes()), FittedSurrogate)


@pytest.mark.parametrize(
    "damage",
    [b"", b"PK\x03\x04 cut short", bytes(range(256))],
    ids=["empty", "truncated zip", "overwritten"],
)
def test_a_corrupt_bench_data_chunk_names_the_file(damage: bytes, tmp_path: Path) -> None:
    from hwenvs.lab.surrogate_data.chunks import Chunk, missing_rows

    chunk = Chunk("uniform", 0, 0, 10)
    (tmp_path / chunk.file_name).write_bytes(damage)
    with pytest.raises(CorruptCacheError, match=r"bench-data chunk .* is corrupt .*delete it") as caught:
        missing_rows(tmp_path, chunk)
    assert str(tmp_path / chunk.file_name) in str(caught.value)


def test_a_chunk_of_other_arrays_names_the_file(tmp_path: Path) -> None:
    import numpy as np

    from hwenvs.lab.surrogate_data.chunks import Chunk, missing_rows, write_npz

    chunk = Chunk("uniform", 0, 0, 10)
    write_npz(tmp_path / chunk.file_name, {"something": np.zeros(3)})
    with pytest.raises(CorruptCacheError, match="no 'row' array"):
        missing_rows(tmp_path, chunk)


# -- one search per --out, and SIGTERM ---------------------------------------------------------------------------------


def test_the_out_lock_is_exclusive(tmp_path: Path) -> None:
    from hwenvs.cli.search import lock_out

    held = lock_out(tmp_path / "run")
    with pytest.raises(
        UsageError, match=rf"is being written by another hwenvs search \(hwenvs search, process {os.getpid()}\)"
    ):
        lock_out(tmp_path / "run")
    held.close()  # what the end of the process does
    lock_out(tmp_path / "run").close()


def _rows(path: Path) -> int:
    try:
        return max(0, len(path.read_text().splitlines()) - 1)
    except OSError:
        return 0


def test_sigterm_stops_a_search_as_ctrl_c_does_and_a_second_search_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "hwenvs", *SEARCH, "--episodes", "100000", "--out", str(out)]
    child = subprocess.Popen(argv, env={**os.environ, "OMP_NUM_THREADS": "1"}, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while _rows(out / "history.csv") < 3 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.poll() is None, child.communicate()[1]

        # a second search on the same folder, while the first runs: refused, the first's files untouched
        assert main([*SEARCH, "--episodes", "2", "--out", str(out), "--overwrite"]) == 2
        err = capsys.readouterr().err
        assert_one_line_error(err, "search", f"--out {out} is being written by another hwenvs search", str(child.pid))
        assert (out / "history.csv").exists()

        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130, err
    assert "Traceback" not in err
    record = json.loads((out / "policy.json").read_text())
    assert record["status"] == "interrupted" and record["interrupted"]

    # resumable, and the lock went with the process
    total = record["episodes_run"] + 2
    assert main([*SEARCH, "--episodes", str(total), "--out", str(out), "--resume"]) == 0
    record = json.loads((out / "policy.json").read_text())
    assert record["status"] == "complete" and record["episodes_run"] == total
