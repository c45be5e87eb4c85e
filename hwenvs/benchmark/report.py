"""From trial files to ``results.json``, and from ``results.json`` alone to ``results.md`` and its plots.

:func:`collect` gathers the benchmark's trial and reference files into one JSON with the statistics
(:func:`summarise`, a seeded bootstrap, so they repeat); :func:`render` writes the markdown from that JSON and
:func:`plot` the PNGs, so every number a person reads is in the run's JSON. :func:`combine` joins benchmarks of one
suite run apart on disjoint environments (other machines, other sessions) into one such JSON.

**What is scored.** Every search's solution is its best episode by *validation* reward (the reward's split); the
report shows that solution's *test* figures. The **normalised score** of a solution on an environment is

    (R_test - R_random) / (R_best_uniform - R_random)

with R the environment's reward measured on the test split, R_random the mean test reward of uniformly random
solutions (``random_episodes`` of the package's random search, a seed apart from every trial's; or the environment's
own "random" reference point where it offers one) and R_best_uniform the test reward of the best uniform solution
within the budget (the reference point chosen on validation that every search must beat). 0 is a random solution,
1 the best uniform one. HAQ's reward is ``0.1 * (accuracy - float accuracy)``, so there it equals
``(acc - acc_random) / (acc_best_uniform - acc_random)`` on test accuracy; ProxylessNAS's reward also weighs latency,
``accuracy * (latency / target) ** w``, so its score is on that reward. Choosing the best hyperparameter setting of
a sweep uses the same score on validation.

Aggregates (IQM, mean, probability of improvement, performance profiles; see :mod:`hwenvs.benchmark.stats`) pool an
agent's runs over the environments of one family (HAQ, ProxylessNAS) with a stratified bootstrap: seeds are
resampled within each environment. A sweep's settings pooled are resampled by setting, then by seed. Each
environment's section also reads its row on its own, over the test images (:mod:`hwenvs.benchmark.paired`): paired
wins and losses against the best uniform solution, its headroom, and intervals over seeds and test images; and
probabilities of improvement within each group of agents (from scratch, warm-started).
"""

from __future__ import annotations

import datetime
import math
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwenvs.benchmark import paired, stats
from hwenvs.benchmark.trials import TrialSpec, read_result

RESULTS_FORMAT = "hwenvs-benchmark/1"
"""The ``format`` field of ``results.json``."""

BOOTSTRAP_SEED = 0
"""Seed of every bootstrap in a report."""

CURVE_POINTS = 60
"""At most this many episode counts on a best-so-far curve."""

FAMILY_TITLES = {"haq": "HAQ (mixed-precision quantization)", "nas": "ProxylessNAS (architecture search)"}
PLOTS = ("curves.png", "intervals.png", "improvement.png", "profiles.png")
"""The plots a report draws beside ``results.md``."""


# -- collecting ------------------------------------------------------------------------------------------------------


def collect(jobs: Sequence[TrialSpec], meta: Mapping[str, Any]) -> dict[str, Any]:
    """``results.json``'s content: the suite's settings, every environment's references, every finished trial's
    figures, what is missing, and the statistics.

    :param jobs: the benchmark's jobs (their result files are read).
    :param meta: ``suite`` (name, description, source), ``settings`` (seeds, sweep, accuracy, backend, workers)
        and ``agents`` (label -> setting name -> hyperparameters).
    """
    from hwenvs import __version__

    envs: dict[str, Any] = {}
    trials: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []
    for spec in jobs:
        data = read_result(spec.path)
        if data is None or data.get("status") != "complete" or data.get("spec") != spec.identity():
            error = (data or {}).get("error", "").strip().splitlines()[-1:] if data else []
            missing.append({"trial": spec.name, "error": error[0] if error else None})
        elif spec.kind == "reference":
            envs[spec.env] = _env_entry(spec, data)
        else:
            trials.append(_trial_entry(spec, data))
    # a search cannot be scored without its environment's references
    unscored = [t for t in trials if t["env"] not in envs]
    missing += [
        {"trial": f"{t['env']}__{t['agent']}__{t['setting']}__s{t['seed']}", "error": "no references"} for t in unscored
    ]
    data = {
        "format": RESULTS_FORMAT,
        **{k: meta[k] for k in ("suite", "settings", "agents")},
        "budgets": dict(meta.get("budgets", {})),
        "groups": dict(meta.get("groups", {})),
        "machine": _machine(),
        "hwenvs_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "envs": envs,
        "trials": [t for t in trials if t["env"] in envs],
        "missing": missing,
    }
    data["summary"] = summarise(data)
    return data


COMBINED_SETTINGS = ("seeds", "sweep", "accuracy", "random_episodes")
"""Settings that every part of a combined benchmark must share: they change what its figures mean."""


def combine(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One ``results.json`` from benchmarks of one suite run apart, each on its own environments (on other machines,
    or in other sessions): their environments, trials and missing jobs together and the statistics recomputed over
    all of them, as if the benchmark had run at once. ``parts`` lists what each part contributed and when.

    :param parts: the parts' ``results.json`` contents.
    :raises ValueError: no part, a part that is not a results file, parts of different suites or settings
        (:data:`COMBINED_SETTINGS`), an environment in two parts, or an agent with different hyperparameters.
    """
    if not parts:
        raise ValueError("combine needs at least one benchmark result")
    first = parts[0]
    for part in parts:
        if part.get("format") != RESULTS_FORMAT:
            raise ValueError(f"not a benchmark results file of format {RESULTS_FORMAT}")
        if part["suite"]["name"] != first["suite"]["name"]:
            raise ValueError(f"parts of different suites: {part['suite']['name']!r}, {first['suite']['name']!r}")
        for key in COMBINED_SETTINGS:
            if part["settings"].get(key) != first["settings"].get(key):
                values = part["settings"].get(key), first["settings"].get(key)
                raise ValueError(f"parts with different {key}: {values[0]!r} and {values[1]!r}")
    envs: dict[str, Any] = {}
    agents: dict[str, Any] = {}
    for part in parts:
        for name in part["envs"]:
            if name in envs:
                raise ValueError(f"environment {name!r} is in two parts: combine parts of disjoint environments")
        envs.update(part["envs"])
        for agent, settings in part["agents"].items():
            if agents.setdefault(agent, settings) != settings:
                raise ValueError(f"agent {agent!r} has different hyperparameters in two parts")
    data = {
        "format": RESULTS_FORMAT,
        "suite": first["suite"],
        "settings": {**first["settings"], **{key: _joined(parts, "settings", key) for key in ("backend", "workers")}},
        "agents": agents,
        "budgets": {k: v for part in parts for k, v in part.get("budgets", {}).items()},
        "groups": {k: v for part in parts for k, v in part.get("groups", {}).items()},
        "machine": {key: _joined(parts, "machine", key) for key in first["machine"]},
        "hwenvs_version": _joined(parts, "hwenvs_version"),
        "created": max(part["created"] for part in parts),
        "envs": envs,
        "trials": [trial for part in parts for trial in part["trials"]],
        "missing": [job for part in parts for job in part["missing"]],
        "parts": [entry for part in parts for entry in part.get("parts", [_part_entry(part)])],
    }
    data["settings"]["episodes"] = {k: v for part in parts for k, v in part["settings"].get("episodes", {}).items()}
    data["summary"] = summarise(data)
    return data


def _joined(parts: Sequence[Mapping[str, Any]], *keys: str) -> Any:
    """The parts' value at ``keys``: the value itself where they agree, else their distinct values as text."""
    values = []
    for part in parts:
        value = part
        for key in keys:
            value = value.get(key)
        if value not in values:
            values.append(value)
    return values[0] if len(values) == 1 else " / ".join(str(v) for v in values)


def _part_entry(part: Mapping[str, Any]) -> dict[str, Any]:
    """What one part of a combined benchmark ran, how and when."""
    settings = part["settings"]
    return {
        "envs": list(part["envs"]),
        "searches": len(part["trials"]),
        "created": part["created"],
        "hwenvs_version": part["hwenvs_version"],
        "backend": settings.get("backend", "local"),
        "workers": settings.get("workers", 1),
    }


def _machine() -> dict[str, Any]:
    return {
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def _env_entry(spec: TrialSpec, data: Mapping[str, Any]) -> dict[str, Any]:
    refs = data["references"]
    best = next((r for r in refs if r.get("to_beat")), None)
    return {
        "id": spec.env_id,
        "kwargs": spec.env_kwargs,
        "family": data["family"],
        "references": refs,
        "random": data["random"],
        "best_uniform": best,
        "test_outcomes": data.get("test_outcomes") or {},
    }


def _trial_entry(spec: TrialSpec, data: Mapping[str, Any]) -> dict[str, Any]:
    result = data["result"]
    return {
        "env": spec.env,
        "agent": spec.agent,
        "agent_spec": spec.agent_spec,
        "setting": spec.setting,
        "seed": spec.seed,
        "episodes": spec.episodes,
        "episodes_run": data["episodes_run"],
        "resumed_at_episode": data.get("resumed_at_episode", 0),  # trials from before checkpoints: never resumed
        "search_time_s": data["search_time_s"],
        "best_episode": result["episode"],
        "val_reward": result["reward"],
        "val_accuracy": result["val_accuracy"],
        "test_reward": result["test_reward"],
        "test_accuracy": result["test_accuracy"],
        "cost_ratio": result["cost_ratio"],
        "improvements": [
            [i["episode"], i["val_reward"], i["test_reward"], i["test_accuracy"]] for i in data["improvements"]
        ],
        "solution": result.get(result.get("solution_key") or "solution"),
        "test_outcomes": data.get("test_outcomes"),
        "trial_wall_time_s": data.get("trial_wall_time_s"),
    }


# -- scores -----------------------------------------------------------------------------------------------------------


def anchors(env: Mapping[str, Any], split: str) -> tuple[float, float] | None:
    """(random, best uniform) rewards of an environment on ``split`` (``"val"`` or ``"test"``); None where they
    cannot normalise (no best uniform solution, or one no better than random)."""
    best, random = env.get("best_uniform"), env["random"]
    if best is None or best.get(f"{split}_reward") is None:
        return None
    low, high = float(random[f"{split}_reward"]), float(best[f"{split}_reward"])
    return (low, high) if high - low > 1e-12 else None


def normalised(value: float | None, bounds: tuple[float, float] | None) -> float:
    """``(value - random) / (best uniform - random)``; NaN where it cannot be computed."""
    if value is None or bounds is None:
        return math.nan
    return (float(value) - bounds[0]) / (bounds[1] - bounds[0])


def _score(trial: Mapping[str, Any], envs: Mapping[str, Any], split: str = "test") -> float:
    return normalised(trial[f"{split}_reward"], anchors(envs[trial["env"]], split))


def episodes_to_beat(trial: Mapping[str, Any], env: Mapping[str, Any]) -> int | None:
    """Episodes until the search's current choice (best on validation) first beat the best uniform solution on
    test (None: never, or no best uniform solution)."""
    best = env.get("best_uniform")
    if best is None or best.get("test_reward") is None:
        return None
    for episode, _, test_reward, _ in trial["improvements"]:
        if test_reward is not None and test_reward > best["test_reward"]:
            return int(episode) + 1
    return None


def _beats(trial: Mapping[str, Any], env: Mapping[str, Any]) -> bool:
    best = env.get("best_uniform")
    return best is not None and trial["test_reward"] is not None and trial["test_reward"] > best["test_reward"]


# -- statistics -------------------------------------------------------------------------------------------------------


def variants(data: Mapping[str, Any]) -> list[str]:
    """``["best", "all"]`` after a sweep (the best setting chosen on validation, and every setting pooled), else
    ``["all"]`` (each agent's one setting)."""
    return ["best", "all"] if data["settings"].get("sweep", 0) > 0 else ["all"]


def summarise(data: Mapping[str, Any]) -> dict[str, Any]:
    """The statistics of a collected benchmark (what :func:`render` shows), deterministic for the same trials."""
    envs, trials = data["envs"], data["trials"]
    families = sorted({e["family"] for e in envs.values()}, key=lambda f: (f not in FAMILY_TITLES, f))
    best = {family: _best_settings(family, envs, trials) for family in families}
    summary: dict[str, Any] = {"variants": variants(data), "best_settings": best, "families": {}, "envs": {}}
    for family in families:
        names = [name for name, env in envs.items() if env["family"] == family]
        chosen = {v: _chosen(trials, names, best[family], v) for v in summary["variants"]}
        summary["families"][family] = _family_summary(names, envs, chosen)
        for name in names:
            summary["envs"][name] = _env_summary(
                name, envs[name], {v: [t for t in c if t["env"] == name] for v, c in chosen.items()}, data
            )
    return summary


def _agents(trials: Sequence[Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys(t["agent"] for t in trials))


def _best_settings(family: str, envs: Mapping[str, Any], trials: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Per agent, the setting with the highest mean normalised *validation* score over the family's runs."""
    mine = [t for t in trials if envs[t["env"]]["family"] == family]
    chosen = {}
    for agent in _agents(mine):
        by_setting: dict[str, list[float]] = {}
        for t in mine:
            if t["agent"] == agent:
                by_setting.setdefault(t["setting"], []).append(_score(t, envs, "val"))
        means = {s: (np.nanmean(v) if np.isfinite(v).any() else -math.inf) for s, v in by_setting.items()}
        chosen[agent] = max(means, key=lambda s: (means[s], s == "default"))
    return chosen


def _chosen(trials: Sequence[Mapping[str, Any]], names: list[str], best: Mapping[str, str], variant: str) -> list[Any]:
    mine = [t for t in trials if t["env"] in names]
    return mine if variant == "all" else [t for t in mine if best.get(t["agent"]) == t["setting"]]


def _per_env(
    trials: Sequence[Mapping[str, Any]], agent: str, names: list[str], envs: Mapping[str, Any]
) -> list[np.ndarray]:
    """The agent's normalised test scores, one array per environment it ran on (NaN scores dropped)."""
    arrays = []
    for name in names:
        values = np.array([_score(t, envs) for t in trials if t["agent"] == agent and t["env"] == name])
        values = values[np.isfinite(values)]
        if values.size:
            arrays.append(values)
    return arrays


def _family_summary(names: list[str], envs: Mapping[str, Any], chosen: Mapping[str, list[Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"envs": names, "agents": {}, "improvement": {}, "profile": {}}
    for variant, trials in chosen.items():
        agents = _agents(trials)
        for agent in agents:
            per_env = _per_env(trials, agent, names, envs)
            mine = [t for t in trials if t["agent"] == agent]
            beat = [episodes_to_beat(t, envs[t["env"]]) for t in mine]
            entry: dict[str, Any] = {"runs": len(mine), "envs": len(per_env)}
            entry["beat_best_uniform"] = [sum(_beats(t, envs[t["env"]]) for t in mine), len(mine)]
            entry["episodes_to_beat_median"] = _median([b for b in beat if b is not None])
            for name, aggregate in stats.AGGREGATES.items():
                entry[name] = _family_interval(per_env, mine, envs, aggregate)
            out["agents"].setdefault(agent, {})[variant] = entry
        out["improvement"][variant] = _improvement_matrix(agents, trials, names, envs)
        out["profile"][variant] = _profiles(agents, trials, names, envs)
    return out


def _family_interval(
    per_env: list[np.ndarray], mine: Sequence[Mapping[str, Any]], envs: Mapping[str, Any], aggregate: Any
) -> list[float] | None:
    """An agent's aggregate normalised score over a family with its interval: the stratified bootstrap over seeds
    within each environment, or, where its runs span several settings, a clustered bootstrap over (environment,
    setting) clusters, then seeds."""
    if not per_env:
        return None
    clusters: dict[tuple[str, str], list[float]] = {}
    for trial in mine:
        score = _score(trial, envs)
        if np.isfinite(score):
            clusters.setdefault((trial["env"], trial["setting"]), []).append(score)
    if len({setting for _, setting in clusters}) < 2:
        return stats.interval(per_env, aggregate, seed=BOOTSTRAP_SEED).to_list()
    groups = [np.array(v) for v in clusters.values()]
    return stats.clustered_interval(groups, aggregate, seed=BOOTSTRAP_SEED).to_list()


def _median(values: list[int]) -> float | None:
    return float(np.median(values)) if values else None


def _improvement_matrix(
    agents: list[str], trials: Sequence[Any], names: list[str], envs: Mapping[str, Any]
) -> dict[str, Any]:
    """P(row > column) on the environments both ran (None where they share none)."""
    matrix = []
    for x in agents:
        row = []
        for y in agents:
            common = [n for n in names if _per_env(trials, x, [n], envs) and _per_env(trials, y, [n], envs)]
            if x == y or not common:
                row.append(None)
                continue
            sx, sy = _per_env(trials, x, common, envs), _per_env(trials, y, common, envs)
            row.append(stats.probability_of_improvement(sx, sy, seed=BOOTSTRAP_SEED).to_list())
        matrix.append(row)
    return {"agents": agents, "matrix": matrix}


def _profiles(agents: list[str], trials: Sequence[Any], names: list[str], envs: Mapping[str, Any]) -> dict[str, Any]:
    per_agent = {a: _per_env(trials, a, names, envs) for a in agents}
    values = np.concatenate([np.concatenate(v) for v in per_agent.values() if v] or [np.zeros(1)])
    low, high = min(0.0, math.floor(values.min() * 4) / 4), max(1.25, math.ceil(values.max() * 4) / 4)
    tau = np.linspace(low, high, 41)
    profiles = {
        a: [p.tolist() for p in stats.performance_profile(v, tau, seed=BOOTSTRAP_SEED)]
        for a, v in per_agent.items()
        if v
    }
    return {"thresholds": tau.tolist(), "agents": profiles}


def _env_summary(
    name: str, env: Mapping[str, Any], chosen: Mapping[str, list[Any]], data: Mapping[str, Any]
) -> dict[str, Any]:
    """One row's statistics: per agent, its figures; per group of agents (cold, warm), P(improvement) within the
    group on this row alone (rows are read one by one: their effects need not agree)."""
    out: dict[str, Any] = {"agents": {}, "curves": {}, "improvement": {}}
    out["images"] = paired.env_entry(env, BOOTSTRAP_SEED)
    groups = data.get("groups", {})
    for variant, trials in chosen.items():
        for agent in _agents(trials):
            mine = [t for t in trials if t["agent"] == agent]
            out["agents"].setdefault(agent, {})[variant] = _agent_on_env(mine, {name: env})
        out["curves"][variant] = {a: _curve([t for t in trials if t["agent"] == a], env) for a in _agents(trials)}
        by_group: dict[str, list[str]] = {}
        for agent in _agents(trials):
            by_group.setdefault(groups.get(agent, "cold"), []).append(agent)
        out["improvement"][variant] = {
            group: _improvement_matrix(agents, trials, [name], {name: env}) for group, agents in by_group.items()
        }
    return out


def _runs_interval(values: np.ndarray, settings: Sequence[str], aggregate: Any) -> list[float]:
    """``aggregate`` of one agent's runs on one environment with its interval: over seeds, or, where the runs span
    several hyperparameter settings (a sweep's settings pooled), over settings and then seeds
    (:func:`~hwenvs.benchmark.stats.clustered_interval`: runs of one setting are not independent draws)."""
    names = list(dict.fromkeys(settings))
    if len(names) == 1:
        return stats.interval([values], aggregate, seed=BOOTSTRAP_SEED).to_list()
    groups = [values[[s == name for s in settings]] for name in names]
    return stats.clustered_interval(groups, aggregate, seed=BOOTSTRAP_SEED).to_list()


def _agent_on_env(mine: list[Mapping[str, Any]], envs: Mapping[str, Any]) -> dict[str, Any]:
    env = next(iter(envs.values()))
    scores = np.array([_score(t, envs) for t in mine])
    test_acc = np.array([t["test_accuracy"] for t in mine], dtype=np.float64)
    beat = [episodes_to_beat(t, env) for t in mine]
    entry: dict[str, Any] = {"runs": len(mine)}
    settings = [t["setting"] for t in mine]
    for name, aggregate in stats.AGGREGATES.items():
        entry[f"test_accuracy_{name}"] = _runs_interval(test_acc, settings, aggregate)
        finite = np.isfinite(scores)
        entry[f"score_{name}"] = (
            _runs_interval(scores[finite], [s for s, f in zip(settings, finite, strict=True) if f], aggregate)
            if finite.any()
            else None
        )
    entry["val_accuracy_mean"] = float(np.mean([t["val_accuracy"] for t in mine]))
    entry["cost_ratio_mean"] = float(np.mean([t["cost_ratio"] for t in mine]))
    entry["beat_best_uniform"] = [sum(_beats(t, env) for t in mine), len(mine)]
    entry["episodes_to_beat_median"] = _median([b for b in beat if b is not None])
    entry["search_time_s_mean"] = float(np.mean([t["search_time_s"] for t in mine]))
    walls = [t["trial_wall_time_s"] for t in mine if t.get("trial_wall_time_s") is not None]
    entry["wall_time_s_total"] = float(np.sum(walls)) if len(walls) == len(mine) else None
    entry["episodes_run_mean"] = float(np.mean([t["episodes_run"] for t in mine]))
    entry["images"] = paired.agent_entry(mine, env, BOOTSTRAP_SEED)
    return entry


def best_so_far(trial: Mapping[str, Any], env: Mapping[str, Any], episodes: int) -> np.ndarray:
    """The normalised test score of the search's current choice after each of ``episodes`` episodes (the last
    value carried on past the episodes the agent ran)."""
    bounds = anchors(env, "test")
    curve = np.full(episodes, math.nan)
    for episode, _, test_reward, _ in trial["improvements"]:
        if episode < episodes:
            curve[int(episode) :] = normalised(test_reward, bounds)
    return curve


def _curve(trials: list[Mapping[str, Any]], env: Mapping[str, Any]) -> dict[str, Any]:
    episodes = max(t["episodes"] for t in trials)
    runs = np.array([best_so_far(t, env, episodes) for t in trials])
    grid = np.unique(np.linspace(1, episodes, min(episodes, CURVE_POINTS)).round().astype(int))
    runs = runs[:, grid - 1]
    keep = np.isfinite(runs).all(axis=0)
    if not keep.any():
        return {"episodes": [], "iqm": [], "low": [], "high": []}
    point, low, high = stats.curve_intervals(runs[:, keep], seed=BOOTSTRAP_SEED)
    return {"episodes": grid[keep].tolist(), "iqm": point.tolist(), "low": low.tolist(), "high": high.tolist()}


# -- markdown ---------------------------------------------------------------------------------------------------------


def _ci(value: Sequence[float] | None, fmt: str = ".3f") -> str:
    if value is None:
        return "n/a"
    point, low, high = value
    return f"{point:{fmt}} [{low:{fmt}}, {high:{fmt}}]"


def accuracy_label(data: Mapping[str, Any]) -> str:
    """What a benchmark's accuracies are: ``"surrogate accuracy"`` (predictions) or ``"real accuracy"``."""
    return "surrogate accuracy" if data["settings"].get("accuracy") == "surrogate" else "real accuracy"


def _variant_title(variant: str, data: Mapping[str, Any]) -> str:
    if variant == "best":
        return "best setting of each agent (chosen on validation)"
    k = data["settings"].get("sweep", 0)
    return f"average over {k} sampled settings" if k else "default settings"


def render(data: Mapping[str, Any]) -> str:
    """``results.md`` from ``results.json`` alone.

    :param data: what :func:`collect` wrote.
    """
    if data.get("format") != RESULTS_FORMAT or "summary" not in data:
        raise ValueError(f"not a benchmark results file of format {RESULTS_FORMAT} (no summary to render)")
    lines = _header(data)
    summary = data["summary"]
    for family, fam in summary["families"].items():
        lines += _family_section(family, fam, data)
    lines += ["## Environments", ""]
    for name, env_summary in summary["envs"].items():
        lines += _env_section(name, data["envs"][name], env_summary, data)
    lines += _footer(data)
    return "\n".join(lines).rstrip() + "\n"


def _header(data: Mapping[str, Any]) -> list[str]:
    suite, s, m = data["suite"], data["settings"], data["machine"]
    runs = len(data["trials"])
    lines = [
        f"# Benchmark `{suite['name']}` ({accuracy_label(data)})",
        "",
        suite.get("description") or "",
        "",
        f"{runs} searches on {len(data['envs'])} environment{'s' if len(data['envs']) != 1 else ''}, up to "
        f"{s['seeds']} seeds each"
        + (f", {s['sweep']} sampled hyperparameter settings per agent that declares a space" if s.get("sweep") else "")
        + f"; backend {s.get('backend', 'local')} with {s.get('workers', 1)} worker(s) of one torch thread on "
        f"{m['processor']} ({m['cpus']} CPUs); hwenvs {data['hwenvs_version']}, {data['created']}.",
        "",
        "Each search's solution is its best episode by validation reward; every figure below is that solution on the "
        "**test** split unless it says validation. Normalised score = (R - R_random) / (R_best uniform - R_random) "
        "on the test reward R: 0 is the mean of uniformly random solutions, 1 the best uniform solution within the "
        "budget (HAQ: the same ratio on test accuracy). 95% confidence intervals in brackets: stratified bootstrap "
        f"over seeds ({stats.REPS} replicates, percentile). IQM: interquartile mean.",
        "",
    ]
    if accuracy_label(data) == "surrogate accuracy":
        lines += ["**Surrogate accuracy**: every accuracy here is the surrogate's prediction, not a measurement.", ""]
    resumed = sum(t.get("resumed_at_episode", 0) > 0 for t in data["trials"])
    if resumed:
        lines += [
            f"{resumed} of the {runs} searches were killed and continued from a checkpoint, which gives the result "
            "an uninterrupted search gives (their search times add up the parts).",
            "",
        ]
    if len(data.get("parts", [])) > 1:
        lines += [f"Run in {len(data['parts'])} parts, combined (the statistics are over all of them):", ""]
        lines += [
            f"- {', '.join(p['envs'])}: {p['searches']} searches, backend {p['backend']} with {p['workers']} "
            f"worker(s), hwenvs {p['hwenvs_version']}, {p['created']}"
            for p in data["parts"]
        ]
        lines += [""]
    return lines


def _family_section(family: str, fam: Mapping[str, Any], data: Mapping[str, Any]) -> list[str]:
    title = FAMILY_TITLES.get(family, family)
    lines = [f"## {title}: {', '.join(fam['envs'])} ({accuracy_label(data)})", ""]
    for variant in data["summary"]["variants"]:
        lines += [f"### {_variant_title(variant, data)}", ""]
        lines += [
            "| agent | normalised score, IQM | normalised score, mean | runs beating best uniform | "
            "median episodes to beat it | runs (envs) |",
            "|---|---|---|---|---|---|",
        ]
        for agent, by_variant in fam["agents"].items():
            e = by_variant.get(variant)
            if e is None:
                continue
            setting = data["summary"]["best_settings"][family].get(agent) if variant == "best" else None
            name = f"{agent} ({setting})" if setting else agent
            cells = [_ci(e["iqm"]), _ci(e["mean"]), *_beating(e), f"{e['runs']} ({e['envs']})"]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += ["", *_improvement_table(fam["improvement"][variant]), ""]
    return lines


def _beating(entry: Mapping[str, Any]) -> tuple[str, str]:
    """The cells "runs beating the best uniform solution" ("3/10") and "median episodes to beat it" ("never")."""
    beat, total = entry["beat_best_uniform"]
    median = entry["episodes_to_beat_median"]
    return f"{beat}/{total}", "never" if median is None else f"{median:.0f}"


def _improvement_table(improvement: Mapping[str, Any]) -> list[str]:
    agents = improvement["agents"]
    if len(agents) < 2:
        return []
    lines = [
        "Probability of improvement P(row > column), normalised test score, on the environments both ran:",
        "",
        "| P(row > column) | " + " | ".join(agents) + " |",
        "|---|" + "---|" * len(agents),
    ]
    for agent, row in zip(agents, improvement["matrix"], strict=True):
        cells = ["" if c is None else _ci(c, ".2f") for c in row]
        lines.append(f"| {agent} | " + " | ".join(cells) + " |")
    return lines


def _env_section(name: str, env: Mapping[str, Any], summary: Mapping[str, Any], data: Mapping[str, Any]) -> list[str]:
    kwargs = ", ".join(f"{k}={v}" for k, v in env["kwargs"].items()) or "default arguments"
    lines = [f"### {name}: {env['id']} ({kwargs})", ""]
    best, random = env.get("best_uniform"), env["random"]
    lines.append(
        f"Random ({random.get('source', 'random solutions')}): test accuracy {random['test_accuracy']:.4f}, test "
        f"reward {random['test_reward']:.4f}."
        + (
            f" Best uniform ({best['name']}): test accuracy {best['test_accuracy']:.4f}, test reward "
            f"{best['test_reward']:.4f}, validation accuracy {best['val_accuracy']:.4f}."
            if best
            else " No uniform solution fits the budget: scores cannot be normalised."
        )
    )
    lines.append("")
    lines += _budget_lines(data.get("budgets", {}).get(name), summary.get("images"))
    for variant in data["summary"]["variants"]:
        lines += [
            f"{_variant_title(variant, data).capitalize()} ({accuracy_label(data)}):",
            "",
            "| agent | test accuracy, mean | test accuracy, IQM | validation accuracy | normalised score, mean | "
            "normalised score, IQM | cost ratio | beat best uniform | median episodes to beat | search time (s) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for agent, by_variant in summary["agents"].items():
            e = by_variant.get(variant)
            if e is None:
                continue
            beat, median = _beating(e)
            lines.append(
                f"| {agent} | {_ci(e['test_accuracy_mean'], '.4f')} | {_ci(e['test_accuracy_iqm'], '.4f')} | "
                f"{e['val_accuracy_mean']:.4f} | {_ci(e['score_mean'])} | {_ci(e['score_iqm'])} | "
                f"{e['cost_ratio_mean']:.3f} | {beat} | {median} | {e['search_time_s_mean']:.1f} |"
            )
        lines += ["", *_images_table(summary["agents"], variant)]
        for group, improvement in summary.get("improvement", {}).get(variant, {}).items():
            if len(improvement["agents"]) > 1:
                lines += [f"Within the {group} group, on this environment alone:", ""]
                lines += [*_improvement_table(improvement), ""]
    return lines


def _budget_lines(budget: Mapping[str, Any] | None, images: Mapping[str, Any] | None) -> list[str]:
    """The row's budget rule and what it chose, and its headroom on the test images."""
    lines = []
    if budget is not None:
        met = "" if budget["met"] else " (no grid value met the rule: the smallest feasible one)"
        lines += [f"Budget: preserve_ratio {budget['preserve_ratio']:g}, by the rule: {budget['rule_text']}{met}.", ""]
    if images is not None and "headroom_points" in images:
        lines += [
            f"Headroom: float minus the best uniform solution on test, {images['headroom_points']:.2f} points "
            f"({images['headroom_images']} of {images['test_images']} test images). The best uniform solution's test "
            f"accuracy over resampled test images: {_ci(images['best_uniform_test_accuracy_images'], '.4f')}.",
            "",
        ]
    return lines


def _images_table(agents: Mapping[str, Any], variant: str) -> list[str]:
    """Per agent: paired wins and losses against the best uniform solution, runs ending on it, the gain over it and
    test accuracy with intervals over seeds and test images, and the compute it took."""
    rows = [(a, v[variant]) for a, v in agents.items() if v.get(variant) and v[variant].get("images")]
    if not rows:
        return []
    level = rows[0][1]["images"]["paired"]["level"]
    lines = [
        f"Over the test images (paired with the best uniform solution; exact McNemar at p < {level:g}; intervals "
        "resample seeds and test images):",
        "",
        "| agent | significant wins / losses / ties | runs ending on the best uniform solution | gain over it, mean "
        "(points) | test accuracy, IQM | compute (core-hours) |",
        "|---|---|---|---|---|---|",
    ]
    for agent, e in rows:
        im, p = e["images"], e["images"]["paired"]
        gain = [100 * g for g in im["gain_mean"]]
        hours = "n/a" if e.get("wall_time_s_total") is None else f"{e['wall_time_s_total'] / 3600:.2f}"
        lines.append(
            f"| {agent} | {p['wins']} / {p['losses']} / {p['ties']} | {im['start_runs']}/{e['runs']} | "
            f"{_ci(gain, '+.2f')} | {_ci(im['test_accuracy_iqm_images'], '.4f')} | {hours} |"
        )
    return [*lines, ""]


def _footer(data: Mapping[str, Any]) -> list[str]:
    missing = data["missing"]
    lines = ["## Plots", "", *(f"![{p}]({p})" for p in PLOTS), ""]
    if not missing:
        return lines
    lines += [f"## Missing ({len(missing)} jobs without a complete result; rerun the same command to run them)", ""]
    lines += [f"- {m['trial']}" + (f": {m['error']}" if m.get("error") else "") for m in missing]
    return [*lines, ""]


def write_results(jobs: Sequence[TrialSpec], meta: Mapping[str, Any], out: Path) -> dict[str, Any]:
    """Collect the benchmark in ``out`` into ``results.json``, then render ``results.md`` and the plots from it.

    :param jobs: the benchmark's jobs.
    :param meta: see :func:`collect`.
    :param out: the benchmark's output folder.
    :returns: what ``results.json`` holds.
    """
    from hwenvs.benchmark.trials import write_json

    data = collect(jobs, meta)
    write_json(out / "results.json", data)
    render_files(out)
    return data


def render_files(out: Path) -> Path:
    """``results.md`` and the plots from ``out/results.json`` alone; returns the markdown's path.

    :raises FileNotFoundError: no ``results.json`` in ``out``.
    """
    import json

    from hwenvs.cache import atomic_write_bytes

    path = out / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run the benchmark into {out} first")
    data = json.loads(path.read_text())
    atomic_write_bytes(out / "results.md", render(data).encode())
    if data["trials"]:
        plot(data, out)
    return out / "results.md"


# -- plots ------------------------------------------------------------------------------------------------------------


def plot(data: Mapping[str, Any], out: Path) -> list[Path]:
    """Draw the report's PNGs into ``out`` from ``results.json`` alone; returns their paths.

    :param data: what :func:`collect` wrote.
    :param out: the folder (beside ``results.md``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary, label = data["summary"], accuracy_label(data)
    variant = summary["variants"][0]
    drawn = []
    for name, draw in zip(PLOTS, (_plot_curves, _plot_intervals, _plot_improvement, _plot_profiles), strict=True):
        fig = draw(plt, summary, variant, label)
        fig.savefig(out / name, dpi=110, bbox_inches="tight")
        plt.close(fig)
        drawn.append(out / name)
    return drawn


def _grid(plt: Any, panels: int, width: float = 5.0, height: float = 3.6, cols: int = 3) -> tuple[Any, list[Any]]:
    cols = min(cols, max(1, panels))
    rows = math.ceil(max(1, panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False, layout="constrained")
    flat = list(axes.flat)
    for ax in flat[panels:]:
        ax.set_visible(False)
    return fig, flat


def _colours(agents: Sequence[str]) -> dict[str, Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return {a: cmap(i % 10) for i, a in enumerate(agents)}


def _all_agents(summary: Mapping[str, Any]) -> list[str]:
    return list(dict.fromkeys(a for env in summary["envs"].values() for a in env["agents"]))


def _plot_curves(plt: Any, summary: Mapping[str, Any], variant: str, label: str) -> Any:
    envs = list(summary["envs"])
    colours = _colours(_all_agents(summary))
    fig, axes = _grid(plt, len(envs))
    for ax, name in zip(axes, envs, strict=False):
        for agent, curve in summary["envs"][name]["curves"][variant].items():
            if not curve["episodes"]:
                continue
            ax.plot(curve["episodes"], curve["iqm"], color=colours[agent], label=agent)
            ax.fill_between(curve["episodes"], curve["low"], curve["high"], color=colours[agent], alpha=0.2)
        ax.axhline(1.0, color="black", linestyle="--", linewidth=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("episodes")
        ax.set_ylabel("normalised test score (IQM)")
        ax.legend(fontsize=7)
    fig.suptitle(f"Best so far (chosen on validation), 95% CI; dashed: best uniform — {label}")
    return fig


def _plot_intervals(plt: Any, summary: Mapping[str, Any], variant: str, label: str) -> Any:
    families = list(summary["families"])
    colours = _colours(_all_agents(summary))
    height = 0.4 * max(4, len(_all_agents(summary))) + 1
    fig, axes = _grid(plt, 2 * len(families), width=4.5, height=height, cols=2)
    for i, family in enumerate(families):
        agents = [(a, v[variant]) for a, v in summary["families"][family]["agents"].items() if v.get(variant)]
        for j, metric in enumerate(("iqm", "mean")):
            ax = axes[2 * i + j]
            for row, (agent, entry) in enumerate(agents):
                if entry[metric] is None:
                    continue
                point, low, high = entry[metric]
                ax.plot([low, high], [row, row], linewidth=6, alpha=0.6, color=colours[agent])
                ax.plot([point], [row], "k|", markersize=12)
            # both panels of a family list the same agents: naming them once keeps the right panel's labels off the left
            ax.set_yticks(range(len(agents)), [a for a, _ in agents] if j == 0 else [])
            ax.axvline(1.0, color="black", linestyle="--", linewidth=0.8)
            ax.set_title(f"{family}: {metric.upper()} normalised score", fontsize=9)
    fig.suptitle(f"Aggregate normalised test score, 95% stratified-bootstrap CI — {label}")
    return fig


def _plot_improvement(plt: Any, summary: Mapping[str, Any], variant: str, label: str) -> Any:
    # a family whose environments have no finished search yet (a benchmark collected mid-run) has no matrix
    families = [f for f, fam in summary["families"].items() if fam["improvement"][variant]["agents"]]
    fig, axes = _grid(plt, len(families), width=5.5, height=5.0)
    for ax, family in zip(axes, families, strict=False):
        imp = summary["families"][family]["improvement"][variant]
        agents = imp["agents"]
        grid = np.array([[math.nan if c is None else c[0] for c in row] for row in imp["matrix"]]).reshape(
            len(agents), -1
        )
        ax.imshow(grid, vmin=0, vmax=1, cmap="RdBu")
        ax.set_xticks(range(len(agents)), agents, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(agents)), agents, fontsize=8)
        for r in range(len(agents)):
            for c in range(len(agents)):
                if np.isfinite(grid[r, c]):
                    ink = "white" if abs(grid[r, c] - 0.5) > 0.3 else "black"  # legible on the map's dark ends
                    ax.text(c, r, f"{grid[r, c]:.2f}", ha="center", va="center", fontsize=7, color=ink)
        ax.set_title(f"{family}: P(row > column)", fontsize=9)
    fig.suptitle(f"Probability of improvement, normalised test score — {label}")
    return fig


def _plot_profiles(plt: Any, summary: Mapping[str, Any], variant: str, label: str) -> Any:
    families = list(summary["families"])
    colours = _colours(_all_agents(summary))
    fig, axes = _grid(plt, len(families))
    for ax, family in zip(axes, families, strict=False):
        profile = summary["families"][family]["profile"][variant]
        for agent, (point, low, high) in profile["agents"].items():
            ax.plot(profile["thresholds"], point, color=colours[agent], label=agent)
            ax.fill_between(profile["thresholds"], low, high, color=colours[agent], alpha=0.2)
        ax.axvline(1.0, color="black", linestyle="--", linewidth=0.8)
        ax.set_xlabel("normalised test score tau")
        ax.set_ylabel("fraction of runs > tau")
        ax.set_title(family, fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(f"Performance profiles, 95% CI — {label}")
    return fig
