"""The smallest way to plug in a search method of your own: a :class:`Policy`.

A policy only has to choose actions (:meth:`Policy.act`). It is told the spaces and a seed once
(:meth:`Policy.setup`) and sees every finished episode (:meth:`Policy.update`), which is where a search method learns.
:class:`PolicyAgent` runs the episodes and turns any policy into an :class:`hwenvs.agents.base.Agent`, so it works
with the search pipeline, the ``hwenvs search`` command (``--agent mypackage.mymodule:MyPolicy``) and the benchmarks::

    class Middle(Policy):
        def act(self, observation, step):
            return np.zeros(1, np.float32)  # every layer at the middle bit width

    agent = PolicyAgent(gym.make("HAQ-MobileNetV2-BISMO"), Middle(), seed=0)
    agent.learn(episodes=1)

``agents/examples/custom_policy.py`` is a complete example (a hill climber in about twenty lines).

A policy that thinks in bit widths asks the environment for the action of a bit width: :class:`PolicyAgent` sets
:attr:`Policy.env` (the unwrapped environment) before :meth:`Policy.setup`, and HAQ's ``self.env.bits_to_action(4)``
is the action the environment maps to 4 bits (``agents/examples/bit_widths.py``).

``hwenvs search --agent mymodule:MyPolicy`` finds ``mymodule.py`` in the current folder, as ``python -m`` would.

A search with a policy can resume after an interruption when the policy says so: set ``resumable = True`` and extend
:meth:`Policy.state_dict` / :meth:`Policy.load_state_dict` (which save the seeded generator) with whatever else it
learns.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from hwenvs.agents.base import Agent, EpisodeCallback, EpisodeResult, ResumeError


@dataclass
class Trajectory:
    """One finished episode, as a policy's :meth:`Policy.update` sees it.

    :param observations: the observation each action was chosen on, in order.
    :param actions: the actions taken (as returned by :meth:`Policy.act`, as arrays of the action space's dtype).
    :param rewards: the reward after each action (HAQ: all 0 but the last).
    :param info: the environment's info dict at the terminal step (HAQ: ``policy``, ``accuracy``, ``cost``...).
    """

    observations: list[np.ndarray] = field(default_factory=list)
    actions: list[np.ndarray] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def reward(self) -> float:
        """The episode's return."""
        return float(sum(self.rewards))


class Policy(abc.ABC):
    """A search method as a policy: implement :meth:`act`; override :meth:`setup` and :meth:`update` as needed."""

    resumable: bool = False
    """Whether :meth:`state_dict` holds everything the policy's choices depend on (set True where it does, extending
    :meth:`state_dict` and :meth:`load_state_dict` with the policy's own state)."""

    env: gym.Env | None = None
    """The environment searched (``env.unwrapped``), set by :class:`PolicyAgent` before :meth:`setup`, for its
    helpers: on HAQ, ``self.env.bits_to_action(bits)`` is the action the environment maps to ``bits``. Only read from
    it: stepping or resetting it would break the episode the agent is running, and its test split is for reports,
    never for choices."""

    def setup(self, observation_space: gym.spaces.Space, action_space: gym.spaces.Space, seed: int) -> None:
        """Called once before the first episode.

        :param observation_space: the environment's observation space.
        :param action_space: the environment's action space (HAQ: ``Box(-1, 1, (1,))``, low to high bits;
            ProxylessNAS: ``MultiDiscrete`` in oneshot mode, ``Discrete(7)`` per block in sequential mode).
        :param seed: seed your own random generator with this, so that a search repeats.
        """
        self.observation_space, self.action_space = observation_space, action_space
        self.rng = np.random.default_rng(seed)

    @abc.abstractmethod
    def act(self, observation: np.ndarray, step: int) -> np.ndarray:
        """The action for ``observation``.

        :param observation: the current observation (HAQ: the features of the layer about to be set).
        :param step: index of this step within the episode (0 at the first step).
        """

    def update(self, trajectory: Trajectory) -> dict[str, Any] | None:
        """Learn from a finished episode; return figures to log with it (or None).

        :param trajectory: the episode just finished.
        """
        return None

    def state_dict(self) -> dict[str, Any]:
        """The policy's state for resuming a search: the base class saves :attr:`rng`'s state."""
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved.

        :param state: a dict from :meth:`state_dict`.
        """
        self.rng.bit_generator.state = state["rng"]


class PolicyAgent(Agent):
    """Runs a :class:`Policy` episode after episode: the adapter from a policy to the :class:`Agent` interface.

    :param env: the environment to search.
    :param policy: the policy choosing the actions.
    :param seed: passed to :meth:`Policy.setup` and to the environment's first reset.
    """

    name = "policy"

    def __init__(self, env: gym.Env, policy: Policy, seed: int = 0) -> None:
        super().__init__(env, seed)
        self.policy = policy
        self.resumable = policy.resumable
        # unwrapped: Gymnasium's wrappers do not forward attributes, and the helpers live on the environment itself
        policy.env = env.unwrapped
        policy.setup(env.observation_space, env.action_space, seed)

    def learn(self, episodes: int, on_episode: EpisodeCallback | None = None) -> None:
        """Run ``episodes`` more episodes, updating the policy and calling ``on_episode`` after each."""
        start = self.episodes_done
        for episode in range(start, start + episodes):
            obs, _ = self.env.reset(seed=self.seed if episode == 0 else None)
            trajectory, done = Trajectory(), False
            while not done:
                action = self._as_action(self.policy.act(obs, len(trajectory.actions)))
                trajectory.observations.append(obs)
                trajectory.actions.append(action)
                obs, reward, terminated, truncated, trajectory.info = self.env.step(action)
                trajectory.rewards.append(float(reward))
                done = terminated or truncated
            extra = self.policy.update(trajectory) or {}
            result = EpisodeResult(episode, trajectory.reward, trajectory.info, extra)
            self.episodes_done = episode + 1
            if on_episode is not None and on_episode(result) is False:
                return

    def state_dict(self) -> dict[str, Any]:
        """The episode count and the policy's :meth:`Policy.state_dict`.

        :raises ResumeError: if the policy is not :attr:`Policy.resumable`.
        """
        if not self.resumable:
            raise ResumeError(
                f"policy {type(self.policy).__name__} does not save its state (Policy.resumable is False), so its "
                "searches cannot resume"
            )
        return {**super().state_dict(), "policy": self.policy.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved.

        :param state: a dict from :meth:`state_dict`.
        """
        super().load_state_dict(state)
        self.policy.load_state_dict(state["policy"])

    def _as_action(self, action: Any) -> Any:
        """``action`` as an array of the action space's dtype (float32 for HAQ's Box, int64 for ProxylessNAS's);
        composite spaces (``Dict``, ``Tuple``), which have no dtype, get the action as the policy returned it."""
        dtype = getattr(self.env.action_space, "dtype", None)
        return action if dtype is None else np.asarray(action, dtype=dtype)
