"""Surrogate-mode searches re-scored on the real network: each search's solution (chosen on the surrogate's
validation accuracy) measured on the real validation and test splits, with the test images it gets right, cached in
the benchmark folder's ``rescored.json`` (git keeps it with the trials), so a report can say what the surrogate's
choices are really worth, choose a lottery's best setting on real validation accuracy, and test each solution
against the real best uniform policy image by image (its entry in the cache is :data:`BASELINE`).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from hwenvs.benchmark import outcomes
from hwenvs.benchmark.store import TrialStore

BASELINE = "__best_uniform__"
"""The cache key of the real environment's best uniform policy (chosen on real validation accuracy)."""


def _real_env(out: Path, env: str) -> Any:
    """The benchmark's environment ``env`` with real accuracy (one torch thread, as a benchmark worker has)."""
    import gymnasium as gym
    import torch

    import hwenvs  # noqa: F401

    torch.set_num_threads(1)
    spec = json.loads((out / "results.json").read_text())["envs"][env]
    return gym.make(spec["id"], **{k: v for k, v in spec["kwargs"].items() if k != "accuracy"}).unwrapped


def _measure(real_env: Any, solution: Any, known: dict[str, Any] | None, per_image: bool) -> dict[str, Any]:
    """The real validation and test accuracy of ``solution``, and with ``per_image`` its per-image test outcomes
    (what ``known``, an older cache entry, lacks is measured; the rest is kept)."""
    entry = dict(known or {})
    for split in ("val", "test"):
        if split not in entry:
            entry[split] = real_env.evaluate_solution(solution, split)["accuracy"]
    if per_image and "test_outcomes" not in entry:
        entry["test_outcomes"] = outcomes.pack(real_env.correct_on(solution, "test"))
    return entry


def _trial_solution(out: Path, name: str) -> Any:
    """The best solution of trial ``name`` in the benchmark ``out``'s trial store."""
    record = TrialStore(out).get(name)
    if record is None:
        raise FileNotFoundError(f"{out}: no stored result of trial {name}")
    result = record["result"]
    return result[result["solution_key"]]


def rescore(
    out: Path, env: str, trials: dict[str, list[dict[str, Any]]], per_image: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """Add ``real_val_accuracy`` and ``real_test_accuracy`` to every trial of ``env`` in ``trials``; with
    ``per_image``, also ``real_test_outcomes``, and measure the real best uniform policy (:func:`baseline`).

    :param out: the surrogate benchmark's folder (its ``results.json``, ``trials.jsonl`` and the cache).
    :param env: the suite's name of the environment the trials ran on.
    :param trials: the trials' result entries (from ``results.json``), by agent.
    :param per_image: measure the per-image test outcomes too (for paired tests).
    :returns: ``trials``, with the keys added.
    """
    cache_path = out / "rescored.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    real_env = None
    for trial in itertools.chain.from_iterable(trials.values()):
        key = f"{trial['agent']}__{trial['setting']}__s{trial['seed']}"
        if key not in cache or (per_image and "test_outcomes" not in cache[key]):
            real_env = real_env or _real_env(out, env)
            solution = _trial_solution(out, f"{env}__{key}")
            cache[key] = _measure(real_env, solution, cache.get(key), per_image)
            cache_path.write_text(json.dumps(cache, indent=1) + "\n")
        trial["real_val_accuracy"] = cache[key]["val"]
        trial["real_test_accuracy"] = cache[key]["test"]
        if per_image:
            trial["real_test_outcomes"] = cache[key]["test_outcomes"]
    if per_image and BASELINE not in cache:
        real_env = real_env or _real_env(out, env)
        solution = real_env.best_uniform_policy()
        cache[BASELINE] = {"solution": solution, **_measure(real_env, solution, None, per_image)}
        cache_path.write_text(json.dumps(cache, indent=1) + "\n")
    return trials


def baseline(out: Path) -> dict[str, Any]:
    """The real best uniform policy's cache entry (``solution``, ``val``, ``test``, ``test_outcomes``), which
    :func:`rescore` measures.

    :raises KeyError: before :func:`rescore` has run on ``out``.
    """
    return json.loads((out / "rescored.json").read_text())[BASELINE]
