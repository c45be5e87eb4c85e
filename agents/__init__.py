"""Search agents for hwenvs environments: HAQ's DDPG, ProxylessNAS's REINFORCE and gradient search, baselines, and
Stable-Baselines3 adapters, all behind the small :class:`agents.base.Agent` interface."""

from agents.base import Agent, EpisodeResult
from agents.registry import AGENTS, make_agent

__all__ = ["AGENTS", "Agent", "EpisodeResult", "make_agent"]
