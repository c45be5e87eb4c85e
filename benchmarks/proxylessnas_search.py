"""Benchmark: REINFORCE (ProxylessNAS-R) against random search and the gradient search (ProxylessNAS-G) at an equal
budget of environment episodes.

On ``--env`` (ProxylessNAS-Mobile by default, frozen supernet, 1000-image validation batch), every agent runs
``--episodes`` episodes with each seed, in this process with one torch thread. The final architecture is the most
probable one for REINFORCE and the gradient search, and the best one sampled for random search (REINFORCE's best
sampled is reported too). Each final architecture is scored by the environment: accuracy of its supernet path,
deployed latency, reward. Wall time is the search's (the gradient search also trains its private supernet copy: 5
weight steps per episode).

    python benchmarks/proxylessnas_search.py                       # 150 episodes x seeds 0 1 2
    python benchmarks/proxylessnas_search.py --episodes 20 --seeds 0   # a smoke run

Not a test: it measures and prints. Results: ``benchmarks/results/proxylessnas_search.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"
AGENTS = ("reinforce", "random", "gradient")


def random_search(env: Any, episodes: int, seed: int) -> tuple[str, dict[str, Any]]:
    """Uniform architectures from the action space; returns the best by reward (string, info)."""
    from agents.reinforce import run_architecture
    from hwenvs.nas.architecture import Architecture

    env.action_space.seed(seed)
    best: tuple[float, str] = (-np.inf, "")
    for episode in range(episodes):
        arch = Architecture.from_indices(env.action_space.sample())
        reward, info = run_architecture(env, arch, seed=seed if episode == 0 else None)
        best = max(best, (reward, info["architecture"]))
    return best[1], {"best_sampled_reward": best[0]}


def run_one(env_id: str, agent_name: str, episodes: int, seed: int) -> dict[str, Any]:
    """One search; returns its final architecture's scores and wall time."""
    import gymnasium as gym

    from agents.registry import make_agent

    env = gym.make(env_id)
    start = time.perf_counter()
    if agent_name == "random":
        final, extra = random_search(env, episodes, seed)
    else:
        rewards: list[tuple[float, str]] = []
        agent = make_agent(agent_name, env, seed=seed)
        agent.learn(episodes, lambda r: rewards.append((r.reward, r.info["architecture"])) or None)
        final = agent.derived_architecture().to_string()
        best = max(rewards)
        extra = {"best_sampled_reward": best[0], "best_sampled": best[1]}
    wall = time.perf_counter() - start
    scores = env.unwrapped.evaluate(final)
    return {"agent": agent_name, "seed": seed, "episodes": episodes, "wall_time_s": wall, **scores, **extra}


def _mean_sd(values: list[float], fmt: str) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{format(statistics.mean(values), fmt)} ± {format(sd, fmt)}"


def report(rows: list[dict[str, Any]], env_id: str, episodes: int) -> str:
    """A markdown report: per-agent means over seeds, then every run."""
    lines = [
        f"# {env_id}: final architectures after {episodes} episodes (mean ± sd over seeds)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread, shared CPU.",
        "",
        "| agent | reward | accuracy | latency (ms) | wall time (s) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for agent in AGENTS:
        mine = [r for r in rows if r["agent"] == agent]
        if mine:
            cells = [
                _mean_sd([r[key] for r in mine], fmt)
                for key, fmt in (("reward", ".4f"), ("accuracy", ".4f"), ("latency_ms", ".1f"), ("wall_time_s", ".0f"))
            ]
            lines.append(f"| {agent} | " + " | ".join(cells) + " |")
    lines += ["", "| agent | seed | reward | accuracy | latency (ms) | wall (s) | architecture |", "| --- " * 7 + "|"]
    for r in rows:
        lines.append(
            f"| {r['agent']} | {r['seed']} | {r['reward']:.4f} | {r['accuracy']:.4f} | {r['latency_ms']:.1f} | "
            f"{r['wall_time_s']:.0f} | `{r['architecture']}` |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="ProxylessNAS-Mobile")
    parser.add_argument("--episodes", type=int, default=150)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--agents", nargs="+", default=list(AGENTS), choices=AGENTS)
    parser.add_argument("--out", type=Path, default=RESULTS / "proxylessnas_search")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import hwenvs  # noqa: F401  (registers the environments)

    rows = []
    for seed in args.seeds:
        for agent in args.agents:
            row = run_one(args.env, agent, args.episodes, seed)
            rows.append(row)
            print(
                f"{agent:>9} seed {seed}: reward {row['reward']:.4f} accuracy {row['accuracy']:.4f} "
                f"latency {row['latency_ms']:.1f} ms, {row['wall_time_s']:.0f} s  {row['architecture']}",
                flush=True,
            )
    text = report(rows, args.env, args.episodes)
    print("\n" + text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(text + "\n")


if __name__ == "__main__":
    main()
