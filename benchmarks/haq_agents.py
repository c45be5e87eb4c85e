"""Benchmark: HAQ's DDPG against random search and the fixed-precision baseline at the same budget.

On HAQ-MobileNetV2-BISMO at ``--preserve-ratio`` (latency, default 0.5), every agent searches for ``--episodes``
episodes with each seed. The best policy is chosen on the validation split (the reward's) and reported on the test
split, the headline: a figure chosen as the best of many on one split is optimistic on that split, and the table
shows by how much (validation minus test accuracy of the chosen policy, per agent and per seed). Also reported: the
reference points of the search (float, fixed 8-bit, the best uniform policy within the budget) on both splits, the
best reward so far at a few episode counts, and wall time. Each run is a separate process with one torch thread
(``--jobs`` at a time), and its result is written as soon as it finishes, so an interrupted benchmark resumes where
it stopped (``--resume``).

    python benchmarks/haq_agents.py                      # 300 episodes x 3 seeds x {ddpg, random, fixed}
    python benchmarks/haq_agents.py --episodes 20 --seeds 0 --out /tmp/bench   # a smoke run

Not a test: it measures and prints. Results: ``benchmarks/results/haq_agents.json`` and ``.md``, the table rendered
from the JSON by :func:`render`.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import results_io

ROOT = Path(__file__).resolve().parent
CHECKPOINTS = (20, 50, 100, 150, 200, 250, 300)
"""Episode counts at which the best reward so far is reported."""
POLICY_FIELDS = ("accuracy", "val_accuracy", "test_accuracy", "references")
"""What each run's policy.json must hold (the search pipeline writes them since the test split was added)."""
RUN_FIELDS = ("val_accuracy", "test_accuracy", "references", "reference_cost")
"""What each run's summary must hold for :func:`render`; older summaries lack them."""
RERUN = "python benchmarks/haq_agents.py"


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """One search (agent x seed) in this process; returns its summary and writes it to ``job["result"]``."""
    import gymnasium as gym
    import torch

    torch.set_num_threads(1)  # one process per core: threads would only fight over the shared CPUs
    import hwenvs  # noqa: F401  (registers the environments)
    from hwenvs.agents.pipeline import build_agent, run_search, seed_everything

    seed_everything(job["seed"])
    start = time.perf_counter()
    env = gym.make(job["env_id"], **job["env_kwargs"])
    agent = build_agent(job["agent"], env, seed=job["seed"], **job["agent_kwargs"])
    result = run_search(env, agent, job["episodes"], job["run_dir"], meta=_meta(job), progress=False, plot=True)
    summary = {
        **{k: job[k] for k in ("agent", "seed", "episodes", "env_id", "env_kwargs", "agent_kwargs")},
        **_best(Path(job["run_dir"]), result.best_info),
        "episodes_run": result.episodes,
        "best_episode": result.best.episode,
        "best_reward": result.best.reward,
        "best_so_far": {str(n): max(result.rewards[:n]) for n in CHECKPOINTS if n <= len(result.rewards)},
        "mean_reward_last_50": statistics.fmean(result.rewards[-50:]),
        "distinct_policies": len(set(_policies(Path(job["run_dir"])))),
        "wall_time_s": time.perf_counter() - start,
        "search_time_s": result.wall_time_s,
    }
    Path(job["result"]).write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _best(run_dir: Path, info: dict[str, Any]) -> dict[str, Any]:
    """The best policy's figures from the run's policy.json (validation and test) and terminal info (cost)."""
    record = json.loads((run_dir / "policy.json").read_text())
    missing = [k for k in POLICY_FIELDS if k not in record]
    if missing:
        raise results_io.StaleResults(
            f"{run_dir / 'policy.json'} has no {', '.join(missing)}: this benchmark needs a search pipeline that "
            "reports the best policy on the test split (hwenvs.agents.pipeline)"
        )
    return {
        "accuracy": record["accuracy"],
        "val_accuracy": record["val_accuracy"],
        "test_accuracy": record["test_accuracy"],
        "references": record["references"],
        "float_accuracy": info["float_accuracy"],
        "cost": info["cost"],
        "cost_ratio": info["cost_ratio"],
        "budget": info["budget"],
        "reference_cost": info["reference_cost"],
        "unit": info.get("unit"),
        "policy": info["policy"],
    }


def _meta(job: dict[str, Any]) -> dict[str, Any]:
    return {k: job[k] for k in ("env_id", "env_kwargs", "agent", "agent_kwargs", "seed")}


def _policies(run_dir: Path) -> list[str]:
    with open(run_dir / "history.csv", newline="") as f:
        return [row["policy"] for row in csv.DictReader(f)]


def _stats(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _mean_sd(values: list[float], fmt: str) -> str:
    mean, sd = _stats(values)
    return f"{mean:{fmt}} ± {sd:{fmt}}"


# --------------------------------------------------------------------------------------------------- rendering


def render(data: dict[str, Any]) -> str:
    """The results markdown, from the benchmark's JSON alone; a clear error for a JSON without test figures."""
    results_io.require(data, ("results",), "haq_agents.json", RERUN)
    results = data["results"]
    for r in results:
        results_io.require(r, RUN_FIELDS, f"haq_agents.json's {r['agent']} seed {r['seed']} run", RERUN)
    results_io.require(data, ("settings", "machine", "total_wall_s"), "haq_agents.json", RERUN)
    lines = _header(data)
    lines += _references(results[0])
    offset = split_offset(results[0])
    lines += _agent_table(results, offset)
    lines += _progress_table(results, data["settings"]["episodes"])
    lines += _run_table(results, offset)
    return "\n".join(lines) + "\n"


def _header(data: dict[str, Any]) -> list[str]:
    first, s, m = data["results"][0], data["settings"], data["machine"]
    ratio = first["budget"] / first["reference_cost"]
    return [
        f"# {first['env_id']} {first['env_kwargs']}: DDPG vs random search vs fixed precision",
        "",
        f"{s['episodes']} episodes per search, seeds {s['seeds']}; mean ± std over seeds. Budget {first['budget']:.5g} "
        f"{first['unit']} ({ratio:.2f} x fixed 8-bit). The best policy of each search is the best on the validation "
        "split (the reward's); test accuracy, on images no search saw, is the headline. Optimism = validation minus "
        "test accuracy of that policy. Part of it is the splits' own offset, which any policy has: the best uniform "
        "policy's validation minus test accuracy (it is chosen among a few uniform policies, so it carries little "
        "selection). Selection = optimism minus that offset: what choosing the best of many on one split adds.",
        f"Machine: {m['processor']}, {m['cpus']} CPUs shared with other work, {s['jobs']} run(s) at a time, 1 torch "
        f"thread each; total wall time {data['total_wall_s'] / 60:.1f} min; run of {m['date']}.",
        "",
    ]


def _references(first: dict[str, Any]) -> list[str]:
    lines = [
        "Reference points (measured by the environment; the best uniform policy chosen on validation):",
        "",
    ]
    rows = []
    for ref in first["references"]:
        cost = "" if ref["cost"] is None else f"{ref['cost']:.5g}"
        ratio = "" if ref["cost_ratio"] is None else f"{ref['cost_ratio']:.3f}"
        val = "" if ref["val_accuracy"] is None else f"{ref['val_accuracy']:.4f}"
        test = "" if ref["test_accuracy"] is None else f"{ref['test_accuracy']:.4f}"
        rows.append([ref["name"], test, val, cost, ratio])
    columns = ["reference", "test accuracy", "validation accuracy", f"cost ({first['unit']})", "x 8-bit"]
    return [*lines, *results_io.table(columns, rows), ""]


def split_offset(run: dict[str, Any]) -> float:
    """The splits' own offset: validation minus test accuracy of the best uniform policy (the reference a search
    must beat), which every policy shares before any selection.

    :raises ValueError: a run without the best uniform reference point.
    """
    best = next((r for r in run["references"] if r["name"].startswith("best uniform")), None)
    if best is None:
        raise ValueError("haq_agents.json: a run without its best uniform reference point; rerun " + RERUN)
    return best["val_accuracy"] - best["test_accuracy"]


def _agent_table(results: list[dict[str, Any]], offset: float) -> list[str]:
    lines = [
        f"Split offset (the best uniform policy's validation minus test accuracy): {offset:+.4f}.",
        "",
    ]
    columns = ["agent", "test accuracy", "validation accuracy", "optimism (val - test)",
               "selection (optimism - offset)", "latency (ms)", "x 8-bit latency", "best reward", "found at episode",
               "wall time (s)"]  # fmt: skip
    rows = []
    for agent in dict.fromkeys(r["agent"] for r in results):
        rs = [r for r in results if r["agent"] == agent]
        cells = [
            _mean_sd([r["test_accuracy"] for r in rs], ".4f"),
            _mean_sd([r["val_accuracy"] for r in rs], ".4f"),
            _mean_sd([r["val_accuracy"] - r["test_accuracy"] for r in rs], ".4f"),
            "{:+.4f} ± {:.4f}".format(*_stats([r["val_accuracy"] - r["test_accuracy"] - offset for r in rs])),
            _mean_sd([r["cost"] * 1e3 for r in rs], ".3f"),
            _mean_sd([r["cost_ratio"] for r in rs], ".3f"),
            _mean_sd([r["best_reward"] for r in rs], ".4f"),
            ", ".join(str(r["best_episode"]) for r in rs),
            _mean_sd([r["search_time_s"] for r in rs], ".0f"),
        ]
        rows.append([agent, *cells])
    return [*lines, *results_io.table(columns, rows), ""]


def _progress_table(results: list[dict[str, Any]], episodes: int) -> list[str]:
    marks = [n for n in CHECKPOINTS if n <= episodes]
    if not marks:  # a smoke run shorter than the first checkpoint
        return []
    lines = [
        "Best reward so far (validation; mean over seeds) after N episodes:",
        "",
    ]
    rows = []
    for agent in dict.fromkeys(r["agent"] for r in results):
        rs = [r for r in results if r["agent"] == agent]
        # a run that ended before n episodes (the fixed baseline's few) had its final best by then
        cells = [f"{statistics.fmean(r['best_so_far'].get(str(n), r['best_reward']) for r in rs):.4f}" for n in marks]
        rows.append([agent, *cells])
    return [*lines, *results_io.table(["agent", *(str(n) for n in marks)], rows), ""]


def _run_table(results: list[dict[str, Any]], offset: float) -> list[str]:
    lines = [
        "Per run:",
        "",
    ]
    columns = ["agent", "seed", "test accuracy", "validation accuracy", "optimism", "selection", "x 8-bit",
               "best episode", "distinct policies", "mean reward, last 50"]  # fmt: skip
    rows = []
    for r in results:
        optimism = r["val_accuracy"] - r["test_accuracy"]
        rows.append([r["agent"], r["seed"], f"{r['test_accuracy']:.4f}", f"{r['val_accuracy']:.4f}", f"{optimism:.4f}",
                     f"{optimism - offset:+.4f}", f"{r['cost_ratio']:.3f}", r["best_episode"],
                     r["distinct_policies"], f"{r['mean_reward_last_50']:.4f}"])  # fmt: skip
    return [*lines, *results_io.table(columns, rows)]


# -------------------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The benchmark's options."""
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
    return parser.parse_args(argv)


def make_jobs(args: argparse.Namespace, runs: Path) -> list[dict[str, Any]]:
    """One job per (agent, seed); the fixed baseline, which has no randomness, runs with the first seed only."""
    env_kwargs = {"constraint": args.constraint, "preserve_ratio": args.preserve_ratio}
    jobs = []
    for agent in args.agents:
        for seed in args.seeds if agent != "fixed" else args.seeds[:1]:
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
    return jobs


def machine() -> dict[str, Any]:
    """Where and when the benchmark ran."""
    return {
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, write its JSON and render its table from that JSON."""
    args = parse_args(argv)
    runs = args.runs or args.out / "haq_agents_runs"
    runs.mkdir(parents=True, exist_ok=True)
    jobs = make_jobs(args, runs)
    summary_file = args.out / "haq_agents.json"
    earlier_wall_s = json.loads(summary_file.read_text()).get("total_wall_s", 0.0) if summary_file.exists() else 0.0
    todo = [j for j in jobs if not (args.resume and Path(j["result"]).exists())]
    print(f"{len(todo)} searches to run ({len(jobs) - len(todo)} kept), {args.jobs} at a time", flush=True)
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.jobs, maxtasksperchild=1) as pool:
        for s in pool.imap_unordered(run_one, todo):
            print(
                f"{s['agent']:>8} seed {s['seed']}: test accuracy {s['test_accuracy']:.4f} (validation "
                f"{s['val_accuracy']:.4f}) at {s['cost_ratio']:.3f} x 8-bit (episode {s['best_episode']}), "
                f"{s['search_time_s']:.0f} s",
                flush=True,
            )
    data = {
        "total_wall_s": time.perf_counter() - start + (earlier_wall_s if len(todo) < len(jobs) else 0.0),
        "settings": {k: getattr(args, k) for k in ("episodes", "seeds", "agents", "jobs", "preserve_ratio")},
        "machine": machine(),
        "results": [json.loads(Path(j["result"]).read_text()) for j in jobs],
    }
    text = render(data)
    print(text)
    results_io.write(summary_file, data, args.out / "haq_agents.md", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
