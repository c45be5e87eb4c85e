"""``hwenvs benchmark --backend ray``: a tiny suite as Ray Tune trials on a private Ray instance, resumed from the
per-trial result files by the local backend and by a Ray cluster started with ``ray start --head`` (``--address``),
with no Ray process left behind; the backend's options and errors; and the ``ray`` extra's gymnasium pin inside
hwenvs's range."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hwenvs.benchmark.store import TrialStore, decode_line, encode_line
from hwenvs.benchmark.suite import load_suite, plan
from hwenvs.benchmark.trials import finished, read_trial
from hwenvs.cli.main import main

ROOT = Path(__file__).resolve().parents[1]

needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason='Ray is not installed: pip install "hwenvs[ray]"'
)

SUITE = """
name: tiny-ray
description: Random search on ProxylessNAS-BISMO with a 64-image validation batch.
seeds: 2
episodes: 2
random_episodes: 2
envs:
  - name: nas
    id: ProxylessNAS-BISMO
    kwargs: {val_batch_size: 64}
agents:
  - {name: random, agent: random}
"""


# -- options and errors (no Ray needed) --------------------------------------------------------------------------


def test_ray_options_need_the_ray_backend(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["benchmark", "--suite", "smoke", "--address", "auto", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--address apply to --backend ray only (this run's backend: local)" in err and "\n" not in err
    assert main(["benchmark", "--suite", "smoke", "--backend", "ray", "--cpus-per-trial", "0", "--dry-run"]) == 2
    assert "--cpus-per-trial must be a number > 0, got 0.0" in capsys.readouterr().err


def test_the_ray_backend_without_ray_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from hwenvs.benchmark import ray_backend

    monkeypatch.setattr(ray_backend, "ray_missing", lambda: "Ray Tune is not installed: " + ray_backend.RAY_HINT)
    assert main(["benchmark", "--suite", "smoke", "--backend", "ray", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith('--backend ray: Ray Tune is not installed: pip install "hwenvs[ray]"') and "\n" not in err
    # a dry run checks what the run would refuse: Ray's absence too
    assert main(["benchmark", "--suite", "smoke", "--backend", "ray", "--dry-run", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().endswith("Ray Tune is not installed: " + ray_backend.RAY_HINT)


@needs_ray
def test_the_ray_extra_resolves_inside_our_gymnasium_range() -> None:
    """Ray RLlib pins gymnasium exactly; that pin must stay inside hwenvs's range (and be what is installed)."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    from importlib.metadata import requires, version

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    ours = next(Requirement(r) for r in project["dependencies"] if r.startswith("gymnasium"))
    assert Requirement(project["optional-dependencies"]["ray"][0]).extras == {"tune", "rllib"}
    rays = [Requirement(r) for r in requires("ray") or [] if r.startswith("gymnasium")]
    pins = [r for r in rays if r.marker is None or r.marker.evaluate({"extra": "rllib"})]
    assert pins, "ray[rllib] no longer names gymnasium"
    installed = version("gymnasium")
    for pin in pins:
        assert installed in pin.specifier
    assert installed in ours.specifier, f"ray[rllib] needs gymnasium {pins[0].specifier}, outside ours ({ours})"


@needs_ray
def test_a_trial_on_a_node_without_the_output_folder_sends_its_result_to_the_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trainable and the driver's callback, in this process: a node that lacks OUT runs the trial in a scratch
    folder it removes, and the driver writes the record it receives."""
    from ray import tune

    from hwenvs.benchmark import ray_backend

    monkeypatch.chdir(tmp_path)  # the trainable moves to the driver's folder
    suite = tmp_path / "tiny.yaml"
    suite.write_text(SUITE)
    job = next(j for j in plan(load_suite(suite), tmp_path / "out") if j.kind == "search")
    elsewhere = replace(job, out=str(tmp_path / "not-on-this-node"))  # where the trial's node has no such folder
    sent: list[dict] = []
    monkeypatch.setattr(tune, "report", sent.append)
    ray_backend._trainable({"trial": job.name}, {job.name: asdict(elsewhere)}, str(tmp_path))
    assert not (tmp_path / "not-on-this-node").exists() and not job.path.exists()
    (result,) = sent
    assert result["trial_error"] == "" and result["trial_path"] == ""
    outcomes: list = []
    collector = ray_backend._collector({job.name: job}, outcomes.append)
    collector.on_trial_result(0, [], SimpleNamespace(config={"trial": job.name}), result)
    assert finished(job) and [(o.spec.name, o.path, o.error) for o in outcomes] == [(job.name, str(job.path), None)]


def _forget(job: Any) -> None:
    """Drop ``job``'s lines from its store, as if the benchmark had been killed during that trial."""
    lines = job.path.read_bytes().splitlines(keepends=True)
    job.path.write_bytes(b"".join(line for line in lines if decode_line(line)[0] != job.name))


def _stored(jobs: list[Any], but: Any) -> dict[str, bytes]:
    """Every job's stored line but ``but``'s: a trial run again would store another pid and time."""
    return {j.name: encode_line(j.name, read_trial(j)) for j in jobs if j is not but}


# -- a tiny suite on Ray -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def no_token() -> Iterator[None]:
    """Throwaway local clusters without a token (Ray would otherwise write ~/.ray/auth_token and switch this
    process to token mode for every later cluster)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "disabled")
        yield


@pytest.fixture(scope="module")
def ray_run(tmp_path_factory: pytest.TempPathFactory, no_token: None) -> tuple[Path, Path]:
    """The suite run by the CLI on a private two-CPU Ray instance (two trials at a time)."""
    ray = pytest.importorskip("ray", reason='Ray is not installed: pip install "hwenvs[ray]"')
    root = tmp_path_factory.mktemp("benchmark-ray")
    suite = root / "tiny.yaml"
    suite.write_text(SUITE)
    out = root / "out"
    code = main(["benchmark", "--suite", str(suite), "--backend", "ray", "--workers", "2", "--out", str(out)])
    assert code == 0
    assert not ray.is_initialized()  # the backend stops the instance it started
    return suite, out


@needs_ray
@pytest.mark.slow
def test_every_trial_runs_as_a_ray_trial_and_the_report_says_so(ray_run: tuple[Path, Path]) -> None:
    _, out = ray_run
    stored = TrialStore(out).records()  # one store, each trial's line appended by its Ray worker
    assert sorted(stored) == ["nas__random__default__s0", "nas__random__default__s1", "nas__reference"]
    assert not list(out.glob("trials/*.json"))
    records = list(stored.values())
    assert all(r["status"] == "complete" for r in records)
    assert os.getpid() not in {r["pid"] for r in records}  # run in Ray's workers
    data = json.loads((out / "results.json").read_text())
    assert len(data["trials"]) == 2 and not data["missing"]
    settings = data["settings"]
    assert settings["backend"] == "ray" and settings["workers"] == 2
    assert settings["ray"]["address"] == "local" and settings["ray"]["cpus"] == 2 and settings["ray"]["nodes"] == 1
    assert "backend ray with 2 worker(s)" in (out / "results.md").read_text()
    assert list((out / "ray").glob("tune-*")), "Tune's experiment folder is under OUT/ray"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _session(sid: int) -> list[int]:
    """Live (not zombie) processes of session ``sid``: everything ``ray start`` and its daemons started."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry))
    return pids


def _end_session(sid: int, grace: float = 5.0) -> list[int]:
    """Stop every process of session ``sid`` (TERM, then KILL after ``grace`` seconds); returns any left.

    Not ``ray stop``: that stops every Ray process on the machine, including other runs' clusters."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        for pid in _session(sid):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while _session(sid) and time.monotonic() < deadline:
            time.sleep(0.2)
    return _session(sid)


@pytest.fixture
def local_cluster(no_token: None) -> Iterator[str]:
    """A one-node Ray cluster of two CPUs started with ``ray start --head`` in a session of its own; its address.
    Teardown ends that session's processes and checks none is left."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("ending the cluster's processes by session needs Linux's /proc")
    ray_cli = [sys.executable, "-m", "ray.scripts.scripts"]  # the `ray` command, wherever pip put its script
    port = _free_port()
    # a temporary folder of its own (short: Ray's socket paths must fit 107 characters), so that its logs and its
    # "current cluster" file go with it instead of into /tmp/ray, where a later ray.init() would find them
    temp_dir = tempfile.mkdtemp(prefix="ray-")
    command = [*ray_cli, "start", "--head", "--port", str(port), "--num-cpus", "2", "--include-dashboard",
               "false", "--disable-usage-stats", "--temp-dir", temp_dir]  # fmt: skip
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    started = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        output, _ = started.communicate(timeout=180)
        assert started.returncode == 0, output[-2000:]
        yield f"127.0.0.1:{port}"
    finally:
        if started.poll() is None:
            started.kill()
        left = _end_session(started.pid)
        shutil.rmtree(temp_dir, ignore_errors=True)
        assert not left, f"Ray processes left running: {left}"


@needs_ray
@pytest.mark.slow
def test_a_killed_ray_run_resumes_locally_and_on_a_ray_cluster(
    ray_run: tuple[Path, Path], local_cluster: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from hwenvs.benchmark.local import run_local

    suite_file, out = ray_run
    jobs = plan(load_suite(suite_file), out)
    assert all(finished(job) for job in jobs)
    first, second = (j for j in jobs if j.kind == "search")
    # the local backend finishes a Ray run: only the lost trial runs again
    _forget(first)
    kept = _stored(jobs, first)
    outcomes = run_local(jobs, workers=1)
    assert [o.spec.name for o in outcomes if not o.skipped] == [first.name] and finished(first)
    assert _stored(jobs, first) == kept
    # a Ray cluster finishes it again, connected with --address
    _forget(second)
    kept = _stored(jobs, second)
    capsys.readouterr()
    args = ["benchmark", "--suite", str(suite_file), "--backend", "ray", "--address", local_cluster, "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert f"1 jobs to run (2 already finished), Ray ({local_cluster})" in printed
    assert re.search(rf"\[1/1\] {second.name}: test accuracy", printed)
    assert finished(second) and _stored(jobs, second) == kept
    settings = json.loads((out / "results.json").read_text())["settings"]
    assert settings["ray"]["address"] == local_cluster and settings["workers"] == 2  # the cluster's two CPUs


@needs_ray
@pytest.mark.slow
def test_ctrl_c_stops_a_ray_run_and_keeps_its_finished_trials(
    tmp_path: Path, no_token: None, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "tiny.yaml"
    suite.write_text(SUITE.replace("episodes: 2\n", "episodes: 10\n", 1))  # searches long enough to interrupt
    out = tmp_path / "out"
    args = ["benchmark", "--suite", str(suite), "--backend", "ray", "--workers", "1", "--out", str(out)]
    command = [sys.executable, "-m", "hwenvs", *args]
    # a session of its own, so Ctrl-C can go to the whole process group as a terminal sends it
    run = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    store = TrialStore(out)
    deadline = time.monotonic() + 300
    while "nas__reference" not in store.records() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGINT)
    printed, _ = run.communicate(timeout=120)
    assert run.returncode == 130, printed[-2000:]
    assert "interrupted: finished trials are kept; run the same command again to resume" in printed
    assert "Tuner.restore" not in printed  # Tune's own advice does not apply: the same command resumes
    assert not _end_session(run.pid, grace=10.0), "the private Ray instance outlived the interrupted run"
    jobs = plan(load_suite(suite), out)
    kept = [j.name for j in jobs if finished(j)]
    assert "nas__reference" in kept and len(kept) < len(jobs)
    # resumed here by the local backend, which is quicker to start (resuming on Ray is tested above)
    assert main(["benchmark", "--suite", str(suite), "--out", str(out)]) == 0
    assert f"{len(jobs) - len(kept)} jobs to run ({len(kept)} already finished)" in capsys.readouterr().out
    assert all(finished(j) for j in jobs)
