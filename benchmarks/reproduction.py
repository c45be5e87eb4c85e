"""Benchmark: the papers' claims, one row each, reproduced on this package's tasks and hardware models.

Five claims of HAQ (Wang et al., CVPR 2019) and ProxylessNAS (Cai et al., ICLR 2019), with the papers' figures as
``/work/shared/reference/haq.md`` and ``proxylessnas.md`` quote them:

1. HAQ Table 1, hardware specialisation: DDPG policies searched for BISMO edge, BISMO cloud and BitFusion at the same
   latency budget ratio, each policy's latency measured on all three hardware models. Is each hardware's own policy
   the fastest on it?
2. Latency and energy at iso-accuracy: the lowest budget ratio of a grid at which the search (with HAQ's short
   fine-tune in the reward) keeps test accuracy within 1 point of fixed 8-bit's, and the reduction it gives.
3. Where the bits go: claim 1's edge and cloud policies, depthwise against pointwise layers (plus a per-layer plot).
4. Model size: k-means HAQ under the size of uniform 2, 3 and 4 bits against uniform k-means (Deep Compression),
   with and without a short fine-tune.
5. ProxylessNAS specialisation: REINFORCE on Mobile, CPU, BISMO and BitFusion targets; does each target's own
   search earn the best reward on it, and what does each target prefer?

Every search is a job keyed by (claim, hardware or target, setting, dataset, agent, episodes, seed). Its folder
``RUNS/<key>/`` holds the search pipeline's files (``history.csv``, ``policy.json``, ``checkpoint.pt``: a killed
job resumes from its checkpoint) and, once done, ``summary.json``, which is all the results need (the only file of
the folder that git keeps, by the ``.gitignore`` pattern ``benchmarks/results/*_runs/*/*``). Jobs run in a process
pool (spawn, one torch thread each, ``--workers`` at a time), the seeds of one setting in one worker on one
environment, so that they share its reference points and the accuracies it has measured, which every seed would
measure alike (:func:`run_group`). The JSON collects every finished job of the claims'
settings and the page is rendered from it alone (:func:`render`); a row whose jobs have not all finished, for every
seed, says "not run yet" with the command that runs it. Claims not named by ``--claims`` keep the settings of the
previous JSON in ``--out`` (same dataset and seeds), so claims can be run one at a time.

    python benchmarks/reproduction.py --workers 2                     # every claim, fashion-mnist, seeds 0 1 2
    python benchmarks/reproduction.py --claims 1 3 --workers 2        # claim 1's searches (claim 3 reads them)
    python benchmarks/reproduction.py --report-only                   # the page from what has finished, mid-run
    python benchmarks/reproduction.py --dataset mnist --seeds 0 --episodes 2 --grid 0.5 0.8 --finetune-steps 2 \\
        --out /tmp/repro --runs /tmp/repro/runs                          # a smoke run

Default episodes per job (``--episodes 1=N 2=N ...``, or one number for every claim): 150 for claim 1, 30 for claim 2
(with 5 fine-tune steps before every reward), 40 for claim 4, 1000 for claim 5. On fashion-mnist (2,000 validation
and 10,000 test images) with ``--workers 2`` on this 2-core machine, a job (its search and its final test evaluation,
plus, for the first seed of a setting, building the environment and measuring its reference points) took on average
466 s in claim 1 (2.91 s an episode), 89 s in claim 4 without fine-tune and 204 s with 5 steps (5.41 s an episode),
and 285 s in claim 5 (0.28 s a ProxylessNAS episode): claims 1, 3, 4 and 5 in about 1.5 hours. Claim 2's 54
fine-tuned searches took 192 s each (4.92 s an episode), about 1.5 hours more (``--grid`` and ``--episodes 2=N`` trim
it). The page states the time the finished jobs took. The committed page needs at least three seeds.

Results: ``benchmarks/results/reproduction.json``, ``reproduction.md`` and ``reproduction_bits.png`` (the plot is
drawn from the JSON too, by :func:`plot_bits`).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import multiprocessing
import platform
import re
import statistics
import time
from pathlib import Path
from typing import Any

import results_io
from proxylessnas_specialisation import LATENCY_EXPONENT, kept

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
NAME = "reproduction"
SCRIPT = "python benchmarks/reproduction.py"
FORMAT = "reproduction/1"
PLOT_NAME = f"{NAME}_bits.png"
MIN_COMMITTED_SEEDS = 3

CLAIMS = ("1", "2", "3", "4", "5")
CLAIM_TITLES = {
    "1": "HAQ Table 1: policies specialise to their hardware",
    "2": "HAQ: latency and energy at iso-accuracy against fixed 8-bit",
    "3": "HAQ: where the bits go on edge and cloud",
    "4": "HAQ: model size against Deep Compression",
    "5": "ProxylessNAS: architectures specialise to their target",
}
JOB_CLAIMS = ("1", "2", "4", "5")
"""Claims that run searches (claim 3 reads claim 1's)."""

DEFAULT_EPISODES = {"1": 150, "2": 30, "4": 40, "5": 1000}
"""Episodes per search, sized for a busy 2-core machine (see the module docstring for the measured costs)."""
DEFAULT_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
DEFAULT_FINETUNE_STEPS = 5
"""HAQ's short fine-tune before each reward (claim 2, claim 4's fine-tuned rows): SGD steps of batch 64."""
DEFAULT_NAS_TARGETS = ("Mobile", "CPU", "BISMO", "BitFusion")
HAQ_MODEL = "MobileNetV2"
HAQ_HARDWARE = ("BISMO", "BISMO-Cloud", "BitFusion")
"""Claim 1's hardware, in the order we set against haq.md's HW1, HW2, HW3."""
HARDWARE_LABEL = {"BISMO": "BISMO edge", "BISMO-Cloud": "BISMO cloud", "BitFusion": "BitFusion"}
CLAIM1_PRESERVE_RATIO = 0.5
ISO_TARGETS = (("BISMO", "latency"), ("BISMO-Cloud", "latency"), ("BitFusion", "energy"))
ISO_TOLERANCE = 0.01
"""Iso-accuracy: test accuracy at most this far (1 point) below fixed 8-bit's."""
SIZE_BITS = (2, 3, 4)
SIZE_MIN_BITS = 1
"""Claim 4's lowest bit width: with 2, the size of uniform 2 bits would leave the search one policy, uniform 2 bits
itself (k-means weights may take 1 bit: two centroids per layer)."""

# ------------------------------------------------------------------------------ the papers' figures (haq.md, ...)

PAPER_TABLE1_MS = {"HW1": (16.29, 85.24, 117.44), "HW2": (19.95, 64.29, 108.64), "HW3": (19.94, 66.15, 99.68)}
"""haq.md: the best policy for each of three hardware targets (rows), run on each target (columns), in ms."""
PAPER_LATENCY_REDUCTION = (1.4, 1.95)
PAPER_ENERGY_REDUCTION = 1.9
PAPER_SIZE_MOBILENETV2 = {2: (58.07, 66.75), 3: (68.00, 70.90), 4: (71.24, 71.47)}
"""haq.md, marked unverified there: MobileNetV2 top-1 at 2/3/4 bits, (Deep Compression, HAQ)."""
PAPER_NAS_MS = {"GPU": (5.1, 204.9, 124.0), "CPU": (7.4, 138.7, 116.0), "Mobile": (7.2, 164.1, 78.0)}
"""proxylessnas.md: each hardware's model (rows) on GPU / CPU / mobile (ms)."""
PAPER_NAS_COLUMNS = ("GPU", "CPU", "Mobile")


# ============================================================================================== jobs (workers)


def slug(text: str) -> str:
    """``text`` safe as a folder name (an agent spec may hold ``:``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def job_key(claim: str, target: str, setting: str, dataset: str, agent: str, episodes: int, seed: int) -> str:
    """The folder name of one search."""
    return slug(f"c{claim}-{target}-{setting}-{dataset}-{agent}-e{episodes}-s{seed}")


def claim_jobs(claim: str, settings: dict[str, Any], dataset: str, seeds: list[int]) -> list[dict[str, Any]]:
    """Every search of a claim: ``{key, claim, target, setting, seed, ...}`` with what its worker needs."""
    agent, episodes = settings["agent"], settings["episodes"]
    specs: list[tuple[str, str, dict[str, Any]]] = []  # (target, setting, extra job fields)
    if claim == "1":
        for hw in settings["hardware"]:
            kwargs = {"preserve_ratio": settings["preserve_ratio"], "constraint": "latency"}
            specs.append((hw, f"pr{settings['preserve_ratio']:.2f}", {"env_kwargs": kwargs}))
    elif claim == "2":
        for hw, constraint in settings["targets"]:
            for ratio in settings["grid"]:
                kwargs = {
                    "preserve_ratio": ratio,
                    "constraint": constraint,
                    "finetune_steps": settings["finetune_steps"],
                }
                setting = f"{constraint}-pr{ratio:.2f}-ft{settings['finetune_steps']}"
                specs.append((f"{hw}", setting, {"env_kwargs": kwargs, "ratio": ratio, "constraint": constraint}))
    elif claim == "4":
        for bits in settings["bits"]:
            for steps in settings["finetune_steps"]:
                kwargs = {"constraint": "size", "quantizer": "kmeans", "finetune_steps": steps}
                kwargs["min_bits"] = settings["min_bits"]
                setting = f"b{bits}-min{settings['min_bits']}-ft{steps}"
                specs.append(("size", setting, {"env_kwargs": kwargs, "bits": bits, "finetune": steps}))
    elif claim == "5":
        specs = [(t, "oneshot", {}) for t in settings["targets"]]
    else:
        raise ValueError(f"claim {claim} runs no searches")
    jobs = []
    for target, setting, extra in specs:
        for seed in seeds:
            key = job_key(claim, target, setting, dataset, agent, episodes, seed)
            job = {"key": key, "claim": claim, "target": target, "setting": setting, "seed": seed}
            jobs.append({**job, "dataset": dataset, "agent": agent, "episodes": episodes, **extra})
    return jobs


def job_groups(jobs: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The jobs grouped by what their environment depends on (claim, target and setting), seeds in order."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for job in jobs:
        groups.setdefault((job["claim"], job["target"], job["setting"]), []).append(job)
    return list(groups.values())


def run_group(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The searches of one group (:func:`job_groups`: one setting, every seed) in this worker process, with one
    torch thread, on one environment. The seeds share its reference points and remembered accuracies, which are the
    same in every seed (a fine-tune's batch order is fixed), instead of measuring them again: for claim 2 that is
    every uniform policy within the budget, fine-tuned, minutes per search. Each search seeds its agent and its
    episodes itself, as on a fresh environment. Writes each job's summary and returns it, or ``{"key", "error"}``
    for a job that failed (nothing is cached then: a rerun tries again)."""
    import torch

    torch.set_num_threads(1)  # one process per core: threads would only fight over the shared CPUs
    results_io.use_shared_reference_data()
    import hwenvs  # noqa: F401  (registers the environments: a spawned worker starts bare)

    start = time.perf_counter()
    try:
        setup = {"1": haq_env, "2": haq_env, "4": size_env, "5": nas_env}[jobs[0]["claim"]](jobs[0])
    except Exception as exc:  # a group's failure (missing weights, a bug) must not stop the others
        return [{"key": job["key"], "error": f"{type(exc).__name__}: {exc}"} for job in jobs]
    outs = []
    for job in jobs:
        try:
            outs.append(write_summary(job, summarise(job, setup), time.perf_counter() - start))
        except Exception as exc:
            outs.append({"key": job["key"], "error": f"{type(exc).__name__}: {exc}"})
        start = time.perf_counter()  # the first search's time includes building the environment
    if setup.env is not None:
        setup.env.close()
    return outs


def write_summary(job: dict[str, Any], summary: dict[str, Any], seconds: float) -> dict[str, Any]:
    """``job``'s ``summary.json``: what the search found, with the job's identity and time."""
    from hwenvs.agents.pipeline import to_json
    from hwenvs.cache import atomic_write_bytes

    summary = {
        **{k: job[k] for k in ("key", "claim", "target", "setting", "seed", "dataset", "agent")},
        **summary,
        "job_time_s": seconds,
    }
    Path(job["run_dir"]).mkdir(parents=True, exist_ok=True)  # a skipped job ran no search that made it
    atomic_write_bytes(Path(job["run_dir"]) / "summary.json", (json.dumps(to_json(summary), indent=1) + "\n").encode())
    return summary


def search(env: Any, job: dict[str, Any]) -> Any:
    """The search of ``job`` through the pipeline, resumed from its folder's checkpoint if one is there; a folder
    that cannot be resumed (killed before its first checkpoint) is cleared and the search starts again."""
    from hwenvs.agents.base import ResumeError
    from hwenvs.agents.pipeline import build_agent, run_search, seed_everything

    run_dir = Path(job["run_dir"])
    seed_everything(job["seed"])
    agent = build_agent(job["agent"], env, seed=job["seed"])
    try:
        return run_search(env, agent, job["episodes"], run_dir, progress=False, resume=True, test_each_best=False)
    except ResumeError as exc:
        print(f"{job['key']}: cannot resume ({exc}); starting it again", flush=True)
        for name in ("history.csv", "policy.json", "checkpoint.pt", "plot.png"):
            (run_dir / name).unlink(missing_ok=True)
        seed_everything(job["seed"])
        agent = build_agent(job["agent"], env, seed=job["seed"])
        return run_search(env, agent, job["episodes"], run_dir, progress=False, test_each_best=False)


def references(result: Any) -> list[dict[str, Any]]:
    """The search's reference points as plain dicts (no solutions: they are long and not needed)."""
    keys = ("name", "val_accuracy", "test_accuracy", "cost", "cost_ratio", "val_reward", "test_reward", "to_beat")
    return [{k: getattr(r, k) for k in keys} for r in result.references]


def found_figures(result: Any) -> dict[str, Any]:
    """What the search found (the best episode by validation reward), on validation and test."""
    found = result.summary_rows()[-1]
    return {
        "episodes": result.episodes,
        "search_time_s": result.wall_time_s,
        "val_accuracy": found.val_accuracy,
        "test_accuracy": found.test_accuracy,
        "val_reward": found.val_reward,
        "test_reward": found.test_reward,
        "cost": found.cost,
        "cost_ratio": found.cost_ratio,
        "references": references(result),
    }


def layer_kind(layer: Any) -> str:
    """``depthwise``, ``pointwise`` (1x1, ungrouped convolution) or ``other`` (the stem, full convolutions, linear)."""
    if layer.depthwise:
        return "depthwise"
    if layer.kind == "conv" and layer.kernel_size == 1 and layer.groups == 1:
        return "pointwise"
    return "other"


def costs_on_hardware(layers: list[Any], policy: list[list[int | None]], names: list[str]) -> dict[str, Any]:
    """Latency of ``policy`` on each named HAQ hardware (its default batch), absolute and over its fixed 8-bit."""
    import numpy as np

    from hwenvs.envs.bit_budget import UNQUANTIZED, BitBudget
    from hwenvs.hardware import make_hardware
    from hwenvs.registration import HAQ_HARDWARE as HARDWARE_NAMES

    w = np.array([p[0] for p in policy], dtype=np.int64)
    a = np.array([UNQUANTIZED if p[1] is None else p[1] for p in policy], dtype=np.int64)
    costs = {}
    for name in names:
        table = make_hardware(HARDWARE_NAMES[name]).cost_table(layers)
        budget = BitBudget(table.metric("latency"), preserve_ratio=1.0)  # the environments' default layer rules
        cost = budget.cost(w, a)
        costs[name] = {
            "ms": 1e3 * cost,
            "ratio": cost / budget.reference_cost,
            "fixed8_ms": 1e3 * budget.reference_cost,
            "batch": table.batch,
        }
    return costs


@dataclasses.dataclass
class Setup:
    """A group's environment (None where its budget is below the reachable floor) and what its summaries add."""

    env: Any
    fields: dict[str, Any]
    uniform: Any = None
    """Claim 4: the uniform k-means policy whose size is the budget."""


def haq_env(job: dict[str, Any]) -> Setup:
    """Claims 1 and 2: HAQ-MobileNetV2-<hardware> with the job's latency or energy budget."""
    import gymnasium as gym

    env_id = f"HAQ-{HAQ_MODEL}-{job['target']}"
    fields = {"env_id": env_id, "env_kwargs": job["env_kwargs"]}
    try:
        return Setup(gym.make(env_id, dataset=job["dataset"], **job["env_kwargs"]), fields)
    except ValueError as exc:
        if "below the reachable floor" not in str(exc):
            raise
        return Setup(None, {**fields, "skipped": str(exc)})  # deterministic: cached as every seed's summary


def size_env(job: dict[str, Any]) -> Setup:
    """Claim 4: k-means HAQ under the size of uniform ``bits`` (the hardware plays no part in a size budget)."""
    import gymnasium as gym

    env_id = f"HAQ-{HAQ_MODEL}-BISMO"
    probe = gym.make(env_id, dataset=job["dataset"], **job["env_kwargs"], preserve_ratio=1.0).unwrapped
    uniform = probe.uniform_policy(job["bits"])
    # the size of uniform `bits` (first and last layers at 8 bits, as the layer rules say); the margin, far below
    # one bit, keeps the rollback from lowering that very policy by float rounding
    ratio = probe.policy_cost(uniform) / probe.reference_cost * (1 + 1e-12)
    probe.close()
    kwargs = {**job["env_kwargs"], "preserve_ratio": ratio}
    return Setup(gym.make(env_id, dataset=job["dataset"], **kwargs), {"env_id": env_id, "env_kwargs": kwargs}, uniform)


def nas_env(job: dict[str, Any]) -> Setup:
    """Claim 5: ProxylessNAS-<target> on the job's dataset."""
    import gymnasium as gym

    env_id = f"ProxylessNAS-{job['target']}"
    return Setup(
        gym.make(env_id, dataset=job["dataset"]), {"env_id": env_id, "env_kwargs": {"dataset": job["dataset"]}}
    )


def summarise(job: dict[str, Any], setup: Setup) -> dict[str, Any]:
    """``job``'s search on the group's environment, and what its claim reads of the result."""
    if setup.env is None:
        return dict(setup.fields)
    result = search(setup.env, job)
    u = setup.env.unwrapped
    summary = {**setup.fields, **found_figures(result)}
    if job["claim"] == "5":
        arch = result.best_info["architecture"]
        tables, targets = nas_targets_ms(job["all_targets"])
        from hwenvs.nas.architecture import Architecture

        summary["architecture"] = arch
        summary["own_target_ms"] = u.target_ms
        summary["latency_ms"] = {t: tables[t].latency_ms(Architecture.from_string(arch)) for t in tables}
        summary["targets_ms"] = targets
        return summary
    summary["policy"] = result.best_info["policy"]
    if job["claim"] == "1":
        summary["layers"] = [{"name": layer.name, "kind": layer_kind(layer)} for layer in u.layers]
        summary["costs_on"] = costs_on_hardware(u.layers, summary["policy"], list(HAQ_HARDWARE))
    if job["claim"] in ("1", "2"):
        summary["unit"] = result.best_info["unit"]
    if job["claim"] == "4":
        val, test = u.evaluate_solution(setup.uniform, "val"), u.evaluate_solution(setup.uniform, "test")
        summary["size_mb"] = result.best_info["cost"] / 8e6
        summary["uniform"] = {
            "bits": job["bits"],
            "val_accuracy": val["accuracy"],
            "test_accuracy": test["accuracy"],
            "cost_ratio": val["cost_ratio"],
            "size_mb": val["cost"] / 8e6,
        }
    return summary


def nas_targets_ms(names: list[str]) -> tuple[dict[str, Any], dict[str, float]]:
    """Each named ProxylessNAS target's latency table and default latency target (as the environment sets it)."""
    from hwenvs.envs.proxylessnas_env import MOBILE_TARGET_MS, REFERENCE_FOR_TARGET
    from hwenvs.nas.architecture import uniform
    from hwenvs.nas.latency_targets import load_latency_table
    from hwenvs.registration import PROXYLESSNAS_HARDWARE

    tables = {t: load_latency_table(PROXYLESSNAS_HARDWARE[t]) for t in names}
    targets = {
        t: MOBILE_TARGET_MS
        if PROXYLESSNAS_HARDWARE[t] == "mobile"
        else tables[t].latency_ms(uniform(REFERENCE_FOR_TARGET))
        for t in names
    }
    return tables, targets


# ============================================================================================ analysis (pure)


def verdict(passes: list[bool]) -> str:
    """The page's rule: yes if the row's test holds in every seed, partly in at least half, no otherwise."""
    held = sum(passes)
    return "yes" if held == len(passes) else "partly" if 2 * held >= len(passes) else "no"


def mean(values: list[float]) -> float:
    return statistics.fmean(values)


def spread(values: list[float], fmt: str) -> str:
    """``mean (min..max)`` over seeds, or the one value."""
    if format(min(values), fmt) == format(max(values), fmt):
        return format(mean(values), fmt)
    return f"{format(mean(values), fmt)} ({format(min(values), fmt)}..{format(max(values), fmt)})"


def by_seed(runs: list[dict[str, Any]], seeds: list[int], targets: list[str]) -> dict[int, dict[str, Any]] | None:
    """``{seed: {target: summary}}`` if every (seed, target) run has finished, else None."""
    found = {(r["seed"], r["target"]): r["summary"] for r in runs if r["summary"] is not None}
    if any((s, t) not in found for s in seeds for t in targets):
        return None
    return {s: {t: found[(s, t)] for t in targets} for s in seeds}


def progress(runs: list[dict[str, Any]]) -> str:
    """``k of n searches done``."""
    return f"{sum(r['summary'] is not None for r in runs)} of {len(runs)} searches done"


def claim_command(data: dict[str, Any], claim: str) -> str:
    """The command that runs (or resumes) a claim's searches with the JSON's settings."""
    source = "1" if claim == "3" else claim
    settings = data["claims"][source]["settings"]
    parts = [
        SCRIPT,
        f"--claims {source}",
        f"--dataset {data['dataset']}",
        "--seeds " + " ".join(map(str, data["seeds"])),
    ]
    parts.append(f"--episodes {source}={settings['episodes']}")
    if source in ("1", "2", "4"):
        parts.append(f"--agent {settings['agent']}")
    if source == "2":
        parts.append(f"--finetune-steps {settings['finetune_steps']}")
        parts.append("--grid " + " ".join(f"{r:g}" for r in settings["grid"]))
    if source == "4":
        parts.append(f"--finetune-steps {max(settings['finetune_steps'])}")
    if source == "5":
        parts.append(f"--nas-agent {settings['agent']}")
        parts.append("--nas-targets " + " ".join(settings["targets"]))
    return " ".join([*parts, "--workers 2"])


def not_run(data: dict[str, Any], claim: str, runs: list[dict[str, Any]]) -> str:
    return f"not run yet ({progress(runs)}: `{claim_command(data, claim)}`)"


def analyse_claim1(data: dict[str, Any]) -> dict[int, Any] | None:
    """Per seed: each policy's latency on each hardware, and where it is the fastest."""
    c = data["claims"]["1"]
    hws = c["settings"]["hardware"]
    seeds = by_seed(c["runs"], data["seeds"], hws)
    if seeds is None:
        return None
    out = {}
    for seed, found in seeds.items():
        ms = {r: {col: found[r]["costs_on"][col]["ms"] for col in hws} for r in hws}
        fastest = {col: min(ms[r][col] for r in hws) for col in hws}
        out[seed] = {
            "ms": ms,
            "ratio": {r: {col: found[r]["costs_on"][col]["ratio"] for col in hws} for r in hws},
            "own_fastest": {r: ms[r][r] <= fastest[r] * (1 + 1e-12) for r in hws},
            "test_accuracy": {r: found[r]["test_accuracy"] for r in hws},
            "val_accuracy": {r: found[r]["val_accuracy"] for r in hws},
        }
    return out


def iso_point(points: dict[float, dict[str, Any]], tolerance: float) -> tuple[float | None, dict[str, Any] | None]:
    """The lowest grid ratio from which every higher grid ratio keeps test accuracy within ``tolerance`` of fixed
    8-bit's (a ratio below the budget floor, skipped, does not pass), with its summary; (None, None) if none does."""
    lowest = None
    for ratio in sorted(points, reverse=True):
        s = points[ratio]
        if "skipped" in s or s["test_accuracy"] < fixed8(s)["test_accuracy"] - tolerance:
            break
        lowest = ratio
    return lowest, (points[lowest] if lowest is not None else None)


def fixed8(summary: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in summary["references"] if r["name"] == "fixed 8-bit")


def analyse_claim2(data: dict[str, Any], hw: str, constraint: str) -> dict[int, Any] | None:
    """Per seed: the iso-accuracy point of one hardware and constraint."""
    c = data["claims"]["2"]
    grid = c["settings"]["grid"]
    runs = [r for r in c["runs"] if r["target"] == hw and r["constraint"] == constraint]
    found = {(r["seed"], r["ratio"]): r["summary"] for r in runs if r["summary"] is not None}
    if any((s, g) not in found for s in data["seeds"] for g in grid):
        return None
    out = {}
    for seed in data["seeds"]:
        points = {g: found[(seed, g)] for g in grid}
        ratio, point = iso_point(points, c["settings"]["tolerance"])
        out[seed] = {
            "points": points,
            "ratio": ratio,
            "reduction": 1 / point["cost_ratio"] if point is not None else None,
            "test_accuracy": point["test_accuracy"] if point is not None else None,
            "fixed8_test": fixed8(point)["test_accuracy"] if point is not None else None,
        }
    return out


def bit_means(summary: dict[str, Any], last_only: bool = False) -> dict[str, float]:
    """Mean weight and activation bits of depthwise and pointwise layers (``last_only``: from the first of the last
    third of the depthwise layers on)."""
    kinds = [layer["kind"] for layer in summary["layers"]]
    start = 0
    if last_only:
        depthwise = [i for i, k in enumerate(kinds) if k == "depthwise"]
        start = depthwise[len(depthwise) - math.ceil(len(depthwise) / 3)]
    out = {}
    for kind in ("depthwise", "pointwise"):
        chosen = [summary["policy"][i] for i in range(start, len(kinds)) if kinds[i] == kind]
        out[f"{kind}_w"] = mean([p[0] for p in chosen])
        out[f"{kind}_a"] = mean([p[1] for p in chosen if p[1] is not None])
    return out


def analyse_claim3(data: dict[str, Any]) -> dict[int, Any] | None:
    """Per seed: bit means of claim 1's edge and cloud policies, and the two tests."""
    c = data["claims"]["1"]
    seeds = by_seed(c["runs"], data["seeds"], ["BISMO", "BISMO-Cloud"])
    if seeds is None:
        return None
    out = {}
    for seed, found in seeds.items():
        means = {hw: {"all": bit_means(s), "last": bit_means(s, last_only=True)} for hw, s in found.items()}
        edge, cloud = means["BISMO"]["all"], means["BISMO-Cloud"]["last"]
        out[seed] = {
            "means": means,
            "edge": edge["depthwise_a"] < edge["pointwise_a"],
            "cloud": cloud["depthwise_a"] > cloud["pointwise_a"],
        }
    return out


def analyse_claim4(data: dict[str, Any], bits: int, steps: int) -> dict[int, Any] | None:
    """Per seed: HAQ and uniform k-means at the size of uniform ``bits``."""
    c = data["claims"]["4"]
    runs = [r for r in c["runs"] if r["bits"] == bits and r["finetune"] == steps]
    found = {r["seed"]: r["summary"] for r in runs if r["summary"] is not None}
    if any(s not in found for s in data["seeds"]):
        return None
    return {s: found[s] for s in data["seeds"]}


def arch_shape(architecture: str) -> dict[str, Any]:
    """Depth (blocks kept, in all and per stage), mean kernel and mean expansion ratio of the kept blocks."""
    blocks = kept(architecture)
    ops = [op for _, op in blocks]
    stages = [sum(op != "zero" for op in stage.split("-")) for stage in architecture.split("/")]
    return {
        "depth": len(blocks),
        "stages": stages,
        "kernel": mean([int(op[1]) for op in ops]),
        "expand": mean([int(op[3]) for op in ops]),
    }


def analyse_claim5(data: dict[str, Any]) -> dict[int, Any] | None:
    """Per seed: latency and reward of each target's architecture on every target; who wins where."""
    c = data["claims"]["5"]
    targets = c["settings"]["targets"]
    seeds = by_seed(c["runs"], data["seeds"], targets)
    if seeds is None:
        return None
    exponent = c["settings"]["latency_exponent"]
    out = {}
    for seed, found in seeds.items():
        ms = {r: {col: found[r]["latency_ms"][col] for col in targets} for r in targets}
        target_ms = {col: found[col]["targets_ms"][col] for col in targets}
        acc = {r: found[r]["test_accuracy"] for r in targets}
        reward = {r: {col: acc[r] * (ms[r][col] / target_ms[col]) ** exponent for col in targets} for r in targets}
        out[seed] = {
            "ms": ms,
            "reward": reward,
            "accuracy": acc,
            "own_best": {t: reward[t][t] >= max(reward[r][t] for r in targets) * (1 - 1e-12) for t in targets},
            "own_fastest": {t: ms[t][t] <= min(ms[r][t] for r in targets) * (1 + 1e-12) for t in targets},
            "shape": {t: arch_shape(found[t]["architecture"]) for t in targets},
            "architecture": {t: found[t]["architecture"] for t in targets},
        }
    return out


# ================================================================================================== rendering


def render(data: dict[str, Any]) -> str:
    """The results page, from the benchmark's JSON alone."""
    results_io.require(data, ("format", "dataset", "seeds", "claims", "date", "machine"), f"{NAME}.json", SCRIPT)
    sections = {"1": render_claim1, "2": render_claim2, "3": render_claim3, "4": render_claim4, "5": render_claim5}
    rows, details = [], []
    for claim in CLAIMS:
        if claim not in data["claims"] and not (claim == "3" and "1" in data["claims"]):
            missing = f"not run yet (`{SCRIPT} --claims {claim}`)"
            rows.append((claim, CLAIM_TITLES[claim], "", "not in this JSON", missing))
            continue
        claim_rows, claim_details = sections[claim](data)
        rows += [(claim, *row) for row in claim_rows]
        details += ["", f"## {claim}. {CLAIM_TITLES[claim]}", "", *claim_details]
    seeds = data["seeds"]
    lines = [
        "# Reproducing HAQ and ProxylessNAS: the papers' claims, one row each",
        "",
        f"Generated by `{SCRIPT}` from `{NAME}.json` on {data['date']} ({data['machine']}); dataset "
        f"`{data['dataset']}`, seeds {', '.join(map(str, seeds))}. The papers' figures are those quoted in the "
        "project's paper summaries (`haq.md`, `proxylessnas.md`); ours are test-split figures of solutions chosen "
        "on the validation split (the search's best episode by validation reward), mean (min..max) over seeds.",
    ]
    if len(seeds) < MIN_COMMITTED_SEEDS:
        lines += ["", f"**{len(seeds)} seed(s) only: a smoke run, not a result (the page needs "
                  f"{MIN_COMMITTED_SEEDS} or more).**"]  # fmt: skip
    lines += [
        "",
        "**Reproduced?** Each row states a test that can be checked in one seed. *yes*: it holds in every seed; "
        "*partly*: in at least half of the seeds; *no*: in fewer than half. A row is computed only when every search "
        "it needs has finished for every seed; until then it says *not run yet*, with the command that runs it.",
        "",
        "| claim | what is tested | the paper's figure | ours | reproduced? |",
        "|---|---|---|---|---|",
    ]
    for claim, what, paper, ours, result in rows:
        lines.append(f"| {claim} | {what} | {paper} | {ours} | {result} |")
    return "\n".join(lines + details) + "\n"


def seeds_held(passes: list[bool]) -> str:
    return f"in {sum(passes)} of {len(passes)} seeds"


def claim_footer(runs: list[dict[str, Any]], differs: str) -> list[str]:
    """The end of every claim's details: the time its searches took, then how its setting differs from the paper's."""
    return ["", job_times(runs), "", f"What differs from the paper: {differs}"]


def job_times(runs: list[dict[str, Any]]) -> str:
    """Time the finished searches took (from their summaries)."""
    done = [r["summary"] for r in runs if r["summary"] is not None and r["summary"].get("episodes")]
    if not done:
        return "No search has finished yet."
    per_episode = mean([s["search_time_s"] / s["episodes"] for s in done])
    return (
        f"{len(done)} search(es) finished: {mean([s['job_time_s'] for s in done]):.0f} s each on average, "
        f"{per_episode:.2f} s per episode; the rest of a job builds the environment and measures the reference points "
        "(every uniform policy within the budget)."
    )


def render_claim1(data: dict[str, Any]) -> tuple[list[tuple[str, ...]], list[str]]:
    c = data["claims"]["1"]
    s, hws = c["settings"], c["settings"]["hardware"]
    analysis = analyse_claim1(data)
    hw_names = list(PAPER_TABLE1_MS)
    rows = []
    for i, hw in enumerate(hws):
        what = f"the policy searched for {HARDWARE_LABEL[hw]} is the fastest of the three on {HARDWARE_LABEL[hw]}"
        paper_col = [PAPER_TABLE1_MS[row][i] for row in hw_names]
        others = ", ".join(f"{paper_col[j]:.2f} ({hw_names[j]}'s)" for j in range(len(hw_names)) if j != i)
        paper = f"{hw_names[i]}'s policy on {hw_names[i]}: {paper_col[i]:.2f} ms vs {others}"
        if analysis is None:
            rows.append((what, paper, "", not_run(data, "1", c["runs"])))
            continue
        passes = [a["own_fastest"][hw] for a in analysis.values()]
        cells = []
        for r in hws:
            ratios = [a["ratio"][r][hw] for a in analysis.values()]
            mss = [a["ms"][r][hw] for a in analysis.values()]
            who = "own" if r == hw else f"{HARDWARE_LABEL[r]}'s"
            cells.append(f"{who} {mean(ratios):.3f}x ({mean(mss):.2f} ms)")
        acc = [a["test_accuracy"][hw] for a in analysis.values()]
        ours = f"fastest {seeds_held(passes)}; on {HARDWARE_LABEL[hw]}: " + ", ".join(cells)
        ours += f"; own policy's test accuracy {spread(acc, '.4f')}"
        rows.append((what, paper, ours, verdict(passes)))
    details = [
        f"{HAQ_MODEL}, agent `{s['agent']}`, {s['episodes']} episodes per search, budget {s['preserve_ratio']} x each "
        "hardware's own fixed 8-bit latency (constraint latency), no fine-tune in the reward. Each found policy's "
        "latency on each hardware model (per batch of that model's default batch size), as a fraction of that "
        "hardware's fixed 8-bit latency and in ms.",
        "",
        "The paper (haq.md), rows the policy's hardware, columns where it runs, ms: "
        + "; ".join(f"{k} {' / '.join(f'{v:.2f}' for v in vals)}" for k, vals in PAPER_TABLE1_MS.items())
        + ". haq.md does not name HW1..HW3; we set them against "
        + ", ".join(HARDWARE_LABEL[h] for h in hws)
        + " in that order.",
    ]
    if analysis is not None:
        for seed, a in analysis.items():
            header = (
                "| searched for \\ run on | " + " | ".join(HARDWARE_LABEL[h] for h in hws) + " | test acc | val acc |"
            )
            details += ["", f"Seed {seed}:", "", header, "|---" * (len(hws) + 3) + "|"]
            for r in hws:
                cells = []
                for col in hws:
                    mark = " **fastest**" if a["ms"][r][col] <= min(a["ms"][x][col] for x in hws) * (1 + 1e-12) else ""
                    cells.append(f"{a['ratio'][r][col]:.3f}x, {a['ms'][r][col]:.2f} ms{mark}")
                details.append(
                    f"| {HARDWARE_LABEL[r]} | "
                    + " | ".join(cells)
                    + f" | {a['test_accuracy'][r]:.4f} | {a['val_accuracy'][r]:.4f} |"
                )
    details += claim_footer(
        c["runs"],
        "the task (`" + data["dataset"] + "`, 32x32 images, our own trained weights; "
        "the paper: ImageNet); latency from our analytic models of BISMO edge and cloud and BitFusion, on the layer "
        "shapes of a 224x224 input (BISMO cloud calibrated to HAQ's published table, BitFusion not matching the "
        "BitFusion paper's figures: `hardware_validation.txt`), not the paper's simulators; "
        f"{s['episodes']} episodes of `{s['agent']}` (HAQ: 600 episodes of DDPG); no fine-tune before the reward "
        "(HAQ: a short fine-tune); haq.md states neither the paper's budget nor its model for this table.",
    )
    return rows, details


def render_claim2(data: dict[str, Any]) -> tuple[list[tuple[str, ...]], list[str]]:
    c = data["claims"]["2"]
    s = c["settings"]
    tol_pts = 100 * s["tolerance"]
    rows, details = [], []
    details.append(
        f"{HAQ_MODEL}, agent `{s['agent']}`, {s['episodes']} episodes per search, {s['finetune_steps']} fine-tune "
        "step(s) before every reward (and before every accuracy below, fixed 8-bit's included), budget ratios "
        + ", ".join(f"{g:g}" for g in s["grid"])
        + f". Iso-accuracy: the lowest ratio of the grid from which every higher ratio keeps the found policy's test "
        f"accuracy within {tol_pts:g} point of fixed 8-bit's; the reduction is 1 / the found policy's cost ratio "
        "there. Cells: test accuracy (cost ratio), `ok` where within the tolerance."
    )
    for hw, constraint in s["targets"]:
        label = f"{HARDWARE_LABEL[hw]} {constraint}"
        paper_low = PAPER_LATENCY_REDUCTION[0] if constraint == "latency" else PAPER_ENERGY_REDUCTION
        what = f"{label}: reduction vs fixed 8-bit at iso-accuracy is at least {paper_low:g}x"
        if constraint == "latency":
            paper = f"{PAPER_LATENCY_REDUCTION[0]:g}-{PAPER_LATENCY_REDUCTION[1]:g}x lower latency than fixed 8-bit"
        else:
            paper = f"{PAPER_ENERGY_REDUCTION:g}x lower energy than fixed 8-bit"
        paper += ", negligible accuracy loss"
        analysis = analyse_claim2(data, hw, constraint)
        runs = [r for r in c["runs"] if r["target"] == hw and r["constraint"] == constraint]
        if analysis is None:
            rows.append((what, paper, "", not_run(data, "2", runs)))
            details += ["", f"{label}: {progress(runs)}."]
            continue
        passes = [a["reduction"] is not None and a["reduction"] >= paper_low for a in analysis.values()]
        reductions = [a["reduction"] for a in analysis.values() if a["reduction"] is not None]
        ratios = ", ".join("none" if a["ratio"] is None else f"{a['ratio']:g}" for a in analysis.values())
        ours = f"lowest ratio within {tol_pts:g} pt per seed: {ratios}"
        if reductions:
            accs = [a["test_accuracy"] for a in analysis.values() if a["test_accuracy"] is not None]
            base = [a["fixed8_test"] for a in analysis.values() if a["fixed8_test"] is not None]
            ours += f"; reduction {spread(reductions, '.2f')}x, test accuracy {spread(accs, '.4f')} vs fixed 8-bit "
            ours += f"{spread(base, '.4f')}"
        rows.append((what, paper, ours, verdict(passes)))
        header = "| ratio | " + " | ".join(f"seed {x}" for x in analysis) + " |"
        details += ["", f"{label}:", "", header, "|---" * (len(analysis) + 1) + "|"]
        for g in s["grid"]:
            cells = []
            for a in analysis.values():
                p = a["points"][g]
                if "skipped" in p:
                    cells.append("below the budget floor")
                    continue
                ok = " ok" if p["test_accuracy"] >= fixed8(p)["test_accuracy"] - s["tolerance"] else ""
                cells.append(f"{p['test_accuracy']:.4f} ({p['cost_ratio']:.3f}){ok}")
            details.append(f"| {g:g} | " + " | ".join(cells) + " |")
        measured = [p for a in analysis.values() for p in a["points"].values() if "skipped" not in p]
        if measured:
            base = fixed8(measured[0])["test_accuracy"]
            details += ["", f"Fixed 8-bit after the same fine-tune: test accuracy {base:.4f}."]
    details += claim_footer(
        c["runs"],
        f"the task (`{data['dataset']}`, 32x32; the paper: ImageNet) and our hardware "
        f"models; {s['finetune_steps']} SGD step(s) of fine-tune per episode (HAQ: one epoch); iso-accuracy defined as "
        f'within {tol_pts:g} point of fixed 8-bit on test (the paper: "negligible loss"), on a grid of budget ratios '
        f"(step {s['grid'][1] - s['grid'][0] if len(s['grid']) > 1 else 0:g}: the reduction can only take the values "
        f"the grid allows); {s['episodes']} episodes of `{s['agent']}` (HAQ: 600 of DDPG); the paper's range covers "
        "its models and hardware, which haq.md does not break down.",
    )
    return rows, details


def render_claim3(data: dict[str, Any]) -> tuple[list[tuple[str, ...]], list[str]]:
    analysis = analyse_claim3(data)
    runs = [r for r in data["claims"]["1"]["runs"] if r["target"] in ("BISMO", "BISMO-Cloud")]
    edge_what = "BISMO edge: depthwise layers get fewer activation bits than pointwise layers (mean)"
    cloud_what = "BISMO cloud, last layers: depthwise layers get more activation bits than pointwise layers (mean)"
    edge_paper = "edge: depthwise layers fewer activation bits, pointwise more"
    cloud_paper = "cloud: the last layers' depthwise get more bits, the opposite of edge"
    if analysis is None:
        missing = not_run(data, "3", runs)
        rows = [(edge_what, edge_paper, "", missing), (cloud_what, cloud_paper, "", missing)]
        return rows, [f"Reads claim 1's policies: {progress(runs)}."]
    rows = []
    for key, what, paper, hw, part in (
        ("edge", edge_what, edge_paper, "BISMO", "all"),
        ("cloud", cloud_what, cloud_paper, "BISMO-Cloud", "last"),
    ):
        passes = [a[key] for a in analysis.values()]
        m = [a["means"][hw][part] for a in analysis.values()]
        ours = (
            f"activation bits depthwise {spread([x['depthwise_a'] for x in m], '.2f')} vs pointwise "
            f"{spread([x['pointwise_a'] for x in m], '.2f')} (weight bits {mean([x['depthwise_w'] for x in m]):.2f} vs "
            f"{mean([x['pointwise_w'] for x in m]):.2f}); holds {seeds_held(passes)}"
        )
        rows.append((what, paper, ours, verdict(passes)))
    details = [
        "Claim 1's policies (budget 0.5 of each hardware's 8-bit latency). Mean bits over the depthwise and the "
        "pointwise (1x1, ungrouped) layers; the stem and the classifier are neither. *Last layers*: from the first "
        "of the last third of the depthwise layers to the end. Means over seeds.",
        "",
        "| hardware | layers | depthwise W | pointwise W | depthwise A | pointwise A |",
        "|---|---|---|---|---|---|",
    ]
    for hw in ("BISMO", "BISMO-Cloud"):
        for part, label in (("all", "all"), ("last", "last layers")):
            m = [a["means"][hw][part] for a in analysis.values()]
            cells = [mean([x[k] for x in m]) for k in ("depthwise_w", "pointwise_w", "depthwise_a", "pointwise_a")]
            details.append(f"| {HARDWARE_LABEL[hw]} | {label} | " + " | ".join(f"{v:.2f}" for v in cells) + " |")
    if bits_plot_ready(data):
        details += ["", f"Bits per layer (mean over seeds; depthwise layers shaded): ![bits per layer]({PLOT_NAME})"]
    details += [
        "",
        "What differs from the paper: claim 1's settings (task, hardware models, episodes, no fine-tune); haq.md does "
        'not say which layers are "the last layers" nor whether the cloud statement is about weight or activation '
        "bits: we test activation bits, as the edge statement is, on the last third of the depthwise layers.",
    ]
    return rows, details


def render_claim4(data: dict[str, Any]) -> tuple[list[tuple[str, ...]], list[str]]:
    c = data["claims"]["4"]
    s = c["settings"]
    rows = []
    table = []
    for bits in s["bits"]:
        for steps in s["finetune_steps"]:
            ft = f"{steps} fine-tune step{'s' * (steps != 1)}" if steps else "no fine-tune"
            what = f"{bits}-bit size, {ft}: HAQ (k-means) above uniform k-means (Deep Compression) on test accuracy"
            dc, haq = PAPER_SIZE_MOBILENETV2.get(bits, (None, None))
            paper = "no figure"
            if dc is not None:
                paper = f"MobileNetV2 top-1 Deep Compression {dc:.2f} vs HAQ {haq:.2f} ({haq - dc:+.2f} pts"
                paper += "; unverified in haq.md)"
            analysis = analyse_claim4(data, bits, steps)
            runs = [r for r in c["runs"] if r["bits"] == bits and r["finetune"] == steps]
            if analysis is None:
                rows.append((what, paper, "", not_run(data, "4", runs)))
                continue
            haq_acc = [a["test_accuracy"] for a in analysis.values()]
            dc_acc = [a["uniform"]["test_accuracy"] for a in analysis.values()]
            gains = [100 * (h - d) for h, d in zip(haq_acc, dc_acc, strict=True)]
            passes = [g > 0 for g in gains]
            ours = (
                f"Deep Compression {mean(dc_acc):.4f} vs HAQ {spread(haq_acc, '.4f')} ({spread(gains, '+.2f')} pts); "
                f"HAQ above {seeds_held(passes)}"
            )
            rows.append((what, paper, ours, verdict(passes)))
            sizes = [a["cost_ratio"] for a in analysis.values()]
            table.append(
                f"| {bits} | {steps} | {mean([a['uniform']['size_mb'] for a in analysis.values()]):.3f} "
                f"| {mean(dc_acc):.4f} | {mean([a['uniform']['val_accuracy'] for a in analysis.values()]):.4f} "
                f"| {mean(haq_acc):.4f} | {mean([a['val_accuracy'] for a in analysis.values()]):.4f} "
                f"| {mean(sizes):.3f} |"
            )
    details = [
        f"{HAQ_MODEL}, k-means weights (2^b centroids per layer), activations not quantized; budget: the size of "
        "uniform b-bit weights (the first and last layers at 8 bits, as the layer rules keep them); the search may "
        f"give a layer {s['min_bits']} to 8 bits; agent `{s['agent']}`, {s['episodes']} episodes per search. Deep "
        "Compression: uniform k-means at b bits, evaluated with the same fine-tune. Means over seeds.",
    ]
    if table:
        details += [
            "",
            "| bits | fine-tune steps | size (MB) | Deep Compression test | its val | HAQ test | HAQ val "
            "| HAQ size / 8-bit |",
            "|---|---|---|---|---|---|---|---|",
            *table,
        ]
    details += claim_footer(
        c["runs"],
        f"the task (`{data['dataset']}`, 32x32; the paper: ImageNet); fine-tune "
        f"{max(s['finetune_steps'])} SGD step(s) (the paper fine-tunes longer; haq.md's figures are marked unverified "
        "and do not say how long); our own k-means quantizer; the search's bit range "
        f"{s['min_bits']}..8 (haq.md gives HAQ's range as 2..8, under which the size of uniform 2 bits leaves one "
        "policy: uniform 2 bits); the paper's rows are MobileNetV2 as here.",
    )
    return rows, details


def render_claim5(data: dict[str, Any]) -> tuple[list[tuple[str, ...]], list[str]]:
    c = data["claims"]["5"]
    s, targets = c["settings"], c["settings"]["targets"]
    analysis = analyse_claim5(data)
    rows = []
    for t in targets:
        what = f"the architecture searched for {t} earns the best reward on {t}"
        if t in PAPER_NAS_MS:
            i = PAPER_NAS_COLUMNS.index(t)
            others = ", ".join(f"{PAPER_NAS_MS[r][i]:g} ({r} model)" for r in PAPER_NAS_MS if r != t)
            paper = f"{t} model fastest on {t}: {PAPER_NAS_MS[t][i]:g} ms vs {others}"
        else:
            paper = "not in the paper (its finding, on GPU/CPU/mobile: each hardware's model fastest on it)"
        if analysis is None:
            rows.append((what, paper, "", not_run(data, "5", c["runs"])))
            continue
        passes = [a["own_best"][t] for a in analysis.values()]
        fastest = [a["own_fastest"][t] for a in analysis.values()]
        own = [a["reward"][t][t] for a in analysis.values()]
        best_other = [max(a["reward"][r][t] for r in targets if r != t) for a in analysis.values()]
        ours = (
            f"best reward on {t} {seeds_held(passes)} (fastest there {seeds_held(fastest)}); reward on {t}: own "
            f"{mean(own):.4f} vs best other {mean(best_other):.4f}"
        )
        rows.append((what, paper, ours, verdict(passes)))
    what = "preferences: the GPU's architecture is shallower and wider (higher mean expansion) than Mobile's and CPU's"
    paper = "GPU prefers shallow and wide (large kernels, expand 6), CPU deep and narrow"
    if analysis is None:
        rows.append((what, paper, "", not_run(data, "5", c["runs"])))
    else:
        shapes = {t: [a["shape"][t] for a in analysis.values()] for t in targets}
        ours = "; ".join(
            f"{t} depth {mean([x['depth'] for x in v]):.1f}, kernel {mean([x['kernel'] for x in v]):.2f}, "
            f"expand {mean([x['expand'] for x in v]):.2f}"
            for t, v in shapes.items()
        )
        if {"GPU", "Mobile", "CPU"} <= set(targets):
            passes = [
                a["shape"]["GPU"]["depth"] < min(a["shape"][t]["depth"] for t in ("Mobile", "CPU"))
                and a["shape"]["GPU"]["expand"] > max(a["shape"][t]["expand"] for t in ("Mobile", "CPU"))
                for a in analysis.values()
            ]
            rows.append((what, paper, ours + f"; holds {seeds_held(passes)}", verdict(passes)))
        else:
            command = claim_command(data, "5").replace(
                "--nas-targets " + " ".join(targets), "--nas-targets " + " ".join([*targets, "GPU"])
            )
            rows.append((what, paper, ours, f"not run yet (needs the GPU target, on a machine with CUDA: `{command}`)"))
    details = [
        f"`{s['agent']}` on ProxylessNAS-<target> (oneshot, frozen warmed-up supernet), {s['episodes']} episodes per "
        "search; the found architecture is the best episode by validation reward. Reward of an architecture on a "
        f"target: its test accuracy x (latency / the target's latency target) ^ {s['latency_exponent']:g} (Mobile's "
        "target 80 ms, the others the all-k3e3 network's latency on their table).",
    ]
    if analysis is not None:
        details += [
            "",
            "Latency (ms) of each row's architecture on each column's target, and reward; mean over seeds:",
            "",
            "| searched for \\ on | " + " | ".join(targets) + " | test acc |",
            "|---" * (len(targets) + 2) + "|",
        ]
        for r in targets:
            cells = [
                f"{mean([a['ms'][r][col] for a in analysis.values()]):.2f} ms, "
                f"{mean([a['reward'][r][col] for a in analysis.values()]):.4f}"
                for col in targets
            ]
            acc = mean([a["accuracy"][r] for a in analysis.values()])
            details.append(f"| {r} | " + " | ".join(cells) + f" | {acc:.4f} |")
        details += [
            "",
            "What each target prefers (kept blocks; depth per stage over the six stages); mean over seeds:",
            "",
            "| target | depth | depth per stage | mean kernel | mean expand |",
            "|---|---|---|---|---|",
        ]
        for t in targets:
            v = [a["shape"][t] for a in analysis.values()]
            stages = "/".join(f"{mean([x['stages'][i] for x in v]):.1f}" for i in range(len(v[0]["stages"])))
            details.append(
                f"| {t} | {mean([x['depth'] for x in v]):.1f} | {stages} | {mean([x['kernel'] for x in v]):.2f} "
                f"| {mean([x['expand'] for x in v]):.2f} |"
            )
        details += [""]
        for seed, a in analysis.items():
            details.append(f"* seed {seed}: " + "; ".join(f"{t} `{a['architecture'][t]}`" for t in targets))
    details += claim_footer(
        c["runs"],
        f"the task (`{data['dataset']}`, 32x32; the paper: ImageNet) and a width-0.35 "
        "accuracy supernet, warmed up and then frozen (the paper alternates weight and architecture steps for 120 "
        "epochs); the architecture is the best sampled one by validation reward, scored through the supernet, not "
        "the argmax of the architecture parameters retrained from scratch; latency of the network deployed at "
        "224x224: Mobile is ProxylessNAS's published Pixel 1 table, CPU is this machine's measured table (shared "
        "and noisy), BISMO edge and BitFusion are our hardware models at 8/8 bits (targets the paper does not "
        "have); no GPU target unless the run names it (the paper's preference finding contrasts GPU with mobile "
        f"and CPU); {s['episodes']} episodes of `{s['agent']}`.",
    )
    return rows, details


# ==================================================================================================== the plot


def bits_plot_ready(data: dict[str, Any]) -> bool:
    """True when every claim-1 search has finished (the plot is drawn, and the page shows it)."""
    c = data["claims"].get("1")
    return c is not None and by_seed(c["runs"], data["seeds"], c["settings"]["hardware"]) is not None


def plot_bits(data: dict[str, Any], path: Path) -> bool:
    """Draw the bits per layer of claim 1's policies (mean over seeds), one panel per hardware, from the JSON alone;
    False (nothing drawn) until every claim-1 search has finished."""
    if not bits_plot_ready(data):
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    c = data["claims"]["1"]
    hws = c["settings"]["hardware"]
    fig, axes = plt.subplots(len(hws), 1, figsize=(12, 2.4 * len(hws)), sharex=True, squeeze=False)
    for ax, hw in zip(axes[:, 0], hws, strict=True):
        summaries = [r["summary"] for r in c["runs"] if r["target"] == hw]
        layers = summaries[0]["layers"]
        x = np.arange(len(layers))
        for i, layer in enumerate(layers):
            if layer["kind"] == "depthwise":
                ax.axvspan(i - 0.5, i + 0.5, color="0.88", lw=0)
        w = np.mean([[p[0] for p in s["policy"]] for s in summaries], axis=0)
        a = np.mean([[np.nan if p[1] is None else p[1] for p in s["policy"]] for s in summaries], axis=0)
        ax.step(x, w, where="mid", label="weight bits")
        ax.step(x, a, where="mid", label="activation bits")
        ax.set_ylim(1.5, 8.5)
        ax.set_ylabel("bits")
        ax.set_title(f"{HARDWARE_LABEL[hw]} (mean over {len(summaries)} seed(s); depthwise layers shaded)", fontsize=10)
        ax.legend(loc="lower left", fontsize=8)
    axes[-1, 0].set_xlabel(f"layer of {HAQ_MODEL}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


# ======================================================================================================== main


def parse_episodes(values: list[str] | None, claims: list[str]) -> dict[str, int]:
    """``--episodes``: one number for every claim, or ``CLAIM=N`` items."""
    episodes = dict(DEFAULT_EPISODES)
    for value in values or []:
        claim, sep, number = value.rpartition("=")
        running = sorted({"1" if c == "3" else c for c in claims})  # claim 3 runs claim 1's searches
        targets = [claim] if sep else running
        if any(t not in JOB_CLAIMS for t in targets) or not number.isdigit() or int(number) < 1:
            raise argparse.ArgumentTypeError(f"--episodes {value}: expected N or CLAIM=N with CLAIM in {JOB_CLAIMS}")
        for t in targets:
            episodes[t] = int(number)
    return episodes


def claim_settings(claim: str, args: argparse.Namespace, episodes: dict[str, int]) -> dict[str, Any]:
    """A claim's settings from the command line."""
    haq = {"agent": args.agent, "episodes": episodes[claim]}
    if claim == "1":
        return {**haq, "model": HAQ_MODEL, "preserve_ratio": CLAIM1_PRESERVE_RATIO, "hardware": list(HAQ_HARDWARE)}
    if claim == "2":
        return {**haq, "finetune_steps": args.finetune_steps, "grid": [round(g, 4) for g in args.grid],
                "tolerance": ISO_TOLERANCE, "targets": [list(t) for t in ISO_TARGETS]}  # fmt: skip
    if claim == "4":
        return {**haq, "bits": list(SIZE_BITS), "finetune_steps": [0, args.finetune_steps], "quantizer": "kmeans",
                "min_bits": SIZE_MIN_BITS}  # fmt: skip
    return {"agent": args.nas_agent, "episodes": episodes[claim], "targets": list(args.nas_targets),
            "latency_exponent": LATENCY_EXPONENT}  # fmt: skip


def previous_data(path: Path, dataset: str, seeds: list[int]) -> dict[str, Any]:
    """The claims of the JSON already in ``--out`` if it is for the same dataset and seeds, else nothing."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if data.get("format") != FORMAT or data.get("dataset") != dataset or data.get("seeds") != seeds:
        return {}
    return data.get("claims", {})


def prepare_nas(dataset: str, targets: list[str]) -> None:
    """Before the workers start: measure (or load) the latency tables and warm up (or load) the supernet once, so
    that parallel workers never build the same cached file at the same time."""
    from hwenvs.data import load_task
    from hwenvs.nas.train_supernet import load_supernet

    print(f"loading the latency tables of {', '.join(targets)} and the {dataset} supernet", flush=True)
    nas_targets_ms(targets)
    load_supernet(load_task(dataset))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", nargs="+", default=list(CLAIMS), choices=CLAIMS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--episodes", nargs="+", help=f"N, or CLAIM=N (defaults {DEFAULT_EPISODES})")
    parser.add_argument("--workers", type=int, default=1, help="searches at a time (processes, one torch thread each)")
    parser.add_argument("--dataset", default="fashion-mnist", help="'fashion-mnist' (default) or 'mnist'")
    parser.add_argument("--agent", default="ddpg-warm", help="HAQ searches' agent (claims 1, 2, 4)")
    parser.add_argument("--nas-agent", default="reinforce", help="ProxylessNAS searches' agent (claim 5)")
    parser.add_argument("--nas-targets", nargs="+", default=list(DEFAULT_NAS_TARGETS),
                        help="ProxylessNAS targets of claim 5 (GPU needs CUDA)")  # fmt: skip
    parser.add_argument("--grid", nargs="+", type=float, default=list(DEFAULT_GRID), help="claim 2's budget ratios")
    parser.add_argument("--finetune-steps", type=int, default=DEFAULT_FINETUNE_STEPS,
                        help="fine-tune steps before each reward (claim 2; claim 4's fine-tuned rows)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"where {NAME}.json / .md / _bits.png go")
    parser.add_argument("--runs", type=Path, default=None, help=f"job folders (default OUT/{NAME}_runs)")
    parser.add_argument("--report-only", action="store_true", help="run nothing: the page from the finished searches")
    args = parser.parse_args(argv)
    if args.out.resolve() == RESULTS.resolve() and len(args.seeds) < MIN_COMMITTED_SEEDS:
        parser.error(f"the committed page needs at least {MIN_COMMITTED_SEEDS} seeds; give --out for a smaller run")
    if args.finetune_steps < 1:
        parser.error("--finetune-steps must be at least 1 (claim 4 runs 0 and this)")
    try:
        episodes = parse_episodes(args.episodes, args.claims)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if "GPU" in args.nas_targets:
        import torch

        if not torch.cuda.is_available():
            parser.error("--nas-targets GPU needs CUDA, which this machine lacks")
    runs_dir = args.runs or args.out / f"{NAME}_runs"
    selected = set(args.claims) | ({"1"} if "3" in args.claims else set())
    previous = previous_data(args.out / f"{NAME}.json", args.dataset, args.seeds)

    claims: dict[str, Any] = {}
    todo: list[dict[str, Any]] = []
    for claim in JOB_CLAIMS:
        keep = claim not in selected and claim in previous
        settings = previous[claim]["settings"] if keep else claim_settings(claim, args, episodes)
        jobs = claim_jobs(claim, settings, args.dataset, args.seeds)
        for job in jobs:
            job["run_dir"] = str(runs_dir / job["key"])
            if claim == "5":
                job["all_targets"] = settings["targets"]
            if claim in selected and not args.report_only and not (Path(job["run_dir"]) / "summary.json").is_file():
                todo.append(job)
        claims[claim] = {"settings": settings, "jobs": jobs}

    groups = job_groups(todo)
    print(
        f"{len(todo)} searches to run in {len(groups)} groups, {args.workers} at a time (runs in {runs_dir})",
        flush=True,
    )
    import torch

    torch.set_num_threads(1)
    results_io.use_shared_reference_data()
    if any(j["claim"] == "5" for j in todo):
        prepare_nas(args.dataset, claims["5"]["settings"]["targets"])
    failed = []
    if todo:
        with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
            for out in (o for group in pool.imap_unordered(run_group, groups) for o in group):
                if "error" in out:
                    failed.append(out)
                    print(f"{out['key']}: FAILED: {out['error']}", flush=True)
                elif "skipped" in out:
                    print(f"{out['key']}: skipped: {out['skipped']}", flush=True)
                else:
                    found = f"test accuracy {out['test_accuracy']:.4f}, cost ratio {out['cost_ratio']:.3f}"
                    print(f"{out['key']}: {found}, {out['job_time_s']:.0f} s", flush=True)

    data = {
        "format": FORMAT,
        "dataset": args.dataset,
        "seeds": args.seeds,
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {multiprocessing.cpu_count()} cores"
        + ("" if args.report_only else f", {args.workers} workers"),
        "claims": {},
    }
    for claim, c in claims.items():
        runs = []
        for job in c["jobs"]:
            path = Path(job["run_dir"]) / "summary.json"
            summary = json.loads(path.read_text()) if path.is_file() else None
            fields = ("key", "target", "setting", "seed", "ratio", "constraint", "bits", "finetune")
            runs.append({**{k: job[k] for k in fields if k in job}, "summary": summary})
        data["claims"][claim] = {"settings": c["settings"], "runs": runs}
    text = render(data)
    results_io.write(args.out / f"{NAME}.json", data, args.out / f"{NAME}.md", text)
    if plot_bits(data, args.out / PLOT_NAME):
        print(f"wrote {args.out / PLOT_NAME}")
    print(text)
    if failed:
        raise SystemExit(f"{len(failed)} search(es) failed: {', '.join(f['key'] for f in failed)}")


if __name__ == "__main__":
    main()
