"""The ``hwenvs`` command never shows a traceback for a user's mistake: each case below exits with code 2 and one line
``hwenvs <command>: error: ...`` naming the problem, and is found before any work (nothing is built or written).
``--debug`` shows the traceback instead."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hwenvs.cli.main import UsageError, main

HAQ = "HAQ-MobileNetV2-BISMO"
NAS = "ProxylessNAS-BISMO"


def assert_one_line_error(err: str, command: str, *needles: str) -> None:
    """``err`` is exactly one ``hwenvs <command>: error:`` line holding every needle, and no traceback."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"hwenvs {command}: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, err)


@pytest.fixture
def no_env_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a case gets as far as building an environment: every check must come first."""
    import gymnasium as gym

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("gym.make was called: the mistake was not caught before any work")

    monkeypatch.setattr(gym, "make", refuse)


# -- the table: argv (after "search ENV_ID" where the first item is None) and what the message must say --------------

SEARCH_CASES = {
    "unknown env kwarg": (
        [HAQ, "--env-kwarg", "foo=1"],
        ["--env-kwarg", "unexpected keyword argument 'foo'", "valid arguments: model, hardware"],
    ),
    "misspelt env kwarg": ([HAQ, "--env-kwarg", "preserv_ratio=0.4"], ["did you mean 'preserve_ratio'?"]),
    "string for a number": (
        [HAQ, "--env-kwarg", "preserve_ratio=abc"],
        ["preserve_ratio must be a real number in (0, 1]", "'abc' (str)"],
    ),
    "ratio above 1": ([HAQ, "--env-kwarg", "preserve_ratio=1.5"], ["preserve_ratio", "(0, 1]", "1.5"]),
    "None for a number": ([HAQ, "--env-kwarg", "preserve_ratio=None"], ["preserve_ratio", "None (NoneType)"]),
    "fractional bits": ([HAQ, "--env-kwarg", "min_bits=2.5"], ["min_bits must be an integer", "2.5 (float)"]),
    "bits out of order": ([HAQ, "--env-kwarg", "min_bits=6", "--env-kwarg", "max_bits=4"], ["max_bits", "6..8"]),
    "tiny resolution": ([HAQ, "--env-kwarg", "resolution=7"], ["resolution", "32..", "downsample by 32"]),
    "string for a bool": ([HAQ, "--env-kwarg", "keep_first_layer=yes"], ["keep_first_layer must be True or False"]),
    "unknown quantizer": ([HAQ, "--env-kwarg", "quantizer=kmean"], ["quantizer", "did you mean 'kmeans'?"]),
    "missing dataset folder": ([HAQ, "--env-kwarg", "dataset=/no/such/folder"], ["dataset", "root/train/<class>"]),
    "misspelt dataset": ([HAQ, "--env-kwarg", "dataset=fashion_mnist"], ["dataset", "did you mean 'fashion-mnist'?"]),
    "bad dataset_kwargs": ([HAQ, "--env-kwarg", "dataset_kwargs={'x': 1}"], ["dataset_kwargs", "'x'", "split_seed"]),
    "unknown nas mode": ([NAS, "--env-kwarg", "mode=batch"], ["mode must be one of 'oneshot', 'sequential'"]),
    "float batch size": ([NAS, "--env-kwarg", "val_batch_size=10.5"], ["val_batch_size must be an integer"]),
    "string target": ([NAS, "--env-kwarg", "target_ms=fast"], ["target_ms must be a positive number"]),
    "unknown nas kwarg": ([NAS, "--env-kwarg", "model=resnet18"], ["unexpected keyword argument 'model'", "mode,"]),
    "not key=value": ([HAQ, "--env-kwarg", "novalue"], ["--env-kwarg expects key=value"]),
    "unknown env id": (["HAQ-VGG-BISMO"], ["unknown environment 'HAQ-VGG-BISMO'"]),
    "zero episodes": ([HAQ, "--episodes", "0"], ["--episodes must be a positive integer"]),
}


@pytest.mark.usefixtures("no_env_build")
@pytest.mark.parametrize("case", list(SEARCH_CASES))
def test_search_misuse_is_one_line(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv, needles = SEARCH_CASES[case]
    out = tmp_path / "out"
    assert main(["search", *argv, "--out", str(out), "--no-progress"]) == 2
    assert_one_line_error(capsys.readouterr().err, "search", *needles)
    assert not out.exists()  # refused before the output folder was made


def test_out_is_a_file(no_env_build: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results.txt"
    out.write_text("mine")
    assert main(["search", HAQ, "--out", str(out)]) == 2
    assert_one_line_error(capsys.readouterr().err, "search", f"--out {out} is a file")
    assert out.read_text() == "mine"


def test_out_below_a_file(no_env_build: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("")
    assert main(["search", HAQ, "--out", str(tmp_path / "file" / "run")]) == 2
    assert_one_line_error(capsys.readouterr().err, "search", "is not a writable folder")


def test_read_only_out(
    no_env_build: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder the search may not write (simulated: the tests may run as root, who can write anywhere)."""

    def read_only(self: Path, data: bytes) -> int:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "write_bytes", read_only)
    assert main(["search", HAQ, "--out", str(tmp_path / "ro")]) == 2
    assert_one_line_error(capsys.readouterr().err, "search", "is not a writable folder: Permission denied")


@pytest.mark.parametrize("existing", ["policy.json", "history.csv", "plot.png"])
def test_out_with_earlier_results_is_refused(
    no_env_build: None, existing: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / existing).write_text("{}")
    assert main(["search", HAQ, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert_one_line_error(err, "search", "already holds a search's results", existing, "--overwrite")
    assert (tmp_path / existing).read_text() == "{}"


def test_overwrite_replaces_earlier_results(tmp_path: Path) -> None:
    """With --overwrite the old files go first: no stale plot.png beside results drawn without a plot."""
    for name in ("policy.json", "history.csv", "plot.png"):
        (tmp_path / name).write_text("old")
    argv = ["search", NAS, "--agent", "random", "--episodes", "1", "--out", str(tmp_path), "--no-progress",
            "--no-plot", "--overwrite", "--env-kwarg", "val_batch_size=50"]  # fmt: skip
    assert main(argv) == 0
    assert not (tmp_path / "plot.png").exists()
    assert json.loads((tmp_path / "policy.json").read_text())["episodes_run"] == 1
    assert len((tmp_path / "history.csv").read_text().splitlines()) == 2


def test_unknown_agent_kwarg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["search", NAS, "--agent", "random", "--agent-kwarg", "foo=1", "--out", str(tmp_path), "--no-progress"]
    assert main(argv) == 2
    assert_one_line_error(capsys.readouterr().err, "search", "foo")


def test_debug_shows_the_traceback(no_env_build: None, tmp_path: Path) -> None:
    argv = ["search", HAQ, "--env-kwarg", "foo=1", "--out", str(tmp_path / "out")]
    with pytest.raises(UsageError, match="unexpected keyword argument 'foo'"):
        main(["--debug", *argv])
    with pytest.raises(UsageError, match="unexpected keyword argument 'foo'"):
        main([*argv, "--debug"])  # after the sub-command too


def test_missing_policy_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(tmp_path / "none.json")]) == 2
    assert_one_line_error(capsys.readouterr().err, "evaluate", "none.json")


# -- corrupt caches ---------------------------------------------------------------------------------------------------


def test_corrupt_cached_reference_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hwenvs.hardware.lookup_table import HAQ_TABLE_FILE

    monkeypatch.setenv("HWENVS_CACHE", str(tmp_path))
    monkeypatch.delenv("HWENVS_REFERENCE_DATA", raising=False)
    cached = tmp_path / "reference" / HAQ_TABLE_FILE
    cached.parent.mkdir(parents=True)
    np.save(cached, np.ones((53, 8, 8), dtype=np.int64))  # a well-formed table, but not the published one
    assert main(["hardware", "mobilenet_v2", "haq-table", "--bits", "4/4"]) == 2
    assert_one_line_error(capsys.readouterr().err, "hardware", str(cached), "delete it")


def test_corrupt_cached_supernet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A damaged cached supernet: the path and the remedy, not torch's UnpicklingError advice."""
    from hwenvs.data import load_task
    from hwenvs.nas import train_supernet

    def no_warm_up(*args: object, **kwargs: object) -> None:
        raise AssertionError("the test's corrupt file was not where load_supernet looks")

    monkeypatch.setenv("HWENVS_CACHE", str(tmp_path))
    monkeypatch.setattr(train_supernet, "warm_up", no_warm_up)
    task = load_task("mnist")
    space = train_supernet.embedded_space(task, 0.5)  # no shipped supernet at width 0.5: it comes from the cache
    path = train_supernet._cache_path(task, space, train_supernet.WarmupConfig())
    path.write_bytes(b"PK\x03\x04 a zip archive cut short")  # what a truncated torch.save file looks like
    argv = ["search", NAS, "--agent", "random", "--episodes", "1", "--out", str(tmp_path / "out"), "--no-progress",
            "--env-kwarg", "width_mult=0.5"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert_one_line_error(err, "search", f"the cached supernet {path} is corrupt", "delete it", "warmed up again")
    assert "weights_only" not in err


def test_console_script_prints_no_traceback(tmp_path: Path) -> None:
    """The real process: exit code 2 and one line on stderr (``python -m hwenvs``, the console script's function)."""
    argv = [sys.executable, "-m", "hwenvs", "search", HAQ, "--env-kwarg", "foo=1", "--out", str(tmp_path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert_one_line_error(done.stderr, "search", "unexpected keyword argument 'foo'")
