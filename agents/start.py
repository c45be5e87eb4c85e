"""A search's start: the best uniform policy within the budget, played as the search's first episode.

Agents that can take a start (``warm_start=True``: DDPG, CMA-ES, TPE, random search, Stable-Baselines3's off-policy
algorithms) all begin from the same solution, so that a warm-started group compares search methods and not starts:

* DDPG plays it as episode 0 and fits its actor to it (``ddpg-warm``);
* CMA-ES centres its first distribution on it (its mean) and plays it as the first trial; TPE plays it as its first
  (enqueued) trial;
* random search plays it as episode 0, then draws the same uniform episodes as a cold search would (its generator
  is untouched by the start);
* TD3, SAC and the other off-policy SB3 algorithms play it as episode 0 and keep its transitions in their replay
  buffer. On-policy algorithms (PPO, A2C) cannot take it honestly: a scripted episode is not a sample of their
  policy, so their gradient would be biased.

The best uniform policy is chosen on validation (:meth:`~hwenvs.envs.contract.BitAllocationEnv.best_uniform_policy`),
so a start never looks at the test split. Starts exist for HAQ environments (those with a budget and uniform
policies); asking for one elsewhere is a ``ContractError`` naming what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from hwenvs.envs.contract import BitAllocationEnv, require


def start_bits(env: gym.Env, needed_by: str = "warm_start") -> list[int]:
    """The bits the best uniform policy sets at each step of an episode (weights, then activations, layer by layer).
    A side the layer rules fix (the first and last layers' 8 bits, an unquantized input) ignores its step's action,
    so it reads as its bits clipped into ``min_bits..max_bits``, or ``max_bits`` where unquantized: a valid action.

    :param env: a HAQ environment (wrapped or not).
    :param needed_by: the option asking, for the error message.
    :raises ContractError: ``env`` is not a bit-allocation environment.
    :raises ValueError: no uniform policy fits the budget.
    """
    haq: BitAllocationEnv = require(env, BitAllocationEnv, needed_by)
    policy = haq.best_uniform_policy()
    if policy is None:
        raise ValueError(f"{needed_by}: no uniform policy fits this environment's budget, so there is no start")
    sides = [b if b is not None else haq.max_bits for layer in policy for b in layer[: haq.steps_per_layer]]
    return [min(max(b, haq.min_bits), haq.max_bits) for b in sides]


def start_actions(env: gym.Env, needed_by: str = "warm_start") -> list[np.ndarray]:
    """The actions, step by step, that play the start (each bit width's bin centre), in the action space's dtype.

    :param env: a HAQ environment (wrapped or not).
    :param needed_by: the option asking, for the error message.
    """
    haq: BitAllocationEnv = require(env, BitAllocationEnv, needed_by)
    space = box_action_space(env)
    return [np.full(space.shape, haq.bits_to_action(b), space.dtype) for b in start_bits(env, needed_by)]


def box_action_space(env: gym.Env) -> gym.spaces.Box:
    """``env``'s action space, which a bit-allocation environment's agents fill with one value (a bin's centre)."""
    space = env.action_space
    # HAQ acts with a Box (one continuous action a step): its shape and dtype are set, unlike a general Space's
    assert isinstance(space, gym.spaces.Box), f"a HAQ environment's action space is a Box, not {space}"
    return space


@dataclass
class StartEpisode:
    """The start, played: every transition of its episode, for agents that learn from transitions.

    :param observations: the observation each action was taken on.
    :param actions: the actions.
    :param next_observations: the observation after each action.
    :param rewards: the reward after each action.
    :param terminated: whether each step ended the episode naturally.
    :param truncated: whether each step cut the episode short.
    :param info: the terminal step's info.
    """

    observations: list[np.ndarray] = field(default_factory=list)
    actions: list[np.ndarray] = field(default_factory=list)
    next_observations: list[np.ndarray] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    terminated: list[bool] = field(default_factory=list)
    truncated: list[bool] = field(default_factory=list)
    infos: list[dict[str, Any]] = field(default_factory=list)

    @property
    def reward(self) -> float:
        """The episode's return."""
        return float(sum(self.rewards))

    @property
    def info(self) -> dict[str, Any]:
        """The terminal step's info."""
        return self.infos[-1]


def play_start(env: gym.Env, seed: int | None, needed_by: str = "warm_start") -> StartEpisode:
    """Reset ``env`` with ``seed`` and play the start as one episode through its own ``step``.

    :param env: a HAQ environment (wrapped or not: a wrapper sees the episode as any other).
    :param seed: passed to ``reset`` (a search's first episode resets with the search's seed).
    :param needed_by: the option asking, for the error message.
    """
    actions = start_actions(env, needed_by)
    episode = StartEpisode()
    obs, _ = env.reset(seed=seed)
    for action in actions:
        next_obs, reward, terminated, truncated, info = env.step(action)
        episode.observations.append(obs)
        episode.actions.append(action)
        episode.next_observations.append(next_obs)
        episode.rewards.append(float(reward))
        episode.terminated.append(bool(terminated))
        episode.truncated.append(bool(truncated))
        episode.infos.append(dict(info))
        obs = next_obs
        if terminated or truncated:
            break
    return episode
