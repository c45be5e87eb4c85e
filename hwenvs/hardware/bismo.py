"""BISMO, the bit-serial matrix-multiplication overlay (Umuroglu et al., FPL 2018 / TRETS 2019), as an analytic model.

Sources: (S) = read from the BISMO paper or github.com/EECS-NTNU/bismo, or from HAQ's public latency table;
(I) = inferred or calibrated here. See ``shared/reference/hardware.md`` for the gathered facts.

The array
    ``Dm x Dn`` dot-product units; every cycle each ANDs two ``Dk``-bit vectors, pop-counts, shifts and accumulates
    into a 32-bit register. A ``w``-bit x ``a``-bit matrix product is ``w * a`` binary matrix products, so execute
    time scales with ``w * a``. (S)

Lowering
    A convolution becomes, per group, the matrix product ``(M x K) x (K x N)`` with ``M = Cout / groups`` weight rows
    on the ``Dm`` side, ``K = Cin / groups * k * k`` (im2row) on the ``Dk`` side and the output pixels ``N`` on the
    ``Dn`` side; every dimension is padded up to its array dimension. (S)
    Convolutions are lowered one image at a time: each image's ``Hout * Wout`` pixels are padded to a multiple of
    ``Dn`` and the weights are fetched again for every image. (I, calibrated: HAQ's cloud table charges the 7x7 layers
    of MobileNetV2 exactly ``batch * ceil(49 / 16) * 16`` columns and ``batch`` weight fetches.) A linear layer's
    input is already a (features x batch) matrix, so the batch fills ``N`` and the weights are fetched once. (S/I)
    Grouped convolutions run their groups one after the other.

Depthwise convolution
    One ``1 x k*k`` by ``k*k x N`` product per channel would waste ``Dm - 1`` rows, ``Dn - 1`` columns and all but
    ``k*k`` of the ``Dk`` lanes. Mapped here the way HAQ's table shows it was (S, from the table's structure): the
    channels fill the ``Dm`` rows (each row its own ``k*k`` taps, needing its own activation stream, so the columns
    cannot share one input vector), and the weight's bit planes are laid across the ``Dn`` columns (``w <= Dn``), so
    one output pixel per activation bit plane comes out per cycle: ``ceil(Cout / Dm) * N * a * ceil(w / Dn)`` cycles
    per image. Weight bits are thus (almost) free and activation bits are everything, HAQ's edge finding. The
    activation stream is the bit-packed im2row buffer (``Dm * k * k`` bits per pixel and plane, not padded).

Fetch / execute / result
    The three stages run concurrently on double buffers (S), so a layer takes about the longest stage; where two
    stages are close the hand-off stalls each other, which is modelled by combining the stage times with a p-norm
    (``overlap``; p -> infinity is a perfect max). p = 4 is calibrated against HAQ's cloud table (I): it is one
    global number, not a per-layer fit. DRAM traffic: the padded weight and im2row activation matrices; when an
    operand does not fit its on-chip buffer, the cheaper loop order is chosen (the operand streamed in the outer
    loop is read once, the other once per outer tile). (S/I) Results are written requantized to ``result_bits``
    (default: the layer's activation bits, standing in for the bits of the layer that consumes them, which a
    per-layer table cannot know) rather than as raw 32-bit accumulators: that is what a deployed mixed-precision
    network stores, and HAQ's table never shows a 32-bit result-write bound (its 2-bit pointwise layers would be
    several times slower). (I) Reads and writes use the AXI read and write channels, which run concurrently. (S)

Energy (no public model exists)
    Energy = ``binary_mac_energy_j * Dm * Dk * Dn`` per execute cycle (the whole array is clocked while it runs)
    + ``dram_energy_per_bit_j`` per DRAM bit moved. The per-binary-MAC energy is the board-power bound of the edge
    configuration: under 5 W at 6.55 binary TOPS (2 ops per binary MAC) = 0.76 pJ per binary op, 1.53 pJ per binary
    MAC, so the edge array draws 5 W while executing (S for the figures, I for charging the whole board's power to
    the array). DRAM: 15 pJ/bit, the constant of
    BitFusion's simulator for the same generation of DRAM (S there, I here). The same constants are used for the
    cloud configuration (I: a VU9P is a newer 16 nm part; absolute cloud energies are an upper bound).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwenvs.hardware.base import HardwareModel, LayerShape, check_bits

BINARY_MAC_ENERGY_J = 2 * 5.0 / 6.55e12
"""Joules per binary MAC (2 ops): the PYNQ-Z1 board's < 5 W at 6.55 binary TOPS (S), taken as the array's (I)."""

DRAM_ENERGY_PER_BIT_J = 15e-12
"""Joules per DRAM bit, BitFusion's constant (S there), assumed for BISMO's DRAM too (I)."""


def _ceil_div(x: np.ndarray | int, y: np.ndarray | int) -> np.ndarray | int:
    return -(-x // y)


def _pad(x: np.ndarray | int, y: int) -> np.ndarray | int:
    return _ceil_div(x, y) * y


class BISMO(HardwareModel):
    """A BISMO instance: array shape, clock, DRAM ports and buffers. See the module docstring for the model.

    :param dm: rows of the array (weight rows side).
    :param dk: bits of each dot-product unit's input vectors.
    :param dn: columns of the array (output pixels side).
    :param batch: images per batch.
    :param clock_hz: clock frequency.
    :param weight_read_bits: DRAM bits per cycle for weights.
    :param act_read_bits: DRAM bits per cycle for activations.
    :param shared_read_port: True if weights and activations share one read port of ``weight_read_bits``.
    :param write_bits: DRAM bits per cycle for results.
    :param buffer_bytes: on-chip buffer per operand side.
    :param result_bits: bits each output value is written with; None for the layer's activation bits.
    :param overlap: p of the p-norm that combines the fetch, execute and result stage times (inf: perfect overlap).
    :param binary_mac_energy_j: joules per binary MAC of the array (the whole array counts every execute cycle).
    :param dram_energy_per_bit_j: joules per bit read from or written to DRAM.
    :param name: name of this target.
    """

    has_energy = True

    def __init__(
        self,
        dm: int,
        dk: int,
        dn: int,
        *,
        batch: int = 1,
        clock_hz: float = 200e6,
        weight_read_bits: int = 64,
        act_read_bits: int = 64,
        shared_read_port: bool = True,
        write_bits: int = 64,
        buffer_bytes: int = 256 * 1024,
        result_bits: int | None = None,
        overlap: float = 4.0,
        binary_mac_energy_j: float = BINARY_MAC_ENERGY_J,
        dram_energy_per_bit_j: float = DRAM_ENERGY_PER_BIT_J,
        name: str = "bismo",
    ) -> None:
        super().__init__(batch=batch, clock_hz=clock_hz)
        for label, value in (
            ("dm", dm),
            ("dk", dk),
            ("dn", dn),
            ("buffer_bytes", buffer_bytes),
            ("weight_read_bits", weight_read_bits),
            ("act_read_bits", act_read_bits),
            ("write_bits", write_bits),
        ):
            if value <= 0:
                raise ValueError(f"{label} must be positive, got {value}")
        if overlap < 1:
            raise ValueError(f"overlap must be >= 1 (a p-norm), got {overlap}")
        if result_bits is not None and (int(result_bits) != result_bits or result_bits < 1):
            raise ValueError(f"result_bits must be a positive integer or None, got {result_bits!r}")
        self.dm, self.dk, self.dn = int(dm), int(dk), int(dn)
        self.weight_read_bits = weight_read_bits
        self.act_read_bits = act_read_bits
        self.shared_read_port = shared_read_port
        self.write_bits = write_bits
        self.buffer_bits = 8 * int(buffer_bytes)
        self.result_bits = result_bits
        self.overlap = float(overlap)
        self.binary_mac_energy_j = binary_mac_energy_j
        self.dram_energy_per_bit_j = dram_energy_per_bit_j
        self.name = name

    def __repr__(self) -> str:
        return (
            f"BISMO({self.name!r}, {self.dm}x{self.dk}x{self.dn}, batch={self.batch}, "
            f"clock={self.clock_hz / 1e6:g} MHz)"
        )

    def _traffic(
        self, w_bits_per_image: np.ndarray, a_bits_per_image: np.ndarray, images: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """DRAM bits of weights and activations for ``images`` lowered products, choosing the cheaper loop order
        when an operand overflows its buffer."""
        w_tiles = _ceil_div(w_bits_per_image, self.buffer_bits)
        a_tiles = _ceil_div(a_bits_per_image, self.buffer_bits)
        # Weights outer: weights read once, activations once per weight tile; activations outer: the converse.
        weights_outer = w_bits_per_image + a_bits_per_image * w_tiles
        acts_outer = a_bits_per_image + w_bits_per_image * a_tiles
        pick_weights_outer = weights_outer <= acts_outer
        w_traffic = np.where(pick_weights_outer, w_bits_per_image, w_bits_per_image * a_tiles)
        a_traffic = np.where(pick_weights_outer, a_bits_per_image * w_tiles, a_bits_per_image)
        return images * w_traffic, images * a_traffic

    def layer_cost(
        self, layer: LayerShape, w_bits: np.ndarray, a_bits: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cycles, joules and memory-bound flag for one batch of ``layer`` at the given bit widths."""
        w = check_bits(w_bits, "w_bits")
        a = check_bits(a_bits, "a_bits")
        w, a = np.broadcast_arrays(w, a)
        dm, dk, dn = self.dm, self.dk, self.dn
        taps = layer.kernel_size**2
        if layer.depthwise:
            n_img = layer.out_hw[0] * layer.out_hw[1]
            row_tiles = _ceil_div(layer.out_channels, dm)
            images = self.batch
            execute = images * row_tiles * _ceil_div(taps, dk) * n_img * a * _ceil_div(w, dn)
            w_img = row_tiles * dm * _pad(taps, dk) * w
            a_img = row_tiles * dm * taps * n_img * a
        else:
            m, k, n = layer.gemm(1)
            if layer.kind == "linear":
                images, n_img = 1, self.batch
            else:
                images, n_img = self.batch, n
            g = layer.groups
            execute = images * g * _ceil_div(m, dm) * _ceil_div(k, dk) * _ceil_div(n_img, dn) * w * a
            w_img = g * _pad(m, dm) * _pad(k, dk) * w
            a_img = g * _pad(k, dk) * _pad(n_img, dn) * a
        w_traffic, a_traffic = self._traffic(w_img, a_img, images)
        # a fixed result width is one number; broadcast it so the result stage stacks with the per-bit stages
        result_bits = a if self.result_bits is None else np.full_like(a, self.result_bits)
        out_bits = self.batch * layer.out_elements * result_bits
        if self.shared_read_port:
            reads = [(w_traffic + a_traffic) / self.weight_read_bits]
        else:
            reads = [w_traffic / self.weight_read_bits, a_traffic / self.act_read_bits]
        stages = np.stack([execute.astype(np.float64), *reads, out_bits / self.write_bits])
        longest = stages.max(axis=0)
        cycles = longest * (((stages / longest) ** self.overlap).sum(axis=0) ** (1.0 / self.overlap))
        memory_bound = stages[1:].max(axis=0) > stages[0]
        energy = (
            execute * (dm * dk * dn * self.binary_mac_energy_j)
            + (w_traffic + a_traffic + out_bits) * self.dram_energy_per_bit_j
        )
        return cycles, energy, memory_bound


def bismo_edge(*, batch: int = 1, clock_hz: float = 200e6, **kwargs: Any) -> BISMO:
    """BISMO on the PYNQ-Z1 (Zynq-7020), HAQ's edge target: 8 x 256 x 8 at 200 MHz, one 64-bit AXI port
    (8 bytes/cycle) for weights and activations, 256 KiB buffer per operand side, batch 1. (S)

    :param batch: images per batch.
    :param clock_hz: clock frequency.
    :param kwargs: any other :class:`BISMO` parameter.
    """
    params: dict[str, Any] = dict(
        weight_read_bits=64, act_read_bits=64, shared_read_port=True, write_bits=64, buffer_bytes=256 * 1024
    )
    params.update(kwargs)
    params.setdefault("name", "bismo-edge")
    return BISMO(8, 256, 8, batch=batch, clock_hz=clock_hz, **params)


def bismo_cloud(*, batch: int = 16, clock_hz: float = 200e6, **kwargs: Any) -> BISMO:
    """BISMO on a Xilinx VU9P, HAQ's cloud target: 16 x 256 x 16, batch 16, four 256-bit AXI ports: one for
    weights, one for activations, one for results. (I: array and ports partly recalled, partly read off HAQ's table,
    whose linear layer streams its weights at exactly 256 bits/cycle.) The clock is not published; 200 MHz as on the
    edge (I). Buffers: 1 MiB per operand side (I; a VU9P has 9.5 MB of BRAM+URAM).

    :param batch: images per batch.
    :param clock_hz: clock frequency.
    :param kwargs: any other :class:`BISMO` parameter.
    """
    params: dict[str, Any] = dict(
        weight_read_bits=256, act_read_bits=256, shared_read_port=False, write_bits=256, buffer_bytes=1024 * 1024
    )
    params.update(kwargs)
    params.setdefault("name", "bismo-cloud")
    return BISMO(16, 256, 16, batch=batch, clock_hz=clock_hz, **params)
