"""Any Stable-Baselines3 (or sb3-contrib) algorithm as a search agent.

The environment is wrapped in SB3's ``Monitor`` with ``info_keywords`` (``accuracy`` and ``cost_ratio`` where the
environment reports them), so SB3's own logging sees them; a callback turns every finished episode into an
:class:`hwenvs.agents.base.EpisodeResult`, and stops training when the pipeline asks or the episode count is reached.
Episodes become SB3's ``total_timesteps`` through the environment's ``steps_per_episode``.

Resuming uses SB3's own ``save`` / ``load`` (and ``save_replay_buffer`` / ``load_replay_buffer`` for off-policy
algorithms) with the episode count; it is not exact. SB3 saves no random-generator state (the search pipeline
restores Python's, numpy's and torch's global generators, which SB3 draws from), it stores an episode's last
transition only after the callback that reports the episode (so the saved buffer lacks it), an on-policy rollout
in progress is dropped, and the environment is reset when learning continues.

Using SB3 directly on an hwenvs environment needs nothing of this module::

    from stable_baselines3 import TD3
    from stable_baselines3.common.monitor import Monitor
    env = Monitor(gym.make("HAQ-MobileNetV2-BISMO"), info_keywords=("accuracy", "cost_ratio"))
    TD3("MlpPolicy", env, gamma=1.0, seed=0).learn(total_timesteps=20 * 106, progress_bar=True)
"""

from __future__ import annotations

import copy
import importlib
import io
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from hwenvs.agents.base import Agent, EpisodeCallback, EpisodeResult, ResumeError
from hwenvs.agents.start import play_start, start_actions
from hwenvs.envs.contract import SearchEnv

INFO_KEYWORDS = ("accuracy", "cost_ratio")
"""Terminal-info keys ``Monitor`` logs by default (HAQ and ProxylessNAS environments report both)."""

NOISY_ALGOS = ("DDPG", "TD3")
"""Algorithms whose policy is deterministic: without action noise they stop exploring after ``learning_starts``."""

DEFAULT_NOISE_SIGMA = 0.2
"""Default Gaussian action noise for :data:`NOISY_ALGOS`, as a fraction of the action range's width."""

UNKNOWN_EPISODE_STEPS = 10_000
"""Upper bound on an episode's steps for environments that state neither ``steps_per_episode`` nor a TimeLimit."""

_SB3_INTERNAL_INFO = ("episode", "terminal_observation", "TimeLimit.truncated")

ALGORITHM_DEFAULTS: dict[str, Any] = {"verbose": 0}
"""Constructor arguments the adapter gives every algorithm unless the user gives their own (``verbose=1`` turns SB3's
own logging back on: the search pipeline reports episodes itself)."""

SWEEP_SPACES: dict[str, dict[str, tuple]] = {
    "TD3": {"learning_rate": ("loguniform", 1e-4, 3e-3), "batch_size": ("choice", [64, 128, 256])},
    "SAC": {"learning_rate": ("loguniform", 1e-4, 3e-3), "batch_size": ("choice", [64, 128, 256])},
    "PPO": {"learning_rate": ("loguniform", 1e-4, 3e-3), "n_epochs": ("choice", [5, 10, 20])},
}
"""The hyperparameter lottery's space per algorithm (``hwenvs benchmark --sweep K``; format in
:mod:`hwenvs.benchmark.sweep`); an algorithm not listed runs with its defaults only."""


def algorithm_class(algo: str) -> type[BaseAlgorithm]:
    """The SB3 class named ``algo`` in any case (``"TD3"``, ``"ppo"``, ``"MaskablePPO"``...), looked up in
    stable_baselines3 then sb3_contrib."""
    for package in ("stable_baselines3", "sb3_contrib"):
        try:
            module = importlib.import_module(package)
        except ImportError:
            continue
        for name in getattr(module, "__all__", dir(module)):
            cls = getattr(module, name, None)
            if name.upper() == algo.upper() and isinstance(cls, type) and issubclass(cls, BaseAlgorithm):
                return cls
    raise ValueError(
        f"unknown Stable-Baselines3 algorithm {algo!r}; for Box actions use TD3, SAC, DDPG, PPO, A2C "
        "(or sb3-contrib's TQC, TRPO, ARS, CrossQ); for Discrete and MultiDiscrete ones PPO, A2C (or sb3-contrib's "
        "MaskablePPO, which uses the environment's action_masks())"
    )


class _EpisodeReporter(BaseCallback):
    """Reports every finished episode of env 0 and stops SB3's loop when asked to or after ``episodes``."""

    def __init__(self, agent: SB3Agent, episodes: int, on_episode: EpisodeCallback | None) -> None:
        super().__init__()
        self.agent, self.on_episode = agent, on_episode
        self.done, self.end = agent.episodes_done, agent.episodes_done + episodes

    def _on_step(self) -> bool:
        for finished, info in zip(self.locals["dones"], self.locals["infos"], strict=True):
            if not finished or self.done >= self.end:
                continue
            reward = float(info["episode"]["r"]) if "episode" in info else float("nan")
            terminal = {k: v for k, v in info.items() if k not in _SB3_INTERNAL_INFO}
            result = EpisodeResult(self.done, reward, terminal, {"timesteps": int(self.num_timesteps)})
            self.done += 1
            self.agent.episodes_done = self.done
            if self.on_episode is not None and self.on_episode(result) is False:
                return False
        return self.done < self.end


class SB3Agent(Agent):
    """A Stable-Baselines3 algorithm behind the :class:`Agent` interface.

    :param env: the environment (a single one; SB3 wraps it in a ``DummyVecEnv``).
    :param algo: the algorithm's class name, e.g. ``"TD3"``, ``"SAC"``, ``"PPO"``.
    :param seed: SB3's seed (networks, exploration, the environment's resets).
    :param policy: SB3 policy name.
    :param progress_bar: show SB3's own progress bar (the search pipeline shows one per episode instead).
    :param info_keywords: terminal-info keys for ``Monitor`` to log; every one must be in every terminal info.
    :param warm_start: play the best uniform policy within the budget as episode 0 and keep its transitions in the
        replay buffer (HAQ, off-policy algorithms only; :mod:`hwenvs.agents.start`). Its steps count towards SB3's
        timesteps, so ``learning_starts`` includes them.
    :param kwargs: passed to the algorithm's constructor (``learning_rate``, ``gamma``, ``action_noise``,
        ``verbose``, ``tensorboard_log``...), over the adapter's defaults (:data:`ALGORITHM_DEFAULTS`). For DDPG and
        TD3 the default ``action_noise`` is Gaussian with sigma :data:`DEFAULT_NOISE_SIGMA` x range width.
    """

    name = "sb3"
    resumable = True
    checkpoint_every = 10  # SB3's save writes a zip of every network and optimizer: tens of ms
    resumes_exactly = False  # see the module docstring

    def __init__(
        self,
        env: gym.Env,
        algo: str = "TD3",
        seed: int = 0,
        policy: str = "MlpPolicy",
        progress_bar: bool = False,
        info_keywords: Sequence[str] = INFO_KEYWORDS,
        warm_start: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(env, seed)
        cls = algorithm_class(algo)
        if warm_start and not issubclass(cls, OffPolicyAlgorithm):
            raise ValueError(
                f"warm_start: {cls.__name__} is on-policy, and a scripted start is not a sample of its policy (its "
                "update would be biased); off-policy algorithms take it: TD3, SAC, DDPG (sb3-contrib: TQC, CrossQ)"
            )
        if warm_start:
            start_actions(env)  # no start (not HAQ, nothing fits the budget): fail now, not at the first episode
        self.warm_start = warm_start
        self.algo = cls.__name__.upper()
        self.name = f"sb3:{cls.__name__}"
        self.monitor: Monitor = Monitor(env, info_keywords=tuple(info_keywords))
        self.progress_bar = progress_bar
        space = env.action_space
        kwargs = {**ALGORITHM_DEFAULTS, **kwargs}
        if self.algo in NOISY_ALGOS and "action_noise" not in kwargs and isinstance(space, gym.spaces.Box):
            sigma = DEFAULT_NOISE_SIGMA * (space.high - space.low)
            kwargs["action_noise"] = NormalActionNoise(np.zeros(space.shape), sigma.astype(np.float64))
        self.model: BaseAlgorithm = cls(policy, self.monitor, seed=seed, **kwargs)

    def learn(self, episodes: int, on_episode: EpisodeCallback | None = None) -> None:
        """Train for ``episodes`` more episodes (SB3 may stop mid-rollout; on-policy algorithms then drop the rest).

        A continued search (:attr:`episodes_done` > 0) keeps SB3's timestep count and schedules and starts with a
        reset of the environment.
        """
        if episodes < 1:
            return
        if self.warm_start and self.episodes_done == 0:
            if self._play_start(on_episode) is False or episodes == 1:
                return
            episodes -= 1
        steps = _steps_per_episode(self.env)
        continued = self.episodes_done > 0
        if continued:
            self.model._last_obs = None  # SB3 then resets the environment instead of stepping a finished episode
        # Every hwenvs environment states steps_per_episode. For other environments without it (or a TimeLimit) the
        # callback alone ends training; only SB3's learning-rate and exploration schedules (constant by default) see
        # the loose bound.
        self.model.learn(
            total_timesteps=episodes * (steps or UNKNOWN_EPISODE_STEPS),
            callback=_EpisodeReporter(self, episodes, on_episode),
            reset_num_timesteps=not continued,
            progress_bar=self.progress_bar,
        )

    def _play_start(self, on_episode: EpisodeCallback | None) -> bool | None:
        """Episode 0 of a warm start: the start played through the monitored environment, its transitions stored as
        SB3 stores its own (actions scaled to [-1, 1], a truncation flagged for bootstrapping), and reported."""
        start = play_start(self.monitor, self.seed)
        model = self.model
        # __init__ takes a warm start for off-policy algorithms only, whose model has its buffer once built
        assert isinstance(model, OffPolicyAlgorithm) and model.replay_buffer is not None
        for i, action in enumerate(start.actions):
            model.replay_buffer.add(
                start.observations[i][None],
                start.next_observations[i][None],
                model.policy.scale_action(np.asarray(action)[None]),
                np.array([start.rewards[i]]),
                np.array([start.terminated[i] or start.truncated[i]]),
                [{"TimeLimit.truncated": start.truncated[i] and not start.terminated[i]}],
            )
        self.model.num_timesteps += len(start.actions)
        self.episodes_done = 1
        info = {k: v for k, v in start.info.items() if k not in _SB3_INTERNAL_INFO}
        return None if on_episode is None else on_episode(EpisodeResult(0, start.reward, info, {"start": True}))

    def state_dict(self) -> dict[str, Any]:
        """The episode count, SB3's ``save`` of the model and, for off-policy algorithms, its replay buffer (bytes)."""
        model, buffer = io.BytesIO(), None
        self.model.save(model)
        if isinstance(self.model, OffPolicyAlgorithm) and self.model.replay_buffer is not None:
            buffer, full = io.BytesIO(), self.model.replay_buffer
            self.model.replay_buffer = _trimmed(full)  # only the stored transitions, not buffer_size's zeros
            try:
                self.model.save_replay_buffer(buffer)
            finally:
                self.model.replay_buffer = full
        return {
            **super().state_dict(),
            "algo": self.algo,
            "model": model.getvalue(),
            "replay_buffer": None if buffer is None else buffer.getvalue(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Load the model with SB3's ``load`` onto this agent's environment (and its replay buffer).

        :param state: a dict from :meth:`state_dict`.
        :raises ResumeError: if the state holds another algorithm's model.
        """
        if state["algo"] != self.algo:
            raise ResumeError(f"the saved SB3 state is a {state['algo']} model, not {self.algo}")
        super().load_state_dict(state)
        cls = type(self.model)
        self.model = cls.load(io.BytesIO(state["model"]), env=self.monitor, device=self.model.device)
        if state["replay_buffer"] is not None and isinstance(self.model, OffPolicyAlgorithm):
            self.model.load_replay_buffer(io.BytesIO(state["replay_buffer"]))
            _expand(self.model.replay_buffer)


_TRIMMED = "_hwenvs_trimmed"
"""Attribute of a trimmed replay buffer naming the arrays cut to the stored transitions."""


def _trimmed(buffer: Any) -> Any:
    """A shallow copy of an SB3 replay buffer whose per-transition arrays (first axis ``buffer_size``, also inside
    dicts) hold only the stored transitions."""
    stored = buffer.buffer_size if buffer.full else buffer.pos
    trimmed, names = copy.copy(buffer), []
    for name, value in vars(buffer).items():
        if _per_transition(value, buffer.buffer_size):
            setattr(trimmed, name, value[:stored])
            names.append(name)
        elif isinstance(value, dict) and value and all(_per_transition(v, buffer.buffer_size) for v in value.values()):
            setattr(trimmed, name, {k: v[:stored] for k, v in value.items()})
            names.append(name)
    setattr(trimmed, _TRIMMED, names)
    return trimmed


def _per_transition(value: Any, size: int) -> bool:
    return isinstance(value, np.ndarray) and value.ndim > 0 and len(value) == size


def _expand(buffer: Any) -> None:
    """Undo :func:`_trimmed` in place: zero-pad the cut arrays back to ``buffer_size``."""

    def pad(array: np.ndarray) -> np.ndarray:
        full = np.zeros((buffer.buffer_size, *array.shape[1:]), dtype=array.dtype)
        full[: len(array)] = array
        return full

    for name in getattr(buffer, _TRIMMED, []):
        value = getattr(buffer, name)
        setattr(buffer, name, {k: pad(v) for k, v in value.items()} if isinstance(value, dict) else pad(value))
    if hasattr(buffer, _TRIMMED):
        delattr(buffer, _TRIMMED)


def _steps_per_episode(env: gym.Env) -> int | None:
    steps = env.unwrapped.steps_per_episode if isinstance(env.unwrapped, SearchEnv) else None
    if steps is None and env.spec is not None and env.spec.max_episode_steps:
        steps = env.spec.max_episode_steps
    return None if steps is None else int(steps)
