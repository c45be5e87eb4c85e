"""The search pipeline: run an agent on an environment and keep everything a result needs to be trusted and replayed.

For every episode the pipeline appends a row to ``history.csv`` (flushed at once), tracks the best episode by
reward and rewrites ``policy.json`` atomically whenever it improves, then (for agents that can save their state)
writes ``checkpoint.pt`` (see :mod:`hwenvs.agents.checkpoint`), from which ``run_search(..., resume=True)`` continues
a killed or interrupted search; at the end (or on Ctrl-C) it draws ``plot.png``. It is environment-generic: it
records whatever the terminal info says, with the solution under the first of :data:`SOLUTION_KEYS` present (HAQ:
``policy``; ProxylessNAS: ``architecture``) and the cost under the first of :data:`COST_KEYS`. With ``tensorboard``
it also writes each episode's scalars for TensorBoard (see :mod:`hwenvs.agents.tensorboard`).
"""

from __future__ import annotations

import csv
import datetime
import importlib
import json
import os
import re
import sys
import textwrap
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import gymnasium as gym
import numpy as np

from hwenvs.agents.base import Agent, EpisodeResult, ResumeError
from hwenvs.agents.checkpoint import (
    CHECKPOINT_NAME,
    CheckpointWriter,
    read_checkpoint,
    remove_stale_temporaries,
    resume_problem,
    set_env_rng_state,
    set_global_rng_state,
)
from hwenvs.agents.policy import Policy, PolicyAgent
from hwenvs.agents.registry import make_agent
from hwenvs.agents.report import PairedTest, found_point, paired_test, plot_search, verdict
from hwenvs.agents.tensorboard import TensorBoardLog, summary_writer_class
from hwenvs.envs.contract import ReferencePoint, SearchEnv

SOLUTION_KEYS = ("policy", "architecture")
"""Terminal-info keys holding an environment's solution, in order of preference."""

COST_KEYS = ("cost", "latency_ms")
"""Terminal-info keys holding the solution's cost, in order of preference."""

RESULT_FORMAT = "hwenvs-policy/1"
"""The ``format`` field of ``policy.json``."""


# -- building agents and environments ---------------------------------------------------------------------------------


def build_agent(spec: str, env: gym.Env, seed: int = 0, **kwargs: Any) -> Agent:
    """An agent by name (see :func:`hwenvs.agents.registry.make_agent`) or by ``module:Class`` for a user's own.

    :param spec: ``ddpg``, ``random``, ``fixed``, ``sb3:ALGO``... or ``package.module:Class`` where ``Class`` is an
        :class:`Agent` (built as ``Class(env, seed=seed, **kwargs)``) or a :class:`Policy` (built as
        ``Class(**kwargs)`` and run by :class:`PolicyAgent`). The module is looked for in the current folder first,
        as ``python -m`` does (see :func:`import_user_module`).
    :param env: the environment to search.
    :param seed: the agent's seed.
    :param kwargs: the agent's (or policy's) hyperparameters.
    """
    if ":" not in spec or spec.startswith("sb3:"):
        return make_agent(spec, env, seed=seed, **kwargs)
    module_name, _, class_name = spec.partition(":")
    try:
        cls = getattr(import_user_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load agent {spec!r}: {exc} (looked in {os.getcwd()} and on sys.path)") from exc
    if isinstance(cls, type) and issubclass(cls, Agent):
        return cls(env, seed=seed, **kwargs)
    if isinstance(cls, type) and issubclass(cls, Policy):
        return PolicyAgent(env, cls(**kwargs), seed=seed)
    raise ValueError(f"{spec!r} is neither an hwenvs.agents.base.Agent nor an hwenvs.agents.policy.Policy subclass")


def import_user_module(name: str) -> ModuleType:
    """Import a user's module (``--agent mymodule:MyPolicy``) with the current folder first on ``sys.path``.

    ``python -m`` puts the current folder first; the ``hwenvs`` console script starts with its own folder there
    instead, so without this a ``mymodule.py`` beside the user would not be found. The folder stays on ``sys.path``:
    the user's module may import its neighbours later, as it could under ``python -m``.

    :param name: a dotted module name.
    """
    cwd = os.getcwd()
    if not any(os.path.abspath(entry or os.curdir) == cwd for entry in sys.path):
        sys.path.insert(0, cwd)
        importlib.invalidate_caches()  # a finder that listed the folder before the module was written there
    return importlib.import_module(name)


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

    :param best: the best episode by (validation) reward (None if no episode finished).
    :param episodes: episodes finished.
    :param rewards: every episode's reward, in order.
    :param wall_time_s: seconds the search took.
    :param interrupted: True if the search was stopped by Ctrl-C.
    :param out: the output folder, if any.
    :param best_test: the best solution evaluated on the test split (None for environments without the contract).
    :param references: the reference points the result is reported next to.
    :param verdict: whether the best solution beat the best uniform one on test (see :func:`report.verdict`).
    """

    best: EpisodeResult | None
    episodes: int
    rewards: list[float] = field(default_factory=list)
    wall_time_s: float = 0.0
    interrupted: bool = False
    out: Path | None = None
    best_test: dict[str, Any] | None = None
    references: list[ReferencePoint] = field(default_factory=list)
    verdict: dict[str, Any] | None = None

    @property
    def best_info(self) -> dict[str, Any]:
        """The best episode's terminal info (empty if none)."""
        return self.best.info if self.best is not None else {}

    def summary_rows(self) -> list[ReferencePoint]:
        """The reference points and the found solution, as the summary table shows them."""
        if self.best is None:
            return list(self.references)
        key = first_key(self.best.info, SOLUTION_KEYS) or "solution"
        return [*self.references, found_point(self.best.info, self.best_test, key)]


class SearchRecorder:
    """The ``on_episode`` callback that writes ``history.csv`` and ``policy.json`` as the search goes.

    Whenever the best episode improves (by validation reward), its solution is also evaluated on the test split
    (for environments offering :class:`hwenvs.envs.contract.SearchEnv`), so ``policy.json`` always carries the
    headline figure; the test split never influences which episode is best.

    :param out: output folder (created), or None to keep everything in memory only.
    :param meta: what ``policy.json`` records besides the result: ``env_id``, ``env_kwargs``, ``agent``, ``seed``...
    :param total: episodes planned.
    :param progress: show a progress bar.
    :param evaluator: the environment's contract, for test figures; None for other environments.
    :param references: the reference points recorded in ``policy.json``.
    :param checkpoint: writes ``checkpoint.pt`` after the episodes it says are due (None: no checkpoints).
    :param tensorboard: receives every episode's scalars (None: no TensorBoard log); closed with the recorder.
    :param test_each_best: evaluate each new best solution on test at once (False: only the final one, in
        :meth:`measure_final_test`; ``policy.json`` has no test figures until then).
    """

    def __init__(
        self,
        out: Path | None,
        meta: dict[str, Any],
        total: int,
        progress: bool = True,
        evaluator: SearchEnv | None = None,
        references: list[ReferencePoint] | None = None,
        checkpoint: CheckpointWriter | None = None,
        tensorboard: TensorBoardLog | None = None,
        test_each_best: bool = True,
    ) -> None:
        self.out, self.meta, self.total, self.test_each_best = out, meta, total, test_each_best
        self.evaluator, self.checkpoint, self.tensorboard = evaluator, checkpoint, tensorboard
        self._history_bytes = 0
        self.references = list(references or [])
        self.best: EpisodeResult | None = None
        self.best_test: dict[str, Any] | None = None
        self._paired: PairedTest | None = None
        self._paired_key: tuple[int, int] | None = None  # the best episode the paired test was measured for
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
            self.best_test = self._test_figures(result.info) if self.test_each_best else None
        assert self.best is not None  # the first episode is always an improvement
        if self.tensorboard is not None:
            self.tensorboard.episode(result, self.best, self.best_test)
        if self.out is not None:
            self._append_history(result)
            if improved:
                self.write_result("running")
            if self.checkpoint is not None and self.checkpoint.due(len(self.rewards), self.total):
                self.checkpoint.save(self.state_dict())
        if self.bar is not None:
            self._update_bar(result.info)

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps of the record: rewards, best episode, its test figures, time spent, and the size
        of ``history.csv`` (the rows of the episodes so far)."""
        return {
            "rewards": list(self.rewards),
            "best": self.best,
            "best_test": self.best_test,
            "elapsed_s": time.perf_counter() - self.start,
            "history_bytes": self._history_bytes,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Continue the record a checkpoint kept: ``history.csv`` is cut back to the checkpoint's episodes (rows of
        later episodes, and a half-written row, are dropped) and ``policy.json`` rewritten from its best episode.

        :param state: a :meth:`state_dict` from the checkpoint.
        :raises ResumeError: if ``history.csv`` is shorter than the checkpoint says.
        """
        self.rewards, self.best, self.best_test = list(state["rewards"]), state["best"], state["best_test"]
        self.start = time.perf_counter() - float(state["elapsed_s"])
        if self.out is not None:
            self._reopen_history(int(state["history_bytes"]))
            if self.best is not None:
                self.write_result("running")
        if self.bar is not None:
            self.bar.initial = self.bar.n = len(self.rewards)
            self.bar.refresh()

    def _reopen_history(self, size: int) -> None:
        assert self.out is not None  # only a recorder with an output folder has a history to reopen
        path = self.out / "history.csv"
        found = path.stat().st_size if path.exists() else 0
        if found < size:
            raise ResumeError(
                f"{path} holds {found} bytes, fewer than the {size} its checkpoint recorded; it was changed or "
                "truncated after the search stopped, so the search cannot resume"
            )
        os.truncate(path, size)
        self._csv_file = open(path, "a", newline="")
        self._writer = csv.writer(self._csv_file)
        self._history_bytes = size

    def paired(self) -> PairedTest | None:
        """The best solution against the baseline to beat on the test images (:func:`report.paired_test`), measured
        once per best episode: the final verdict's, not every improvement's (two test evaluations each)."""
        if self.best is None or self.evaluator is None:
            return None
        key = (self.best.episode, len(self.references))
        if self._paired_key != key:
            solution = self.best.info.get(self.evaluator.solution_key)
            self._paired, self._paired_key = paired_test(self.evaluator, self.references, solution), key
        return self._paired

    def measure_final_test(self) -> None:
        """Evaluate the best solution on test if that has not been done (``test_each_best=False``)."""
        if self.best is not None and self.best_test is None:
            self.best_test = self._test_figures(self.best.info)

    def _test_figures(self, info: Mapping[str, Any]) -> dict[str, Any] | None:
        if self.evaluator is None or self.evaluator.solution_key not in info:
            return None
        return self.evaluator.evaluate_solution(info[self.evaluator.solution_key], "test")

    def _update_bar(self, info: Mapping[str, Any]) -> None:
        assert self.bar is not None and self.best is not None
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
        assert self.out is not None and self.best is not None  # __call__ writes history with a folder, after a best
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
        assert self._csv_file is not None  # opened with the writer
        self._csv_file.flush()
        self._history_bytes = os.fstat(self._csv_file.fileno()).st_size

    def result_record(self, status: str = "complete") -> dict[str, Any]:
        """The content of ``policy.json`` for the best episode so far.

        :param status: ``"running"`` while the search goes on, then ``"complete"`` or ``"interrupted"``; a search
            killed outright leaves ``"running"`` with ``episodes_run < episodes_planned``.
        """
        from hwenvs import __version__

        best = self.best
        assert best is not None
        key = first_key(best.info, SOLUTION_KEYS)
        cost_key = first_key(best.info, COST_KEYS)
        found = found_point(best.info, self.best_test, key or "solution")
        return {
            "format": RESULT_FORMAT,
            **to_json(self.meta),
            "status": status,
            "interrupted": status == "interrupted",
            "episodes_planned": self.total,
            "episodes_run": len(self.rewards),
            "episode": best.episode,
            "reward": best.reward,
            "solution_key": key,
            "cost_key": cost_key,
            "accuracy": best.info.get("accuracy"),
            "val_accuracy": best.info.get("accuracy"),
            "test_accuracy": found.test_accuracy,
            "test_reward": found.test_reward,
            "cost": best.info.get(cost_key) if cost_key else None,
            "cost_ratio": best.info.get("cost_ratio"),
            (key or "solution"): to_json(best.info.get(key)) if key else None,
            "info": to_json({k: v for k, v in best.info.items() if k != key}),
            "references": [to_json(r.to_dict()) for r in self.references],
            "verdict": to_json(verdict(self.references, found, None if status == "running" else self.paired())),
            "hwenvs_version": __version__,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "wall_time_s": round(time.perf_counter() - self.start, 3),
        }

    def write_result(self, status: str = "complete") -> None:
        """Rewrite ``policy.json`` atomically, so that an interrupted search never leaves half a file."""
        from hwenvs.cache import atomic_write_bytes

        text = compact_json(self.result_record(status))
        assert self.out is not None  # the callers write only with an output folder
        atomic_write_bytes(self.out / "policy.json", text.encode())

    def close(self) -> None:
        """Close the history file and the progress bar, and finish the last checkpoint write."""
        if self._csv_file is not None:
            self._csv_file.close()
            self._csv_file = None
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None
        if self.checkpoint is not None:
            checkpoint, self.checkpoint = self.checkpoint, None
            checkpoint.close()


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
    references: bool = True,
    resume: bool = False,
    checkpoint_every: int | None = None,
    tensorboard: str | os.PathLike | None = None,
    test_each_best: bool = True,
) -> SearchResult:
    """Run ``agent`` for ``episodes`` episodes, writing history, best solution and plot under ``out``.

    For an hwenvs environment the reference points (float, fixed 8-bit, the best uniform solution within the
    budget) are measured first, and the best solution is reported on the test split next to them, with a verdict.
    A Ctrl-C stops the search cleanly: what was found so far stays on disk and the result says ``interrupted``.

    Resuming: for agents that can save their state (random, fixed, ``ddpg``, ``ddpg-warm``, ``reinforce``,
    ``gradient``, ``sb3:*``, and policies that declare it) the search writes ``OUT/checkpoint.pt`` after its episodes.
    With ``resume=True`` a search killed (even by SIGKILL) or interrupted in ``out`` continues from the last
    checkpoint: ``history.csv`` is cut back to the checkpoint's episodes and the rest are run, so the history equals
    an uninterrupted search's (exactly for every agent but SB3's, whose resume is approximate; see
    :mod:`hwenvs.agents.sb3`). ``env`` and ``agent`` must be built as the first time; a checkpoint made with another
    env id, env kwargs, agent, agent kwargs or seed (as ``meta`` records them) is refused, naming what differs. An
    ``out`` holding no search starts one; ``episodes`` may be more than first planned. ProxylessNAS with
    ``weights="online"`` cannot resume (its supernet changes every episode and is not checkpointed).

    :param env: the environment the agent searches (used to name the run and to draw the plot).
    :param agent: the agent, already bound to ``env``.
    :param episodes: episodes to run (in all, counting those a resumed search already ran).
    :param out: output folder (``history.csv``, ``policy.json``, ``plot.png``, ``checkpoint.pt``), or None to write
        nothing.
    :param meta: recorded in ``policy.json``; ``env_id``, ``env_kwargs`` and ``seed`` default to what ``env`` and
        ``agent`` say. ``env_kwargs`` must be JSON-serialisable for the policy to be replayable.
    :param progress: show a progress bar.
    :param plot: draw ``plot.png``.
    :param references: measure the reference points (a few evaluations; False skips them, and the verdict).
    :param resume: continue the search checkpointed in ``out`` (see above).
    :param checkpoint_every: episodes between checkpoints (default: the agent's ``checkpoint_every``, 1 but for
        SB3's 10); a resumed search repeats the episodes after the last checkpoint.
    :param tensorboard: a folder to write TensorBoard scalars into, one point per episode (reward, validation
        accuracy, cost ratio, and the best so far with its test accuracy; see :mod:`hwenvs.agents.tensorboard`).
        A resumed search hides the points of the episodes it runs again.
    :param test_each_best: evaluate every new best solution on the test split as it is found, so ``policy.json``
        always carries the headline figure (and TensorBoard the best's test accuracy). False evaluates only the final
        best solution, at the end: on a large test split a long search saves one evaluation per improvement.
    :raises ResumeError: (a ValueError) if ``resume`` is asked for and the search in ``out`` cannot continue.
    :raises ImportError: ``tensorboard`` is given and the tensorboard package is missing (before any work).
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if tensorboard is not None:
        summary_writer_class()  # a missing package is reported before the reference points are measured
    meta = _search_meta(env, agent, meta)
    path = Path(out) if out is not None else None
    saved = _resume_point(path, env, agent, meta, episodes) if resume else None
    evaluator = env.unwrapped if isinstance(env.unwrapped, SearchEnv) else None
    points = evaluator.reference_points() if evaluator is not None and references else []
    writer = _checkpoint_writer(path, env, agent, meta, checkpoint_every, fresh=saved is None)
    first_episode = len(saved["recorder"]["rewards"]) if saved is not None else 0
    board = TensorBoardLog(tensorboard, first_episode) if tensorboard is not None else None
    recorder = SearchRecorder(path, meta, episodes, progress, evaluator, points, writer, board, test_each_best)
    if saved is not None:
        _continue_from(saved, recorder, env)
    finished = False
    try:
        if episodes > len(recorder.rewards):
            agent.learn(episodes - len(recorder.rewards), recorder)
        finished = True
    except KeyboardInterrupt:
        pass
    finally:
        recorder.close()
        recorder.measure_final_test()
        if path is not None and recorder.best is not None:
            recorder.write_result("complete" if finished else "interrupted")
            if plot:
                plot_search(recorder.rewards, recorder.best.info, path / "plot.png", _title(env, meta), points)
    result = SearchResult(
        best=recorder.best,
        episodes=len(recorder.rewards),
        rewards=recorder.rewards,
        wall_time_s=time.perf_counter() - recorder.start,
        interrupted=not finished,
        out=path,
        best_test=recorder.best_test,
        references=points,
    )
    if recorder.best is not None:
        result.verdict = verdict(points, result.summary_rows()[-1], recorder.paired())
    return result


def _resume_point(
    path: Path | None, env: gym.Env, agent: Agent, meta: dict[str, Any], episodes: int
) -> dict[str, Any] | None:
    """The checkpoint to continue from, with ``agent`` restored from it; None if ``path`` holds no search yet."""
    if path is None:
        raise ResumeError("resuming needs the output folder of the search to continue")
    problem = resume_problem(env, agent)
    if problem is not None:
        raise ResumeError(problem)
    file = path / CHECKPOINT_NAME
    if not file.exists():
        found = [name for name in ("history.csv", "policy.json") if (path / name).exists()]
        if found:
            raise ResumeError(
                f"{path} holds {' and '.join(found)} but no {CHECKPOINT_NAME} to resume from (the search stopped "
                "before its first checkpoint, or was made by an older hwenvs); start it again in an empty folder"
            )
        return None
    saved = read_checkpoint(file, to_json(meta))
    done = len(saved["recorder"]["rewards"])
    if done > episodes:
        raise ResumeError(f"the search in {path} already ran {done} episodes, more than the {episodes} asked for")
    agent.load_state_dict(saved["agent"])
    remove_stale_temporaries(path)
    return saved


def _checkpoint_writer(
    path: Path | None, env: gym.Env, agent: Agent, meta: dict[str, Any], every: int | None, fresh: bool
) -> CheckpointWriter | None:
    """The checkpoint writer of a search into ``path`` (None where it cannot resume); a fresh search first removes
    a checkpoint left by an earlier search in the same folder."""
    if path is None:
        return None
    if fresh:
        (path / CHECKPOINT_NAME).unlink(missing_ok=True)
    if resume_problem(env, agent) is not None:
        return None
    return CheckpointWriter(path / CHECKPOINT_NAME, env, agent, to_json(meta), every or agent.checkpoint_every)


def _continue_from(saved: dict[str, Any], recorder: SearchRecorder, env: gym.Env) -> None:
    """Restore the record and the random generators a checkpoint kept (the agent is already restored)."""
    try:
        recorder.restore(saved["recorder"])
    except BaseException:
        recorder.close()
        raise
    set_global_rng_state(saved["rng"])
    set_env_rng_state(env, saved["env_rng"])


def _search_meta(env: gym.Env, agent: Agent, meta: dict[str, Any] | None) -> dict[str, Any]:
    meta = dict(meta or {})
    meta.setdefault("env_id", env.spec.id if env.spec is not None else None)
    meta.setdefault("env_kwargs", user_env_kwargs(env))
    meta.setdefault("agent", agent.name)
    meta.setdefault("seed", agent.seed)
    try:
        json.dumps(meta["env_kwargs"])
    except TypeError as exc:
        raise ValueError(f"env_kwargs must be JSON-serialisable so that the policy can be replayed: {exc}") from exc
    return meta


def _title(env: gym.Env, meta: Mapping[str, Any]) -> str:
    """The env id with every keyword argument it was made with (registered and the user's), agent and seed."""
    kwargs = dict(env.spec.kwargs) if env.spec is not None else dict(meta.get("env_kwargs") or {})
    # a value given as an object (a Task, say) has a long repr: a figure title has room for its start only
    shown = ", ".join(f"{k}={textwrap.shorten(str(v), 40, placeholder='...')}" for k, v in kwargs.items())
    shown = shown or "default arguments"
    return f"{meta.get('env_id')} ({shown}) — {meta.get('agent')}, seed {meta.get('seed')}"
