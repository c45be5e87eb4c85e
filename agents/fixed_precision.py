"""The fixed-precision baseline: the best uniform bit widths whose policy fits the budget.

This is what a user of a fixed-bit quantizer (PACT-style, one weight and one activation bit width for the whole
network) would deploy under the same budget: every free layer at w/a bits (the environment's first/last-layer rules
applied), for the pairs whose cost fits (:meth:`HAQEnv.uniform_pairs`, the same candidates as the "best uniform"
reference point). Each candidate is one ordinary episode (constant actions at the centres of the bits' bins), most
expensive first, so the pipeline's best-so-far is the best fixed-precision policy. HAQ environments only.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from hwenvs.agents.base import Agent, EpisodeCallback, EpisodeResult
from hwenvs.agents.start import box_action_space
from hwenvs.envs.contract import BitAllocationEnv, require


class FixedPrecisionAgent(Agent):
    """Evaluates every uniform ``(w_bits, a_bits)`` pair that fits the budget, most expensive first.

    :param env: a HAQ environment.
    :param seed: seeds the environment's first reset (the baseline itself has no randomness).
    """

    name = "fixed"
    resumable = True  # its only state is the episode count: the candidates are always the same

    def __init__(self, env: gym.Env, seed: int = 0) -> None:
        super().__init__(env, seed)
        self.haq = require(env, BitAllocationEnv, "the fixed-precision baseline")

    def candidates(self) -> list[tuple[int, int]]:
        """The uniform ``(w_bits, a_bits)`` pairs whose policy fits the budget, most expensive first."""
        fitting = self.haq.uniform_pairs()
        if not fitting:
            raise ValueError(
                f"no uniform bit widths in {self.haq.min_bits}..{self.haq.max_bits} fit the budget "
                f"{self.haq.budget:.4g}"
            )
        return fitting

    def learn(self, episodes: int, on_episode: EpisodeCallback | None = None) -> None:
        """Evaluate up to ``episodes`` more fitting pairs, from the :attr:`episodes_done`-th on (all of them need at
        most ``(max_bits - min_bits + 1) ** 2`` episodes)."""
        space = box_action_space(self.env)
        start = self.episodes_done
        for episode, (w_bits, a_bits) in enumerate(self.candidates()[start : start + episodes], start):
            actions = [np.full(space.shape, self.haq.bits_to_action(b), space.dtype) for b in (w_bits, a_bits)]
            self.env.reset(seed=self.seed if episode == 0 else None)
            done, episode_return, step = False, 0.0, 0
            info: dict[str, Any] = {}
            while not done:
                _, reward, terminated, truncated, info = self.env.step(actions[step % self.haq.steps_per_layer])
                episode_return += float(reward)
                done, step = terminated or truncated, step + 1
            result = EpisodeResult(episode, episode_return, info, {"w_bits": w_bits, "a_bits": a_bits})
            self.episodes_done = episode + 1
            if on_episode is not None and on_episode(result) is False:
                return
