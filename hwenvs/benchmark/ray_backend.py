"""The Ray backend: the benchmark's trials as Ray Tune trials, on this machine or on a Ray cluster, resumable.

Each job not yet finished becomes one Tune trial (a grid search over the trials' names) whose function trainable
calls the same :func:`hwenvs.benchmark.trials.run_trial` as the local backend, with the resources the caller
declares per trial (``cpus_per_trial``). Resuming works as for the local backend, through the benchmark's trial store
(``OUT/trials.jsonl``, :mod:`hwenvs.benchmark.store`): a finished trial is skipped before Tune starts, so a killed Ray
run resumes with the same command, and a local run can finish a Ray run or the other way round. (Tune's own
``Tuner.restore`` is not needed and not used: the grid of a rerun holds only the unfinished trials.)

Where results go: a trial runs in the driver's working folder and appends its result straight to the benchmark's
store when the output folder exists on its node (this machine, or a filesystem every node mounts at the same path;
the store's file lock keeps trials on one machine from interleaving); on a node without it, it writes into a
temporary folder there. Either way the trial sends its result record back to the driver, which appends it to the
store if the store's copy differs, so the driver always ends with every result.

A cluster run (the same Python environment, with hwenvs installed, on every node)::

    ray start --head --port 6379 --num-cpus 16          # on the head node
    ray start --address HEAD_IP:6379 --num-cpus 16      # on each other node
    hwenvs benchmark --suite default --backend ray --address HEAD_IP:6379 --cpus-per-trial 1 --out runs/bench
    ray stop                                            # on every node, when done

``--address auto`` connects to the cluster this machine belongs to (or ``$RAY_ADDRESS``); without ``--address`` the
backend starts a private Ray instance of ``workers x cpus_per_trial`` CPUs and stops it at the end.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from hwenvs.benchmark.local import Outcome, _guarded
from hwenvs.benchmark.store import encode_line
from hwenvs.benchmark.trials import TrialSpec, finished, read_trial

RAY_HINT = 'pip install "hwenvs[ray]"'
"""How to get the backend's dependencies."""


def ray_missing() -> str | None:
    """Why the Ray backend cannot run here (None when Ray Tune imports)."""
    try:
        import ray  # noqa: F401
        from ray import tune  # noqa: F401
    except ImportError as exc:
        return f"Ray Tune is not installed ({exc}): {RAY_HINT}"
    return None


def run_ray(
    jobs: Sequence[TrialSpec],
    address: str | None = None,
    workers: int | None = None,
    cpus_per_trial: float = 1.0,
    report: Callable[[Outcome, int, int], None] | None = None,
    info: dict[str, Any] | None = None,
) -> list[Outcome]:
    """Run every job not yet finished as a Ray Tune trial.

    :param jobs: the benchmark's jobs (see :func:`hwenvs.benchmark.suite.plan`), in the order to start them.
    :param address: None to start a private local Ray instance (stopped at the end); ``"auto"`` or ``host:port`` to
        connect to a running cluster. Ignored when Ray is already initialised in this process (that instance is used
        and left running).
    :param workers: trials at a time. With a private instance it sizes the instance (default 1); on a cluster it
        caps the concurrency (default: as many as the cluster's CPUs allow).
    :param cpus_per_trial: CPUs Ray reserves for each trial (a trial runs one torch thread; more only spaces them).
    :param report: called after each job ends, with its outcome, the jobs ended so far and the jobs to run.
    :param info: if given, filled with the cluster's address, nodes and CPUs and the trials run at a time.
    :returns: one outcome per job, in the order of ``jobs``; a trial that Ray could not finish (a lost node, an
        interrupted run) has an error saying so, and runs again on the next run.
    :raises ValueError: ``workers`` below 1 or ``cpus_per_trial`` not positive.
    :raises ImportError: Ray Tune is not installed (the message says how to install it).
    """
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if not cpus_per_trial > 0:
        raise ValueError(f"cpus_per_trial must be > 0, got {cpus_per_trial}")
    missing = ray_missing()
    if missing:
        raise ImportError(missing)
    outcomes = {spec.name: Outcome(spec, str(spec.path), skipped=True) for spec in jobs if finished(spec)}
    todo = [spec for spec in jobs if spec.name not in outcomes]

    def done(outcome: Outcome) -> None:
        outcomes[outcome.spec.name] = outcome
        if report is not None:
            report(outcome, len(outcomes) - (len(jobs) - len(todo)), len(todo))

    if todo:
        with _ray_session(address, workers, cpus_per_trial) as session:
            if info is not None:
                info.update(session, cpus_per_trial=cpus_per_trial)
                info["concurrent_trials"] = _concurrency(session["cpus"], workers, cpus_per_trial)
            _fit(todo, workers, cpus_per_trial, done)
    for spec in todo:
        outcomes.setdefault(spec.name, Outcome(spec, None, "did not finish (the Ray run stopped first); run again"))
    return [outcomes[spec.name] for spec in jobs]


@contextmanager
def _ray_session(address: str | None, workers: int | None, cpus_per_trial: float) -> Iterator[dict[str, Any]]:
    """Ray initialised for the run, shut down after it if this run started it; yields the cluster's address, nodes
    and CPUs."""
    import ray

    started = not ray.is_initialized()
    if started and address is None:
        # "local": a private instance even where $RAY_ADDRESS is set or a `ray start` cluster runs
        cpus = math.ceil((workers or 1) * cpus_per_trial)
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    elif started:
        ray.init(address=address, log_to_driver=False)
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        yield {"address": address or "local", "nodes": len(nodes), "cpus": ray.cluster_resources().get("CPU", 0.0)}
    finally:
        if started:
            ray.shutdown()


def _concurrency(cpus: float, workers: int | None, cpus_per_trial: float) -> int:
    """Trials at a time: what the cluster's CPUs hold, capped by ``workers``."""
    fits = max(1, int(cpus // cpus_per_trial))
    return min(fits, workers) if workers is not None else fits


def _fit(todo: Sequence[TrialSpec], cap: int | None, cpus_per_trial: float, done: Callable[[Outcome], None]) -> None:
    """One Tune experiment: a trial per job, results recorded by :func:`_collector` as they arrive."""
    from ray import tune

    by_name = {spec.name: spec for spec in todo}
    # absolute output folders: Tune runs each trial in a folder of its own
    specs = {spec.name: asdict(replace(spec, out=str(Path(spec.out).resolve()))) for spec in todo}
    trainable = tune.with_resources(
        tune.with_parameters(_trainable, specs=specs, driver_cwd=os.getcwd()), {"cpu": cpus_per_trial}
    )
    storage = Path(next(iter(specs.values()))["out"]) / "ray"
    tuner = tune.Tuner(
        trainable,
        param_space={"trial": tune.grid_search(list(specs))},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=cap,
            reuse_actors=True,  # a worker keeps its last environment for the next trial, as a local worker does
            trial_name_creator=_trial_name,
            trial_dirname_creator=_trial_name,
        ),
        run_config=tune.RunConfig(
            name=time.strftime("tune-%Y%m%d-%H%M%S"),
            storage_path=str(storage),
            verbose=0,
            callbacks=[_collector(by_name, done)],
            failure_config=tune.FailureConfig(max_failures=1),  # a lost node: once more elsewhere
        ),
    )
    with _quiet_tune():
        tuner.fit()


TUNE_ENVIRONMENT = {"RAY_AIR_NEW_OUTPUT": "0", "TUNE_DISABLE_SIGINT_HANDLER": "1"}
"""Tune's settings while it runs. Its console output is off: the backend prints a line per trial itself (Tune's
newer output prints its experiment header at every verbosity; its older one is silent at verbosity 0). Its Ctrl-C
handler is off: Ctrl-C raises ``KeyboardInterrupt`` as with the local backend, so ``hwenvs benchmark`` says that
finished trials are kept and the same command resumes (Tune's own handler would end the run quietly, call the
unfinished trials failed, and point to its ``Tuner.restore``, which this backend does not use)."""


@contextmanager
def _quiet_tune() -> Iterator[None]:
    """:data:`TUNE_ENVIRONMENT` while Tune runs, the environment as it was after."""
    before = {name: os.environ.get(name) for name in TUNE_ENVIRONMENT}
    os.environ.update(TUNE_ENVIRONMENT)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _trial_name(trial: Any) -> str:
    """Tune's name (and folder) of a trial: the benchmark's trial name."""
    return str(trial.config["trial"])


def _trainable(config: Mapping[str, Any], specs: Mapping[str, Mapping[str, Any]], driver_cwd: str) -> None:
    """A Tune function trainable: run one benchmark trial and report its outcome and result record.

    :param config: Tune's config: ``{"trial": name}``.
    :param specs: every trial's spec as a dict, by name.
    :param driver_cwd: the driver's working folder (relative paths and ``--agent module:Class`` resolve there).
    """
    from ray import tune

    spec = TrialSpec(**specs[config["trial"]])
    if os.path.isdir(driver_cwd):
        os.chdir(driver_cwd)  # Tune starts a trial in a folder of its own
    scratch = None
    if not Path(spec.out).is_dir():  # a node without the driver's filesystem: the driver writes the result
        scratch = tempfile.mkdtemp(prefix="hwenvs-trial-")
        spec = replace(spec, out=scratch)
    path, error, seconds = _guarded(spec)
    record = read_trial(spec)
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)
        path = None  # the result now lives only in the record (the driver writes it)
    tune.report(
        {
            "trial_error": error or "",
            "trial_seconds": seconds,
            "trial_path": path or "",
            # a string, not a nested dict: Tune's loggers would flatten a search's history into many columns
            "record_json": json.dumps(record) if record is not None else "",
        }
    )


def _collector(specs: Mapping[str, TrialSpec], done: Callable[[Outcome], None]) -> Any:
    """A Tune callback in the driver: writes each trial's record into the output folder (where the trial could not)
    and reports its outcome once."""
    from ray import tune

    reported: set[str] = set()

    def report(outcome: Outcome) -> None:
        if outcome.spec.name not in reported:
            reported.add(outcome.spec.name)
            done(outcome)

    class Collector(tune.Callback):
        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            spec = specs[_trial_name(trial)]
            text = result.get("record_json") or ""
            record = json.loads(text) if text else None
            held = read_trial(spec)
            # compared as store lines: a record's NaN is not equal to itself as a dict value
            if record is not None and (held is None or encode_line(spec.name, held) != encode_line(spec.name, record)):
                spec.store.append(spec.name, record)
            error = result.get("trial_error") or None
            report(Outcome(spec, None if error else str(spec.path), error, float(result.get("trial_seconds", 0))))

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            where = f"; Ray's log: {trial.error_file}" if getattr(trial, "error_file", None) else ""
            report(Outcome(specs[_trial_name(trial)], None, f"Ray could not run the trial{where}"))

    return Collector()
