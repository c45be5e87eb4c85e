"""Agents by name, for the CLI and benchmarks. Entries are imported lazily so that naming an agent costs nothing."""

from __future__ import annotations

import importlib
from typing import Any

import gymnasium as gym

from hwenvs.agents.base import Agent

AGENTS: dict[str, str] = {
    "ddpg": "hwenvs.agents.ddpg:DDPGAgent",
    "ddpg-warm": "hwenvs.agents.ddpg:WarmStartDDPGAgent",
    "random": "hwenvs.agents.random_search:RandomSearchAgent",
    "fixed": "hwenvs.agents.fixed_precision:FixedPrecisionAgent",
    "reinforce": "hwenvs.agents.reinforce:ReinforceAgent",
    "gradient": "hwenvs.agents.proxyless_gradient:GradientSearchAgent",
    "tpe": "hwenvs.agents.blackbox:TPEAgent",  # needs pip install "hwenvs[benchmark]" (optuna)
    "cmaes": "hwenvs.agents.blackbox:CmaEsAgent",  # ... and the cmaes package
}
"""Agent name -> "module:Class". ``sb3:ALGO`` (for example ``sb3:TD3``) names any Stable-Baselines3 algorithm."""


def make_agent(spec: str, env: gym.Env, seed: int = 0, **kwargs: Any) -> Agent:
    """Build the agent named ``spec`` on ``env``.

    :param spec: a key of :data:`AGENTS`, or ``sb3:ALGO``.
    :param env: the environment to search.
    :param seed: the agent's seed.
    :param kwargs: hyperparameters passed to the agent's constructor.
    """
    if spec.startswith("sb3:"):
        from hwenvs.agents.sb3 import SB3Agent

        return SB3Agent(env, algo=spec.split(":", 1)[1], seed=seed, **kwargs)
    if spec not in AGENTS:
        raise ValueError(f"unknown agent {spec!r}; valid: {sorted(AGENTS)} or sb3:ALGO (e.g. sb3:TD3, sb3:PPO)")
    module, cls = AGENTS[spec].split(":")
    return getattr(importlib.import_module(module), cls)(env, seed=seed, **kwargs)
