"""The smallest way to plug in a search method of your own: a :class:`Policy`.

A policy only has to choose actions (:meth:`Policy.act`). It is told the spaces and a seed once
(:meth:`Policy.setup`) and sees every finished episode (:meth:`Policy.update`), which is where a search method learns.
:class:`PolicyAgent` runs the episodes and turns any policy into an :class:`agents.base.Agent`, so it works with the
search pipeline, the ``hwenvs search`` command (``--agent mypackage.mymodule:MyPolicy``) and the benchmarks::

    class Middle(Policy):
        def act(self, observation, step):
            return np.zeros(1, np.float32)  # every layer at the middle bit width

    agent = PolicyAgent(gym.make("HAQ-MobileNetV2-BISMO"), Middle(), seed=0)
    agent.learn(episodes=1)

``agents/examples/custom_policy.py`` is a complete example (a hill climber in about twenty lines).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from agents.base import Agent, EpisodeCallback, EpisodeResult


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
        policy.setup(env.observation_space, env.action_space, seed)

    def learn(self, episodes: int, on_episode: EpisodeCallback | None = None) -> None:
        """Run ``episodes`` episodes, updating the policy and calling ``on_episode`` after each."""
        for episode in range(episodes):
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
            if on_episode is not None and on_episode(result) is False:
                return

    def _as_action(self, action: Any) -> Any:
        """``action`` as an array of the action space's dtype (float32 for HAQ's Box, int64 for ProxylessNAS's);
        composite spaces (``Dict``, ``Tuple``), which have no dtype, get the action as the policy returned it."""
        dtype = getattr(self.env.action_space, "dtype", None)
        return action if dtype is None else np.asarray(action, dtype=dtype)
