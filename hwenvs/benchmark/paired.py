"""A benchmark row's statistics over the test images: headroom, paired wins and losses against the best uniform
solution, runs that end on the start, gains over it, and two-level intervals.

Every search of a row is scored on the same test images as the best uniform solution (the baseline every search must
beat and the start of the warm-started agents), so the question "did this run beat it?" has a paired answer: an exact
McNemar test on the images only one of the two gets right (:func:`hwenvs.benchmark.stats.mcnemar`), at
:data:`~hwenvs.benchmark.stats.SIGNIFICANCE`. A raw difference of a few images is not a win.

Needs the per-image outcomes that real-accuracy trials record (:mod:`hwenvs.benchmark.outcomes`); rows without them
(surrogate accuracy, trials from before outcomes were recorded) get no such entries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hwenvs.benchmark import outcomes, stats

BASELINE = "best_uniform"
"""The reference every row's paired statistics compare with."""


def baseline_outcomes(env: Mapping[str, Any]) -> np.ndarray | None:
    """The best uniform solution's per-image test outcomes on a results entry's environment, or None."""
    best = env.get("best_uniform")
    recorded = env.get("test_outcomes") or {}
    if best is None or best["name"] not in recorded:
        return None
    return outcomes.unpack(recorded[best["name"]])


def env_entry(env: Mapping[str, Any], seed: int = 0) -> dict[str, Any] | None:
    """A row's headroom: float minus best uniform on test, in points and images, and the best uniform solution's
    accuracy with its interval over test images (it is deterministic: seeds alone give it none). None without the
    best uniform solution's outcomes.

    :param env: a results entry's environment (``references``, ``best_uniform``, ``test_outcomes``).
    :param seed: the bootstrap's seed.
    """
    base = baseline_outcomes(env)
    if base is None:
        return None
    best = env["best_uniform"]
    float_point = next((r for r in env["references"] if r["name"] == "float"), None)
    entry: dict[str, Any] = {
        "test_images": int(base.size),
        "best_uniform_test_accuracy_images": stats.two_level_interval(base[None], seed=seed).to_list(),
    }
    if float_point is not None and float_point.get("test_accuracy") is not None:
        headroom = float(float_point["test_accuracy"]) - float(best["test_accuracy"])
        entry["headroom_points"] = 100 * headroom
        entry["headroom_images"] = round(headroom * base.size)
    return entry


def is_start(trial: Mapping[str, Any], env: Mapping[str, Any]) -> bool:
    """Whether a search's final solution is the best uniform solution itself (the warm-started agents' start)."""
    best = env.get("best_uniform")
    return best is not None and trial.get("solution") is not None and trial["solution"] == best.get("solution")


def agent_entry(mine: Sequence[Mapping[str, Any]], env: Mapping[str, Any], seed: int = 0) -> dict[str, Any] | None:
    """An agent's paired statistics on one row, or None where a run or the baseline lacks per-image outcomes.

    * ``paired``: runs significantly better / worse than the best uniform solution / neither (exact McNemar at
      :data:`~hwenvs.benchmark.stats.SIGNIFICANCE`);
    * ``start_runs``: runs whose final solution is the best uniform solution itself;
    * ``gain_mean``: mean over runs of test accuracy minus the best uniform solution's, with a two-level
      interval (seeds and test images, the images paired);
    * ``test_accuracy_iqm_images``: IQM test accuracy with a two-level interval.

    :param mine: the agent's trials on the row (each with ``test_outcomes``).
    :param env: the row's results entry.
    :param seed: the bootstrap's seed.
    """
    base = baseline_outcomes(env)
    if base is None or not mine or any(t.get("test_outcomes") is None for t in mine):
        return None
    runs = np.array([outcomes.unpack(t["test_outcomes"]) for t in mine])
    if runs.shape[1] != base.size:
        raise ValueError(f"per-image outcomes of {runs.shape[1]} images against a baseline of {base.size}")
    verdicts = [stats.paired_verdict(run, base) for run in runs]
    return {
        "paired": {
            "wins": verdicts.count("win"),
            "losses": verdicts.count("loss"),
            "ties": verdicts.count("tie"),
            "level": stats.SIGNIFICANCE,
            "test": "exact McNemar against the best uniform solution, on the test images",
        },
        "start_runs": sum(is_start(t, env) for t in mine),
        "gain_mean": stats.two_level_interval(runs, base, stats.mean, seed=seed).to_list(),
        "test_accuracy_iqm_images": stats.two_level_interval(runs, seed=seed).to_list(),
    }
