"""Agents by name, for the CLI and benchmarks. Entries are imported lazily so that naming an agent costs nothing."""

from __future__ import annotations

import importlib
from collections.abc import Collection, Mapping
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


CONFIGS: dict[str, str] = {
    "ddpg": "hwenvs.agents.ddpg:DDPGConfig",
    "ddpg-warm": "hwenvs.agents.ddpg:DDPGConfig",
    "reinforce": "hwenvs.agents.reinforce:ReinforceConfig",
    "gradient": "hwenvs.agents.proxyless_gradient:GradientConfig",
}
"""Agents whose hyperparameters are the fields of a config dataclass, which checks their values."""

SB3_AGENT_OPTIONS = ("policy", "progress_bar", "info_keywords", "warm_start")
"""``SB3Agent``'s own keyword arguments; the others go to the SB3 algorithm."""


def check_agent_kwargs(spec: str, kwargs: Mapping[str, Any], names_only: Collection[str] = ()) -> None:
    """Check an agent's hyperparameters without an environment (what ``hwenvs benchmark --dry-run`` can check):
    every name against what the agent takes, and the values where a config dataclass states them.

    :param spec: what :func:`make_agent` takes (``ddpg``, ``sb3:TD3``, ``module:Class``...).
    :param kwargs: hyperparameters, names and values checked.
    :param names_only: further hyperparameter names whose values are set later (a benchmark's episode counts).
    :raises TypeError: an unknown name (with a close match and the valid ones), or a value of the wrong type.
    :raises ValueError: an unknown agent or SB3 algorithm, or a value out of range.
    """
    from hwenvs.envs import checks

    names = {**dict.fromkeys(names_only), **kwargs}
    if spec.startswith("sb3:"):
        from hwenvs.agents.sb3 import algorithm_class

        cls = algorithm_class(spec.split(":", 1)[1])
        algo = {k: v for k, v in names.items() if k not in SB3_AGENT_OPTIONS}
        checks.keyword_options(f"{spec} hyperparameters", algo, cls.__init__, given=("self", "policy", "env", "seed"))
        return
    if spec in CONFIGS:
        module, name = CONFIGS[spec].split(":")
        config = getattr(importlib.import_module(module), name)
        checks.keyword_options(f"{spec} hyperparameters", names, config)
        config(**kwargs)  # the dataclass checks the values it is given
        return
    target = AGENTS.get(spec, spec)
    if ":" not in target:
        raise ValueError(f"unknown agent {spec!r}; valid: {sorted(AGENTS)}, sb3:ALGO or module:Class")
    module, name = target.split(":")
    cls = getattr(importlib.import_module(module), name)
    checks.keyword_options(f"{spec} hyperparameters", names, cls.__init__, given=("self", "env", "seed"))
