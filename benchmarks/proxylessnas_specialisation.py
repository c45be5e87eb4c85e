"""Benchmark: does the search specialise to its hardware? (ProxylessNAS's finding that each target's architecture
is fastest on its own target, and not on the others.)

Searches ProxylessNAS-Mobile, ProxylessNAS-CPU and ProxylessNAS-BISMO (each with its own default target) with the
same agent, budget and seed (for each of ``--seeds``), then costs every found architecture on all three latency
tables (rows: where it was searched; columns: where it is measured). A network fastest on its own target is only
specialised if it is not also fastest on every target: a network fastest everywhere is simply faster (shallower), and
the results say which case each seed is, on latency and on reward (the searches' objective). Depth (how many blocks a
search skips) moves every column alike, so a second matrix looks at the blocks each architecture keeps: the share of
them whose candidate is the cheapest of that block on each column's table; and a depth table says how much each
target's reward pays for skipping blocks. The CPU table is this machine's (measured once and cached, batch 1, one
thread).

    python benchmarks/proxylessnas_specialisation.py [--agent reinforce] [--episodes 1000] [--seeds 0 1 2] [--workers 1]
    python benchmarks/proxylessnas_specialisation.py --add-test-scores   # test accuracy for a run that lacks it

Selection (each search's choice, and the rewards compared) is on the validation split; each seed's table also shows
the test accuracy of every architecture found.

Not a test: it measures and prints. Results: ``benchmarks/results/proxylessnas_specialisation.json`` and ``.md``,
rendered from the JSON by :func:`render`.
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
import results_io
import torch

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"Mobile": "mobile", "CPU": "cpu", "BISMO": "bismo-edge"}
"""Env id fragment -> latency table."""
LATENCY_EXPONENT = -0.1
"""The environments' default ``w``."""
OP_NAMES = ("k3e3", "k3e6", "k5e3", "k5e6", "k7e3", "k7e6")
"""The MBConv candidates in index order (``hwenvs.nas.search_space.OPS``; checked in :func:`table_facts`)."""
RERUN = "python benchmarks/proxylessnas_specialisation.py --workers 2"


def search(env_id: str, agent_name: str, episodes: int, seed: int) -> tuple[str, dict[str, Any], dict[str, Any], float]:
    """One search with one torch thread; returns the derived architecture, its scores on the searched env
    (validation split: what the search chose by), its test scores (what a reader sees), and the wall time."""
    torch.set_num_threads(1)
    results_io.use_shared_reference_data()
    import gymnasium as gym

    import hwenvs  # noqa: F401  (registers the environments; a worker process starts bare)
    from hwenvs.agents.registry import make_agent

    env = gym.make(env_id)
    agent = make_agent(agent_name, env, seed=seed)
    start = time.perf_counter()
    agent.learn(episodes)
    wall = time.perf_counter() - start
    arch = agent.derived_architecture().to_string()
    return arch, env.unwrapped.evaluate_solution(arch), env.unwrapped.evaluate_solution(arch, split="test"), wall


def add_test_scores(json_path: Path, text_path: Path) -> None:
    """Score the architectures of an existing run on the test split (a run written before the script recorded
    them), then rewrite its JSON and results; the searches are not rerun."""
    import gymnasium as gym

    import hwenvs  # noqa: F401  (registers the environments)

    data = json.loads(json_path.read_text())
    envs = {name: gym.make(f"ProxylessNAS-{name}").unwrapped for name in TARGETS}
    for seed in data["seeds"].values():
        for name, found in seed["found"].items():
            found["test_scores"] = envs[name].evaluate_solution(found["architecture"], split="test")
    text = render(data)
    print(text)
    results_io.write(json_path, data, text_path, text)


def table_facts(tables: dict[str, Any]) -> dict[str, Any]:
    """Per table: the cheapest candidate of every block, and what depth is worth (the all-k3e3 network against the
    shallowest one, every skippable block dropped): latencies, their ratio, the reward factor that ratio gives, and
    the share of the all-k3e3 latency the fixed layers take."""
    from hwenvs.nas.architecture import Architecture, uniform
    from hwenvs.nas.search_space import OPS, ZERO, ZERO_ALLOWED

    if tuple(op.name for op in OPS[:ZERO]) != OP_NAMES:
        raise RuntimeError(f"OP_NAMES no longer matches hwenvs.nas.search_space.OPS: {[op.name for op in OPS]}")
    full = uniform("k3e3")
    shallow = Architecture(tuple(ZERO if allowed else 0 for allowed in ZERO_ALLOWED))
    cheapest, depth = {}, {}
    for col, table in tables.items():
        cheapest[col] = np.nanargmin(table.block_ms[:, :ZERO], axis=1).tolist()
        full_ms, shallow_ms = table.latency_ms(full), table.latency_ms(shallow)
        depth[col] = {
            "all_k3e3_ms": full_ms,
            "shallowest_ms": shallow_ms,
            "shallowest_blocks": shallow.depth,
            "fixed_ms": float(table.fixed_ms),
        }
    return {"cheapest_per_block": cheapest, "depth": depth}


def seed_record(found: dict[str, Any], tables: dict[str, Any]) -> dict[str, Any]:
    """One seed's searches and the latency of each found architecture on every table."""
    from hwenvs.nas.architecture import Architecture

    archs = {row: Architecture.from_string(found[row]["architecture"]) for row in TARGETS}
    return {
        "found": found,
        "matrix_ms": {row: {c: tables[c].latency_ms(archs[row]) for c in TARGETS} for row in TARGETS},
    }


# --------------------------------------------------------------------------------------------------- analysis


def kept(architecture: str) -> list[tuple[int, str]]:
    """(block index, candidate) of every block an architecture keeps (``zero`` blocks are skipped)."""
    ops = [op for stage in architecture.split("/") for op in stage.split("-")]
    return [(i, op) for i, op in enumerate(ops) if op != "zero"]


def analyse(seed: dict[str, Any], targets_ms: dict[str, float], cheapest: dict[str, list[int]]) -> dict[str, Any]:
    """Everything the results say about one seed, computed from its latencies and accuracies."""
    matrix = seed["matrix_ms"]
    accuracy = {row: seed["found"][row]["searched_scores"]["accuracy"] for row in TARGETS}
    reward = {
        row: {c: accuracy[row] * (matrix[row][c] / targets_ms[c]) ** LATENCY_EXPONENT for c in TARGETS}
        for row in TARGETS
    }
    fastest = {c: min(matrix[row][c] for row in TARGETS) for c in TARGETS}
    best_reward = {c: max(reward[row][c] for row in TARGETS) for c in TARGETS}
    wins = {row: [c for c in TARGETS if matrix[row][c] == fastest[c]] for row in TARGETS}
    reward_wins = {row: [c for c in TARGETS if reward[row][c] == best_reward[c]] for row in TARGETS}
    agreement = {}
    for row in TARGETS:
        blocks = kept(seed["found"][row]["architecture"])
        agreement[row] = {c: sum(OP_NAMES[cheapest[c][i]] == op for i, op in blocks) / len(blocks) for c in TARGETS}
    return {
        "matrix": matrix,
        "fastest": fastest,
        "reward": reward,
        "best_reward": best_reward,
        "wins": wins,
        "reward_wins": reward_wins,
        "agreement": agreement,
        "accuracy": accuracy,
    }


def verdict(row: str, wins: list[str], what: str) -> str:
    """Where a network is ``what`` (fastest, best reward): on its own target but not on every target is
    specialisation; on every target it is a better network overall, not a specialised one."""
    if row not in wins:
        return f"not {what} on its own target ({what} on: {', '.join(wins) or 'none'})"
    if len(wins) == len(TARGETS):
        return f"{what} on every target: better overall, not specialised"
    return f"{what} on {', '.join(wins)}, not on {', '.join(c for c in TARGETS if c not in wins)}: specialised"


# --------------------------------------------------------------------------------------------------- rendering


def render(data: dict[str, Any]) -> str:
    """The results markdown, from the benchmark's JSON alone."""
    keys = ("settings", "targets_ms", "cheapest_per_block", "seeds")
    results_io.require(data, keys, "proxylessnas_specialisation.json", RERUN)
    analyses = {s: analyse(v, data["targets_ms"], data["cheapest_per_block"]) for s, v in data["seeds"].items()}
    lines = [*render_summary(data, analyses), ""]
    if "depth" in data:
        lines += [*render_depth(data), ""]
    for seed, a in analyses.items():
        lines += [*render_seed(seed, a, data), ""]
    if "note" in data:
        lines += [f"Note on this JSON: {data['note']}", ""]
    return "\n".join(lines)


def render_summary(data: dict[str, Any], analyses: dict[str, Any]) -> list[str]:
    """Across seeds: relative latencies, and in how many seeds each network is fastest / best where."""
    s, n = data["settings"], len(analyses)
    lines = [
        f"# Specialisation: {s['agent']}, {s['episodes']} episodes per search, seeds {', '.join(map(str, s['seeds']))}",
        "",
        "Latency of the architecture searched on each row's target, on each column's target, relative to the fastest "
        "of the column's three architectures of the same seed, averaged over the seeds (1.00x: fastest in every "
        "seed). Then, in how many seeds the row's architecture is fastest on its own target, fastest on every target "
        "(a faster network, not a specialised one), and specialised: fastest on its own target but not on every "
        "target; the same for reward (the search's objective).",
        "",
    ]
    columns = ["searched on \\ measured on", *TARGETS, "fastest on own", "fastest on all", "specialised (latency)",
               "best reward on own", "best reward on all", "specialised (reward)"]  # fmt: skip
    rows = []
    for row in TARGETS:
        rel = [np.mean([a["matrix"][row][c] / a["fastest"][c] for a in analyses.values()]) for c in TARGETS]
        counts = []
        for key in ("wins", "reward_wins"):
            own = sum(row in a[key][row] for a in analyses.values())
            every = sum(len(a[key][row]) == len(TARGETS) for a in analyses.values())
            spec = sum(row in a[key][row] and len(a[key][row]) < len(TARGETS) for a in analyses.values())
            counts += [f"{own} of {n}", f"{every} of {n}", f"{spec} of {n}"]
        rows.append([row, *(f"{r:.2f}x" for r in rel), *counts])
    return lines + results_io.table(columns, rows, spaced=True)


def render_depth(data: dict[str, Any]) -> list[str]:
    """What dropping every skippable block is worth on each target."""
    lines = [
        "What depth is worth on each table: the all-k3e3 network against the shallowest one (every skippable block "
        f"dropped), and the reward factor `(ratio) ** {LATENCY_EXPONENT}` that latency ratio gives.",
        "",
    ]
    columns = ["table", "all-k3e3 (ms)", "shallowest (ms)", "ratio", "reward factor", "fixed layers' share of all-k3e3"]
    rows = []
    for col, d in data["depth"].items():
        ratio = d["shallowest_ms"] / d["all_k3e3_ms"]
        rows.append([col, f"{d['all_k3e3_ms']:.2f}", f"{d['shallowest_ms']:.2f}", f"{ratio:.2f}x",
                     f"{ratio**LATENCY_EXPONENT:.3f}", f"{d['fixed_ms'] / d['all_k3e3_ms']:.0%}"])  # fmt: skip
    return lines + results_io.table(columns, rows, spaced=True)


def render_seed(seed: str, a: dict[str, Any], data: dict[str, Any]) -> list[str]:
    """One seed: the latency, reward and cheapest-candidate matrices, and the verdicts."""
    targets_ms, cheapest = data["targets_ms"], data["cheapest_per_block"]
    lines = [
        f"## Seed {seed}",
        "",
        "Latency (ms) of the architecture searched on each row's target, on each column's target; in brackets, "
        "relative to the fastest architecture of the column.",
        "",
    ]
    found = data["seeds"][seed]["found"]
    rows = []
    for row in TARGETS:
        cells = [f"{a['matrix'][row][c]:.2f} ({a['matrix'][row][c] / a['fastest'][c]:.2f}x)" for c in TARGETS]
        test = f"{found[row]['test_scores']['accuracy']:.4f}" if "test_scores" in found[row] else "not measured"
        rows.append([row, *cells, test, f"{a['accuracy'][row]:.4f}"])
    columns = ["searched on \\ measured on", *TARGETS, "accuracy: test", "validation (the search's)"]
    lines += results_io.table(columns, rows, spaced=True)
    lines += [
        "",
        f"Reward `accuracy * (latency / target) ** {LATENCY_EXPONENT}` of each row's architecture on each column's "
        "target (targets " + ", ".join(f"{c} {targets_ms[c]:.2f} ms" for c in TARGETS) + "):",
        "",
    ]
    rows = []
    for row in TARGETS:
        cells = [
            f"{a['reward'][row][c]:.4f}" + (" (best)" if a["reward"][row][c] == a["best_reward"][c] else "")
            for c in TARGETS
        ]
        rows.append([row, *cells])
    lines += results_io.table(["searched on \\ scored on", *TARGETS], rows, spaced=True)
    lines += [
        "",
        "Share of the kept blocks whose candidate is the cheapest one of that block on each column's table "
        "(cheapest per block: " + "; ".join(f"{c} {''.join(map(str, cheapest[c]))}" for c in TARGETS) + ", indices "
        f"into {' '.join(OP_NAMES)}):",
        "",
    ]
    rows = [
        [row, *(f"{a['agreement'][row][c]:.2f}" for c in TARGETS), len(kept(found[row]["architecture"]))]
        for row in TARGETS
    ]
    lines += results_io.table(["searched on \\ cheapest on", *TARGETS, "kept blocks"], rows, spaced=True)
    lines.append("")
    for row in TARGETS:
        fastest, best = verdict(row, a["wins"][row], "fastest"), verdict(row, a["reward_wins"][row], "best reward")
        lines.append(f"* {row}: {fastest}; {best}. `{data['seeds'][seed]['found'][row]['architecture']}`")
    return lines


# -------------------------------------------------------------------------------------------------------- main


def main() -> None:
    """Run the searches (in worker processes if asked), write the JSON and render the markdown from it."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent", default="reinforce", choices=("reinforce", "gradient"))
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=1, help="searches at a time, in separate processes")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for proxylessnas_specialisation.json / .md")
    parser.add_argument(
        "--add-test-scores", action="store_true", help="score the existing run's architectures on test; no search"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    results_io.use_shared_reference_data()
    json_path, text_path = args.out / "proxylessnas_specialisation.json", args.out / "proxylessnas_specialisation.md"
    if args.add_test_scores:
        add_test_scores(json_path, text_path)
        return
    import hwenvs  # noqa: F401  (registers the environments)
    from hwenvs.nas.latency_targets import load_latency_table

    tables = {name: load_latency_table(target) for name, target in TARGETS.items()}
    jobs = [(seed, name) for seed in args.seeds for name in TARGETS]
    job_args = [(f"ProxylessNAS-{name}", args.agent, args.episodes, seed) for seed, name in jobs]
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
            outcomes = list(pool.map(search, *zip(*job_args, strict=True)))
    else:
        outcomes = [search(*a) for a in job_args]
    found: dict[int, dict[str, Any]] = {seed: {} for seed in args.seeds}
    for (seed, name), (arch, scores, test, wall) in zip(jobs, outcomes, strict=True):
        found[seed][name] = {"architecture": arch, "searched_scores": scores, "test_scores": test, "wall_time_s": wall}
        print(f"seed {seed}, searched on {name}: {arch} (accuracy {scores['accuracy']:.4f}, {wall:.0f} s)")
    data = {
        "settings": {k: getattr(args, k) for k in ("agent", "episodes", "seeds", "workers")},
        "targets_ms": {name: found[args.seeds[0]][name]["searched_scores"]["target_ms"] for name in TARGETS},
        **table_facts(tables),
        "seeds": {str(seed): seed_record(found[seed], tables) for seed in args.seeds},
    }
    text = render(data)
    print(text)
    results_io.write(json_path, data, text_path, text)


if __name__ == "__main__":
    main()
