"""Hyperparameters for RL Baselines3 Zoo (``rl_zoo3``) on the HAQ environments, shipped as the Zoo's YAML files.

One file per algorithm (``td3.yml``, ``sac.yml``, ``ppo.yml``) with an entry per HAQ id: ``gamma`` 1 for the
terminal-only reward, budgets counted in whole episodes (two steps per quantizable layer), and ``monitor_kwargs`` that
make the Zoo's ``Monitor`` record each episode's ``accuracy`` and ``cost_ratio``. Train with::

    pip install "hwenvs[zoo]"
    python -m rl_zoo3.train --algo td3 --env HAQ-MobileNetV2-BISMO --gym-packages hwenvs \\
        --conf-file "$(python -m hwenvs.zoo td3)"

``--gym-packages hwenvs`` registers the ids in the Zoo's process; ``python -m hwenvs.zoo ALGO`` prints the file's path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

HYPERPARAMS_DIR = Path(__file__).resolve().parent / "hyperparams"
"""Where the YAML files are installed."""

ALGOS = ("td3", "sac", "ppo")
"""The Zoo's names of the algorithms with a file."""


def hyperparams_file(algo: str) -> Path:
    """The path of ``algo``'s hyperparameter file (what the Zoo's ``--conf-file`` takes).

    :param algo: one of :data:`ALGOS`, in any case.
    :raises ValueError: an algorithm without a file.
    """
    name = algo.lower()
    if name not in ALGOS:
        raise ValueError(f"no RL Zoo hyperparameters for {algo!r}; shipped: {', '.join(ALGOS)}")
    return HYPERPARAMS_DIR / f"{name}.yml"


def load_hyperparams(algo: str) -> dict[str, dict[str, Any]]:
    """``algo``'s hyperparameters by env id, read as the Zoo reads them (``yaml.safe_load``).

    :param algo: one of :data:`ALGOS`, in any case.
    """
    import yaml

    with open(hyperparams_file(algo)) as f:
        return yaml.safe_load(f)
