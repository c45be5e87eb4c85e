"""Benchmark: does the search specialise to its hardware? (ProxylessNAS's finding that each target's architecture
is fastest on its own target.)

Searches ProxylessNAS-Mobile, ProxylessNAS-CPU and ProxylessNAS-BISMO (each with its own default target) with the
same agent, budget and seed, then costs every found architecture on all three latency tables and prints the matrix
(rows: where it was searched; columns: where it is measured), each cell also relative to the fastest architecture
of its column. Depth (how many blocks a search skips) moves every column alike, so a second matrix looks at the
blocks each architecture keeps: the share of them whose candidate is the cheapest of that block on each column's
table. The CPU table is this machine's (measured once and cached, batch 1, one thread).

    python benchmarks/proxylessnas_specialisation.py [--agent reinforce] [--episodes 300] [--seed 0]

Not a test: it measures and prints. Results: ``benchmarks/results/proxylessnas_specialisation.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"Mobile": "mobile", "CPU": "cpu", "BISMO": "bismo-edge"}
"""Env id fragment -> latency table."""


def search(env_id: str, agent_name: str, episodes: int, seed: int) -> tuple[str, dict[str, Any], float]:
    """One search; returns the derived architecture, its scores on the searched env, and the wall time."""
    import gymnasium as gym

    from agents.registry import make_agent

    env = gym.make(env_id)
    agent = make_agent(agent_name, env, seed=seed)
    start = time.perf_counter()
    agent.learn(episodes)
    wall = time.perf_counter() - start
    arch = agent.derived_architecture().to_string()
    return arch, env.unwrapped.evaluate(arch), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent", default="reinforce", choices=("reinforce", "gradient"))
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "proxylessnas_specialisation")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import hwenvs  # noqa: F401  (registers the environments)
    from hwenvs.nas.architecture import Architecture
    from hwenvs.nas.latency_tables import load_latency_table
    from hwenvs.nas.search_space import ZERO

    tables = {name: load_latency_table(target) for name, target in TARGETS.items()}
    found = {}
    for name in TARGETS:
        arch, scores, wall = search(f"ProxylessNAS-{name}", args.agent, args.episodes, args.seed)
        found[name] = {"architecture": arch, "searched_scores": scores, "wall_time_s": wall}
        print(f"searched on {name}: {arch} (accuracy {scores['accuracy']:.4f}, {wall:.0f} s)", flush=True)
    matrix = {
        row: {col: tables[col].latency_ms(Architecture.from_string(found[row]["architecture"])) for col in TARGETS}
        for row in TARGETS
    }
    best = {col: min(matrix[row][col] for row in TARGETS) for col in TARGETS}
    lines = [
        f"# Specialisation: {args.agent}, {args.episodes} episodes, seed {args.seed}",
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
    cheapest = {col: np.nanargmin(tables[col].block_ms[:, :ZERO], axis=1) for col in TARGETS}
    agreement = {}
    for row in TARGETS:
        choices = np.array(Architecture.from_string(found[row]["architecture"]).choices)
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
        kept = Architecture.from_string(found[row]["architecture"]).depth
        lines.append(f"| {row} | " + " | ".join(f"{agreement[row][c]:.2f}" for c in TARGETS) + f" | {kept} |")
    lines += ["", f"Fastest on its own target: {', '.join(own_fastest) or 'none'} (of {', '.join(TARGETS)}).", ""]
    lines += [f"* {row}: `{found[row]['architecture']}`" for row in TARGETS]
    text = "\n".join(lines)
    print("\n" + text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(
        json.dumps({"found": found, "matrix_ms": matrix, "agreement": agreement}, indent=2) + "\n"
    )
    args.out.with_suffix(".md").write_text(text + "\n")


if __name__ == "__main__":
    main()
