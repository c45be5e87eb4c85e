"""Costs of mixed-precision policies, the fixed first/last-layer rules, and HAQ's rollback into a budget.

Everything here is array look-ups into a (layers x w_bits x a_bits) cost table built once per environment, so the
rollback of a whole episode takes well under a millisecond. Policies are two int arrays, ``w`` and ``a``, with
``a == 0`` meaning "input not quantized" (the first layer's input: raw image pixels, charged as 8-bit values).
"""

from __future__ import annotations

import numpy as np

from hwenvs.hardware.base import policy_layer_costs
from hwenvs.hardware.encoding import UNQUANTIZED

FREE = -1
"""Marks a layer side that the search chooses (not fixed by a layer rule)."""
UNQUANTIZED_CHARGE_BITS = 8
"""Bits charged for an unquantized input: images arrive as 8-bit pixels (HAQ's code charges 7, a bug)."""


class BitBudget:
    """Policy costs, layer rules and the rollback for one (model, cost table, budget).

    :param table: costs indexed ``[layer, w_bits - 1, a_bits - 1]``, shape (L, 8, 8).
    :param min_bits: smallest bit width the search may choose.
    :param max_bits: largest bit width the search may choose.
    :param preserve_ratio: budget as a fraction of the cost at 8/8 bits.
    :param quantize_activations: False for the model-size budget, where only weights are quantized.
    :param keep_first_layer: the first layer keeps 8-bit weights and an unquantized input.
    :param keep_last_layer: the last layer keeps 8-bit weights and 8-bit input.
    """

    def __init__(
        self,
        table: np.ndarray,
        *,
        min_bits: int = 2,
        max_bits: int = 8,
        preserve_ratio: float = 0.5,
        quantize_activations: bool = True,
        keep_first_layer: bool = True,
        keep_last_layer: bool = True,
    ) -> None:
        if not 1 <= min_bits <= max_bits <= 8:
            raise ValueError(f"need 1 <= min_bits <= max_bits <= 8, got min_bits={min_bits}, max_bits={max_bits}")
        if not np.isfinite(preserve_ratio) or preserve_ratio <= 0:
            raise ValueError(f"preserve_ratio must be a positive number, got {preserve_ratio!r}")
        self.table = np.asarray(table, dtype=np.float64)
        self.num_layers = self.table.shape[0]
        self.min_bits, self.max_bits = int(min_bits), int(max_bits)
        self.quantize_activations = quantize_activations
        # -1 marks a free layer; anything else is the bits the layer rules impose.
        self.fixed_w = np.full(self.num_layers, FREE, dtype=np.int64)
        self.fixed_a = np.full(self.num_layers, FREE, dtype=np.int64)
        if keep_first_layer:
            self.fixed_w[0], self.fixed_a[0] = 8, UNQUANTIZED
        if keep_last_layer:
            self.fixed_w[-1] = 8
            self.fixed_a[-1] = 8 if quantize_activations else UNQUANTIZED
        if not quantize_activations:
            self.fixed_a[:] = UNQUANTIZED
        self.reference_cost = self.cost(*self.apply_rules(np.full(self.num_layers, 8), np.full(self.num_layers, 8)))
        self.floor_cost = self.cost(*self.apply_rules(*self.uniform(min_bits)))
        self.preserve_ratio = float(preserve_ratio)
        self.budget = self.preserve_ratio * self.reference_cost
        floor_ratio = self.floor_cost / self.reference_cost
        if self.budget < self.floor_cost * (1 - 1e-12):
            raise ValueError(
                f"preserve_ratio={preserve_ratio} is below the reachable floor {floor_ratio:.4f} (every free layer at "
                f"{min_bits} bits); choose preserve_ratio >= {np.ceil(floor_ratio * 1e4) / 1e4:.4f} or lower min_bits"
            )

    def uniform(self, bits: int) -> tuple[np.ndarray, np.ndarray]:
        """Every layer at ``bits`` (before the layer rules)."""
        return np.full(self.num_layers, bits, dtype=np.int64), np.full(self.num_layers, bits, dtype=np.int64)

    def apply_rules(self, w: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Copies of ``w`` and ``a`` with the fixed layers' bits imposed."""
        w = np.where(self.fixed_w != FREE, self.fixed_w, w)
        a = np.where(self.fixed_a != FREE, self.fixed_a, a)
        return w, a

    def layer_costs(self, w: np.ndarray, a: np.ndarray) -> np.ndarray:
        """Per-layer cost of a policy (through the package's one policy look-up, shared with ``hwenvs hardware``)."""
        return policy_layer_costs(self.table, w, np.where(a == UNQUANTIZED, UNQUANTIZED_CHARGE_BITS, a))

    def cost(self, w: np.ndarray, a: np.ndarray) -> float:
        """Total cost of a policy."""
        return float(self.layer_costs(w, a).sum())

    def fits(self, cost: float) -> bool:
        """Whether ``cost`` is within the budget, up to a relative 1e-9 (float sums of the same costs may differ by
        an ulp, which must not put a policy at the budget outside it)."""
        return cost <= self.budget * (1 + 1e-9)

    def rollback(self, w: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """HAQ's rollback: while over budget, walk from the last layer to the first, lowering a free layer's
        activation bits by one and then its weight bits by one, stopping as soon as the policy fits.

        The rules are applied first, so a policy already within budget still obeys them. Terminates because the
        budget is at least the floor (checked at construction).

        Vectorised: sweep ``k`` of the walk lowers every free side still above ``min_bits`` by one, so the whole
        walk (at most ``max_bits - min_bits`` sweeps) is known up front. Its cost changes, in walk order, go
        through one running sum that shows where the policy first fits; a candidate stop within rounding of the
        budget is confirmed with :meth:`cost`, so the result is the step-by-step walk's, judged by the cost the
        environment reports (``tests/test_rollback_reference.py`` checks both against a plain loop).
        """
        w, a = self.apply_rules(np.asarray(w, dtype=np.int64), np.asarray(a, dtype=np.int64))
        costs = self.layer_costs(w, a)
        total = float(costs.sum())
        if total <= self.budget:
            return w, a
        room_a = np.where(self.fixed_a == FREE, np.maximum(a - self.min_bits, 0), 0)
        room_w = np.where(self.fixed_w == FREE, np.maximum(w - self.min_bits, 0), 0)
        sweeps = int(max(room_a.max(), room_w.max()))
        if sweeps == 0:  # everything at the floor: only float rounding keeps total above a budget == floor
            return w, a
        k = np.arange(sweeps + 1)[:, None]  # row 0: before the walk; row k: after sweep k
        a_k = a - np.minimum(k, room_a)
        w_k = w - np.minimum(k, room_w)
        charged = np.where(a_k[1:] == UNQUANTIZED, UNQUANTIZED_CHARGE_BITS, a_k[1:]) - 1
        rows = np.arange(self.num_layers)
        after_a = self.table[rows, w_k[:-1] - 1, charged]  # sweep k, after the layer's activation step
        after_w = self.table[rows, w_k[1:] - 1, charged]  # sweep k, after its weight step
        before = np.concatenate([costs[None], after_w[:-1]])
        # Walk order: sweep by sweep, last layer first, a layer's activation step before its weight step.
        deltas = np.stack([after_a - before, after_w - after_a], axis=2)[:, ::-1].reshape(-1)
        taken = np.stack([a_k[1:] != a_k[:-1], w_k[1:] != w_k[:-1]], axis=2)[:, ::-1].reshape(-1)
        steps = np.flatnonzero(taken)
        running = np.cumsum(np.concatenate(([total], deltas[steps])))[1:]
        # The running sum can differ from cost()'s sum by an ulp. Where that matters, at a tie with the budget
        # (a budget at the floor, or equal to another policy's cost, on tables where fewer bits can cost the same,
        # as BitFusion's do), the candidates within a rounding margin are settled by cost() itself: the walk stops
        # at the first step whose reported cost fits, as a step-by-step walk would.
        margin = 1e-9 * max(total, self.budget)
        for j in np.flatnonzero(running <= self.budget + margin):
            fitted = self._after_steps(w, a, steps[: j + 1])
            if self.cost(*fitted) <= self.budget:
                return fitted
        return self._after_steps(w, a, steps)  # at the floor (a budget below it by rounding only)

    def _after_steps(self, w: np.ndarray, a: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``w`` and ``a`` after the rollback walk's ``steps`` (indices in walk order: sweep, layer from the last,
        activation side before weight side), each lowering one side by one bit."""
        layer = self.num_layers - 1 - (steps // 2) % self.num_layers
        side_a = steps % 2 == 0
        return (
            w - np.bincount(layer[~side_a], minlength=self.num_layers),
            a - np.bincount(layer[side_a], minlength=self.num_layers),
        )
