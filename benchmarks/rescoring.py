"""Surrogate-mode searches re-scored on the real network: each search's solution (chosen on the surrogate's
validation accuracy) measured on the real validation and test splits, cached in the benchmark folder's
``rescored.json`` (git keeps it with the trials), so a report can say what the surrogate's choices are really worth.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any


def _real_env(out: Path, env: str) -> Any:
    """The benchmark's environment ``env`` with real accuracy (one torch thread, as a benchmark worker has)."""
    import gymnasium as gym
    import torch

    import hwenvs  # noqa: F401

    torch.set_num_threads(1)
    spec = json.loads((out / "results.json").read_text())["envs"][env]
    return gym.make(spec["id"], **{k: v for k, v in spec["kwargs"].items() if k != "accuracy"}).unwrapped


def _measure(real_env: Any, trial_file: Path) -> dict[str, float]:
    """The real validation and test accuracy of the solution a trial's result file holds."""
    record = json.loads(trial_file.read_text())["result"]
    solution = record[record["solution_key"]]
    return {split: real_env.evaluate_solution(solution, split)["accuracy"] for split in ("val", "test")}


def rescore(out: Path, env: str, trials: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Add ``real_val_accuracy`` and ``real_test_accuracy`` to every trial of ``env`` in ``trials``.

    :param out: the surrogate benchmark's folder (its ``results.json``, ``trials/`` and the cache).
    :param env: the suite's name of the environment the trials ran on.
    :param trials: the trials' result entries (from ``results.json``), by agent.
    :returns: ``trials``, with the two keys added.
    """
    cache_path = out / "rescored.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    real_env = None
    for trial in itertools.chain.from_iterable(trials.values()):
        key = f"{trial['agent']}__{trial['setting']}__s{trial['seed']}"
        if key not in cache:
            real_env = real_env or _real_env(out, env)
            cache[key] = _measure(real_env, out / "trials" / f"{env}__{key}.json")
            cache_path.write_text(json.dumps(cache, indent=1) + "\n")
        trial["real_val_accuracy"] = cache[key]["val"]
        trial["real_test_accuracy"] = cache[key]["test"]
    return trials
