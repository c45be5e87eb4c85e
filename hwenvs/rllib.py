"""Ray RLlib on the hwenvs environments: every id registered with Ray, and accuracy and cost as RLlib metrics.

RLlib builds its environments in remote env runners, processes that never imported hwenvs, so a plain
``gym.make("HAQ-MobileNetV2-BISMO")`` there fails with ``NameNotFound``. :func:`register_with_ray` registers every
hwenvs id with Ray Tune's registry under its own name, with a creator that imports hwenvs in the process that builds
the environment; :class:`HwenvsMetricsCallback` logs each finished episode's ``accuracy``, ``cost_ratio`` and cost
(HAQ's ``cost``, ProxylessNAS's ``latency_ms``) from its terminal info, so they appear in every training result
under ``result["env_runners"]["hwenvs"]`` (and in Tune's TensorBoard and CSV logs as ``env_runners/hwenvs/...``)::

    from ray.rllib.algorithms.ppo import PPOConfig

    from hwenvs.rllib import HwenvsMetricsCallback, register_with_ray

    register_with_ray()
    config = (
        PPOConfig()
        .environment("HAQ-MobileNetV2-BISMO", env_config={"preserve_ratio": 0.5})  # env_config: gym.make kwargs
        .env_runners(num_env_runners=2)
        .training(gamma=1.0, train_batch_size_per_learner=1060)  # ten 106-step episodes per iteration
        .callbacks(HwenvsMetricsCallback)
    )
    algo = config.build_algo()
    print(algo.train()["env_runners"]["hwenvs"])  # {'accuracy': ..., 'cost_ratio': ..., 'cost': ...}

Needs ``pip install "hwenvs[ray]"``. The callback is written for RLlib's new API stack (the default since Ray 2.40)
and single-agent episodes, which is what the hwenvs environments are.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

RAY_HINT = 'hwenvs.rllib needs Ray RLlib (ray[tune,rllib] >= 2.40): pip install "hwenvs[ray]"'
"""The error of every use of this module where Ray is not installed (the module itself imports without it)."""

_RAY_ERROR: ImportError | None = None
try:
    from ray.rllib.callbacks.callbacks import RLlibCallback
except ImportError as exc:  # the extra is not installed: the module imports, using it raises RAY_HINT
    # with Ray installed, mypy sees a class assigned over RLlibCallback; without it (ignore_missing_imports: Any),
    # nothing to ignore: unused-ignore keeps the line clean either way
    RLlibCallback, _RAY_ERROR = object, exc  # type: ignore[assignment,misc,unused-ignore]


def _require_ray() -> None:
    if _RAY_ERROR is not None:
        raise ImportError(RAY_HINT) from _RAY_ERROR


METRICS_KEY = "hwenvs"
"""The group of the metrics in a result's ``env_runners`` section."""

EPISODE_METRICS = ("accuracy", "cost_ratio", "cost", "latency_ms")
"""Terminal-info entries logged for each episode, where the environment gives them (HAQ gives ``cost``,
ProxylessNAS ``latency_ms``; ``accuracy`` is on the validation split, the reward's)."""


def hwenvs_ids() -> list[str]:
    """Every environment id hwenvs registers with Gymnasium."""
    from hwenvs.registration import haq_env_ids, proxylessnas_env_ids

    return [*haq_env_ids(), *proxylessnas_env_ids()]


def make_env(env_id: str, env_config: Mapping[str, Any] | None = None) -> Any:
    """``gym.make(env_id, **env_config)``, with hwenvs imported first (a remote env runner has not imported it).

    With ``gym_env_vectorize_mode="vector_entry_point"`` RLlib asks for a whole vector at once (``num_envs`` in the
    config): the HAQ ids give :class:`~hwenvs.envs.haq_vector_env.HAQVectorEnv` (``gym.make_vec``'s vectorised
    environment), so an env runner steps all its sub-environments at once.

    :param env_id: a registered hwenvs id.
    :param env_config: ``gym.make`` keyword arguments (RLlib passes its ``env_config``, an ``EnvContext``).
    :raises ValueError: a vector asked for an id without a vectorised environment (the ProxylessNAS ids).
    """
    import gymnasium as gym

    import hwenvs  # noqa: F401  (registers the ids in this process)

    kwargs = dict(env_config or {})
    if "num_envs" not in kwargs:
        return gym.make(env_id, **kwargs)
    num_envs = kwargs.pop("num_envs")
    if gym.spec(env_id).vector_entry_point is None:
        raise ValueError(
            f"{env_id}: RLlib asked for a vector of {num_envs} environments in one call (gym_env_vectorize_mode "
            '"vector_entry_point"), which only the HAQ ids offer: use "sync" (the default) or "async" in '
            "config.env_runners()"
        )
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)


def env_creator(env_id: str) -> Callable[[Mapping[str, Any]], Any]:
    """The creator Ray registers for ``env_id``: picklable by reference (a partial of :func:`make_env`), so a remote
    process unpickles it by importing this module, whatever the driver imported.

    :param env_id: a registered hwenvs id.
    """
    return functools.partial(make_env, env_id)


def register_with_ray(env_ids: Iterable[str] | None = None) -> list[str]:
    """Register hwenvs ids with Ray (``ray.tune.registry.register_env``) under their own names, so that
    ``config.environment("HAQ-MobileNetV2-BISMO", env_config={...})`` works in RLlib and Tune with any number of
    remote env runners. Call it in the driver, before or after ``ray.init()``; registering again is harmless.

    :param env_ids: the ids to register (default: every hwenvs id).
    :returns: the ids registered.
    :raises ValueError: an id hwenvs does not register, listing those it does.
    :raises ImportError: Ray is not installed (the message says how to install it).
    """
    _require_ray()
    from ray.tune.registry import register_env

    known = hwenvs_ids()
    ids = known if env_ids is None else list(env_ids)
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ValueError(f"not hwenvs ids: {', '.join(map(repr, unknown))}; hwenvs registers {', '.join(known)}")
    for env_id in ids:
        register_env(env_id, env_creator(env_id))
    return ids


def terminal_figures(info: Mapping[str, Any] | None) -> dict[str, float]:
    """The entries of :data:`EPISODE_METRICS` that a terminal info holds as finite numbers.

    :param info: the last step's info (None or an info without them, such as a truncated episode's: empty result).
    """
    figures = {}
    for key in EPISODE_METRICS:
        value = (info or {}).get(key)
        # numbers.Real covers numpy scalars; a bool is a flag, not a figure
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
            figures[key] = float(value)
    return figures


def _window(env_runner: Any) -> int:
    """Episodes each runner averages over: RLlib's own smoothing window shared among the runners, as RLlib does
    for the episode return, so the figures smooth like ``episode_return_mean``."""
    config = getattr(env_runner, "config", None)
    episodes = getattr(config, "metrics_num_episodes_for_smoothing", 100)
    runners = getattr(config, "num_env_runners", 0) or 1
    return max(1, int(episodes / runners))


class HwenvsMetricsCallback(RLlibCallback):
    """Logs every finished episode's accuracy, cost ratio and cost as RLlib metrics, averaged over RLlib's smoothing
    window: ``result["env_runners"]["hwenvs"]["accuracy"]``, ``["cost_ratio"]`` and ``["cost"]`` (HAQ) or
    ``["latency_ms"]`` (ProxylessNAS). Use it with ``config.callbacks(HwenvsMetricsCallback)``; an episode cut short
    before its last step (no accuracy yet) logs nothing.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _require_ray()
        super().__init__(*args, **kwargs)

    def on_episode_end(
        self,
        *,
        episode: Any,
        env_runner: Any = None,
        metrics_logger: Any = None,
        **kwargs: Any,
    ) -> None:
        """Log the terminal info's figures (see the class docstring).

        :param episode: the finished episode.
        :param env_runner: the env runner that ran it (for the smoothing window).
        :param metrics_logger: the env runner's metrics logger (RLlib's new API stack gives one; without it the
            callback logs nothing).
        :param kwargs: RLlib's other arguments (unused).
        """
        if metrics_logger is None:
            return
        figures = terminal_figures(episode.get_infos(-1))  # a SingleAgentEpisode's last info: the terminal one
        window = _window(env_runner)
        for key, value in figures.items():
            metrics_logger.log_value((METRICS_KEY, key), value, reduce="mean", window=window)


__all__ = [
    "EPISODE_METRICS",
    "METRICS_KEY",
    "RAY_HINT",
    "HwenvsMetricsCallback",
    "env_creator",
    "hwenvs_ids",
    "make_env",
    "register_with_ray",
    "terminal_figures",
]
