"""How ``hwenvs benchmark``'s backends scale: the same trials with 1 and 2 local workers and on Ray with 2 workers.

One fixed set of trials (``--trials`` random searches of ``--episodes`` episodes each on HAQ-MobileNetV2-BISMO at
half the 8-bit latency, seeds 0..trials-1) runs once per configuration, each into a fresh folder so that nothing is
skipped as finished. Throughput is the trials' episodes over the configuration's wall time, start-up included
(worker processes, Ray, building each worker's environment), as a person running the benchmark sees it; its ratio to
one local worker is the speed-up, whose goal is at least 0.9 N for N workers up to the machine's cores. The table
also gives each configuration's summed in-trial search time and the episodes per second of one worker inside its
trials, which fall when workers contend for the cores or the memory bus (set-up excluded), and the load average
before and after, since on a shared machine other work takes cores too.

    python benchmarks/benchmark_scaling.py                                  # local:1 local:2 ray:2, 8 x 30 episodes
    python benchmarks/benchmark_scaling.py --trials 2 --episodes 1 --out /tmp/scaling     # a check that it runs

Writes results/benchmark_scaling.{json,md} (or into ``--out``).

Cluster run: start Ray on every node (the same Python environment with hwenvs installed everywhere), then point the
script (or ``hwenvs benchmark``) at the head with ``--address``; ``ray:N`` caps the trials at a time at N::

    ray start --head --port 6379 --num-cpus 16               # on the head node
    ray start --address HEAD_IP:6379 --num-cpus 16           # on each other node
    python benchmarks/benchmark_scaling.py --address HEAD_IP:6379 --configs local:1 ray:16 ray:32 --trials 64
    hwenvs benchmark --suite default --backend ray --address HEAD_IP:6379 --cpus-per-trial 1 --out runs/bench
    ray stop                                                 # on every node, when done

Results reach the driver even where ``--out`` is not on a shared filesystem (each trial sends its record back).
Ray 2.52 and later may require a token: set ``RAY_AUTH_MODE=token`` and the same ``RAY_AUTH_TOKEN`` on every node
and on the driver (Ray's "token authentication" page).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import results_io

from hwenvs.benchmark.trials import TrialSpec, read_trial

RESULTS = Path(__file__).parent / "results"
NAME = "benchmark_scaling"
ENV_ID = "HAQ-MobileNetV2-BISMO"
ENV_KWARGS = {"preserve_ratio": 0.5}
CONFIGS = ("local:1", "local:2", "ray:2")
"""Backend:workers of a default run; the first is the baseline of every ratio."""
GOAL = 0.9
"""The speed-up to reach with N workers, as a fraction of N (for N up to the machine's cores)."""


def trials(count: int, episodes: int, out: Path) -> list[TrialSpec]:
    """The fixed set of trials: random search, seeds 0..count-1, into ``out``."""
    return [
        TrialSpec("search", "haq", ENV_ID, dict(ENV_KWARGS), episodes, str(out), "random", "random", seed=seed)
        for seed in range(count)
    ]


def parse_config(text: str) -> tuple[str, int]:
    """``backend:workers`` -> (backend, workers).

    :raises argparse.ArgumentTypeError: a malformed entry, naming what is valid.
    """
    backend, _, workers = text.partition(":")
    if backend not in ("local", "ray") or not workers.isdigit() or int(workers) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give backend:workers with backend local or ray, e.g. local:2")
    return backend, int(workers)


def run_config(backend: str, workers: int, jobs: list[TrialSpec], address: str | None) -> dict[str, Any]:
    """Run ``jobs`` on one backend configuration; its wall time, throughput and what the trials measured."""
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    if backend == "local":
        from hwenvs.benchmark.local import run_local

        outcomes = run_local(jobs, workers)
    else:
        from hwenvs.benchmark.ray_backend import run_ray

        outcomes = run_ray(jobs, address=address, workers=workers)
    wall = time.perf_counter() - start
    failed = [f"{o.spec.name}: {o.error}" for o in outcomes if o.error is not None]
    if failed:
        raise RuntimeError(f"{backend}:{workers}: trials failed: {failed}")
    records = [read_trial(job) or {} for job in jobs]
    episodes = sum(int(r.get("episodes_run", 0)) for r in records)
    result = {
        "backend": backend,
        "workers": workers,
        "wall_s": wall,
        "episodes": episodes,
        "episodes_per_s": episodes / wall,
        "search_s_total": sum(float(r.get("search_time_s", 0.0)) for r in records),
        "processes": len({r.get("pid") for r in records}),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }
    print(f"{backend}:{workers}: {episodes} episodes in {wall:.1f} s, {result['episodes_per_s']:.3f} episodes/s")
    return result


def ray_missing() -> str | None:
    """Why Ray configurations cannot run here (None: they can)."""
    from hwenvs.benchmark.ray_backend import ray_missing as missing

    return missing()


def render(data: dict[str, Any]) -> str:
    """The results markdown, from the JSON alone."""
    results_io.require(data, ("configs", "trials", "episodes", "goal"), f"{NAME}.json", f"benchmarks/{NAME}.py")
    base = data["configs"][0]
    lines = [
        "# Benchmark backends: scaling",
        "",
        f"{data['trials']} random searches x {data['episodes']} episodes on {data['env_id']} "
        f"({', '.join(f'{k}={v}' for k, v in data['env_kwargs'].items())}), one torch thread per trial, run once per "
        "configuration into a fresh folder. Throughput: the trials' episodes over the configuration's wall time, "
        f"start-up included. Speed-up: throughput over that of {base['backend']}:{base['workers']}; the goal is "
        f"{data['goal']} N for N workers up to the machine's {data['cores']} cores.",
        "",
    ]
    columns = ["backend", "workers", "episodes", "wall (s)", "episodes/s", "speed-up", "goal", "met",
               "in-trial search (s)", "in-trial episodes/s per worker", "processes", "load before",
               "load after"]  # fmt: skip
    rows: list[list[Any] | str] = []
    for c in data["configs"]:
        if "skipped" in c:  # one cell spanning the figures it does not have
            rows.append(f"| {c['backend']} | {c['workers']} | skipped: {c['skipped']} ||||||||||")
            continue
        ratio = c["episodes_per_s"] / base["episodes_per_s"]
        goal = data["goal"] * c["workers"] if c["workers"] <= data["cores"] else None
        met = "-" if goal is None else ("yes" if ratio >= goal else "no")
        rows.append([c["backend"], c["workers"], c["episodes"], f"{c['wall_s']:.1f}", f"{c['episodes_per_s']:.3f}",
                     f"{ratio:.2f}", "-" if goal is None else f"{goal:.2f}", met, f"{c['search_s_total']:.1f}",
                     f"{c['episodes'] / c['search_s_total']:.3f}", c["processes"], f"{c['load_before']:.2f}",
                     f"{c['load_after']:.2f}"])  # fmt: skip
    lines += results_io.table(columns, rows)
    lines += [
        "",
        f"Machine: {data['machine']}; Ray {data['ray_version'] or 'not installed'}; {data['date']}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=8, help="random searches (seeds 0..N-1) (default: 8)")
    parser.add_argument("--episodes", type=int, default=30, help="episodes per search (default: 30)")
    parser.add_argument(
        "--configs",
        nargs="+",
        type=parse_config,
        default=[parse_config(c) for c in CONFIGS],
        help=f"backend:workers to measure, the first being the baseline (default: {' '.join(CONFIGS)})",
    )
    parser.add_argument("--address", default=None, help="Ray configurations: a cluster's host:port or auto")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the results files (default: results/)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the trials' folders here (default: discard)")
    args = parser.parse_args(argv)
    if args.trials < 1 or args.episodes < 1:
        parser.error("--trials and --episodes must be >= 1")
    backend, workers = args.configs[0]
    if backend == "ray" and ray_missing():
        parser.error(f"the baseline ray:{workers} cannot run: {ray_missing()}")
    results_io.use_shared_reference_data()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="hwenvs-scaling-"))
    configs = []
    try:
        for index, (backend, workers) in enumerate(args.configs):
            missing = ray_missing() if backend == "ray" else None
            if missing:
                configs.append({"backend": backend, "workers": workers, "skipped": missing})
                continue
            out = work / f"{index}-{backend}-{workers}"
            shutil.rmtree(out, ignore_errors=True)  # nothing may count as finished
            configs.append(run_config(backend, workers, trials(args.trials, args.episodes, out), args.address))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    data = {
        "env_id": ENV_ID,
        "env_kwargs": ENV_KWARGS,
        "trials": args.trials,
        "episodes": args.episodes,
        "goal": GOAL,
        "address": args.address,
        "configs": configs,
        "cores": os.cpu_count(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "ray_version": _ray_version(),
        "date": datetime.date.today().isoformat(),
    }
    results_io.write(args.out / f"{NAME}.json", data, args.out / f"{NAME}.md", render(data))
    print(render(data))


def _ray_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ray")
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
