"""HAQ episodes of many environments stepped as one: what ``gym.make_vec`` builds for every HAQ id."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from hwenvs.compat import require_gymnasium_1

require_gymnasium_1("HAQVectorEnv (what gym.make_vec builds for the HAQ ids)")

from gymnasium.vector import AutoresetMode  # noqa: E402  (1.x only: refused above, with what works instead)
from gymnasium.vector.utils import batch_space  # noqa: E402

from hwenvs.envs import checks  # noqa: E402
from hwenvs.envs.bit_budget import FREE, UNQUANTIZED  # noqa: E402
from hwenvs.envs.haq_env import HAQEnv  # noqa: E402
from hwenvs.hardware.base import MAX_BITS  # noqa: E402


class HAQVectorEnv(gym.vector.VectorEnv):
    """
    ## Description

    ``num_envs`` HAQ episodes (:class:`~hwenvs.envs.haq_env.HAQEnv`, all with the same arguments) stepped by one
    vectorised step. This is what ``gym.make_vec("HAQ-MobileNetV2-BISMO", num_envs=64)`` builds;
    ``vectorization_mode="sync"`` still gives Gymnasium's ``SyncVectorEnv`` of single environments, and both return
    the same observations, rewards, flags and infos for the same actions (``tests/test_haq_vector_env.py``).
    Single-environment wrappers (``gym.make_vec(..., wrappers=[...])``) need ``vectorization_mode="sync"``: Gymnasium
    refuses them for a vector entry point; vector wrappers (``gymnasium.wrappers.vector``) wrap this one directly.

    One environment is built and shared: one network, one cost table, one accuracy cache, instead of one of each per
    sub-environment. Episodes have a fixed length, so sub-environments reset together end together, and the
    accuracies of every episode that ends on a step are asked for in one call: with ``accuracy="surrogate"`` that is
    one batched prediction, which with the vectorised steps makes the surrogate several times faster than stepping
    single environments (``benchmarks/surrogate_speed.py`` measures both).

    ## Action Space

    ``Box(-1, 1, (num_envs, 1), float32)``: one action per sub-environment, read as :class:`HAQEnv` reads one. A float
    array of shape ``(num_envs, 1)`` or ``(num_envs,)``; anything else (integers, other shapes, non-finite values)
    raises before any sub-environment moves, naming what was wrong.

    ## Observation Space

    ``Box(0, 1, (num_envs, 10), float32)``: each sub-environment's :class:`HAQEnv` observation.

    ## Rewards

    Each sub-environment's, as :class:`HAQEnv` gives it (0 until the last step, then ``0.1 * (accuracy -
    float_accuracy)`` on the validation split).

    ## Starting State

    Every sub-environment at its first layer's weight step after :meth:`reset`.

    ## Episode End

    A sub-environment terminates after its last step, and is truncated when ``max_episode_steps`` steps have passed
    (as the ``TimeLimit`` that ``gym.make`` puts on single environments: the registered limit is a horizon one step
    past the longest episode, so a natural end is terminated only). Its terminal info is :class:`HAQEnv`'s, batched
    as Gymnasium batches infos (a ``key`` array and a ``_key`` mask). Autoreset is ``NEXT_STEP``: the step after an
    episode ends resets that sub-environment, ignores its action and returns reward 0.

    ## Arguments

    * ``num_envs``: sub-environments, a positive integer.
    * ``max_episode_steps``: steps after which a sub-environment is truncated (None: never); ``gym.make_vec`` passes
      the registered limit.
    * every other keyword: an argument of :class:`HAQEnv`, checked the same way.

    ``reset(seed=...)`` takes None, an int or a list of ``num_envs`` ints or Nones (nothing is drawn at random: the
    seeds only seed ``np_random``); ``reset(options={"reset_mask": mask})`` resets the sub-environments of a boolean
    mask, and no other option is known.

    ## Version History

    * v0, hwenvs 0.2: added. The registered ``max_episode_steps`` is one step past the longest episode, so the last
      step is terminated only (it was truncated too). Needs Gymnasium >= 1.0 (an ``ImportError`` says so under 0.29).
    """

    # a class constant, but VectorEnv declares metadata as an attribute, which a ClassVar may not override
    metadata: dict[str, Any] = {  # noqa: RUF012
        "autoreset_mode": AutoresetMode.NEXT_STEP,
        "render_modes": ["ansi"],
    }

    def __init__(self, num_envs: int = 1, max_episode_steps: int | None = None, **kwargs: Any) -> None:
        self.closed = True  # until built: a constructor that raises leaves nothing for __del__ to close
        self.num_envs = checks.integer("num_envs", num_envs, low=1)
        if max_episode_steps is not None:
            max_episode_steps = checks.integer("max_episode_steps", max_episode_steps, low=1)
        self.max_episode_steps = max_episode_steps
        self.env = HAQEnv(**kwargs)
        self.render_mode = self.env.render_mode
        self.single_observation_space = self.env.observation_space
        self.single_action_space = self.env.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        rules = self.env.budget_model
        self._fixed = np.stack([rules.fixed_w, rules.fixed_a])  # [kind, layer]
        shape = (self.num_envs, self.env.num_layers)
        self._bits = np.zeros((2, *shape), dtype=np.int64)  # [kind, env, layer]: weights, then activations
        self._steps = np.full(self.num_envs, self.env.steps_per_episode)  # no episode until reset()
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._started = False
        self._together = True  # every sub-environment at the same step: see _step_together
        self._all = np.arange(self.num_envs)
        self._action_shapes = ((self.num_envs, 1), (self.num_envs,))
        self._thresholds = action_thresholds(self.env)
        # each step's observation for every sub-environment, and feature 9 of each bit width (over 8, not max_bits,
        # and an unquantized input's 8, as the single environment's)
        self._observation_rows = np.repeat(self.env._observations[:, None], self.num_envs, axis=1)
        self._bits_feature = np.array([MAX_BITS, *range(1, MAX_BITS + 1)], dtype=np.float32) / MAX_BITS
        self._last_infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        self.closed = False

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start new episodes in every sub-environment (or those of ``options["reset_mask"]``).

        :param seed: None, an int, or a list of ``num_envs`` ints or Nones, as ``SyncVectorEnv`` takes them; the
            episodes draw nothing at random, so it only seeds ``np_random``.
        :param options: ``{"reset_mask": mask}`` (a bool array of shape ``(num_envs,)``) or None.
        """
        options = checks.reset_options(type(self).__name__, options, known=("reset_mask",))
        self._seed(seed)
        mask = self._reset_mask(options.get("reset_mask"))
        self._steps[mask] = 0
        self._bits[:, mask] = 0
        self._autoreset[mask] = False
        for i in np.flatnonzero(mask):
            self._last_infos[i] = {}
        self._started = True
        self._together = self._all_alike()
        return self._observations(), {}

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """One step of every sub-environment: the ones whose episode ended on the previous step are reset instead.

        :param actions: one action per sub-environment (see the class docstring's Action Space).
        """
        if not self._started:
            raise RuntimeError("step() called before reset(); call reset() first")
        values = self._action_values(actions)
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        if self._together:
            terminated, truncated, infos = self._step_together(values, rewards)
        else:
            terminated, truncated, infos = self._step_apart(values, rewards)
        self._autoreset = terminated | truncated
        if not self._together:
            self._together = self._all_alike()
        return self._observations(), rewards, terminated, truncated, infos

    def _step_together(self, values: np.ndarray, rewards: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        """:meth:`step` when every sub-environment is at the same step (the usual case): scalar bookkeeping."""
        n, step = self.num_envs, int(self._steps[0])
        if self._autoreset[0]:
            self._steps[:] = 0
            self._bits[:] = 0
            return np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), {}
        layer, kind = divmod(step, self.env.steps_per_layer)
        fixed = self._fixed[kind, layer]
        if fixed == FREE:
            self._bits[kind, :, layer] = self.env.min_bits + np.searchsorted(self._thresholds, values, side="right")
        else:
            self._bits[kind, :, layer] = fixed
        self._steps[:] = step = step + 1
        ended = step == self.env.steps_per_episode
        infos = self._finish(self._all, rewards) if ended else {}
        limit = self.max_episode_steps is not None and step >= self.max_episode_steps
        return np.full(n, ended), np.full(n, limit), infos

    def _step_apart(self, values: np.ndarray, rewards: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        """:meth:`step` when sub-environments are at different steps (after a masked reset)."""
        resetting = self._autoreset
        moving = np.flatnonzero(~resetting)
        self._set_bits(moving, values[moving], self._steps[moving])
        self._steps[moving] += 1
        ending = moving[self._steps[moving] == self.env.steps_per_episode]
        infos = self._finish(ending, rewards) if ending.size else {}
        self._steps[resetting] = 0
        self._bits[:, resetting] = 0
        terminated = np.zeros(self.num_envs, dtype=bool)
        terminated[ending] = True
        truncated = np.zeros(self.num_envs, dtype=bool)
        if self.max_episode_steps is not None:
            truncated[moving] = self._steps[moving] >= self.max_episode_steps
        return terminated, truncated, infos

    def _all_alike(self) -> bool:
        """Whether every sub-environment is at the same step with the same autoreset flag."""
        return bool((self._steps == self._steps[0]).all() and (self._autoreset == self._autoreset[0]).all())

    def render(self) -> tuple[str, ...] | None:  # type: ignore[override, unused-ignore]  # Gymnasium < 1.3 types frames as a TypeVar; ansi frames are text
        """Each sub-environment's :meth:`HAQEnv.render` text (``render_mode="ansi"``), else None."""
        if self.render_mode != "ansi":
            return None
        texts: list[str] = []
        for i in range(self.num_envs):
            self.env._restore_episode(
                {"step": int(self._steps[i]), "w": self._bits[0, i], "a": self._bits[1, i],
                 "last_info": self._last_infos[i]}
            )  # fmt: skip
            text = self.env.render()
            assert text is not None  # the sub-environment renders in ansi mode too: text
            texts.append(text)
        return tuple(texts)

    def close_extras(self, **kwargs: Any) -> None:
        self.env.close()

    # -- the vectorised episode -------------------------------------------------------------------------------------

    def _set_bits(self, rows: np.ndarray, values: np.ndarray, steps: np.ndarray | int) -> None:
        """Set the bits of each row's coming step (``steps``) from its action, or the rules on a fixed side."""
        layer, kind = np.divmod(steps, self.env.steps_per_layer)
        chosen = self.env.min_bits + np.searchsorted(self._thresholds, values, side="right")
        fixed = self._fixed[kind, layer]
        self._bits[kind, rows, layer] = np.where(fixed == FREE, chosen, fixed)

    def _finish(self, rows: np.ndarray, rewards: np.ndarray) -> dict[str, Any]:
        """Roll back the episodes of ``rows``, score them in one call, and fill their rewards; their batched infos."""
        w, a = self._bits[0], self._bits[1]
        if self.env.steps_per_layer == 1:
            a[rows] = UNQUANTIZED
        for i in rows:
            w[i], a[i] = self.env.budget_model.rollback(w[i], a[i])
        infos: dict[str, Any] = {}
        for i, acc in zip(rows, self.env.accuracies(w[rows], a[rows], "val"), strict=True):
            info = self.env.terminal_info(w[i].copy(), a[i].copy(), acc, "val")
            rewards[i] = float(info["reward"])
            self._last_infos[i] = info
            infos = self._add_info(infos, info, int(i))
        return infos

    def _observations(self) -> np.ndarray:
        """Every sub-environment's observation, as :meth:`HAQEnv._observation` gives one."""
        last = self.env.steps_per_episode - 1
        if self._together:
            step = int(self._steps[0])
            obs = self._observation_rows[min(step, last)].copy()
            if step > 0:
                layer, kind = divmod(step - 1, self.env.steps_per_layer)
                obs[:, 8] = self._bits_feature[self._bits[kind, :, layer]]
            return obs
        obs = self.env._observations[np.minimum(self._steps, last)]
        rows = np.flatnonzero(self._steps > 0)
        layers, kinds = np.divmod(self._steps[rows] - 1, self.env.steps_per_layer)
        obs[rows, 8] = self._bits_feature[self._bits[kinds, rows, layers]]
        return obs

    # -- checking input -----------------------------------------------------------------------------------------------

    def _action_values(self, actions: Any) -> np.ndarray:
        """The ``num_envs`` real numbers ``actions`` holds, as float64.

        :raises TypeError: not an array of real floating-point numbers (integers included, as :class:`HAQEnv` does).
        :raises ValueError: a shape other than ``(num_envs, 1)`` or ``(num_envs,)``, or a non-finite value.
        """
        arr = actions
        if type(arr) is np.ndarray and arr.dtype.kind == "f" and arr.shape in self._action_shapes:
            values = arr.astype(np.float64).reshape(-1)
            if math.isfinite(values.sum()):  # the usual case, checked before any message is built (NaN, inf spread)
                return values
        expected = (
            f"expected a float array of shape ({self.num_envs}, 1) or ({self.num_envs},), an element of "
            f"{self.action_space}"
        )
        try:
            arr = np.asarray(actions)
        except (TypeError, ValueError, OverflowError):
            raise TypeError(f"actions {checks.shown(actions)} are not numbers; {expected}") from None
        if arr.dtype.kind != "f":
            why = " (integers are refused: for bit widths use env.env.bits_to_action)" if arr.dtype.kind in "iu" else ""
            raise TypeError(f"actions of dtype {arr.dtype} are not real floats{why}; {expected}")
        if arr.shape not in ((self.num_envs, 1), (self.num_envs,)):
            raise ValueError(f"actions have shape {arr.shape}; {expected}")
        values = arr.reshape(-1).astype(np.float64)
        if not np.isfinite(values).all():
            bad = int(np.flatnonzero(~np.isfinite(values))[0])
            raise ValueError(
                f"action of sub-environment {bad} is {values[bad]}, not finite (finite values outside [-1, 1] are "
                f"clipped); {expected}"
            )
        return values

    def _seed(self, seed: int | list[int | None] | None) -> None:
        if isinstance(seed, (list, tuple)):
            if len(seed) != self.num_envs:
                raise ValueError(
                    f"seed as a list needs {self.num_envs} entries (one per sub-environment), got {len(seed)}"
                )
            for i, s in enumerate(seed):
                if s is not None:
                    checks.integer(f"seed[{i}]", s, low=0)
            seed = seed[0]
        elif seed is not None:
            seed = checks.integer("seed", seed, low=0, valid="None, a non-negative integer, or a list of them")
        if seed is not None:
            self._np_random, self._np_random_seed = gym.utils.seeding.np_random(seed)

    def _reset_mask(self, mask: Any) -> np.ndarray:
        if mask is None:
            return np.ones(self.num_envs, dtype=bool)
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != (self.num_envs,):
            raise ValueError(
                f"options['reset_mask'] must be a bool numpy array of shape ({self.num_envs},), got "
                f"{checks.shown(mask)}"
            )
        return mask


def action_thresholds(env: HAQEnv) -> np.ndarray:
    """The smallest action of each bit width above ``min_bits``, found with ``env.action_to_bits`` itself.

    ``action_to_bits`` never decreases as the action grows, so the bit width of an action is ``min_bits`` plus the
    number of thresholds at or below it: one ``searchsorted`` for all sub-environments, equal bit for bit to calling
    ``action_to_bits`` on each (a test checks both at and next to every threshold).
    """
    thresholds = []
    for bits in range(env.min_bits + 1, env.max_bits + 1):
        low, high = -1.0, 1.0  # action_to_bits(low) < bits <= action_to_bits(high)
        while True:
            middle = low / 2 + high / 2
            if middle in (low, high):
                break
            if env.action_to_bits(middle) >= bits:
                high = middle
            else:
                low = middle
        thresholds.append(high)
    return np.array(thresholds, dtype=np.float64)
