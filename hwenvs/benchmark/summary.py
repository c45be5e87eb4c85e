"""The statistics of a collected benchmark: normalised scores, aggregates with intervals, curves and profiles.

:func:`summarise` turns ``results.json``'s environments and trials (:func:`hwenvs.benchmark.results.collect`) into
its ``summary``: deterministic for the same trials (every bootstrap is seeded with :data:`BOOTSTRAP_SEED`). The
estimators are :mod:`hwenvs.benchmark.stats`'s; the per-row readings over test images are
:mod:`hwenvs.benchmark.paired`'s.

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

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hwenvs.benchmark import paired, stats

BOOTSTRAP_SEED = 0
"""Seed of every bootstrap in a report."""

CURVE_POINTS = 60
"""At most this many episode counts on a best-so-far curve."""

FAMILY_TITLES = {"haq": "HAQ (mixed-precision quantization)", "nas": "ProxylessNAS (architecture search)"}
"""Each environment family's title in a report (and the order of families: these first)."""


# -- scores ------------------------------------------------------------------------------------------------------------


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


# -- statistics --------------------------------------------------------------------------------------------------------


def variants(data: Mapping[str, Any]) -> list[str]:
    """``["best", "all"]`` after a sweep (the best setting chosen on validation, and every setting pooled), else
    ``["all"]`` (each agent's one setting)."""
    return ["best", "all"] if data["settings"].get("sweep", 0) > 0 else ["all"]


def summarise(data: Mapping[str, Any]) -> dict[str, Any]:
    """The statistics of a collected benchmark (what :func:`hwenvs.benchmark.markdown.render` shows), deterministic
    for the same trials.

    :param data: ``results.json``'s content without its summary: at least ``settings``, ``envs``, ``trials`` and
        (optionally) ``groups``.
    """
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
        row: list[list[float] | None] = []
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
