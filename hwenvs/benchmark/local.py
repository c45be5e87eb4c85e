"""The local backend: the benchmark's trials in a pool of worker processes on this machine, resumable.

Each worker is a fresh (spawned) process running one torch thread, and runs :func:`hwenvs.benchmark.trials.run_trial`
on one trial at a time, so a second backend (Ray Tune) only has to call the same function. Trials whose complete
result is stored are skipped before the pool starts: a killed benchmark, run again with the same command, runs only
what is missing. A trial that fails is reported (its line in the trial store holds the traceback) and the others go
on.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass

from hwenvs.benchmark.trials import TrialSpec, finished, run_trial


@dataclass
class Outcome:
    """How one job of the benchmark ended.

    :param spec: the job.
    :param path: the trial store holding its result (None if it failed).
    :param error: the last line of its traceback (None if it finished).
    :param seconds: wall time in its worker (0 for a job skipped as already finished).
    :param skipped: True if its result was already on disk.
    """

    spec: TrialSpec
    path: str | None
    error: str | None = None
    seconds: float = 0.0
    skipped: bool = False


def _init_worker() -> None:
    """One thread per worker process for every library that spawns its own (the workers share the cores)."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = "1"
    import torch

    torch.set_num_threads(1)


def _guarded(spec: TrialSpec) -> tuple[str | None, str | None, float]:
    """:func:`run_trial` with its failure returned instead of raised (one bad trial must not stop the pool)."""
    start = time.perf_counter()
    try:
        return run_trial(spec), None, time.perf_counter() - start
    except Exception:
        lines = traceback.format_exc().strip().splitlines()
        return None, lines[-1] if lines else "failed", time.perf_counter() - start


def run_local(
    jobs: Sequence[TrialSpec], workers: int = 1, report: Callable[[Outcome, int, int], None] | None = None
) -> list[Outcome]:
    """Run every job not yet finished, ``workers`` at a time.

    :param jobs: the benchmark's jobs (see :func:`hwenvs.benchmark.suite.plan`), in the order to start them.
    :param workers: worker processes; 1 runs the jobs in this process, one after the other.
    :param report: called after each job ends, with its outcome, the jobs ended so far and the jobs to run.
    :returns: one outcome per job, in the order of ``jobs``.
    :raises KeyboardInterrupt: on Ctrl-C, after cancelling what has not started (finished results stay on disk).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    outcomes = {spec.name: Outcome(spec, str(spec.path), skipped=True) for spec in jobs if finished(spec)}
    todo = [spec for spec in jobs if spec.name not in outcomes]

    def done(spec: TrialSpec, result: tuple[str | None, str | None, float]) -> None:
        outcomes[spec.name] = Outcome(spec, *result)
        if report is not None:
            report(outcomes[spec.name], len(outcomes) - (len(jobs) - len(todo)), len(todo))

    if workers == 1 or len(todo) <= 1:
        for spec in todo:
            done(spec, _guarded(spec))
    else:
        _run_pool(todo, workers, done)
    return [outcomes[spec.name] for spec in jobs]


def _run_pool(
    todo: Sequence[TrialSpec], workers: int, done: Callable[[TrialSpec, tuple[str | None, str | None, float]], None]
) -> None:
    # spawn, not fork: a forked child of a process that has started torch's threads can deadlock
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(min(workers, len(todo)), mp_context=context, initializer=_init_worker)
    try:
        pending: dict[Future, TrialSpec] = {pool.submit(_guarded, spec): spec for spec in todo}
        while pending:
            ended, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in ended:
                done(pending.pop(future), future.result())
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    # every job has ended: the workers exit on their own (tearing down torch takes seconds on a busy machine)
    pool.shutdown(wait=False)
