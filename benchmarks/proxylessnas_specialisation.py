"""Benchmark: does the search specialise to its hardware? (ProxylessNAS's finding that each target's architecture
is fastest on its own target.)

Searches ProxylessNAS-Mobile, ProxylessNAS-CPU and ProxylessNAS-BISMO (each with its own default target) with the
same agent, budget and seed (for each of ``--seeds``), then costs every found architecture on all three latency
tables and prints the matrix (rows: where it was searched; columns: where it is measured), each cell also relative
to the fastest architecture of its column. Depth (how many blocks a search skips) moves every column alike, so a
second matrix looks at the blocks each architecture keeps: the share of them whose candidate is the cheapest of
that block on each column's table. A summary averages the relative latencies over the seeds and counts the seeds
in which each architecture is fastest on its own target. The CPU table is this machine's (measured once and
cached, batch 1, one thread).

    python benchmarks/proxylessnas_specialisation.py [--agent reinforce] [--episodes 1000] [--seeds 0 1 2] [--workers 1]

Not a test: it measures and prints. Results: ``benchmarks/results/proxylessnas_specialisation.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"Mobile": "mobile", "CPU": "cpu", "BISMO": "bismo-edge"}
"""Env id fragment -> latency table."""
LATENCY_EXPONENT = -0.1
"""The environments' default ``w``."""


def search(env_id: str, agent_name: str, episodes: int, seed: int) -> tuple[str, dict[str, Any], float]:
    """One search with one torch thread; returns the derived architecture, its scores on the searched env, and the
    wall time."""
    torch.set_num_threads(1)
    import gymnasium as gym

    import hwenvs  # noqa: F401  (registers the environments; a worker process starts bare)
    from agents.registry import make_agent

    env = gym.make(env_id)
    agent = make_agent(agent_name, env, seed=seed)
    start = time.perf_counter()
    agent.learn(episodes)
    wall = time.perf_counter() - start
    arch = agent.derived_architecture().to_string()
    return arch, env.unwrapped.evaluate(arch), wall


def matrix_section(found: dict[str, Any], tables: dict[str, Any], title: str) -> tuple[list[str], dict[str, Any]]:
    """The latency matrix and the cheapest-candidate agreement of one seed's searches, as Markdown lines."""
    from hwenvs.nas.architecture import Architecture
    from hwenvs.nas.search_space import ZERO

    archs = {row: Architecture.from_string(found[row]["architecture"]) for row in TARGETS}
    matrix = {row: {col: tables[col].latency_ms(archs[row]) for col in TARGETS} for row in TARGETS}
    best = {col: min(matrix[row][col] for row in TARGETS) for col in TARGETS}
    lines = [
        f"## {title}",
        "",
        "Latency (ms) of the architecture searched on each row's target, on each column's target; in brackets, "
        "relative to the fastest architecture of the column.",
        "",
        "| searched on \\ measured on | " + " | ".join(TARGETS) + " | accuracy |",
        "| --- " * (len(TARGETS) + 2) + "|",
    ]
    for row in TARGETS:
        cells = [f"{matrix[row][col]:.2f} ({matrix[row][col] / best[col]:.2f}x)" for col in TARGETS]
        lines.append(f"| {row} | " + " | ".join(cells) + f" | {found[row]['searched_scores']['accuracy']:.4f} |")
    own_fastest = [row for row in TARGETS if matrix[row][row] == best[row]]
    # The search maximises reward, not latency alone. Every target's env scores accuracy on the same supernet and
    # batch, so an architecture's reward on a column's target follows from its accuracy and that column's latency.
    targets_ms = {col: found[col]["searched_scores"]["target_ms"] for col in TARGETS}
    reward = {
        row: {
            col: found[row]["searched_scores"]["accuracy"] * (matrix[row][col] / targets_ms[col]) ** LATENCY_EXPONENT
            for col in TARGETS
        }
        for row in TARGETS
    }
    best_reward = {col: max(reward[row][col] for row in TARGETS) for col in TARGETS}
    own_best_reward = [row for row in TARGETS if reward[row][row] == best_reward[row]]
    lines += [
        "",
        f"Reward `accuracy * (latency / target) ** {LATENCY_EXPONENT}` of each row's architecture on each column's "
        "target (the quantity each search maximises; targets "
        + ", ".join(f"{col} {targets_ms[col]:.2f} ms" for col in TARGETS)
        + "):",
        "",
        "| searched on \\ scored on | " + " | ".join(TARGETS) + " |",
        "| --- " * (len(TARGETS) + 1) + "|",
    ]
    for row in TARGETS:
        marks = {col: " (best)" if reward[row][col] == best_reward[col] else "" for col in TARGETS}
        cells = [f"{reward[row][col]:.4f}{marks[col]}" for col in TARGETS]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    cheapest = {col: np.nanargmin(tables[col].block_ms[:, :ZERO], axis=1) for col in TARGETS}
    agreement = {}
    for row in TARGETS:
        choices = np.array(archs[row].choices)
        kept = choices != ZERO
        agreement[row] = {col: float((choices[kept] == cheapest[col][kept]).mean()) for col in TARGETS}
    lines += [
        "",
        "Share of the kept blocks whose candidate is the cheapest one of that block on each column's table "
        "(cheapest per block: " + "; ".join(f"{c} {''.join(map(str, cheapest[c]))}" for c in TARGETS) + ", indices "
        "into k3e3 k3e6 k5e3 k5e6 k7e3 k7e6):",
        "",
        "| searched on \\ cheapest on | " + " | ".join(TARGETS) + " | kept blocks |",
        "| --- " * (len(TARGETS) + 2) + "|",
    ]
    for row in TARGETS:
        lines.append(
            f"| {row} | " + " | ".join(f"{agreement[row][c]:.2f}" for c in TARGETS) + f" | {archs[row].depth} |"
        )
    lines += [
        "",
        f"Fastest on its own target: {', '.join(own_fastest) or 'none'}; best reward on its own target: "
        f"{', '.join(own_best_reward) or 'none'} (of {', '.join(TARGETS)}).",
        "",
    ]
    lines += [f"* {row}: `{found[row]['architecture']}`" for row in TARGETS]
    lines.append("")
    summary = {"matrix_ms": matrix, "reward": reward, "agreement": agreement}
    return lines, {**summary, "own_fastest": own_fastest, "own_best_reward": own_best_reward}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent", default="reinforce", choices=("reinforce", "gradient"))
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=1, help="searches at a time, in separate processes")
    parser.add_argument("--out", type=Path, default=RESULTS / "proxylessnas_specialisation")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import hwenvs  # noqa: F401  (registers the environments)
    from hwenvs.nas.latency_tables import load_latency_table

    tables = {name: load_latency_table(target) for name, target in TARGETS.items()}
    jobs = [(seed, name) for seed in args.seeds for name in TARGETS]
    job_args = [(f"ProxylessNAS-{name}", args.agent, args.episodes, seed) for seed, name in jobs]
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
            outcomes = list(pool.map(search, *zip(*job_args, strict=True)))
    else:
        outcomes = [search(*a) for a in job_args]
    per_seed: dict[int, Any] = {}
    body: list[str] = []
    for seed in args.seeds:
        found = {}
        for (job_seed, name), (arch, scores, wall) in zip(jobs, outcomes, strict=True):
            if job_seed == seed:
                found[name] = {"architecture": arch, "searched_scores": scores, "wall_time_s": wall}
                print(f"seed {seed}, searched on {name}: {arch} (accuracy {scores['accuracy']:.4f}, {wall:.0f} s)")
        lines, summary = matrix_section(found, tables, f"Seed {seed}")
        per_seed[seed] = {"found": found, **summary}
        body += lines
        print("\n".join(lines), flush=True)

    # across seeds: each cell's latency relative to the column's fastest of the same seed, averaged
    def relative(r: dict[str, Any], row: str, col: str) -> float:
        return r["matrix_ms"][row][col] / min(r["matrix_ms"][o][col] for o in TARGETS)

    mean_ratio = {
        row: {col: float(np.mean([relative(r, row, col) for r in per_seed.values()])) for col in TARGETS}
        for row in TARGETS
    }
    wins = {row: sum(row in r["own_fastest"] for r in per_seed.values()) for row in TARGETS}
    reward_wins = {row: sum(row in r["own_best_reward"] for r in per_seed.values()) for row in TARGETS}
    head = [
        f"# Specialisation: {args.agent}, {args.episodes} episodes per search, seeds {', '.join(map(str, args.seeds))}",
        "",
        "Latency of the architecture searched on each row's target, on each column's target, relative to the fastest "
        "of the column's three architectures of the same seed, averaged over the seeds (1.00x: fastest in every seed);"
        " then the seeds in which the row's architecture is the fastest on its own target, and those in which it has "
        "the best reward there (the search's objective).",
        "",
        "| searched on \\ measured on | "
        + " | ".join(TARGETS)
        + " | fastest on own target | best reward on own target |",
        "| --- " * (len(TARGETS) + 3) + "|",
    ]
    n = len(args.seeds)
    for row in TARGETS:
        cells = [f"{mean_ratio[row][col]:.2f}x" for col in TARGETS]
        head.append(f"| {row} | " + " | ".join(cells) + f" | {wins[row]} of {n} | {reward_wins[row]} of {n} |")
    text = "\n".join([*head, "", *body])
    print("\n" + "\n".join(head))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(
        json.dumps(
            {"seeds": per_seed, "mean_ratio": mean_ratio, "own_fastest_wins": wins, "own_reward_wins": reward_wins},
            indent=2,
        )
        + "\n"
    )
    args.out.with_suffix(".md").write_text(text + "\n")


if __name__ == "__main__":
    main()
