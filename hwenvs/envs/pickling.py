"""Environments that pickle as the arguments they were made with, and rebuild themselves when unpickled.

A HAQ environment holds its task's images, the float network and its quantized copies: pickled whole, MobileNetV2
on the embedded task was 166 MB (ProxylessNAS 93 MB), which every vector-env, Ray or Tune worker that receives one
paid again. Everything heavy is a function of the constructor's arguments, so the pickle holds only those and the
episode in progress; unpickling builds the environment as ``gym.make`` would (the shipped weights and the task come
from the package, and per-process caches make later builds in the same worker cheap) and puts the episode back.
"""

from __future__ import annotations

from typing import Any


class PicklesByArguments:
    """Mixin for an environment whose ``__init__`` is wrapped by :func:`hwenvs.envs.checks.checked_init` (which
    records the checked arguments as ``_arguments``). Subclasses say what an episode in progress is."""

    _arguments: dict[str, Any]

    def _episode_state(self) -> dict[str, Any]:
        """What the episode in progress needs to continue after unpickling (the environment's own fields)."""
        raise NotImplementedError

    def _restore_episode(self, state: dict[str, Any]) -> None:
        """Put back what :meth:`_episode_state` saved."""
        raise NotImplementedError

    def __getstate__(self) -> dict[str, Any]:
        return {
            "arguments": self._arguments,
            "episode": self._episode_state(),
            # gymnasium.Env's generator and the seed it came from: the episode's randomness continues as it was
            "np_random": (getattr(self, "_np_random", None), getattr(self, "_np_random_seed", None)),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        type(self).__init__(self, **state["arguments"])
        self._np_random, self._np_random_seed = state["np_random"]
        self._restore_episode(state["episode"])
