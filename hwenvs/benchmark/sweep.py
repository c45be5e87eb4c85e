"""The hyperparameter lottery: K settings per agent, drawn from a small space declared next to the agent.

An agent declares its space as a plain dict (no import of this package needed), hyperparameter name -> one of:

* ``("uniform", low, high)``: a float drawn uniformly;
* ``("loguniform", low, high)``: a float whose logarithm is drawn uniformly (learning rates);
* ``("int", low, high)``: an integer in ``low..high``, both included;
* ``("choice", [a, b, ...])``: one of the values, equally likely (bools, ``None``, batch sizes...).

Where it is declared: ``SWEEP_SPACE`` on the agent class (``DDPGAgent``, ``ReinforceAgent``,
``GradientSearchAgent``, ``TPEAgent``, ``CmaEsAgent``), and ``SWEEP_SPACES[ALGO]`` in :mod:`hwenvs.agents.sb3` for
Stable-Baselines3 algorithms. An agent without a space (random search, the fixed-precision baseline) runs once, with
its defaults, whatever K is.

Setting ``k`` of an agent is drawn from a generator seeded with ``(SWEEP_SEED, crc32(agent label), k)``: the same on
every environment, on every machine and in every run, and the first K settings stay the same when K grows (a
benchmark rerun with a larger ``--sweep`` keeps the trials it already has).
"""

from __future__ import annotations

import importlib
import math
import zlib
from collections.abc import Mapping
from typing import Any

SWEEP_SEED = 14
"""Seeds every setting draw, with the agent's label and the setting's index."""

KINDS = ("uniform", "loguniform", "int", "choice")
"""The kinds of dimension a sweep space may declare."""

DEFAULT_SETTING = "default"
"""The name of the one setting an agent runs without ``--sweep`` (its defaults and the suite's kwargs)."""


def sweep_space(agent_spec: str) -> dict[str, tuple]:
    """The sweep space an agent declares (empty if none).

    :param agent_spec: a registry name (``ddpg``, ``tpe``...), ``sb3:ALGO`` or ``module:Class``.
    """
    if agent_spec.startswith("sb3:"):
        from hwenvs.agents.sb3 import SWEEP_SPACES

        return dict(SWEEP_SPACES.get(agent_spec.split(":", 1)[1].upper(), {}))
    from hwenvs.agents.registry import AGENTS

    target = AGENTS.get(agent_spec, agent_spec)
    if ":" not in target:
        return {}
    module, _, name = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return {}  # the agent's own import problem is reported when it is built
    return dict(getattr(cls, "SWEEP_SPACE", {}))


def check_space(space: Mapping[str, Any], where: str) -> None:
    """Refuse a malformed space, naming the dimension.

    :param space: a declared space.
    :param where: who declared it, for the message.
    :raises ValueError: a dimension of an unknown kind or with bad bounds.
    """
    for name, dim in space.items():
        kind = dim[0] if isinstance(dim, tuple | list) and dim else None
        if kind not in KINDS:
            raise ValueError(f"{where}: sweep dimension {name!r} is {dim!r}; its first entry must be one of {KINDS}")
        if kind == "choice":
            if len(dim) != 2 or not isinstance(dim[1], list | tuple) or not dim[1]:
                raise ValueError(f"{where}: sweep dimension {name!r} must be ('choice', [values...])")
            continue
        if len(dim) != 3 or not all(isinstance(v, int | float) for v in dim[1:]) or not dim[1] <= dim[2]:
            raise ValueError(f"{where}: sweep dimension {name!r} must be ({kind!r}, low, high) with low <= high")
        if kind == "loguniform" and dim[1] <= 0:
            raise ValueError(f"{where}: sweep dimension {name!r} is log-uniform, so its low bound must be positive")


def sample_setting(space: Mapping[str, Any], agent_label: str, index: int) -> dict[str, Any]:
    """Setting ``index`` of the agent labelled ``agent_label``: one value per dimension of ``space``.

    :param space: the agent's sweep space.
    :param agent_label: the agent's name in the suite (seeds the draw with the index).
    :param index: 0-based setting number.
    """
    import numpy as np

    rng = np.random.default_rng([SWEEP_SEED, zlib.crc32(agent_label.encode()), index])
    setting: dict[str, Any] = {}
    for name in sorted(space):  # sorted: the draw must not depend on the order the space was written in
        kind, *args = space[name]
        if kind == "uniform":
            setting[name] = float(rng.uniform(args[0], args[1]))
        elif kind == "loguniform":
            setting[name] = float(math.exp(rng.uniform(math.log(args[0]), math.log(args[1]))))
        elif kind == "int":
            setting[name] = int(rng.integers(args[0], args[1] + 1))
        else:
            values = list(args[0])
            setting[name] = values[int(rng.integers(len(values)))]
    return setting


def settings(agent_spec: str, agent_label: str, sweep: int) -> dict[str, dict[str, Any]]:
    """The settings an agent runs with: ``{"default": {}}`` without a sweep (or without a space), else ``s0`` ..
    ``s{K-1}`` drawn from its space.

    :param agent_spec: the agent (see :func:`sweep_space`).
    :param agent_label: its name in the suite.
    :param sweep: K, the settings to draw (0: no sweep).
    """
    space = sweep_space(agent_spec) if sweep > 0 else {}  # no sweep: no need to import the agent for its space
    if not space:
        return {DEFAULT_SETTING: {}}
    check_space(space, f"agent {agent_spec!r}")
    return {f"s{k}": sample_setting(space, agent_label, k) for k in range(sweep)}
