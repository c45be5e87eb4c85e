"""A HAQ solution as a value: weight and activation bits per layer, and its one JSON form.

Inside the environment a bit allocation is two int arrays (what :class:`~hwenvs.envs.bit_budget.BitBudget` costs and
rolls back); outside it is the ``policy`` of the terminal info and of ``policy.json``: ``[w_bits, a_bits]`` per layer,
``a_bits`` None where the input stays unquantized. :class:`BitAllocation` is the one place that converts between
the two and checks what a caller hands in.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hwenvs.envs.bit_budget import FREE, UNQUANTIZED, BitBudget
from hwenvs.hardware.base import MAX_BITS
from hwenvs.hardware.encoding import to_policy

if TYPE_CHECKING:
    from hwenvs.hardware.base import LayerShape

Policy = list[list[int | None]]
"""A bit allocation in JSON form: ``[w_bits, a_bits]`` per layer, ``a_bits`` None where unquantized."""


@dataclass(frozen=True, eq=False)
class BitAllocation:
    """Weight and activation bits per layer (``a`` is :data:`~hwenvs.envs.bit_budget.UNQUANTIZED` where the input
    stays in float). Unpacks as ``w, a = allocation``.

    :param w: (L,) weight bits.
    :param a: (L,) activation bits.
    """

    w: np.ndarray
    a: np.ndarray

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.w, self.a))

    @classmethod
    def from_policy(cls, policy: Sequence[Sequence[int | None]], num_layers: int, model: str) -> BitAllocation:
        """``policy`` checked and converted.

        :param policy: ``[w_bits, a_bits]`` per layer.
        :param num_layers: the layers the model has.
        :param model: the model's name, for the message.
        :raises ValueError: wrong layer count, an entry that is not a pair, bits outside 1..8, no weight bits.
        """
        if not _sized(policy):
            raise ValueError(f"policy must be a list of [w_bits, a_bits] per layer, got {policy!r:.80}")
        if len(policy) != num_layers:
            raise ValueError(f"policy has {len(policy)} layers, {model} has {num_layers}")
        w = np.empty(num_layers, dtype=np.int64)
        a = np.empty(num_layers, dtype=np.int64)
        for i, entry in enumerate(policy):
            if not _sized(entry) or len(entry) != 2:
                raise ValueError(f"policy layer {i}: expected [w_bits, a_bits], got {entry!r}")
            for arr, value in ((w, entry[0]), (a, entry[1])):
                if value is not None and not _bits(value):
                    raise ValueError(f"policy layer {i}: bits must be integers in 1..{MAX_BITS}, got {entry!r}")
                arr[i] = UNQUANTIZED if value is None else int(value)
        if (w == UNQUANTIZED).any():
            raise ValueError("policy: every layer needs integer weight bits")
        return cls(w, a)

    def to_policy(self) -> Policy:
        """The JSON form: ``[w_bits, a_bits]`` per layer, None for an unquantized input."""
        return to_policy(self.w, self.a)

    @property
    def key(self) -> bytes:
        """The bits packed into bytes (about 100 bytes for MobileNetV2): what the accuracy cache is keyed by."""
        return self.w.astype(np.int8).tobytes() + self.a.astype(np.int8).tobytes()


def _sized(value: object) -> bool:
    """Whether ``value`` is a list-like (a list, tuple or array), not a string (whose characters looked like one)."""
    return hasattr(value, "__len__") and not isinstance(value, str | bytes)


def _bits(value: object) -> bool:
    """Whether ``value`` is a bit width: an integral number in 1..MAX_BITS (a string "4" or True is not, nor NaN,
    which ended in int()'s "invalid literal" or "cannot convert" messages)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return False
    number = float(value)
    return number.is_integer() and 1 <= number <= MAX_BITS


def check_rules(allocation: BitAllocation, budget: BitBudget, layers: list[LayerShape]) -> None:
    """Refuse an allocation that breaks a fixed layer's rule (what ``evaluate_solution`` scores exactly, no repair).

    :param allocation: the allocation.
    :param budget: the environment's costs and layer rules.
    :param layers: the model's layers, for the message.
    :raises ValueError: naming the first layer whose bits differ from what the rules impose.
    """
    w, a = allocation
    fw, fa = budget.apply_rules(w, a)
    broken = np.flatnonzero((fw != w) | (fa != a))
    if broken.size:
        i = int(broken[0])
        raise ValueError(
            f"policy layer {i} ({layers[i].name}) must be {to_policy(fw, fa)[i]} under this environment's layer "
            f"rules, got {to_policy(w, a)[i]}"
        )


def check_searchable(allocation: BitAllocation, budget: BitBudget, layers: list[LayerShape]) -> None:
    """Refuse an allocation no episode could end with: a free layer side outside ``min_bits..max_bits`` (or a free
    activation left unquantized).

    :param allocation: the allocation (the layer rules are applied first).
    :param budget: the environment's costs, layer rules and bit range.
    :param layers: the model's layers, for the message.
    :raises ValueError: naming the layer, the side, the range and the value.
    """
    w, a = budget.apply_rules(*allocation)
    for kind, bits, fixed in (("weight", w, budget.fixed_w), ("activation", a, budget.fixed_a)):
        outside = np.flatnonzero((fixed == FREE) & ((bits < budget.min_bits) | (bits > budget.max_bits)))
        if outside.size:
            i = int(outside[0])
            got = "None (unquantized)" if bits[i] == UNQUANTIZED else int(bits[i])
            raise ValueError(
                f"policy layer {i} ({layers[i].name}): {kind} bits must be in {budget.min_bits}..{budget.max_bits} "
                f"(this environment's min_bits..max_bits), got {got}"
            )
