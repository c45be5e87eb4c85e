"""Search agents for hwenvs environments: HAQ's DDPG, ProxylessNAS's REINFORCE and gradient search, baselines, and
Stable-Baselines3 adapters, all behind the small :class:`hwenvs.agents.base.Agent` interface.

The plug-in API: subclass :class:`Policy` (choose actions, learn from finished episodes) and run it with
:class:`PolicyAgent`, or subclass :class:`Agent`; :func:`run_search` runs any agent and writes ``history.csv``,
``policy.json`` and ``plot.png`` as ``hwenvs search`` does. Importing this package imports neither torch nor
Stable-Baselines3; the agents that need them are loaded by :func:`make_agent` when named.
"""

from hwenvs.agents.base import Agent, EpisodeResult
from hwenvs.agents.pipeline import SearchResult, build_agent, run_search
from hwenvs.agents.policy import Policy, PolicyAgent, Trajectory
from hwenvs.agents.registry import AGENTS, make_agent

__all__ = [
    "AGENTS",
    "Agent",
    "EpisodeResult",
    "Policy",
    "PolicyAgent",
    "SearchResult",
    "Trajectory",
    "build_agent",
    "make_agent",
    "run_search",
]
