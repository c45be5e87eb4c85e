"""Random search: every action drawn uniformly from the action space, independently at every step.

On HAQ this draws each layer's weight and activation bits uniformly from min_bits..max_bits (before the environment's
rollback into the budget): the baseline a learning agent has to beat at the same number of episodes. On ProxylessNAS
it draws every block's candidate uniformly (oneshot: all blocks in one ``MultiDiscrete`` action; sequential: one
block per step, only among the candidates :meth:`action_masks` allows, so ``zero`` is never drawn where it would be
replaced by ``k3e3``). Any other Gymnasium action space works too.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from hwenvs.agents.base import EpisodeCallback, EpisodeResult
from hwenvs.agents.policy import Policy, PolicyAgent
from hwenvs.agents.start import play_start, start_actions

MaskFn = Callable[[], np.ndarray]
"""Returns the flags of the actions valid now (the ``action_masks()`` convention of sb3-contrib's MaskablePPO)."""


class UniformPolicy(Policy):
    """Uniform random actions from the action space, drawn from the policy's own seeded generators.

    A bounded ``Box`` is drawn with :attr:`rng` (``rng.uniform(low, high)``); ``Discrete`` and ``MultiDiscrete`` draws
    honour ``action_masks`` when given; any other space (``MultiBinary``, ``Dict``, ``Tuple``, unbounded ``Box``...)
    uses its own ``sample()`` on a private copy of the space seeded with the policy's seed, so that the environment's
    ``action_space`` generator is left alone.

    :param action_masks: called before every draw for the valid actions: ``Discrete(n)``, ``n`` flags;
        ``MultiDiscrete(nvec)``, ``sum(nvec)`` flags (each entry's in turn) or one array of flags per entry.
    """

    resumable = True

    def __init__(self, action_masks: MaskFn | None = None) -> None:
        self.action_masks = action_masks

    def setup(self, observation_space: gym.spaces.Space, action_space: gym.spaces.Space, seed: int) -> None:
        """Keep the spaces and seed the generators."""
        super().setup(observation_space, action_space, seed)
        self._space = copy.deepcopy(action_space)
        self._space.seed(seed)

    def state_dict(self) -> dict[str, Any]:
        """The generators' states: :attr:`rng`'s, and a copy of the private space (whose sub-spaces, for composite
        spaces, hold generators of their own)."""
        return {**super().state_dict(), "space": copy.deepcopy(self._space)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved.

        :param state: a dict from :meth:`state_dict`.
        """
        super().load_state_dict(state)
        self._space = copy.deepcopy(state["space"])

    def act(self, observation: Any, step: int) -> Any:
        """A uniform draw from the action space (among the valid actions when masked); the observation is ignored."""
        space = self.action_space
        mask = None if self.action_masks is None else self.action_masks()
        if isinstance(space, gym.spaces.Box) and space.is_bounded():
            return self.rng.uniform(space.low, space.high).astype(space.dtype)
        if isinstance(space, gym.spaces.Discrete):
            flags = np.ones(int(space.n), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
            valid = np.flatnonzero(_checked(flags, (int(space.n),)))
            return np.asarray(space.start + self.rng.choice(valid), dtype=space.dtype)[()]
        if isinstance(space, gym.spaces.MultiDiscrete) and space.nvec.ndim == 1:
            nvec = space.nvec.astype(np.int64)
            masks = _split_mask(mask, nvec) if mask is not None else [np.ones(n, dtype=bool) for n in nvec]
            draw = [self.rng.choice(np.flatnonzero(m)) for m in masks]
            return (np.asarray(draw, dtype=np.int64) + space.start).astype(space.dtype)
        if mask is not None:
            raise ValueError(f"random search can only mask Discrete and 1-D MultiDiscrete actions, not {space}")
        return self._space.sample()


def _checked(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if mask.shape != shape:
        raise ValueError(f"action mask of shape {mask.shape} for {shape[0]} actions")
    if not mask.any():
        raise ValueError("the action mask allows no action")
    return mask


def _split_mask(mask: Any, nvec: np.ndarray) -> list[np.ndarray]:
    if isinstance(mask, list | tuple) and len(mask) == len(nvec) and all(np.ndim(m) == 1 for m in mask):
        parts = [np.asarray(m, dtype=bool) for m in mask]  # one array of flags per entry
    else:
        flat = np.asarray(mask, dtype=bool).reshape(-1)
        if flat.size != nvec.sum():
            raise ValueError(f"action mask of {flat.size} flags for MultiDiscrete {nvec.tolist()} ({nvec.sum()} flags)")
        parts = np.split(flat, np.cumsum(nvec)[:-1])
    return [_checked(p, (int(n),)) for p, n in zip(parts, nvec, strict=True)]


class RandomSearchAgent(PolicyAgent):
    """Random search as an agent.

    :param env: an environment with any Gymnasium action space; if it has ``action_masks()`` (sb3-contrib's
        convention, e.g. sequential ProxylessNAS) only the valid actions are drawn.
    :param seed: seeds the draws (and the environment's first reset).
    :param use_masks: draw only the actions ``action_masks()`` allows, where the environment has it.
    :param warm_start: play the best uniform policy within the budget as episode 0 (HAQ;
        :mod:`hwenvs.agents.start`); the uniform draws that follow are the ones a cold search makes from episode 0, so
        a warm and a cold search of the same seed differ only by the start.
    """

    name = "random"

    def __init__(self, env: gym.Env, seed: int = 0, use_masks: bool = True, warm_start: bool = False) -> None:
        masks = getattr(env.unwrapped, "action_masks", None) if use_masks else None
        super().__init__(env, UniformPolicy(masks if callable(masks) else None), seed)
        self.warm_start = warm_start
        if warm_start:
            start_actions(env)  # no start (not HAQ, nothing fits the budget): fail now, not at the first episode

    def learn(self, episodes: int, on_episode: EpisodeCallback | None = None) -> None:
        """Run ``episodes`` more episodes: the start first where asked for, then uniform draws."""
        if self.warm_start and self.episodes_done == 0 and episodes > 0:
            start = play_start(self.env, self.seed)
            self.episodes_done = 1
            if (
                on_episode is not None
                and on_episode(EpisodeResult(0, start.reward, start.info, {"start": True})) is False
            ):
                return
            episodes -= 1
        super().learn(episodes, on_episode)
