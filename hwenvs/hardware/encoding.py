"""A HAQ bit allocation's two forms: the bit arrays the costs and the quantizer read, and the JSON policy that users,
result files and the surrogate datasets write (``[w_bits, a_bits]`` per layer, None where the input stays in float).

One conversion, here at the bottom of the package, so that the environments (:mod:`hwenvs.envs.bit_allocation`), the
surrogate datasets and the offline builders above them share it.
"""

from __future__ import annotations

from collections.abc import Iterable

UNQUANTIZED = 0
"""Activation-bit value for a layer whose input stays unquantized (None in a JSON policy)."""


def to_policy(w: Iterable[int], a: Iterable[int]) -> list[list[int | None]]:
    """The JSON form of the bits ``w`` and ``a``.

    :param w: (L,) weight bits.
    :param a: (L,) activation bits, :data:`UNQUANTIZED` where the input stays in float.
    """
    return [[int(wb), None if ab == UNQUANTIZED else int(ab)] for wb, ab in zip(w, a, strict=True)]
