"""The interface every search agent implements.

An agent owns its interaction loop (a DDPG agent updates after each episode, REINFORCE after a batch, an SB3 model
inside ``learn``), so the interface is a single ``learn`` call that reports every finished episode through a
callback. The search pipeline (history, best policy, plots, Ctrl-C safety) only ever sees :class:`EpisodeResult`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym


@dataclass
class EpisodeResult:
    """One finished episode.

    :param episode: 0-based episode index within the search.
    :param reward: the episode's return.
    :param info: the environment's info dict at the terminal step.
    :param extra: agent-specific figures to log (exploration noise, losses...).
    """

    episode: int
    reward: float
    info: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


EpisodeCallback = Callable[[EpisodeResult], "bool | None"]
"""Called after every episode; returning False asks the agent to stop early."""


class Agent(abc.ABC):
    """A search agent bound to one environment.

    :param env: the environment to search (wrapped or not).
    :param seed: seeds the agent's own randomness and the environment's first reset.
    """

    name: str = "agent"

    def __init__(self, env: gym.Env, seed: int = 0) -> None:
        self.env = env
        self.seed = seed

    @abc.abstractmethod
    def learn(self, episodes: int, on_episode: EpisodeCallback | None = None) -> None:
        """Run ``episodes`` episodes, calling ``on_episode`` after each one."""
