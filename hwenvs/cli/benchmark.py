"""``hwenvs benchmark``: every agent of a suite on every environment, many seeds, one report with sound statistics."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from hwenvs.cli.main import UsageError

BACKENDS = ("local", "ray")
"""Where trials run: ``local`` (a process pool on this machine) or ``ray`` (Ray Tune, on this machine or a cluster).
Each backend runs :func:`hwenvs.benchmark.trials.run_trial` on the same trial specs and resumes from the same trial
store (``OUT/trials.jsonl``)."""

ACCURACY = ("real", "surrogate")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``hwenvs benchmark``."""
    parser = subparsers.add_parser(
        "benchmark",
        help="compare agents on a suite of environments over many seeds (IQM, bootstrap CIs, plots)",
        description=(
            "Run every agent of a suite on every environment of it, with several seeds (and, with --sweep, several "
            "sampled hyperparameter settings), at the same episode budget. Each trial's result is appended to "
            "OUT/trials.jsonl as it finishes, so a killed benchmark resumes: run the same command again and finished "
            "trials are skipped, and trials killed midway continue from their last checkpoint (written every minute, "
            "for every agent but SB3's). At the end OUT/results.json collects every trial and the statistics, and "
            "OUT/results.md and OUT/*.png are rendered from it: test accuracy and normalised score (0: random "
            "solutions, 1: the best uniform solution) of each search's best episode by validation, IQM and mean with "
            "95% stratified-bootstrap intervals, probability of improvement between agents, best-so-far curves, "
            "performance profiles and episodes to beat the best uniform solution."
        ),
    )
    parser.add_argument(
        "--suite",
        default="default",
        help="a shipped suite (default, smoke) or the path of a .yaml or .toml suite file (default: default)",
    )
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 per agent (default: the suite's, 10)")
    parser.add_argument("--agents", default=None, help="comma-separated agent names of the suite (default: all)")
    parser.add_argument("--envs", default=None, help="comma-separated environment names of the suite (default: all)")
    parser.add_argument("--episodes", type=int, default=None, help="episode budget of every search (default: suite's)")
    parser.add_argument(
        "--sweep",
        type=int,
        default=0,
        metavar="K",
        help="run each agent that declares a hyperparameter space with K settings drawn from it, and report both the "
        "best setting (chosen on validation) and the average over settings (default: 0, the defaults only)",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="local",
        help='where trials run: local (a process pool) or ray (Ray Tune, one trial per job; pip install "hwenvs[ray]") '
        "(default: local)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="trials at a time, one torch thread each: local worker processes, or the size of the private Ray "
        "instance; with --address, a cap on the cluster's concurrency (default: 1; with --address, no cap)",
    )
    parser.add_argument(
        "--address",
        default=None,
        help="--backend ray: the Ray cluster to run on, host:port or auto (this machine's cluster, or $RAY_ADDRESS) "
        "(default: start a private Ray instance and stop it at the end)",
    )
    parser.add_argument(
        "--cpus-per-trial",
        type=float,
        default=None,
        help="--backend ray: CPUs Ray reserves for each trial (default: 1)",
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: runs/benchmark-SUITE)")
    parser.add_argument(
        "--accuracy",
        choices=ACCURACY,
        default="real",
        help="real: measured accuracies; surrogate: gym.make(..., accuracy='surrogate'), for environments that "
        "offer it; the report labels every figure as surrogate (default: real)",
    )
    parser.add_argument("--dry-run", action="store_true", help="list the trials the benchmark would run, and stop")
    parser.add_argument(
        "--report-only", action="store_true", help="render OUT/results.md and the plots again from OUT/results.json"
    )
    parser.add_argument(
        "--collect",
        action="store_true",
        help="run nothing: write OUT/results.json, results.md and the plots from the trials finished so far (the "
        "others listed as missing), to read a benchmark that has not finished",
    )
    parser.add_argument(
        "--combine",
        type=Path,
        nargs="+",
        metavar="DIR",
        default=None,
        help="with --report-only: one report in OUT from the results.json of benchmarks of one suite run apart on "
        "disjoint environments (other machines, other sessions), the statistics recomputed over all of them",
    )
    parser.set_defaults(func=run)


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [n.strip() for n in text.split(",") if n.strip()]


def _positive(value: int | None, option: str, minimum: int = 1) -> None:
    if value is not None and value < minimum:
        raise UsageError(f"{option} must be an integer >= {minimum}, got {value}")


def load(args: argparse.Namespace) -> Any:
    """The suite, restricted to ``--envs`` / ``--agents`` and to the environments this machine has data for."""
    from hwenvs.benchmark.suite import load_suite

    for value, option, minimum in ((args.seeds, "--seeds", 1), (args.episodes, "--episodes", 1)):
        _positive(value, option, minimum)
    _positive(args.sweep, "--sweep", 0)
    _positive(args.workers, "--workers", 1)
    _check_backend(args)
    suite = load_suite(args.suite).select(_names(args.envs), _names(args.agents))
    missing = suite.unavailable()
    for name, reason in missing.items():
        print(f"skipping environment {name}: {reason}", file=sys.stderr)
    suite = suite.select([e.name for e in suite.envs if e.name not in missing], None)
    if not suite.envs:
        raise UsageError("no environment of the suite can run on this machine")
    if args.episodes is not None:
        suite = suite.with_episodes(args.episodes)
    return suite


def _check_backend(args: argparse.Namespace) -> None:
    """The backend's options, and Ray's presence for ``--backend ray`` (a dry run too: it checks what the run
    would refuse)."""
    if args.backend != "ray":
        options = (("--address", args.address), ("--cpus-per-trial", args.cpus_per_trial))
        given = [option for option, value in options if value is not None]
        if given:
            raise UsageError(f"{' and '.join(given)} apply to --backend ray only (this run's backend: {args.backend})")
        return
    if args.cpus_per_trial is not None and not args.cpus_per_trial > 0:
        raise UsageError(f"--cpus-per-trial must be a number > 0, got {args.cpus_per_trial}")
    from hwenvs.benchmark.ray_backend import ray_missing

    missing = ray_missing()
    if missing:
        raise UsageError(f"--backend ray: {missing}")


def check(suite: Any, accuracy: str) -> None:
    """Check every environment's arguments (and ``--accuracy``) with the environment's own checks, and that the
    agents' optional packages are installed, before anything runs.

    :raises UsageError: naming the environment or agent.
    """
    from hwenvs.cli.search import check_env_kwargs, check_searchable
    from hwenvs.envs.accuracy_source import env_kwargs

    extra = env_kwargs(accuracy)
    for env in suite.envs:
        try:
            check_searchable(env.id)  # without the contract every trial failed, after a dry run that passed
            check_env_kwargs(env.id, {**env.kwargs, **extra})
        except UsageError as exc:
            problem = str(exc).removeprefix("--env-kwarg: ")
            raise UsageError(f"environment {env.name} ({env.id}) of suite {suite.name!r}: {problem}") from exc
    from hwenvs.agents.registry import check_agent_kwargs

    for spec in suite.agents:  # names and values, as the trials will build them (a dry run checks them too)
        try:
            check_agent_kwargs(spec.agent, spec.kwargs, names_only=spec.episode_kwargs)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"agent {spec.name} ({spec.agent}) of suite {suite.name!r}: {exc}") from exc
    for agent in {a.agent for a in suite.agents}:
        if agent in ("tpe", "cmaes"):
            from hwenvs.agents.blackbox import EXTRA_HINT

            for module in ("optuna", "cmaes") if agent == "cmaes" else ("optuna",):
                try:
                    __import__(module)
                except ImportError as exc:
                    raise UsageError(f"agent {agent} needs the {module} package: {EXTRA_HINT}") from exc


def run(args: argparse.Namespace) -> int:
    """Run (or resume) the benchmark and write its report; exit code 1 if a trial failed."""
    from hwenvs.benchmark.report import render_files, write_results

    if args.combine and not args.report_only:
        raise UsageError("--combine works with --report-only: it runs nothing, it joins finished benchmarks")
    if args.report_only:
        if args.out is None:
            raise UsageError("--report-only needs --out, the folder of the benchmark to report")
        if args.combine:
            _combine(args.combine, args.out)
        print(f"wrote {render_files(args.out)}")
        return 0
    suite = load(args)
    check(suite, args.accuracy)
    suffix = "" if args.accuracy == "real" else f"-{args.accuracy}"  # surrogate results never mix with real ones
    out = args.out or Path("runs") / f"benchmark-{suite.name}{suffix}"
    suite = suite.resolve_budgets(out / "budgets")  # before any agent runs; kept in OUT for the next run
    jobs, meta = _plan(suite, args, out)
    if args.dry_run:
        _print_plan(jobs)
        return 0
    _prepare(out)
    failed = 0 if args.collect else _execute(jobs, args, meta)
    data = write_results(jobs, meta, out)
    print(f"\nresults: {out / 'results.md'} ({len(data['trials'])} searches; {len(data['missing'])} jobs missing)")
    print(_headline(data))
    return 1 if failed else 0


def _combine(folders: list[Path], out: Path) -> None:
    """Write ``out/results.json``: the benchmarks in ``folders`` combined (:func:`hwenvs.benchmark.report.combine`).

    :raises UsageError: a folder without a readable ``results.json``, or benchmarks that cannot be combined.
    """
    from hwenvs.benchmark.report import combine
    from hwenvs.benchmark.trials import read_result, write_json

    parts = []
    for folder in folders:
        data = read_result(folder / "results.json")
        if data is None:
            raise UsageError(f"--combine: {folder / 'results.json'} is missing or not JSON: run the benchmark first")
        parts.append(data)
    try:
        combined = combine(parts)
    except KeyError as exc:
        raise UsageError(f"--combine: a results.json without {exc}: not a complete benchmark result") from exc
    except ValueError as exc:
        raise UsageError(f"--combine: {exc}") from exc
    _prepare(out)
    write_json(out / "results.json", combined)


def _plan(suite: Any, args: argparse.Namespace, out: Path) -> tuple[list[Any], dict[str, Any]]:
    from hwenvs.benchmark.suite import plan
    from hwenvs.benchmark.sweep import settings

    jobs = plan(suite, out, args.seeds, args.sweep, args.accuracy)
    agents = {a.name: settings(a.agent, a.name, args.sweep) for a in suite.agents}
    meta = {
        "suite": {"name": suite.name, "description": suite.description, "source": suite.source},
        "settings": {
            "seeds": args.seeds or suite.seeds,
            "sweep": args.sweep,
            "accuracy": args.accuracy,
            "backend": args.backend,
            "workers": args.workers or 1,
            "episodes": {e.name: e.episodes for e in suite.envs},
            "random_episodes": suite.random_episodes,
        },
        "agents": agents,
        "groups": {a.name: a.group for a in suite.agents},
        "budgets": {e.name: _budget_entry(e.resolution) for e in suite.envs if e.resolution is not None},
    }
    return jobs, meta


def _budget_entry(resolution: dict[str, Any]) -> dict[str, Any]:
    """What the results keep of a budget rule's resolution (not every uniform policy's score)."""
    return {k: v for k, v in resolution.items() if k not in ("format", "identity", "uniform")}


def _print_plan(jobs: list[Any]) -> None:
    searches = [j for j in jobs if j.kind == "search"]
    state = {j.name: _state(j) for j in jobs}
    done, midway = (list(state.values()).count(which) for which in ("finished", "checkpointed"))
    print(f"{len(jobs)} jobs: {len(jobs) - len(searches)} reference jobs and {len(searches)} searches "
          f"({sum(j.episodes for j in searches)} episodes); {done} already finished, {midway} to continue from a "
          "checkpoint")  # fmt: skip
    for job in jobs:
        print(f"  {job.name}{f' ({state[job.name]})' if state[job.name] else ''}")


def _state(job: Any) -> str:
    """``"finished"``, ``"checkpointed"`` (a killed trial that will continue mid-search) or ``""`` (to run)."""
    from hwenvs.benchmark.trials import finished

    if finished(job):
        return "finished"
    return "checkpointed" if job.checkpoint_path.exists() else ""


def _prepare(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out} cannot be created: {exc.strerror or exc}") from exc


def _execute(jobs: list[Any], args: argparse.Namespace, meta: dict[str, Any]) -> int:
    """Run the jobs on the backend, printing a line per job; returns how many failed."""

    states = [_state(j) for j in jobs]
    kept, midway = states.count("finished"), states.count("checkpointed")
    where = f"{args.workers or 1} worker(s)"
    if args.backend == "ray":
        where = f"Ray ({'private instance' if args.address is None else args.address})"
    resume = f", {midway} continuing from a checkpoint" if midway else ""
    print(f"{len(jobs) - kept} jobs to run ({kept} already finished{resume}), {where}", flush=True)
    start = time.perf_counter()
    try:
        outcomes = _run_backend(jobs, args, meta)
    except KeyboardInterrupt:
        print("\ninterrupted: finished trials are kept; run the same command again to resume", file=sys.stderr)
        raise
    failed = [o for o in outcomes if o.error is not None]
    print(f"ran in {time.perf_counter() - start:.0f} s; {len(failed)} failed", flush=True)
    return len(failed)


def _run_backend(jobs: list[Any], args: argparse.Namespace, meta: dict[str, Any]) -> list[Any]:
    """The jobs' outcomes from the chosen backend; a Ray run records its cluster in ``meta["settings"]``."""
    if args.backend == "local":
        from hwenvs.benchmark.local import run_local

        return run_local(jobs, args.workers or 1, _report_line)
    from hwenvs.benchmark.ray_backend import run_ray

    info: dict[str, Any] = {}
    outcomes = run_ray(jobs, args.address, args.workers, args.cpus_per_trial or 1.0, _report_line, info)
    if info:  # the trials that ran at a time, for the report's "N worker(s)"
        meta["settings"].update(ray=info, workers=info["concurrent_trials"])
    return outcomes


def _report_line(outcome: Any, done: int, total: int) -> None:
    from hwenvs.benchmark.trials import read_trial

    spec = outcome.spec
    if outcome.error is not None:
        print(f"[{done}/{total}] {spec.name}: FAILED ({outcome.error}); traceback in {spec.path}", flush=True)
        return
    data = read_trial(spec) or {}
    if spec.kind == "reference":
        random = data.get("random", {})
        shown = f"random solutions' test accuracy {random.get('test_accuracy', float('nan')):.4f}"
    else:
        r = data.get("result", {})
        test, val = r.get("test_accuracy", float("nan")), r.get("val_accuracy", float("nan"))
        shown = f"test accuracy {test:.4f} (validation {val:.4f})"
    print(f"[{done}/{total}] {spec.name}: {shown}, {outcome.seconds:.0f} s", flush=True)


def _headline(data: dict[str, Any]) -> str:
    """The aggregate table of each family, as plain text."""
    lines = []
    summary = data["summary"]
    variant = summary["variants"][0]
    for family, fam in summary["families"].items():
        lines.append(f"{family}: normalised test score, IQM [95% CI]")
        for agent, entry in fam["agents"].items():
            value = entry.get(variant, {}).get("iqm")
            if value is not None:
                lines.append(f"  {agent:>12} {value[0]:.3f} [{value[1]:.3f}, {value[2]:.3f}]")
    return "\n".join(lines)
