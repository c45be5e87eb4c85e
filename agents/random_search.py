"""Random search: every action drawn uniformly from the action space, independently at every step.

On HAQ this draws each layer's weight and activation bits uniformly from min_bits..max_bits (before the environment's
rollback into the budget): the baseline a learning agent has to beat at the same number of episodes.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from agents.policy import Policy, PolicyAgent


class UniformPolicy(Policy):
    """Uniform random actions in a Box action space, from the policy's own seeded generator."""

    def act(self, observation: np.ndarray, step: int) -> np.ndarray:
        """A uniform draw from the action space; the observation is ignored."""
        space = self.action_space
        return self.rng.uniform(space.low, space.high).astype(space.dtype)


class RandomSearchAgent(PolicyAgent):
    """Random search as an agent.

    :param env: an environment with a bounded Box action space.
    :param seed: seeds the draws (and the environment's first reset).
    """

    name = "random"

    def __init__(self, env: gym.Env, seed: int = 0) -> None:
        space = env.action_space
        if not isinstance(space, gym.spaces.Box) or not space.is_bounded():
            raise ValueError(f"random search needs a bounded Box action space, got {space}")
        super().__init__(env, UniformPolicy(), seed)
