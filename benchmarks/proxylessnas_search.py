"""Benchmark: REINFORCE (ProxylessNAS-R) against random search and the gradient search (ProxylessNAS-G) at an equal
number of environment episodes, and what the gradient search gets on top of them.

On ``--env`` (ProxylessNAS-Mobile by default, frozen supernet), every agent runs ``--episodes`` episodes with each
seed, in this process with one torch thread; every agent comes from the package's registry
(``hwenvs.agents.registry``: random search is :class:`hwenvs.agents.random_search.RandomSearchAgent`). The final
architecture is the most probable one for REINFORCE and the gradient search, and the best one sampled for random
search (the best sampled is recorded for the others too). It is scored by the environment on the validation split
(the reward's) and on the test split (the headline).

An episode is not the same budget for every agent. REINFORCE and random search only see each episode's reward. The
gradient search, per episode, also takes ``weight_steps`` SGD steps on a private copy of the supernet and one
architecture step whose loss reads the latency table directly (the expected latency is differentiable in its
architecture parameters); the JSON records its configuration, and the results say how much that adds.

    python benchmarks/proxylessnas_search.py                       # 150 episodes x seeds 0 1 2
    python benchmarks/proxylessnas_search.py --episodes 20 --seeds 0 --out /tmp/nas   # a smoke run

Not a test: it measures and prints. Results: ``benchmarks/results/proxylessnas_search.json`` and ``.md``, the tables
rendered from the JSON by :func:`render`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import results_io
import torch

RESULTS = Path(__file__).resolve().parent / "results"
AGENTS = ("reinforce", "random", "gradient")
RERUN = "python benchmarks/proxylessnas_search.py"


def run_one(env_id: str, agent_name: str, episodes: int, seed: int) -> dict[str, Any]:
    """One search; its final architecture's scores on validation and test, the best sampled, wall time."""
    import gymnasium as gym

    from hwenvs.agents.registry import make_agent

    env = gym.make(env_id)
    agent = make_agent(agent_name, env, seed=seed)
    sampled: list[tuple[float, str]] = []
    start = time.perf_counter()
    agent.learn(episodes, lambda r: sampled.append((r.reward, r.info["architecture"])) and None)
    wall = time.perf_counter() - start
    best = max(sampled)
    derive = getattr(agent, "derived_architecture", None)
    final = derive().to_string() if derive is not None else best[1]
    val = env.unwrapped.evaluate_solution(final, "val")
    test = env.unwrapped.evaluate_solution(final, "test")
    return {
        "agent": agent_name,
        "agent_class": f"{type(agent).__module__}.{type(agent).__name__}",
        "seed": seed,
        "episodes": episodes,
        "wall_time_s": wall,
        "architecture": final,
        "final_is": "derived (most probable)" if derive is not None else "best sampled",
        "latency_ms": val["latency_ms"],
        "target_ms": val["target_ms"],
        "val_accuracy": val["accuracy"],
        "val_reward": val["reward"],
        "test_accuracy": test["accuracy"],
        "test_reward": test["reward"],
        "best_sampled_reward": best[0],
        "best_sampled": best[1],
        "config": dataclasses.asdict(agent.config) if dataclasses.is_dataclass(getattr(agent, "config", None)) else {},
    }


def _mean_sd(values: list[float], fmt: str) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{format(statistics.mean(values), fmt)} ± {format(sd, fmt)}"


# --------------------------------------------------------------------------------------------------- rendering


def render(data: dict[str, Any]) -> str:
    """The results markdown, from the benchmark's JSON alone."""
    if not isinstance(data, dict):
        raise results_io.StaleResults(
            f"proxylessnas_search.json is a bare list of runs (an older script); rerun `{RERUN}`"
        )
    results_io.require(
        data, ("env_id", "episodes", "seeds", "rows", "machine", "extra_budget"), "proxylessnas_search.json", RERUN
    )
    lines = [
        f"# {data['env_id']}: final architectures after {data['episodes']} episodes (mean ± sd over seeds "
        f"{', '.join(map(str, data['seeds']))})",
        "",
        f"Machine: {data['machine']['processor']}, torch {data['machine']['torch']}, 1 thread, shared CPU; run of "
        f"{data['machine']['date']}.",
        "",
        *render_budget(data),
        "",
        *render_means(data["rows"]),
        "",
        *render_runs(data["rows"]),
        "",
        *render_comparisons(data["rows"]),
    ]
    return "\n".join(lines) + "\n"


def render_budget(data: dict[str, Any]) -> list[str]:
    """What an episode gives each agent: equal episodes, unequal extras."""
    classes = {r["agent"]: r["agent_class"] for r in data["rows"]}
    lines = ["Agents (every one from the package's registry): " + "; ".join(f"{a}: `{c}`" for a, c in classes.items())]
    extra = data["extra_budget"]
    if extra:
        lines += [
            "",
            f"Equal budget in environment episodes ({data['episodes']} per search), not in work: REINFORCE and "
            "random search see only each episode's reward. On top of that, the gradient search takes, per episode, "
            f"{extra['weight_steps']} SGD weight steps of {extra['batch_size']} training images on a private copy of "
            f"the supernet ({extra['weight_steps'] * data['episodes']} steps, {extra['weight_images']:,} images per "
            f"search) and one architecture step on {extra['batch_size']} held-out training images that reads the "
            "latency table directly (expected latency is differentiable in its architecture parameters). Its final "
            "architecture is scored on the environment's frozen supernet, like the others'.",
        ]
    return lines


def render_means(rows: list[dict[str, Any]]) -> list[str]:
    """Per agent: means ± sd over seeds; test figures first (the headline)."""
    columns = ["agent", "test reward", "test accuracy", "validation reward", "validation accuracy", "latency (ms)",
               "wall time (s)"]  # fmt: skip
    table = []
    for agent in dict.fromkeys(r["agent"] for r in rows):
        mine = [r for r in rows if r["agent"] == agent]
        keys = (("test_reward", ".4f"), ("test_accuracy", ".4f"), ("val_reward", ".4f"), ("val_accuracy", ".4f"))
        cells = [
            _mean_sd([r[k] for r in mine], fmt) for k, fmt in (*keys, ("latency_ms", ".1f"), ("wall_time_s", ".0f"))
        ]
        table.append([agent, *cells])
    return results_io.table(columns, table, spaced=True)


def render_runs(rows: list[dict[str, Any]]) -> list[str]:
    """Every run."""
    columns = ["agent", "seed", "test reward", "validation reward", "best sampled reward", "latency (ms)",
               "blocks kept", "wall (s)", "final", "architecture"]  # fmt: skip
    table = []
    for r in rows:
        kept = sum(op != "zero" for stage in r["architecture"].split("/") for op in stage.split("-"))
        table.append([r["agent"], r["seed"], f"{r['test_reward']:.4f}", f"{r['val_reward']:.4f}",
                      f"{r['best_sampled_reward']:.4f}", f"{r['latency_ms']:.1f}", kept, f"{r['wall_time_s']:.0f}",
                      r["final_is"], f"`{r['architecture']}`"])  # fmt: skip
    return results_io.table(columns, table, spaced=True)


def render_comparisons(rows: list[dict[str, Any]]) -> list[str]:
    """Head-to-head on test reward, seed by seed, for each pair of agents."""
    agents = list(dict.fromkeys(r["agent"] for r in rows))
    by = {(r["agent"], r["seed"]): r for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    lines = ["Test reward, head to head (seeds won of those both ran; mean margin):", ""]
    for i, a in enumerate(agents):
        for b in agents[i + 1 :]:
            common = [s for s in seeds if (a, s) in by and (b, s) in by]
            if not common:
                continue
            margins = [by[(a, s)]["test_reward"] - by[(b, s)]["test_reward"] for s in common]
            lines.append(
                f"* {a} vs {b}: {a} ahead in {sum(m > 0 for m in margins)} of {len(common)}, mean margin "
                f"{statistics.mean(margins):+.4f}"
            )
    return lines


# -------------------------------------------------------------------------------------------------------- main


def extra_budget(rows: list[dict[str, Any]], episodes: int) -> dict[str, Any]:
    """What the gradient search's configuration adds per episode (empty if it did not run)."""
    config = next((r["config"] for r in rows if r["agent"] == "gradient"), None)
    if not config:
        return {}
    steps = config["weight_steps"] if config["train_weights"] else 0
    return {
        "weight_steps": steps,
        "batch_size": config["batch_size"],
        "weight_images": steps * config["batch_size"] * episodes,
    }


def main() -> None:
    """Run the searches, write the JSON and render the markdown from it."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="ProxylessNAS-Mobile")
    parser.add_argument("--episodes", type=int, default=150)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--agents", nargs="+", default=list(AGENTS), choices=AGENTS)
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for proxylessnas_search.json / .md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results_io.use_shared_reference_data()
    import hwenvs  # noqa: F401  (registers the environments)

    rows = []
    for seed in args.seeds:
        for agent in args.agents:
            row = run_one(args.env, agent, args.episodes, seed)
            rows.append(row)
            print(
                f"{agent:>9} seed {seed}: test reward {row['test_reward']:.4f} (validation {row['val_reward']:.4f}), "
                f"latency {row['latency_ms']:.1f} ms, {row['wall_time_s']:.0f} s  {row['architecture']}",
                flush=True,
            )
    data = {
        "env_id": args.env,
        "episodes": args.episodes,
        "seeds": args.seeds,
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        },
        "extra_budget": extra_budget(rows, args.episodes),
        "rows": rows,
    }
    text = render(data)
    print("\n" + text)
    results_io.write(args.out / "proxylessnas_search.json", data, args.out / "proxylessnas_search.md", text)


if __name__ == "__main__":
    main()
