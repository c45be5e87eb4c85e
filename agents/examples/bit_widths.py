"""A policy that chooses bit widths, not actions: HAQ's environment gives the action of each bit width.

:class:`hwenvs.agents.policy.PolicyAgent` hands every policy the environment as ``self.env``; on HAQ,
``self.env.bits_to_action(bits)`` is the action that :meth:`~hwenvs.envs.haq_env.HAQEnv.step` maps to ``bits``, and
observation feature 10 (index 9) says whether the coming step sets weight bits (1) or activation bits (0). Run it
with::

    hwenvs search HAQ-MobileNetV2-BISMO --agent hwenvs.agents.examples.bit_widths:UniformBitsPolicy \\
        --agent-kwarg w_bits=6 --agent-kwarg a_bits=4 --episodes 1

Fixed layers (the first and last by default) keep their bits whatever the action, and the rollback after the last
step lowers bits where the policy breaks the budget.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from hwenvs.agents.policy import Policy
from hwenvs.envs.contract import BitAllocationEnv, require

WEIGHT_STEP_FEATURE = 9
"""Index of HAQ's observation feature that is 1 on a step setting weight bits, 0 on one setting activation bits."""


class UniformBitsPolicy(Policy):
    """Every free layer at ``w_bits`` weights and ``a_bits`` activations.

    :param w_bits: weight bit width.
    :param a_bits: activation bit width (default: ``w_bits``).
    """

    def __init__(self, w_bits: int = 4, a_bits: int | None = None) -> None:
        self.w_bits = w_bits
        self.a_bits = w_bits if a_bits is None else a_bits

    def setup(self, observation_space: gym.spaces.Space, action_space: gym.spaces.Space, seed: int) -> None:
        """Check the environment maps bits to actions (a HAQ environment) and that both widths are in its range."""
        super().setup(observation_space, action_space, seed)
        if self.env is None:
            raise ValueError(f"{type(self).__name__} needs its environment: run it with PolicyAgent, which sets it")
        self.haq = require(self.env, BitAllocationEnv, type(self).__name__)
        self.actions = {weights: self.haq.bits_to_action(b) for weights, b in ((1, self.w_bits), (0, self.a_bits))}

    def act(self, observation: np.ndarray, step: int) -> np.ndarray:
        """The action of ``w_bits`` on a weight step, of ``a_bits`` on an activation step."""
        return np.array([self.actions[int(observation[WEIGHT_STEP_FEATURE])]], dtype=np.float32)
