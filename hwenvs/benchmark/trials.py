"""One benchmark trial: its spec, how it runs, and its result file on disk.

A trial is one (environment, agent, hyperparameter setting, seed) search, or an environment's reference job (its
reference points and the mean of uniformly random solutions, the normalised score's zero). :func:`run_trial` takes a
:class:`TrialSpec` (a picklable dataclass of plain values) and returns the path of the benchmark's trial store; it
needs nothing else, so any executor can run it: the local process pool (:mod:`hwenvs.benchmark.local`) or, as a thin
second backend, a Ray Tune trainable that calls it. It is idempotent: a trial whose complete result is already stored
(made with the same spec) returns at once, which is how a killed benchmark resumes. Results go to the benchmark's one
JSON Lines file, ``OUT/trials.jsonl`` (:mod:`hwenvs.benchmark.store`: a whole line appended under a file lock, checked
on read), so a kill never leaves half a result that counts. A search whose agent resumes exactly (DDPG, random, fixed,
REINFORCE, gradient, TPE, CMA-ES) also writes a checkpoint file, ``OUT/trials/NAME.ckpt``, every
:data:`CHECKPOINT_INTERVAL_S` seconds, so a killed trial continues from its last checkpoint and gives the result an
uninterrupted one would; other trials (Stable-Baselines3's, whose resume is approximate) run again from their start.

What a search trial records, per episode: the (validation) reward, validation accuracy, cost ratio and best reward
so far; at every improvement of the best episode (chosen on validation), that solution's test reward and accuracy
(the search pipeline's :class:`~hwenvs.agents.pipeline.SearchRecorder` measures them, as for ``hwenvs search``); and
at the end the best solution with its test figures, the reference points and the verdict against the best uniform
solution, as ``policy.json`` holds them, and (with real accuracy) which test images that solution gets right
(:mod:`hwenvs.benchmark.outcomes`; the reference job records its reference points' too), for paired tests.
"""

from __future__ import annotations

import copy
import json
import os
import time
import traceback
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hwenvs import __version__
from hwenvs.benchmark import outcomes
from hwenvs.benchmark.store import TrialStore
from hwenvs.cache import atomic_write_bytes
from hwenvs.threads import one_torch_thread

TRIAL_FORMAT = "hwenvs-benchmark-trial/1"
"""The ``format`` field of a trial's result record."""

RANDOM_REFERENCE_SEED = 20_240_614
"""Seed of the uniformly random solutions that fix the normalised score's zero (apart from every trial's seeds)."""

CHECKPOINT_INTERVAL_S = 60.0
"""Seconds of search between a trial's checkpoints: a kill costs at most this much of a trial's work, and a write
(a few ms, on a background thread) stays negligible even for surrogate episodes of a few ms each."""

KINDS = ("search", "reference")
"""A trial searches, or measures its environment's reference points."""

_ENV_CACHE: dict[str, Any] = {}
"""The last environment this process built, by its id and arguments (see :func:`_environment`)."""


@dataclass(frozen=True)
class TrialSpec:
    """Everything one trial needs, as plain values (picklable, and JSON for its result record).

    :param kind: ``"search"`` or ``"reference"``.
    :param env: the environment's name in the suite (part of the trial's name).
    :param env_id: the registered Gymnasium id.
    :param env_kwargs: ``gym.make`` keyword arguments (``accuracy="surrogate"`` included where asked for).
    :param episodes: the search's episode budget (reference jobs: the random solutions to average).
    :param out: the benchmark's output folder; the result goes to its store, ``out/trials.jsonl``.
    :param agent: the agent's name in the suite (empty for a reference job).
    :param agent_spec: what :func:`hwenvs.agents.pipeline.build_agent` takes (``ddpg``, ``sb3:TD3``, ``tpe``...).
    :param agent_kwargs: the agent's hyperparameters: the suite's, overridden by the setting's.
    :param episode_kwargs: hyperparameters counted in whole episodes, multiplied by the environment's
        ``steps_per_episode`` before they reach the agent (SB3's ``learning_starts``, ``n_steps``...).
    :param setting: ``"default"`` or the sweep setting's name (``s0``, ``s1``...).
    :param seed: the search's seed (agent, global generators, the environment's first reset).
    :param surrogate_sha256: with ``accuracy="surrogate"``, the sha256 of the surrogate dataset the predictions come
        from: part of the identity, so a benchmark resumed after the dataset changed reruns its trials instead of
        mixing two predictors (empty, and left out of the identity, for real accuracy).
    """

    kind: str
    env: str
    env_id: str
    env_kwargs: dict[str, Any]
    episodes: int
    out: str
    agent: str = ""
    agent_spec: str = ""
    agent_kwargs: dict[str, Any] = field(default_factory=dict)
    episode_kwargs: dict[str, Any] = field(default_factory=dict)
    setting: str = "default"
    seed: int = 0
    surrogate_sha256: str = ""

    def __hash__(self) -> int:  # the generated hash would fail on the dict fields
        return hash((self.out, self.name))

    @property
    def name(self) -> str:
        """The trial's unique name in its benchmark (its key in the store)."""
        if self.kind == "reference":
            return f"{self.env}__reference"
        return f"{self.env}__{self.agent}__{self.setting}__s{self.seed}"

    @property
    def store(self) -> TrialStore:
        """The benchmark's trial store, where the trial's result goes."""
        return TrialStore(self.out)

    @property
    def path(self) -> Path:
        """The file the trial's result goes to: the benchmark's store, ``out/trials.jsonl`` (shared by its trials)."""
        return self.store.path

    @property
    def legacy_path(self) -> Path:
        """Where a benchmark from before the store kept this trial's result (still read; converted on the next
        write)."""
        return self.store.legacy_path(self.name)

    @property
    def checkpoint_path(self) -> Path:
        """Where the unfinished search keeps its checkpoint (removed once the result is written)."""
        return Path(self.out) / "trials" / f"{self.name}.ckpt"

    def identity(self) -> dict[str, Any]:
        """What a finished result must have been made with to count (everything but the output folder)."""
        fields = asdict(self)
        if not self.surrogate_sha256:
            del fields["surrogate_sha256"]  # real-accuracy trials: identities from before the field still match
        return json.loads(json.dumps({k: v for k, v in fields.items() if k != "out"}))


# -- results -----------------------------------------------------------------------------------------------------------


def read_result(path: str | os.PathLike) -> dict[str, Any] | None:
    """A JSON file's content (``results.json``, a budget, a legacy trial file), or None if it is missing or
    unreadable."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_trial(spec: TrialSpec) -> dict[str, Any] | None:
    """``spec``'s latest result record in its benchmark's store (or legacy file), or None (a trial to run)."""
    return spec.store.get(spec.name)


def finished(spec: TrialSpec) -> bool:
    """Whether ``spec``'s complete result is stored, made with the same spec."""
    data = read_trial(spec)
    return (
        data is not None
        and data.get("format") == TRIAL_FORMAT
        and data.get("status") == "complete"
        and data.get("spec") == spec.identity()
    )


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as JSON atomically (never half a file), creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(data, indent=1, allow_nan=True) + "\n").encode())


# -- running ----------------------------------------------------------------------------------------------------------


def run_trial(spec: TrialSpec) -> str:
    """Run one trial (unless its complete result is already stored) and return the path of the store holding it.

    Self-contained and picklable, for any executor: it imports what it needs, runs with one torch thread (restored
    after), and appends its result to the store as one whole line. A trial that raises stores a ``"failed"`` result
    with the traceback (which a rerun supersedes) and raises again.

    :param spec: the trial.
    """
    if finished(spec):
        return str(spec.path)
    identity, start = spec.identity(), time.perf_counter()  # the spec as given, whatever the run does with it
    try:
        with one_torch_thread():
            body = _run_reference(spec) if spec.kind == "reference" else _run_search(spec)
    except Exception:
        spec.store.append(spec.name, _record(identity, "failed", {"error": traceback.format_exc()}, start))
        raise
    spec.store.append(spec.name, _record(identity, "complete", body, start))
    spec.checkpoint_path.unlink(missing_ok=True)
    return str(spec.path)


def _record(identity: dict[str, Any], status: str, body: Mapping[str, Any], start: float) -> dict[str, Any]:
    return {
        "format": TRIAL_FORMAT,
        "status": status,
        "spec": identity,
        **body,
        "trial_wall_time_s": round(time.perf_counter() - start, 3),
        "hwenvs_version": __version__,
        "pid": os.getpid(),
    }


def _environment(spec: TrialSpec) -> Any:
    """The trial's environment: the one this process built last if it has the same id and arguments, else a new one.

    Reusing it saves ``gym.make`` and the reference points (several evaluations) for the next trial on the same
    environment; it changes no result, since with frozen weights an environment's episodes depend only on the
    actions (its accuracy cache only remembers scores). ProxylessNAS with ``weights="online"`` changes with every
    episode, so it is always built afresh. One environment is kept, to bound a worker's memory.
    """
    import gymnasium as gym

    # no `import hwenvs` needed to register the ids: the package, this module's parent, ran before it loaded
    key = json.dumps([spec.env_id, spec.env_kwargs], sort_keys=True)
    reusable = spec.env_kwargs.get("weights") != "online"
    if reusable and key in _ENV_CACHE:
        return _ENV_CACHE[key]
    for old in _ENV_CACHE.values():
        old.close()
    _ENV_CACHE.clear()
    env = gym.make(spec.env_id, **spec.env_kwargs)
    if reusable:
        _ENV_CACHE[key] = env
    return env


def _run_reference(spec: TrialSpec) -> dict[str, Any]:
    """The environment's reference points and the mean of ``spec.episodes`` uniformly random solutions."""
    from hwenvs.agents.pipeline import to_json
    from hwenvs.envs.contract import search_env

    env = _environment(spec)
    evaluator = search_env(env)
    points = evaluator.reference_points()
    given = next((p for p in points if p.name.lower().startswith("random")), None)
    random = _random_reference(env, evaluator, spec.episodes) if given is None else _given_random(given)
    return {
        "family": family_of(spec.env_id),
        "solution_key": evaluator.solution_key,
        "references": [to_json(p.to_dict()) for p in points],
        "random": random,
        "test_outcomes": {p.name: o for p in points if (o := outcomes.measure(evaluator, p.solution)) is not None},
    }


def _given_random(point: Any) -> dict[str, Any]:
    """A "random" reference point the environment itself offers, as the random reference."""
    return {
        "source": f"the environment's reference point {point.name!r}",
        "val_reward": point.val_reward,
        "test_reward": point.test_reward,
        "val_accuracy": point.val_accuracy,
        "test_accuracy": point.test_accuracy,
    }


def _random_reference(env: Any, evaluator: Any, episodes: int) -> dict[str, Any]:
    """The mean validation and test figures of ``episodes`` solutions of the package's random search (uniform
    actions through the environment's own steps, so HAQ's rollback applies), with a seed apart from the trials'."""
    import numpy as np

    from hwenvs.agents.random_search import RandomSearchAgent

    solutions: list[Any] = []
    agent = RandomSearchAgent(env, seed=RANDOM_REFERENCE_SEED)
    agent.learn(episodes, lambda result: solutions.append(result.info))
    tests = [evaluator.evaluate_solution(info[evaluator.solution_key], "test") for info in solutions]
    column = {
        "val_reward": [info["reward"] for info in solutions],
        "val_accuracy": [info["accuracy"] for info in solutions],
        "test_reward": [t["reward"] for t in tests],
        "test_accuracy": [t["accuracy"] for t in tests],
    }
    means = {k: float(np.mean(v)) for k, v in column.items()}
    return {
        "source": f"mean of {episodes} uniformly random solutions (random search, seed {RANDOM_REFERENCE_SEED})",
        "episodes": episodes,
        "seed": RANDOM_REFERENCE_SEED,
        **means,
        "test_reward_sd": float(np.std(column["test_reward"], ddof=1)) if episodes > 1 else 0.0,
    }


def family_of(env_id: str) -> str:
    """The family an environment id belongs to: ``"haq"``, ``"nas"`` or ``"other"``."""
    if env_id.startswith("HAQ-"):
        return "haq"
    if env_id.startswith("ProxylessNAS-"):
        return "nas"
    return "other"


def _run_search(spec: TrialSpec) -> dict[str, Any]:
    """One search: the agent's episodes recorded by a :class:`TraceRecorder`; the best solution reported on test."""
    from hwenvs.agents.pipeline import build_agent, seed_everything
    from hwenvs.envs.contract import search_env

    seed_everything(spec.seed)
    env = _environment(spec)
    evaluator = search_env(env)
    steps = int(evaluator.steps_per_episode)
    # a deep copy: SB3 writes into the dicts it is given (SAC adds use_sde to policy_kwargs)
    kwargs = copy.deepcopy({**spec.agent_kwargs, **{k: int(v * steps) for k, v in spec.episode_kwargs.items()}})
    agent = build_agent(spec.agent_spec, env, seed=spec.seed, **kwargs)
    recorder = trace_recorder(spec, evaluator)
    try:
        recorder.checkpoint = _resume(spec, env, agent, recorder)
    except Exception:  # a checkpoint of this trial that cannot be restored (another version's agent state...)
        spec.checkpoint_path.unlink(missing_ok=True)  # half restored, the agent is spoilt: start afresh
        return _run_search(spec)
    resumed_at = len(recorder.rewards)
    try:
        if spec.episodes > resumed_at:
            agent.learn(spec.episodes - resumed_at, recorder)
    finally:
        recorder.close()
    if recorder.best is None:
        raise RuntimeError(f"{spec.name}: the agent finished no episode")
    solution = recorder.best.info.get(evaluator.solution_key)
    return {
        "test_outcomes": outcomes.measure(evaluator, solution),
        "agent_kwargs_used": json.loads(json.dumps(kwargs, default=repr)),
        "episodes_run": len(recorder.rewards),
        "resumed_at_episode": resumed_at,
        "search_time_s": round(time.perf_counter() - recorder.start, 3),
        "history": recorder.history,
        "improvements": recorder.improvements,
        "result": recorder.result_record("complete"),
    }


def _resume(spec: TrialSpec, env: Any, agent: Any, recorder: Any) -> Any:
    """The trial's checkpoint writer, after putting agent, record and generators back where the trial's checkpoint
    left them if one of this very trial is on disk; None (no checkpoints) for agents that cannot resume exactly."""
    from hwenvs.agents.base import ResumeError
    from hwenvs.agents.checkpoint import CheckpointWriter, read_checkpoint, restore, resume_problem

    if resume_problem(env, agent) is not None or not agent.resumes_exactly:
        return None
    identity = spec.identity()
    spec.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
    for tmp in spec.checkpoint_path.parent.glob(f".{spec.checkpoint_path.name}.*.tmp"):  # a write a kill cut short
        tmp.unlink(missing_ok=True)
    if spec.checkpoint_path.exists():
        try:
            saved = read_checkpoint(spec.checkpoint_path, identity)
        except ResumeError:
            saved = None  # unreadable, or another spec's: the trial starts afresh and overwrites it
        if saved is not None and saved["meta"] == identity:  # all of the spec, not only a search's identity keys
            restore(saved, env, agent)
            recorder.restore(saved["recorder"])
    return CheckpointWriter(spec.checkpoint_path, env, agent, identity)


def trace_recorder(spec: TrialSpec, evaluator: Any) -> Any:
    """A search recorder (in memory) that also keeps every episode's figures for the benchmark.

    :param spec: the trial (its identity is the record's ``meta``).
    :param evaluator: the environment's contract (test figures and reference points).
    """
    from hwenvs.agents.pipeline import SearchRecorder

    class TraceRecorder(SearchRecorder):
        """:class:`SearchRecorder` plus the per-episode history and the test figures at each improvement."""

        def __init__(self) -> None:
            meta: dict[str, Any] = {"env_id": spec.env_id, "env_kwargs": spec.env_kwargs, "agent": spec.agent_spec}
            meta.update(agent_kwargs=spec.agent_kwargs, seed=spec.seed)
            super().__init__(None, meta, spec.episodes, False, evaluator, evaluator.reference_points())
            self.history: dict[str, list[float | None]] = {
                "reward": [], "accuracy": [], "cost_ratio": [], "best_reward": []
            }  # fmt: skip
            self.improvements: list[dict[str, Any]] = []
            self.last_save = time.perf_counter()

        def state_dict(self) -> dict[str, Any]:
            return {**super().state_dict(), "history": self.history, "improvements": self.improvements}

        def restore(self, state: Mapping[str, Any]) -> None:
            super().restore(state)
            self.history, self.improvements = copy.deepcopy(state["history"]), copy.deepcopy(state["improvements"])

        def __call__(self, result: Any) -> None:
            before = self.best
            super().__call__(result)
            assert self.best is not None  # the recorder has a best from its first episode on
            info = result.info
            for key, value in (("reward", result.reward), ("best_reward", self.best.reward)):
                self.history[key].append(float(value))
            for key in ("accuracy", "cost_ratio"):
                self.history[key].append(None if info.get(key) is None else float(info[key]))
            if self.best is not before:
                test = self.best_test or {}
                self.improvements.append(
                    {
                        "episode": result.episode,
                        "val_reward": float(result.reward),
                        "val_accuracy": info.get("accuracy"),
                        "test_reward": test.get("reward"),
                        "test_accuracy": test.get("accuracy"),
                    }
                )
            # the base class writes checkpoints only into a search folder: a trial's go next to its result
            if self.checkpoint is not None and time.perf_counter() - self.last_save >= CHECKPOINT_INTERVAL_S:
                self.checkpoint.save(self.state_dict())
                self.last_save = time.perf_counter()

    return TraceRecorder()
