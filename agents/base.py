"""The interface every search agent implements.

An agent owns its interaction loop (a DDPG agent updates after each episode, REINFORCE after a batch, an SB3 model
inside ``learn``), so the interface is a single ``learn`` call that reports every finished episode through a
callback. The search pipeline (history, best policy, plots, Ctrl-C safety) only ever sees :class:`EpisodeResult`.

Resuming: an agent whose :attr:`Agent.resumable` is True saves everything its search depends on in
:meth:`Agent.state_dict` (networks, optimizers, buffers, random generators, :attr:`Agent.episodes_done`) and
restores it with :meth:`Agent.load_state_dict`; ``learn`` numbers its episodes from :attr:`Agent.episodes_done`, so
a restored agent continues the search it was saved from. The pipeline asks for the state inside ``on_episode``:
everything an episode changes must be done before the callback is called.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
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


class ResumeError(ValueError):
    """A search cannot be saved or resumed (an agent without saved state, another search's checkpoint...)."""


class Agent(abc.ABC):
    """A search agent bound to one environment.

    :param env: the environment to search (wrapped or not).
    :param seed: seeds the agent's own randomness and the environment's first reset.
    """

    name: str = "agent"

    resumable: bool = False
    """Whether :meth:`state_dict` and :meth:`load_state_dict` save and restore the whole search state."""

    checkpoint_every: int = 1
    """Episodes between the pipeline's checkpoints (more for agents whose state is expensive to write)."""

    resumes_exactly: bool = True
    """Whether a resumed search repeats the uninterrupted one episode for episode (where :attr:`resumable`).
    Benchmark trials checkpoint only such agents, so that a trial's result never depends on whether it was killed."""

    episodes_done: int = 0
    """Episodes finished so far; ``learn`` numbers the next episode with it and continues from there."""

    def __init__(self, env: gym.Env, seed: int = 0) -> None:
        self.env = env
        self.seed = seed
        self.episodes_done = 0

    @abc.abstractmethod
    def learn(self, episodes: int, on_episode: EpisodeCallback | None = None) -> None:
        """Run ``episodes`` more episodes, numbered from :attr:`episodes_done`, calling ``on_episode`` after each.

        Implementations increment :attr:`episodes_done` before calling ``on_episode``; the first episode of a
        search (number 0) resets the environment with ``seed``.
        """

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the search exactly (subclasses extend the base's dict).

        :raises ResumeError: if the agent is not :attr:`resumable`.
        """
        if not self.resumable:
            raise ResumeError(
                f"agent {self.name!r} ({type(self).__name__}) cannot save its state, so its searches cannot resume"
            )
        return {"episodes_done": self.episodes_done}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (on an agent built with the same arguments).

        :param state: a dict from :meth:`state_dict`.
        :raises ResumeError: if the agent is not :attr:`resumable`.
        """
        if not self.resumable:
            raise ResumeError(
                f"agent {self.name!r} ({type(self).__name__}) cannot restore a saved state, so its searches cannot "
                "resume"
            )
        self.episodes_done = int(state["episodes_done"])


def check_config(saved: Mapping[str, Any], current: Mapping[str, Any], what: str) -> None:
    """Refuse a saved state made with other hyperparameters.

    :param saved: the hyperparameters recorded in the state.
    :param current: the agent's own.
    :param what: the agent, for the message.
    :raises ResumeError: naming every hyperparameter that differs.
    """
    differ = {
        k: (saved.get(k), current.get(k)) for k in sorted(set(saved) | set(current)) if saved.get(k) != current.get(k)
    }
    if differ:
        shown = ", ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in differ.items())
        raise ResumeError(f"the saved {what} state was made with other hyperparameters ({shown})")
