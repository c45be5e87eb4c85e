"""A benchmark's results: its stored trials collected into ``results.json``, and benchmarks run apart combined.

:func:`collect` reads every job's record from the benchmark's trial store (:mod:`hwenvs.benchmark.store`) into one
JSON of format :data:`RESULTS_FORMAT`: the suite and its settings, each environment's references (``envs``), each
finished search's figures (``trials``), the jobs without a complete result (``missing``) and the statistics
(``summary``, from :func:`hwenvs.benchmark.summary.summarise`, seeded, so they repeat). :func:`combine` joins
benchmarks of one suite run apart on disjoint environments (other machines, other sessions) into one such JSON. Every
number a report shows (:mod:`hwenvs.benchmark.markdown`, :mod:`hwenvs.benchmark.plots`) is in that JSON.
"""

from __future__ import annotations

import datetime
import os
import platform
from collections.abc import Mapping, Sequence
from typing import Any

from hwenvs import __version__
from hwenvs.benchmark.summary import summarise
from hwenvs.benchmark.trials import TrialSpec, read_trial

RESULTS_FORMAT = "hwenvs-benchmark/1"
"""The ``format`` field of ``results.json``."""


def collect(jobs: Sequence[TrialSpec], meta: Mapping[str, Any]) -> dict[str, Any]:
    """``results.json``'s content: the suite's settings, every environment's references, every finished trial's
    figures, what is missing, and the statistics.

    :param jobs: the benchmark's jobs (their records are read from the trial store).
    :param meta: ``suite`` (name, description, source), ``settings`` (seeds, sweep, accuracy, backend, workers)
        and ``agents`` (label -> setting name -> hyperparameters).
    """
    envs: dict[str, Any] = {}
    trials: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []
    for spec in jobs:
        data = read_trial(spec)
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
        value: Any = part
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


def accuracy_label(data: Mapping[str, Any]) -> str:
    """What a benchmark's accuracies are: ``"surrogate accuracy"`` (predictions) or ``"real accuracy"``."""
    return "surrogate accuracy" if data["settings"].get("accuracy") == "surrogate" else "real accuracy"
