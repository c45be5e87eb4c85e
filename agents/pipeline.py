"""The search pipeline: run an agent on an environment and keep everything a result needs to be trusted and replayed.

For every episode the pipeline appends a row to ``history.csv`` (flushed at once), tracks the best episode by
reward and rewrites ``policy.json`` atomically whenever it improves; at the end (or on Ctrl-C) it draws
``plot.png``. It is environment-generic: it records whatever the terminal info says, with the solution under the
first of :data:`SOLUTION_KEYS` present (HAQ: ``policy``; ProxylessNAS: ``architecture``) and the cost under the
first of :data:`COST_KEYS`.
"""

from __future__ import annotations

import csv
import datetime
import importlib
import json
import math
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import gymnasium as gym
import numpy as np

from agents.base import Agent, EpisodeResult
from agents.policy import Policy, PolicyAgent
from agents.registry import make_agent

SOLUTION_KEYS = ("policy", "architecture")
"""Terminal-info keys holding an environment's solution, in order of preference."""

COST_KEYS = ("cost", "latency_ms")
"""Terminal-info keys holding the solution's cost, in order of preference."""

POLICY_FORMAT = "hwenvs-policy/1"
"""The ``format`` field of ``policy.json``."""


# -- building agents and environments ---------------------------------------------------------------------------------


def build_agent(spec: str, env: gym.Env, seed: int = 0, **kwargs: Any) -> Agent:
    """An agent by name (see :func:`agents.registry.make_agent`) or by ``module:Class`` for a user's own.

    :param spec: ``ddpg``, ``random``, ``fixed``, ``sb3:ALGO``... or ``package.module:Class`` where ``Class`` is an
        :class:`Agent` (built as ``Class(env, seed=seed, **kwargs)``) or a :class:`Policy` (built as
        ``Class(**kwargs)`` and run by :class:`PolicyAgent`).
    :param env: the environment to search.
    :param seed: the agent's seed.
    :param kwargs: the agent's (or policy's) hyperparameters.
    """
    if ":" not in spec or spec.startswith("sb3:"):
        return make_agent(spec, env, seed=seed, **kwargs)
    module_name, _, class_name = spec.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load agent {spec!r}: {exc}") from exc
    if isinstance(cls, type) and issubclass(cls, Agent):
        return cls(env, seed=seed, **kwargs)
    if isinstance(cls, type) and issubclass(cls, Policy):
        return PolicyAgent(env, cls(**kwargs), seed=seed)
    raise ValueError(f"{spec!r} is neither an agents.base.Agent nor an agents.policy.Policy subclass")


def user_env_kwargs(env: gym.Env) -> dict[str, Any]:
    """The keyword arguments ``env`` was made with beyond its registered defaults (what a replay must pass)."""
    if env.spec is None:
        return {}
    registered = gym.spec(env.spec.id).kwargs if env.spec.id in gym.registry else {}
    missing = object()
    return {k: v for k, v in env.spec.kwargs.items() if registered.get(k, missing) != v}


def seed_everything(seed: int) -> None:
    """Seed Python-level global generators (numpy's legacy one and torch's), for agents that use them."""
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002  (user agents may draw from the legacy global generator)
    torch.manual_seed(seed)


# -- the record of a search -------------------------------------------------------------------------------------------


def first_key(info: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first of ``keys`` present in ``info``."""
    return next((k for k in keys if k in info), None)


def to_json(value: Any) -> Any:
    """``value`` with numpy scalars and arrays, tuples and paths made JSON-serialisable."""
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [to_json(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


@dataclass
class SearchResult:
    """What a search found.

    :param best: the best episode by reward (None if no episode finished).
    :param episodes: episodes finished.
    :param rewards: every episode's reward, in order.
    :param wall_time_s: seconds the search took.
    :param interrupted: True if the search was stopped by Ctrl-C.
    :param out: the output folder, if any.
    """

    best: EpisodeResult | None
    episodes: int
    rewards: list[float] = field(default_factory=list)
    wall_time_s: float = 0.0
    interrupted: bool = False
    out: Path | None = None

    @property
    def best_info(self) -> dict[str, Any]:
        """The best episode's terminal info (empty if none)."""
        return self.best.info if self.best is not None else {}


class SearchRecorder:
    """The ``on_episode`` callback that writes ``history.csv`` and ``policy.json`` as the search goes.

    :param out: output folder (created), or None to keep everything in memory only.
    :param meta: what ``policy.json`` records besides the result: ``env_id``, ``env_kwargs``, ``agent``, ``seed``...
    :param total: episodes planned (for the progress bar).
    :param progress: show a progress bar.
    """

    def __init__(self, out: Path | None, meta: dict[str, Any], total: int, progress: bool = True) -> None:
        self.out, self.meta = out, meta
        self.best: EpisodeResult | None = None
        self.rewards: list[float] = []
        self.start = time.perf_counter()
        self._csv_file: IO[str] | None = None
        self._writer: Any = None  # a csv.writer (the csv module exposes no type for it)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
        self.bar = None
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="episode", desc=str(meta.get("agent", "search")), dynamic_ncols=True)

    def __call__(self, result: EpisodeResult) -> None:
        """Record one finished episode (the agent's ``on_episode``)."""
        self.rewards.append(result.reward)
        improved = self.best is None or result.reward > self.best.reward
        if improved:
            self.best = result
        info = result.info
        if self.out is not None:
            self._append_history(result)
            if improved:
                self.write_policy()
        if self.bar is not None:
            postfix = {"best": f"{self.best.reward:.4f}"}
            for key in ("accuracy", "cost_ratio"):
                if key in self.best.info:
                    postfix[f"best_{key}"] = f"{self.best.info[key]:.4f}"
            if "accuracy" in info:
                postfix["accuracy"] = f"{info['accuracy']:.4f}"
            self.bar.set_postfix(postfix, refresh=False)
            self.bar.update(1)

    def _append_history(self, result: EpisodeResult) -> None:
        info = result.info
        key = first_key(info, SOLUTION_KEYS) or "solution"
        if self._writer is None:
            self._csv_file = open(self.out / "history.csv", "w", newline="")
            self._writer = csv.writer(self._csv_file)
            self._writer.writerow(
                ["episode", "reward", "best_reward", "accuracy", "cost", "cost_ratio", "time_s", key, "extra"]
            )
        cost_key = first_key(info, COST_KEYS)
        self._writer.writerow(
            [
                result.episode,
                repr(float(result.reward)),
                repr(float(self.best.reward)),
                _csv_number(info.get("accuracy")),
                _csv_number(info.get(cost_key) if cost_key else None),
                _csv_number(info.get("cost_ratio")),
                f"{time.perf_counter() - self.start:.3f}",
                json.dumps(to_json(info.get(key))),
                json.dumps(to_json(result.extra)),
            ]
        )
        self._csv_file.flush()

    def policy_record(self, interrupted: bool = False) -> dict[str, Any]:
        """The content of ``policy.json`` for the best episode so far."""
        from hwenvs import __version__

        best = self.best
        assert best is not None
        key = first_key(best.info, SOLUTION_KEYS)
        cost_key = first_key(best.info, COST_KEYS)
        return {
            "format": POLICY_FORMAT,
            **to_json(self.meta),
            "episode": best.episode,
            "episodes_run": len(self.rewards),
            "interrupted": interrupted,
            "reward": best.reward,
            "solution_key": key,
            "cost_key": cost_key,
            "accuracy": best.info.get("accuracy"),
            "cost": best.info.get(cost_key) if cost_key else None,
            "cost_ratio": best.info.get("cost_ratio"),
            (key or "solution"): to_json(best.info.get(key)) if key else None,
            "info": to_json({k: v for k, v in best.info.items() if k != key}),
            "hwenvs_version": __version__,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "wall_time_s": round(time.perf_counter() - self.start, 3),
        }

    def write_policy(self, interrupted: bool = False) -> None:
        """Rewrite ``policy.json`` atomically, so that an interrupted search never leaves half a file."""
        from hwenvs.cache import atomic_write_bytes

        text = compact_json(self.policy_record(interrupted))
        atomic_write_bytes(self.out / "policy.json", text.encode())

    def close(self) -> None:
        """Close the history file and the progress bar."""
        if self._csv_file is not None:
            self._csv_file.close()
            self._csv_file = None
        if self.bar is not None:
            self.bar.close()
            self.bar = None


_SCALAR_LIST = re.compile(r"\[\s*((?:[-+.\deE]+|null|true|false)(?:,\s*(?:[-+.\deE]+|null|true|false))*)\s*\]")


def compact_json(data: Any) -> str:
    """Indented JSON with every list of plain numbers on one line (a policy reads as one ``[w, a]`` per line)."""
    text = json.dumps(data, indent=2, allow_nan=True)
    return _SCALAR_LIST.sub(lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text) + "\n"


def _csv_number(value: Any) -> str:
    return "" if value is None else repr(float(value))


def run_search(
    env: gym.Env,
    agent: Agent,
    episodes: int,
    out: str | os.PathLike | None = None,
    *,
    meta: dict[str, Any] | None = None,
    progress: bool = True,
    plot: bool = True,
) -> SearchResult:
    """Run ``agent`` for ``episodes`` episodes, writing history, best policy and plot under ``out``.

    A Ctrl-C stops the search cleanly: what was found so far stays on disk and the result says ``interrupted``.

    :param env: the environment the agent searches (used to name the run and to draw the plot).
    :param agent: the agent, already bound to ``env``.
    :param episodes: episodes to run.
    :param out: output folder (``history.csv``, ``policy.json``, ``plot.png``), or None to write nothing.
    :param meta: recorded in ``policy.json``; ``env_id``, ``env_kwargs`` and ``seed`` default to what ``env`` and
        ``agent`` say. ``env_kwargs`` must be JSON-serialisable for the policy to be replayable.
    :param progress: show a progress bar.
    :param plot: draw ``plot.png``.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    meta = dict(meta or {})
    meta.setdefault("env_id", env.spec.id if env.spec is not None else None)
    meta.setdefault("env_kwargs", user_env_kwargs(env))
    meta.setdefault("agent", agent.name)
    meta.setdefault("seed", agent.seed)
    try:
        json.dumps(meta["env_kwargs"])
    except TypeError as exc:
        raise ValueError(f"env_kwargs must be JSON-serialisable so that the policy can be replayed: {exc}") from exc
    path = Path(out) if out is not None else None
    recorder = SearchRecorder(path, meta, episodes, progress)
    interrupted = False
    try:
        agent.learn(episodes, recorder)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        recorder.close()
        if path is not None and recorder.best is not None:
            recorder.write_policy(interrupted)
            if plot:
                plot_search(recorder.rewards, recorder.best.info, path / "plot.png", title=_title(meta))
    return SearchResult(
        best=recorder.best,
        episodes=len(recorder.rewards),
        rewards=recorder.rewards,
        wall_time_s=time.perf_counter() - recorder.start,
        interrupted=interrupted,
        out=path,
    )


def _title(meta: Mapping[str, Any]) -> str:
    kwargs = ", ".join(f"{k}={v}" for k, v in (meta.get("env_kwargs") or {}).items())
    return f"{meta.get('env_id')} ({kwargs}) — {meta.get('agent')}, seed {meta.get('seed')}"


# -- the plot ---------------------------------------------------------------------------------------------------------


def plot_search(rewards: list[float], best_info: Mapping[str, Any], path: Path, title: str = "") -> None:
    """Best reward so far against episode and, for HAQ-style policies, the best policy's bits per layer.

    The bits panel follows HAQ's figure: weight bits as bars above the axis, activation bits below it (layers whose
    input stays in float have no activation bar).

    :param rewards: every episode's reward.
    :param best_info: the best episode's terminal info.
    :param path: the PNG to write.
    :param title: the figure's title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    policy = best_info.get("policy")
    has_bits = isinstance(policy, list) and all(isinstance(p, list | tuple) and len(p) == 2 for p in policy)
    fig, axes = plt.subplots(2 if has_bits else 1, 1, figsize=(11, 7 if has_bits else 3.5), squeeze=False)
    ax = axes[0, 0]
    episodes = np.arange(len(rewards))
    ax.scatter(episodes, rewards, s=6, alpha=0.35, color="tab:gray", label="episode reward")
    ax.step(episodes, np.maximum.accumulate(rewards), where="post", color="tab:blue", label="best so far")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("episode")
    ax.set_ylabel("reward")
    ax.legend(loc="lower right")
    if title:
        ax.set_title(title, fontsize=9)
    if has_bits:
        ax = axes[1, 0]
        layers = np.arange(len(policy))
        w_bits = np.array([p[0] for p in policy], dtype=float)
        a_bits = np.array([np.nan if p[1] is None else p[1] for p in policy], dtype=float)
        ax.bar(layers, w_bits, color="tab:blue", label="weight bits")
        top = int(np.nanmax(w_bits)) if len(policy) else 8
        bottom = 0
        if not np.isnan(a_bits).all():  # weights-only (model-size) policies have no activation half
            ax.bar(layers, -a_bits, color="tab:orange", label="activation bits")
            ax.axhline(0, color="black", linewidth=0.6)
            top = max(top, int(np.nanmax(a_bits)))
            bottom = -top
        ticks = range(bottom, top + 1, 2)
        ax.set_yticks(ticks, [str(abs(t)) for t in ticks])
        ax.set_xlabel("layer")
        ax.set_ylabel("bits")
        summary = ", ".join(
            f"{k} {best_info[k]:.4g}" for k in ("accuracy", "cost_ratio") if isinstance(best_info.get(k), float | int)
        )
        ax.set_title(f"best policy ({summary})", fontsize=9)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- the summary table ------------------------------------------------------------------------------------------------


def summary_rows(env: gym.Env, best_info: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows of the end-of-search table: float, fixed 8-bit (HAQ only) and the policy found.

    Each row has ``name``, ``accuracy``, ``cost`` and ``ratio`` (the environment's ``cost_ratio``: cost / the 8-bit
    cost for HAQ), None where not defined.

    :param env: the searched environment (the fixed 8-bit policy is evaluated on it).
    :param best_info: the best episode's terminal info.
    """
    unwrapped = env.unwrapped
    rows = []
    float_accuracy = best_info.get("float_accuracy", getattr(unwrapped, "float_accuracy", None))
    if float_accuracy is not None:
        rows.append({"name": "float", "accuracy": float_accuracy, "cost": None, "ratio": None})
    if hasattr(unwrapped, "evaluate_policy") and hasattr(unwrapped, "uniform_policy"):
        eight = unwrapped.evaluate_policy(unwrapped.uniform_policy(8))
        rows.append({"name": "fixed 8-bit", "accuracy": eight["accuracy"], "cost": eight["cost"], "ratio": 1.0})
        budget = float(unwrapped.budget)
        rows.append({"name": "budget", "accuracy": None, "cost": budget, "ratio": budget / eight["cost"]})
    if best_info:
        cost_key = first_key(best_info, COST_KEYS)
        rows.append(
            {
                "name": "found",
                "accuracy": best_info.get("accuracy"),
                "cost": best_info.get(cost_key) if cost_key else None,
                "ratio": best_info.get("cost_ratio"),
            }
        )
    return rows


def format_summary(rows: list[dict[str, Any]], unit: str = "") -> str:
    """The summary rows as a plain-text table.

    :param rows: from :func:`summary_rows`.
    :param unit: the cost's unit, for the header.
    """
    cost_header = f"cost ({unit})" if unit else "cost"
    # HAQ's cost ratio is against fixed 8-bit; other environments define their own reference (ProxylessNAS: target)
    ratio_header = "x 8-bit" if any(row["name"] == "fixed 8-bit" for row in rows) else "cost ratio"
    lines = [f"{'':<12} {'accuracy':>9} {cost_header:>14} {ratio_header:>10}"]
    for row in rows:
        acc = "" if row["accuracy"] is None else f"{row['accuracy']:.4f}"
        cost = "" if row["cost"] is None else f"{row['cost']:.5g}"
        ratio = "" if row["ratio"] is None or not math.isfinite(row["ratio"]) else f"{row['ratio']:.3f}"
        lines.append(f"{row['name']:<12} {acc:>9} {cost:>14} {ratio:>10}")
    return "\n".join(lines)
