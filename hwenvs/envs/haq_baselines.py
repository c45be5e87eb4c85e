"""HAQ's baselines: uniform bit allocations, the best one within the budget, and the reference points of a report.

Functions of a :class:`~hwenvs.envs.haq_env.HAQEnv` (its budget, layer rules and accuracy source); the environment
offers them as methods (:meth:`~hwenvs.envs.haq_env.HAQEnv.uniform_pairs`, ``best_uniform_policy``,
``reference_points``), as the :class:`~hwenvs.envs.contract.BitAllocationEnv` contract declares.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hwenvs.envs.bit_allocation import BitAllocation, Policy
from hwenvs.envs.bit_budget import UNQUANTIZED
from hwenvs.envs.contract import ReferencePoint, measure_reference

if TYPE_CHECKING:
    from hwenvs.envs.haq_env import HAQEnv


def uniform(env: HAQEnv, w_bits: int, a_bits: int) -> BitAllocation:
    """Every layer at ``w_bits``/``a_bits`` (activations unquantized under the model-size budget), the layer rules
    applied.

    :param env: the environment.
    :param w_bits: weight bits.
    :param a_bits: activation bits (ignored under the model-size budget).
    """
    w = np.full(env.num_layers, w_bits, dtype=np.int64)
    a = np.full(env.num_layers, a_bits if env.steps_per_layer == 2 else UNQUANTIZED, dtype=np.int64)
    return BitAllocation(*env.budget_model.apply_rules(w, a))


def uniform_pairs(env: HAQEnv) -> list[tuple[int, int]]:
    """Every uniform ``(w_bits, a_bits)`` pair whose allocation fits the budget, cheapest last (the model-size
    budget quantizes weights only, so its pairs have ``a_bits`` equal to ``w_bits``).

    :param env: the environment.
    """
    bits = range(env.min_bits, env.max_bits + 1)
    pairs = [(w, a) for w in bits for a in bits] if env.steps_per_layer == 2 else [(b, b) for b in bits]
    cost = env.budget_model.cost
    fitting = [(w, a) for w, a in pairs if env.budget_model.fits(cost(*uniform(env, w, a)))]
    return sorted(fitting, key=lambda p: -cost(*uniform(env, *p)))


def best_uniform_policy(env: HAQEnv) -> Policy | None:
    """The uniform policy within the budget with the best validation accuracy (ties: the cheaper), or None if none
    fits. Each candidate costs one evaluation (cached).

    :param env: the environment.
    """
    best, best_acc = None, -1.0
    for w, a in uniform_pairs(env):
        acc = env.scorer.accuracy(uniform(env, w, a), "val")
        if acc >= best_acc:
            best, best_acc = env.uniform_policy(w, a), acc
    return best


def bits_label(steps_per_layer: int, w_bits: int, a_bits: int) -> str:
    """A uniform allocation's name in reports: ``"4/4"``, or ``"4-bit weights"`` under the model-size budget.

    :param steps_per_layer: 1 (weights only) or 2.
    :param w_bits: weight bits.
    :param a_bits: activation bits.
    """
    return f"{w_bits}-bit weights" if steps_per_layer == 1 else f"{w_bits}/{a_bits}"


def reference_points(env: HAQEnv) -> list[ReferencePoint]:
    """Float, fixed 8-bit and the best uniform policy within the budget (chosen on validation), each measured on
    validation and test.

    :param env: the environment.
    """
    float_point = ReferencePoint("float", env.float_accuracy, env.float_accuracy_on("test"), None, None, 0, 0)
    references = [float_point, measure_reference(env, "fixed 8-bit", env.uniform_policy(8))]
    best = best_uniform_policy(env)
    if best is not None:
        w, a = BitAllocation.from_policy(best, env.num_layers, env.model_name)
        name = f"best uniform {bits_label(env.steps_per_layer, int(w[1]), int(a[1]))}"
        references.append(measure_reference(env, name, best, to_beat=True))
    return references
