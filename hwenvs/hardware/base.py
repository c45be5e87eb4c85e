"""The hardware interface: layer shapes in, (layers x w_bits x a_bits) cost tables out.

A hardware model maps one layer's shape and a (weight bits, activation bits) pair to a latency and, where it has an
energy model, an energy. Environments never call a model in their hot loop: they build a :class:`CostTable` once per
(model, hardware) and the rollback then only indexes arrays.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

MAX_BITS = 8
"""Bit widths run 1..MAX_BITS; cost tables are indexed [layer, w_bits - 1, a_bits - 1]."""

BOUNDS = ("compute", "memory")
"""What limits a layer: the compute array or the DRAM interface."""


@dataclass(frozen=True)
class LayerShape:
    """The shape of one quantizable layer (a convolution or a linear layer) as deployed.

    :param name: the module's qualified name in its model (``features.1.conv.0.0``).
    :param kind: ``"conv"`` or ``"linear"``.
    :param in_channels: input channels (``in_features`` for linear).
    :param out_channels: output channels (``out_features`` for linear).
    :param kernel_size: square kernel side (1 for linear).
    :param stride: convolution stride (1 for linear).
    :param groups: convolution groups (1 for linear); ``groups == in_channels`` is depthwise.
    :param in_hw: input feature-map height and width ((1, 1) for linear).
    :param out_hw: output feature-map height and width ((1, 1) for linear).
    :param padding: convolution padding (0 for linear).
    """

    name: str
    kind: Literal["conv", "linear"]
    in_channels: int
    out_channels: int
    kernel_size: int = 1
    stride: int = 1
    groups: int = 1
    in_hw: tuple[int, int] = (1, 1)
    out_hw: tuple[int, int] = (1, 1)
    padding: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("conv", "linear"):
            raise ValueError(f"layer {self.name!r}: kind must be 'conv' or 'linear', got {self.kind!r}")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"layer {self.name!r}: groups={self.groups} must divide in_channels={self.in_channels} "
                f"and out_channels={self.out_channels}"
            )

    @property
    def depthwise(self) -> bool:
        """True for a depthwise convolution (one input channel per group, more than one group)."""
        return self.kind == "conv" and self.groups == self.in_channels and self.groups > 1

    @property
    def num_weights(self) -> int:
        """Number of weights (bias excluded)."""
        return self.out_channels * (self.in_channels // self.groups) * self.kernel_size**2

    @property
    def macs(self) -> int:
        """Multiply-accumulates for one image."""
        return self.num_weights * self.out_hw[0] * self.out_hw[1]

    @property
    def in_elements(self) -> int:
        """Input activations for one image."""
        return self.in_channels * self.in_hw[0] * self.in_hw[1]

    @property
    def out_elements(self) -> int:
        """Output activations for one image."""
        return self.out_channels * self.out_hw[0] * self.out_hw[1]

    def gemm(self, batch: int) -> tuple[int, int, int]:
        """(M, K, N) of one group's matrix product after im2row lowering: M = Cout/groups, K = Cin/groups * k * k,
        N = batch * Hout * Wout. A grouped convolution is ``groups`` such products."""
        m = self.out_channels // self.groups
        k = (self.in_channels // self.groups) * self.kernel_size**2
        n = batch * self.out_hw[0] * self.out_hw[1]
        return m, k, n


@dataclass
class CostTable:
    """Costs of every layer at every (w_bits, a_bits), indexed ``[layer, w_bits - 1, a_bits - 1]``.

    :param hardware: name of the hardware target that produced it.
    :param layers: the layer shapes, in model order.
    :param latency_s: seconds per batch, shape (L, 8, 8).
    :param energy_j: joules per batch, shape (L, 8, 8), or None if the target has no energy model.
    :param cycles: cycles per batch, shape (L, 8, 8), or None for tables not measured in cycles.
    :param bound: 1 where the layer is memory bound, 0 where compute bound, shape (L, 8, 8), or None if unknown.
    :param batch: the batch size the costs are for.
    """

    hardware: str
    layers: list[LayerShape]
    latency_s: np.ndarray
    energy_j: np.ndarray | None = None
    cycles: np.ndarray | None = None
    bound: np.ndarray | None = None
    batch: int = 1
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        expected = (len(self.layers), MAX_BITS, MAX_BITS)
        for attr in ("latency_s", "energy_j", "cycles", "bound"):
            value = getattr(self, attr)
            if value is not None and value.shape != expected:
                raise ValueError(f"{self.hardware}: {attr} has shape {value.shape}, expected {expected}")

    def metric(self, name: str) -> np.ndarray:
        """The (L, 8, 8) array of ``"latency"`` or ``"energy"``; a clear error if this target has no such model."""
        if name == "latency":
            return self.latency_s
        if name == "energy":
            if self.energy_j is None:
                raise ValueError(f"hardware {self.hardware!r} has no energy model; use constraint='latency' or 'size'")
            return self.energy_j
        raise ValueError(f"unknown metric {name!r}; valid: 'latency', 'energy'")


def policy_layer_costs(values: np.ndarray, w_bits: np.ndarray, a_bits: np.ndarray) -> np.ndarray:
    """Per-layer cost of a policy: ``values[i, w_bits[i] - 1, a_bits[i] - 1]`` for every layer ``i``.

    The one place a policy is looked up in a (layers x 8 x 8) table: the environments' budget
    (:class:`hwenvs.envs.bit_budget.BitBudget`), ``hwenvs hardware`` and the benchmarks all call it, so the cost a
    search is rewarded under and the cost a person checks cannot drift apart. Sum the result for the total.

    :param values: any metric of a :class:`CostTable` (latency, energy, cycles) or another (L, 8, 8) array.
    :param w_bits: weight bits per layer, 1..8.
    :param a_bits: activation bits charged per layer, 1..8 (an unquantized input is charged at the bits it
        arrives in, e.g. 8 for image pixels: the caller decides).
    """
    w, a = np.asarray(w_bits), np.asarray(a_bits)
    return values[np.arange(values.shape[0]), w - 1, a - 1]


def check_bits(bits: np.ndarray | int, what: str) -> np.ndarray:
    """Bits as an int array, or a ValueError if any lies outside 1..MAX_BITS."""
    arr = np.asarray(bits)
    if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 1 or arr.max() > MAX_BITS):
        raise ValueError(f"{what} must be integers in 1..{MAX_BITS}, got {np.unique(arr).tolist()}")
    return arr.astype(np.int64)


class HardwareModel(abc.ABC):
    """An analytic hardware cost model.

    Subclasses implement :meth:`layer_cost`, vectorised over bit arrays; :meth:`cost_table` builds the full table.

    :param batch: images per batch.
    :param clock_hz: clock frequency.
    """

    name: str = "hardware"
    has_energy: bool = False

    def __init__(self, batch: int = 1, clock_hz: float = 200e6) -> None:
        if batch < 1 or int(batch) != batch:
            raise ValueError(f"batch must be a positive integer, got {batch!r}")
        if not math.isfinite(clock_hz) or clock_hz <= 0:
            raise ValueError(f"clock_hz must be positive, got {clock_hz!r}")
        self.batch = int(batch)
        self.clock_hz = float(clock_hz)

    @abc.abstractmethod
    def layer_cost(
        self, layer: LayerShape, w_bits: np.ndarray, a_bits: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Cost of one layer at broadcastable arrays of bit widths.

        :return: (cycles per batch, joules per batch or None, memory-bound flag) each of the broadcast shape.
        """

    def cost_table(self, layers: list[LayerShape]) -> CostTable:
        """Cost of every layer at every (w_bits, a_bits) in 1..8."""
        bits = np.arange(1, MAX_BITS + 1)
        w, a = np.meshgrid(bits, bits, indexing="ij")
        cycles, energy, bound = [], [], []
        for layer in layers:
            c, e, b = self.layer_cost(layer, w, a)
            cycles.append(np.broadcast_to(c, w.shape))
            bound.append(np.broadcast_to(b, w.shape))
            if e is not None:
                energy.append(np.broadcast_to(e, w.shape))
        cycles_arr = np.asarray(cycles, dtype=np.float64)
        return CostTable(
            hardware=self.name,
            layers=list(layers),
            latency_s=cycles_arr / self.clock_hz,
            energy_j=np.asarray(energy, dtype=np.float64) if self.has_energy else None,
            cycles=cycles_arr,
            bound=np.asarray(bound, dtype=np.int8),
            batch=self.batch,
        )
