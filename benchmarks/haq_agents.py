"""Benchmark: HAQ's DDPG against random search and the fixed-precision baseline at the same budget.

On HAQ-MobileNetV2-BISMO at preserve_ratio 0.5 (latency), every agent searches for ``--episodes`` episodes with each
seed; the table reports the best policy's accuracy and latency (mean and spread over seeds), the best reward so far
at a few episode counts (how fast each agent gets there), and wall time. Each run is a separate process with one
torch thread (``--jobs`` at a time), and its result is written as soon as it finishes, so an interrupted benchmark
resumes where it stopped (``--resume``).

    python benchmarks/haq_agents.py                      # 300 episodes x 3 seeds x {ddpg, random, fixed}
    python benchmarks/haq_agents.py --episodes 20 --seeds 0 --out /tmp/bench   # a smoke run

Not a test: it measures and prints. Results: ``benchmarks/results/haq_agents.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
CHECKPOINTS = (20, 50, 100, 150, 200, 250, 300)
"""Episode counts at which the best reward so far is reported."""


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """One search (agent x seed) in this process; returns its summary and writes it to ``job["result"]``."""
    import gymnasium as gym
    import torch

    torch.set_num_threads(1)  # one process per core: threads would only fight over the shared CPUs
    import hwenvs  # noqa: F401  (registers the environments)
    from agents.pipeline import build_agent, run_search, seed_everything

    seed_everything(job["seed"])
    start = time.perf_counter()
    env = gym.make(job["env_id"], **job["env_kwargs"])
    agent = build_agent(job["agent"], env, seed=job["seed"], **job["agent_kwargs"])
    result = run_search(env, agent, job["episodes"], job["run_dir"], meta=_meta(job), progress=False, plot=True)
    best = result.best_info
    rewards = result.rewards
    summary = {
        **{k: job[k] for k in ("agent", "seed", "episodes", "env_id", "env_kwargs", "agent_kwargs")},
        "episodes_run": result.episodes,
        "best_episode": result.best.episode,
        "best_reward": result.best.reward,
        "accuracy": best["accuracy"],
        "float_accuracy": best["float_accuracy"],
        "cost": best["cost"],
        "cost_ratio": best["cost_ratio"],
        "budget": best["budget"],
        "unit": best.get("unit"),
        "policy": best["policy"],
        "best_so_far": {str(n): max(rewards[:n]) for n in CHECKPOINTS if n <= len(rewards)},
        "mean_reward_last_50": statistics.fmean(rewards[-50:]),
        "distinct_policies": len({json.dumps(r) for r in _policies(Path(job["run_dir"]))}),
        "wall_time_s": time.perf_counter() - start,
        "search_time_s": result.wall_time_s,
    }
    Path(job["result"]).write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _meta(job: dict[str, Any]) -> dict[str, Any]:
    return {k: job[k] for k in ("env_id", "env_kwargs", "agent", "agent_kwargs", "seed")}


def _policies(run_dir: Path) -> list[str]:
    import csv

    with open(run_dir / "history.csv", newline="") as f:
        return [row["policy"] for row in csv.DictReader(f)]


def _stats(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def report(results: list[dict[str, Any]], args: argparse.Namespace, total_wall_s: float) -> str:
    """The results as a markdown table (mean ± standard deviation over seeds)."""
    agents = list(dict.fromkeys(r["agent"] for r in results))
    first = results[0]
    lines = [
        f"# {first['env_id']} {first['env_kwargs']}: DDPG vs random search vs fixed precision",
        "",
        f"{args.episodes} episodes per search, seeds {args.seeds}; mean ± std over seeds. Float accuracy "
        f"{first['float_accuracy']:.4f}; budget {first['budget']:.5g} {first['unit']} (0.5 x fixed 8-bit).",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs shared with other work, "
        f"{args.jobs} runs at a time, 1 torch thread each; total wall time {total_wall_s / 60:.1f} min.",
        "",
        "| agent | best accuracy | latency (ms) | x 8-bit latency | best reward | found at episode | wall time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for agent in agents:
        rs = [r for r in results if r["agent"] == agent]
        acc, acc_sd = _stats([r["accuracy"] for r in rs])
        lat, lat_sd = _stats([r["cost"] * 1e3 for r in rs])
        ratio, ratio_sd = _stats([r["cost_ratio"] for r in rs])
        reward, reward_sd = _stats([r["best_reward"] for r in rs])
        at = ", ".join(str(r["best_episode"]) for r in rs)
        wall, wall_sd = _stats([r["search_time_s"] for r in rs])
        lines.append(
            f"| {agent} | {acc:.4f} ± {acc_sd:.4f} | {lat:.3f} ± {lat_sd:.3f} | {ratio:.3f} ± {ratio_sd:.3f} | "
            f"{reward:.4f} ± {reward_sd:.4f} | {at} | {wall:.0f} ± {wall_sd:.0f} |"
        )
    lines += ["", "Best reward so far (mean over seeds) after N episodes:", ""]
    marks = [n for n in CHECKPOINTS if n <= args.episodes]
    lines += ["| agent | " + " | ".join(str(n) for n in marks) + " |", "|---|" + "---|" * len(marks)]
    for agent in agents:
        rs = [r for r in results if r["agent"] == agent]
        cells = []
        for n in marks:
            # a run that ended before n episodes (the fixed baseline's 3) had its final best by then
            values = [r["best_so_far"].get(str(n), r["best_reward"]) for r in rs]
            cells.append(f"{statistics.fmean(values):.4f}" if values else "")
        lines.append(f"| {agent} | " + " | ".join(cells) + " |")
    lines += ["", "Per run:", ""]
    lines.append("| agent | seed | accuracy | x 8-bit | best episode | distinct policies | mean reward, last 50 |")
    lines.append("|---|---|---|---|---|---|---|")
    for r in results:
        lines.append(
            f"| {r['agent']} | {r['seed']} | {r['accuracy']:.4f} | {r['cost_ratio']:.3f} | {r['best_episode']} | "
            f"{r['distinct_policies']} | {r['mean_reward_last_50']:.4f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print (and write) its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="HAQ-MobileNetV2-BISMO")
    parser.add_argument("--preserve-ratio", type=float, default=0.5)
    parser.add_argument("--constraint", default="latency")
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--agents", nargs="+", default=["ddpg", "random", "fixed"])
    parser.add_argument("--jobs", type=int, default=2, help="searches run at a time (default 2)")
    parser.add_argument("--out", type=Path, default=ROOT / "results", help="where haq_agents.md/.json go")
    parser.add_argument("--runs", type=Path, default=None, help="per-run folders (default: OUT/haq_agents_runs)")
    parser.add_argument("--resume", action="store_true", help="keep runs whose result file already exists")
    args = parser.parse_args(argv)

    runs = args.runs or args.out / "haq_agents_runs"
    runs.mkdir(parents=True, exist_ok=True)
    env_kwargs = {"constraint": args.constraint, "preserve_ratio": args.preserve_ratio}
    jobs = []
    for agent in args.agents:
        for seed in args.seeds if agent != "fixed" else args.seeds[:1]:  # the fixed baseline has no randomness
            name = f"{agent.replace(':', '_')}-s{seed}"
            jobs.append(
                {
                    "agent": agent,
                    "seed": seed,
                    "episodes": args.episodes,
                    "env_id": args.env,
                    "env_kwargs": env_kwargs,
                    "agent_kwargs": {},
                    "run_dir": str(runs / name),
                    "result": str(runs / f"{name}.json"),
                }
            )
    start = time.perf_counter()
    summary_file = args.out / "haq_agents.json"
    earlier_wall_s = json.loads(summary_file.read_text()).get("total_wall_s", 0.0) if summary_file.exists() else 0.0
    todo = [j for j in jobs if not (args.resume and Path(j["result"]).exists())]
    print(f"{len(todo)} searches to run ({len(jobs) - len(todo)} kept), {args.jobs} at a time", flush=True)
    with multiprocessing.get_context("spawn").Pool(args.jobs, maxtasksperchild=1) as pool:
        for summary in pool.imap_unordered(run_one, todo):
            print(
                f"{summary['agent']:>8} seed {summary['seed']}: accuracy {summary['accuracy']:.4f} at "
                f"{summary['cost_ratio']:.3f} x 8-bit (episode {summary['best_episode']}), "
                f"{summary['search_time_s']:.0f} s",
                flush=True,
            )
    results = [json.loads(Path(j["result"]).read_text()) for j in jobs]
    total_wall_s = time.perf_counter() - start + (earlier_wall_s if len(todo) < len(jobs) else 0.0)
    table = report(results, args, total_wall_s)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "haq_agents.md").write_text(table)
    summary_file.write_text(json.dumps({"total_wall_s": total_wall_s, "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
