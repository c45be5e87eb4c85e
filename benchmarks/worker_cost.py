"""What one more worker costs: make time, first-episode time, resident memory and pickled size of an environment, with
1 and 4 worker processes making it at once (as a vector env, Ray or Tune would), each with one torch thread.

Each worker is a fresh spawned process (nothing inherited) that times ``gym.make(ENV_ID)``, then its first episode
(random actions; the first evaluation included), and reports its peak resident memory. The parent pickles one
environment to measure what a worker would receive. On 2 cores, 4 workers share the CPU, so their times are longer:
the table gives the load average at the start.

    python benchmarks/worker_cost.py
    python benchmarks/worker_cost.py --envs HAQ-MobileNetV2-BISMO --workers 1 2

Writes results/worker_cost.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
import pickle
import resource
import time
from pathlib import Path
from typing import Any

import results_io

RESULTS = Path(__file__).parent / "results"
ENV_IDS = ("HAQ-MobileNetV2-BISMO", "ProxylessNAS-BISMO")


def worker(env_id: str, seed: int) -> dict[str, float]:
    """In a fresh process: make the environment, run its first episode, report times and peak RSS."""
    import torch

    torch.set_num_threads(1)
    import gymnasium as gym

    import hwenvs  # noqa: F401

    imported_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    env = gym.make(env_id)
    made = time.perf_counter()
    env.reset(seed=seed)
    env.action_space.seed(seed)
    terminated = False
    while not terminated:
        *_, terminated, _, _ = env.step(env.action_space.sample())
    done = time.perf_counter()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "make_s": made - start,
        "first_episode_s": done - made,
        "imported_rss_mib": imported_mib,
        "peak_rss_mib": peak_mib,
    }


def pickled_mib(env_id: str) -> float:
    """Size of one pickled environment (what a worker would receive)."""
    import gymnasium as gym

    import hwenvs  # noqa: F401

    env = gym.make(env_id)
    env.reset(seed=0)
    return len(pickle.dumps(env)) / 2**20


def measure(env_id: str, workers: int) -> dict[str, Any]:
    """``workers`` spawned processes making ``env_id`` at the same time."""
    load = os.getloadavg()[0]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        rows = pool.starmap(worker, [(env_id, seed) for seed in range(workers)])
    summary = {key: max(row[key] for row in rows) for key in rows[0]}
    return {"workers": workers, "load_average": load, "per_worker": rows, "worst": summary}


def render(data: dict[str, Any]) -> str:
    """The results markdown, from the JSON alone."""
    results_io.require(data, ("envs",), "worker_cost.json", "benchmarks/worker_cost.py")
    lines = [
        "# What a worker costs",
        "",
        "Each worker is a fresh spawned process with one torch thread: it makes the environment, runs its first "
        "episode (random actions, the first evaluation included) and reports its peak resident memory, and what "
        "importing torch, torchvision and hwenvs alone took (shared libraries included). With several "
        "workers they start together; the worst worker is shown. Pickled: one environment after `reset`, as a "
        f"worker would receive it. {data['cores']} cores.",
        "",
    ]
    columns = ["environment", "pickled (KiB)", "workers", "load at start", "make (s)", "first episode (s)",
               "RSS after imports (MiB)", "peak RSS per worker (MiB)"]  # fmt: skip
    rows = []
    for env_id, result in data["envs"].items():
        for run in result["runs"]:
            worst = run["worst"]
            rows.append([env_id, f"{1024 * result['pickled_mib']:.1f}", run["workers"], f"{run['load_average']:.1f}",
                         f"{worst['make_s']:.1f}", f"{worst['first_episode_s']:.1f}",
                         f"{worst['imported_rss_mib']:.0f}", f"{worst['peak_rss_mib']:.0f}"])  # fmt: skip
    lines += results_io.table(columns, rows)
    lines += ["", f"{data['date']}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", nargs="+", default=list(ENV_IDS))
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 4])
    args = parser.parse_args(argv)
    envs = {}
    for env_id in args.envs:
        envs[env_id] = {"pickled_mib": pickled_mib(env_id), "runs": [measure(env_id, n) for n in args.workers]}
        print(env_id, envs[env_id])
    data = {"envs": envs, "cores": os.cpu_count(), "date": datetime.date.today().isoformat()}
    results_io.write(RESULTS / "worker_cost.json", data, RESULTS / "worker_cost.md", render(data))
    print(render(data))


if __name__ == "__main__":
    main()
