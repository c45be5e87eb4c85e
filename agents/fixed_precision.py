"""The fixed-precision baseline: the best uniform bit width whose policy fits the budget.

This is what a user of a fixed-bit quantizer (PACT-style, one bit width for the whole network) would deploy under
the same budget: every free layer at b/b bits (the environment's first/last-layer rules applied), for the widths b
whose cost fits. Each candidate is one ordinary episode (a constant action at the centre of b's bin), widest first,
so the pipeline's best-so-far is the best fixed-precision policy. HAQ environments only: the agent needs the
environment's ``uniform_policy``, ``policy_cost`` and ``bits_to_action``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from agents.base import Agent, EpisodeCallback, EpisodeResult


class FixedPrecisionAgent(Agent):
    """Evaluates every uniform bit width that fits the budget, from ``max_bits`` down.

    :param env: a HAQ environment.
    :param seed: seeds the environment's first reset (the baseline itself has no randomness).
    """

    name = "fixed"

    def __init__(self, env: gym.Env, seed: int = 0) -> None:
        super().__init__(env, seed)
        self.haq = env.unwrapped
        missing = [m for m in ("uniform_policy", "policy_cost", "bits_to_action") if not hasattr(self.haq, m)]
        if missing:
            raise ValueError(f"the fixed-precision baseline needs a HAQ environment; {self.haq} lacks {missing}")

    def candidates(self) -> list[int]:
        """The uniform bit widths whose policy fits the budget, widest first."""
        haq = self.haq
        widths = range(haq.max_bits, haq.min_bits - 1, -1)
        fitting = [b for b in widths if haq.policy_cost(haq.uniform_policy(b)) <= haq.budget * (1 + 1e-9)]
        if not fitting:
            raise ValueError(f"no uniform bit width in {haq.min_bits}..{haq.max_bits} fits the budget {haq.budget:.4g}")
        return fitting

    def learn(self, episodes: int, on_episode: EpisodeCallback | None = None) -> None:
        """Evaluate up to ``episodes`` fitting widths (all of them need at most ``max_bits - min_bits + 1``)."""
        for episode, bits in enumerate(self.candidates()[:episodes]):
            action = np.full(self.env.action_space.shape, self.haq.bits_to_action(bits), self.env.action_space.dtype)
            self.env.reset(seed=self.seed if episode == 0 else None)
            done, episode_return, info = False, 0.0, {}
            while not done:
                _, reward, terminated, truncated, info = self.env.step(action)
                episode_return += float(reward)
                done = terminated or truncated
            result = EpisodeResult(episode, episode_return, info, {"bits": bits})
            if on_episode is not None and on_episode(result) is False:
                return
