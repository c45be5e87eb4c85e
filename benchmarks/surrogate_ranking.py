"""Do agents rank the same on the surrogate as on the real environment? And how good, on the real network, are the
policies that surrogate searches find?

Runs (or resumes) the default suite's HAQ-MobileNetV2-BISMO row (half the 8-bit latency, 150 episodes a search)
for every agent the suite runs on HAQ, with the same seeds and budgets twice: with real accuracy, the very row
``agent_suite.py`` runs (kept where it is complete, so either reuses the other's), and ``--accuracy surrogate`` into
``results/surrogate_ranking_runs/benchmark-default-surrogate``. Each search's best policy is chosen on validation
and reported on test, on its own environment. Then:

* the agents' mean final test accuracy on each side, and the rank correlation of those means (Kendall's tau and
  Spearman's rho over agents, with 95% bootstrap intervals over seeds), with every pair of agents the two sides order
  differently and whether the real side separates that pair at all;
* every surrogate search's best policy re-scored on the real network (validation and test): the gap between the
  test accuracy the surrogate promised and the real one, per agent, and the agents' ranking by that real accuracy.

    python benchmarks/surrogate_ranking.py --workers 2            # 10 seeds, as the suite
    python benchmarks/surrogate_ranking.py --seeds 3 --workers 2  # a first look; more seeds later reuse these

Writes results/surrogate_ranking.{json,md}; re-scores are cached in the surrogate run's folder.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
from pathlib import Path
from typing import Any

import agent_suite
import numpy as np
import results_io
from rescoring import rescore
from scipy import stats

RESULTS = Path(__file__).parent / "results"
RUNS = RESULTS / "surrogate_ranking_runs"
"""The surrogate side's benchmark folder goes here; git keeps its trials (see agent_suite.py on why)."""
ENV = "haq-mbv2-bismo"
BOOTSTRAP_REPS = 2000
"""Bootstrap replicates of the intervals: each agent's seeds resampled with replacement, on each side apart."""
AGENTS = ("random", "fixed", "ddpg", "ddpg-warm", "td3", "sac", "ppo", "tpe", "cmaes")
"""Every agent the default suite runs on HAQ (the issue asks for random, DDPG, TD3, TPE and the best uniform policy
at least): the real side is the suite's own HAQ-MobileNetV2-BISMO row, so it costs nothing extra there."""


def run_side(accuracy: str, args: argparse.Namespace) -> Path:
    """Run (or resume) one side with ``hwenvs benchmark``; its output folder."""
    from hwenvs.cli.main import main

    if accuracy == "real":
        out = agent_suite.row_folder(args.suite_runs, ENV)
        agent_suite.run_row(ENV, out, ["--workers", str(args.workers)], args.seeds, args.episodes, args.agents)
        return out
    out = args.runs / f"benchmark-default-{accuracy}"
    argv = ["benchmark", "--suite", "default", "--envs", ENV, "--agents", args.agents, "--seeds", str(args.seeds)]
    argv += ["--workers", str(args.workers), "--accuracy", accuracy, "--out", str(out)]
    if args.episodes is not None:
        argv += ["--episodes", str(args.episodes)]
    code = main(argv)
    if code:
        raise SystemExit(f"hwenvs benchmark --accuracy {accuracy} failed (exit code {code}): see {out}")
    return out


def trials_of(out: Path, agents: list[str], seeds: int) -> dict[str, list[dict[str, Any]]]:
    """Each agent's finished default-setting trials on :data:`ENV` with seeds below ``seeds``, from results.json."""
    data = json.loads((out / "results.json").read_text())
    by_agent: dict[str, list[dict[str, Any]]] = {a: [] for a in agents}
    for trial in data["trials"]:
        if trial["env"] == ENV and trial["agent"] in by_agent and trial["setting"] == "default":
            if trial["seed"] < seeds:
                by_agent[trial["agent"]].append(trial)
    return by_agent


def mean_sd(values: list[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}


def bootstrap_means(side: dict[str, list[dict]], key: str, agents: list[str], rng: np.random.Generator) -> np.ndarray:
    """``(BOOTSTRAP_REPS, agents)`` means of ``key`` over each agent's seeds resampled with replacement."""
    columns = []
    for agent in agents:
        values = np.array([t[key] for t in side[agent]], dtype=float)
        picks = rng.integers(0, len(values), size=(BOOTSTRAP_REPS, len(values)))
        columns.append(values[picks].mean(axis=1))
    return np.stack(columns, axis=1)


def kendall_tau_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row of ``x`` with the same row of ``y`` (scipy's, for thousands of rows at once)."""
    i, j = np.triu_indices(x.shape[1], k=1)
    sx, sy = np.sign(x[:, i] - x[:, j]), np.sign(y[:, i] - y[:, j])
    with np.errstate(invalid="ignore", divide="ignore"):  # a row tied throughout has no tau: NaN, as scipy's
        return (sx * sy).sum(axis=1) / np.sqrt((sx != 0).sum(axis=1) * (sy != 0).sum(axis=1))


def spearman_rho_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row of ``x`` with the same row of ``y``: Pearson's r of their (average) ranks."""
    rx, ry = (stats.rankdata(a, axis=1) for a in (x, y))
    rx, ry = rx - rx.mean(axis=1, keepdims=True), ry - ry.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(axis=1) / np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))


def interval(replicates: np.ndarray) -> list[float]:
    """The 95% percentile interval of bootstrap replicates (replicates that are undefined, NaN, left out)."""
    low, high = np.nanpercentile(replicates, [2.5, 97.5])
    return [float(low), float(high)]


def compare(real: dict[str, list[dict]], surrogate: dict[str, list[dict]], seed: int = 0) -> dict[str, Any]:
    """Per-agent means, rank correlations with bootstrap intervals, and disagreeing pairs (agents with trials on
    both sides), each pair with the 95% intervals of its difference on both sides: a pair whose real interval holds
    0 is one the real benchmark does not separate either, so its swap says little against the surrogate."""
    agents = [a for a in real if real[a] and surrogate.get(a)]
    rng = np.random.default_rng(seed)
    boot = {
        "real": bootstrap_means(real, "test_accuracy", agents, rng),
        "surrogate": bootstrap_means(surrogate, "test_accuracy", agents, rng),
        "surrogate_rescored": bootstrap_means(surrogate, "real_test_accuracy", agents, rng),
    }
    rows = {}
    for agent in agents:
        rows[agent] = {
            "seeds": sorted(t["seed"] for t in real[agent]),
            "real": mean_sd([t["test_accuracy"] for t in real[agent]]),
            "surrogate": mean_sd([t["test_accuracy"] for t in surrogate[agent]]),
            "surrogate_rescored": mean_sd([t["real_test_accuracy"] for t in surrogate[agent]]),
            "gap": mean_sd([t["test_accuracy"] - t["real_test_accuracy"] for t in surrogate[agent]]),
        }
    real_means = [rows[a]["real"]["mean"] for a in agents]
    result: dict[str, Any] = {"agents": rows}
    for name, side in (("surrogate", "surrogate"), ("surrogate_rescored", "surrogate_rescored")):
        other = [rows[a][side]["mean"] for a in agents]
        tau, rho = stats.kendalltau(real_means, other), stats.spearmanr(real_means, other)
        result[f"kendall_tau_{name}"] = float(tau.statistic)
        result[f"spearman_rho_{name}"] = float(rho.statistic)
        result[f"kendall_tau_{name}_ci"] = interval(kendall_tau_rows(boot["real"], boot[side]))
        result[f"spearman_rho_{name}_ci"] = interval(spearman_rho_rows(boot["real"], boot[side]))
    disagreements = []
    for (i, a), (j, b) in itertools.combinations(enumerate(agents), 2):
        d_real = rows[a]["real"]["mean"] - rows[b]["real"]["mean"]
        d_surrogate = rows[a]["surrogate"]["mean"] - rows[b]["surrogate"]["mean"]
        if np.sign(d_real) != np.sign(d_surrogate):
            disagreements.append(
                {
                    "pair": [a, b],
                    "real_difference": d_real,
                    "real_difference_ci": interval(boot["real"][:, i] - boot["real"][:, j]),
                    "surrogate_difference": d_surrogate,
                    "surrogate_difference_ci": interval(boot["surrogate"][:, i] - boot["surrogate"][:, j]),
                }
            )
    result["disagreements"] = disagreements
    return result


def ci(bounds: list[float], digits: int) -> str:
    return f"[{bounds[0]:.{digits}f}, {bounds[1]:.{digits}f}]"


def render(data: dict[str, Any]) -> str:
    """The results markdown, from the JSON alone."""
    results_io.require(data, ("comparison", "settings"), "surrogate_ranking.json", "benchmarks/surrogate_ranking.py")
    c, s = data["comparison"], data["settings"]
    lines = [
        "# Surrogate vs real: do agents rank the same?",
        "",
        f"`{s['env_id']}` ({s['env_kwargs']}), {s['episodes']} episodes a search, seeds 0..{s['seeds'] - 1}, the "
        "same agents, seeds and budgets on both sides. Each search's best policy is chosen on validation and "
        "reported on test: on the real side measured, on the surrogate side predicted; *re-scored* is the surrogate "
        "search's best policy measured on the real network. Mean ± sd over seeds (`fixed` is deterministic: one "
        "seed).",
        "",
    ]
    columns = ["agent", "seeds", "real test accuracy", "surrogate test accuracy (predicted)",
               "surrogate search, re-scored on the real network", "predicted minus re-scored"]  # fmt: skip
    rows = []
    for agent, r in sorted(c["agents"].items(), key=lambda kv: -kv[1]["real"]["mean"]):
        cells = [f"{r[k]['mean']:.4f} ± {r[k]['sd']:.4f}" for k in ("real", "surrogate", "surrogate_rescored")]
        rows.append([agent, len(r["seeds"]), *cells, f"{r['gap']['mean']:+.4f} ± {r['gap']['sd']:.4f}"])
    lines += results_io.table(columns, rows)
    lines += [
        "",
        f"Rank correlation of the agents' mean test accuracy, real vs surrogate: Kendall's tau "
        f"{c['kendall_tau_surrogate']:.3f} {ci(c['kendall_tau_surrogate_ci'], 3)}, Spearman's rho "
        f"{c['spearman_rho_surrogate']:.3f} {ci(c['spearman_rho_surrogate_ci'], 3)}. Real vs the surrogate searches "
        f"re-scored on the real network: tau {c['kendall_tau_surrogate_rescored']:.3f} "
        f"{ci(c['kendall_tau_surrogate_rescored_ci'], 3)}, rho {c['spearman_rho_surrogate_rescored']:.3f} "
        f"{ci(c['spearman_rho_surrogate_rescored_ci'], 3)}. Brackets: 95% bootstrap intervals ({BOOTSTRAP_REPS} "
        "replicates, each agent's seeds resampled on each side).",
        "",
    ]
    if c["disagreements"]:
        lines.append(
            "Pairs the two sides order differently (difference of means, first minus second, with its 95% bootstrap "
            "interval); where the real interval holds 0, the real benchmark does not separate the pair either:"
        )
        lines.append("")
        for d in c["disagreements"]:
            a, b = d["pair"]
            separated = d["real_difference_ci"][0] > 0 or d["real_difference_ci"][1] < 0
            lines.append(
                f"- {a} vs {b}: real {d['real_difference']:+.4f} {ci(d['real_difference_ci'], 4)}, surrogate "
                f"{d['surrogate_difference']:+.4f} {ci(d['surrogate_difference_ci'], 4)}"
                f"{'' if separated else ' (not separated on the real side)'}"
            )
    else:
        lines.append("Every pair of agents is ordered the same way on both sides.")
    lines += ["", f"Machine: {data['machine']}; {data['date']}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--agents", default=",".join(AGENTS), help="comma-separated agent names of the suite")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--episodes", type=int, default=None, help="episodes a search (default: the suite's)")
    parser.add_argument("--runs", type=Path, default=RUNS, help="where the surrogate side's folder goes")
    parser.add_argument("--suite-runs", type=Path, default=agent_suite.RUNS, help="agent_suite.py's --runs")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the results files go")
    args = parser.parse_args(argv)
    from hwenvs.benchmark.suite import surrogate_dataset
    from hwenvs.surrogate.accuracy import dataset_sha256

    agents = args.agents.split(",")
    real_out = run_side("real", args)
    surrogate_out = run_side("surrogate", args)
    real = trials_of(real_out, agents, args.seeds)
    surrogate = rescore(surrogate_out, ENV, trials_of(surrogate_out, agents, args.seeds))
    results = json.loads((real_out / "results.json").read_text())
    data = {
        "settings": {
            "env": ENV,
            "env_id": results["envs"][ENV]["id"],
            "env_kwargs": results["envs"][ENV]["kwargs"],
            "episodes": results["settings"]["episodes"][ENV],
            "seeds": args.seeds,
            "agents": agents,
            "surrogate_dataset_sha256": dataset_sha256(surrogate_dataset(results["envs"][ENV]["id"], {})),
        },
        "comparison": compare(real, surrogate),
        "trials": {"real": real, "surrogate": surrogate},
        "machine": f"{os.uname().machine}, {os.cpu_count()} cores",
        "date": datetime.date.today().isoformat(),
    }
    results_io.write(args.results / "surrogate_ranking.json", data, args.results / "surrogate_ranking.md", render(data))
    print(render(data))


if __name__ == "__main__":
    main()
