"""BitFusion, the bit-level dynamically composable accelerator (Sharma et al., ISCA 2018), as an analytic model.

Sources: (S) = read from the paper or its public simulator (github.com/hsharma35/bitfusion: ``accelerator.py``,
``optimizer.py``, ``stats.py``, ``bf_e_conf.ini``); (I) = inferred or chosen here. ``shared/reference/hardware.md``
gathers the facts.

The array
    ``rows x cols`` = 16 x 32 Fusion Units (rows: input channels, columns: output channels), 500 MHz, 45 nm. A Fusion
    Unit is 16 2-bit BitBricks that fuse into ``pf(w, a) = floor(8 / max(a, 2)) * floor(8 / max(w, 2))`` processing
    elements, each taking another input channel. Bits are rounded up to 2, 4 or 8 (1 -> 2, 3 -> 4, 5..7 -> 8): odd
    widths buy nothing, and they are stored at the rounded width too. (S; storage at the rounded width: I.)

Buffers and DRAM
    Weight / activation / output SRAM 64 / 32 / 16 KiB, half of each usable per tile (double buffering); DRAM
    interface 192 bits/cycle. (S)

Standard convolutions and linear layers: the simulator's rules (S)
    * A tile is (batch b, output rows oh, output columns ow, input channels ic, output channels oc), each a power of
      two (oc a power of two times ``cols``), clipped to the layer. Per tile: compute cycles
      ``b * ceil(oc / cols) * oh * ow * k * k * ceil(ic / (rows * pf))``; SRAM footprints: weights
      ``ceil(k*k*ic / (rows*pf)) * rows*pf * oc * w``, activations ``(k + (ow-1)s) * (k + (oh-1)s) * ic * b * a``,
      outputs ``oh * ow * ceil(oc/cols)*cols * b * 32`` (32-bit accumulators); a tile must fit the half buffers.
    * The first layer (here: any convolution with fewer input channels than ``rows``, which channel-wise lowering
      would leave mostly idle (I)) runs as im2col: ``b * oh * ow * ceil(oc / cols) * ceil(k*k*ic / (rows * pf))``.
    * DRAM traffic walks the loops from the innermost out: a loop that indexes a tensor multiplies its traffic; a
      loop that does not is free while the tensor's accumulated block still fits its half buffer, and multiplies it
      once it no longer does.
    * ``cycles = compute + max(0, memory - compute) + (first fill + last drain) / 192``.
    * The tiling and loop order with the fewest cycles (then the least energy) are kept.
    * Energy: core 235.1 pJ per compute (non-stalled) cycle for the whole 16 x 32 array; SRAM per bit read / write:
      weights 0.021 / 0.029 pJ, activations 0.059 / 0.114 pJ, outputs 0.033 / 0.073 pJ, with the inner loop order
      (input-, output- or weight-stationary) that needs the least SRAM traffic; DRAM 15 pJ per bit.

Where this model departs from the simulator (I)
    * Loop orders: the batch and the two spatial loops index the same tensors (activations and outputs, not
      weights), so they are searched as one pixel loop, leaving 3! orders of (pixels, ic, oc) instead of 5!; for
      adjacent loops this is exact, the simulator's orders that interleave ic or oc between batch and space are not
      tried. With the per-tile closed forms and 9 distinct precisions this makes the search fully vectorised.
    * Edge tiles: a tile that overhangs the layer computes and moves only its remainder (the simulator charges it
      as a full tile, so on a 27 x 27 map it picks 1-pixel tiles and re-reads each input k*k times); tensors in
      DRAM are unpadded, padding to the array being an on-chip layout.
    * Selection: the simulator keeps the fewest cycles and uses energy only to break exact ties, so it will take
      several times the DRAM traffic to save a few hundred fill cycles; here the least-energy tiling within
      ``cycle_slack`` (default 1%) of the fewest cycles is kept (0 restores the simulator's rule). On ResNet-18 at
      8 bits this changes latency by < 0.1% and lowers energy by about 40%.
    * Fill and drain are the first input and weight tiles and the last output tile, the rest being double-buffered
      (the simulator counts the largest block hoisted out of the loops, so fewer bits, whose bigger blocks stay on
      chip, could cost more).
    * A layer never costs more at fewer bits: narrower operands can run in a wider mode, which matters where wider
      fused lanes pad a small layer's weights (the simulator's costs are not monotone there).
    * Outputs leave for DRAM requantized to ``out_bits`` (default: the layer's own activation bits, standing in for
      those of the consumer, which a per-layer table cannot know) instead of as 32-bit values, and are not read back
      before being written; only when the ic loop sits outside the output block do 32-bit partial sums make a
      round trip. A deployed mixed-precision network does this; the simulator's fixed 32-bit round trip made
      MobileNetV2 almost insensitive to bit width (hardware.md, "a trap").
    * Depthwise convolution, which the simulator cannot express except as one 1-channel convolution per channel
      (1 of 512 Fusion Units busy). Here the 16 rows carry 16 channels; a depthwise output depends on one input
      channel, so in each column only the Fusion Unit of one row may hold non-zero weights, and a row broadcasts one
      input stream to all its Fusion Units. The 32 columns therefore form 32 / 16 = 2 diagonals, each computing one
      of two horizontally adjacent output pixels of the row's channel: the row streams the pair's shared input
      window (k x (k + s) values, ``pf`` per cycle on the fused lanes) and each of the two Fusion Units applies its
      pixel's taps, reading weights from its own weight bank every cycle as the simulator's output-stationary
      dataflow does. One pixel pair of 16 channels takes ``ceil(k * (k + s) / pf)`` cycles: 12 at 8/8 (6 per pixel
      vs 9 for one pixel at a time), 1 at 2/2. 32 of 512 Fusion Units are busy: depthwise stays the array's weak
      spot, as on BISMO. Tiles: 16 channels times the largest power-of-two square of output pixels whose input
      window and 32-bit accumulators fit the half buffers; inputs are re-read only over the window halos.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from hwenvs.hardware.base import HardwareModel, LayerShape, check_bits

PRECISIONS = (2, 4, 8)
"""The precisions a Fusion Unit supports; other bit widths are rounded up to the next one. (S)"""

_ROUND_INDEX = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
"""Index into :data:`PRECISIONS` for bits 0..8 (0 unused)."""

ACC_BITS = 32
"""Accumulator (partial-sum) width. (S)"""


def round_bits(bits: np.ndarray | int) -> np.ndarray:
    """Bits rounded up to the precision BitFusion runs them at: 1, 2 -> 2; 3, 4 -> 4; 5..8 -> 8."""
    return np.asarray(PRECISIONS)[_ROUND_INDEX[check_bits(bits, "bits")]]


def perf_factor(w_bits: np.ndarray | int, a_bits: np.ndarray | int) -> np.ndarray:
    """Processing elements per Fusion Unit, ``floor(8 / max(a, 2)) * floor(8 / max(w, 2))`` on rounded bits. (S)"""
    return (8 // round_bits(a_bits)) * (8 // round_bits(w_bits))


@dataclass(frozen=True)
class EnergyConstants:
    """BitFusion's energy constants (S: the simulator's 45 nm synthesis and CACTI numbers), joules.

    :param core_per_cycle: the whole array, per compute cycle.
    :param wgt_read: weight SRAM, per bit read.
    :param wgt_write: weight SRAM, per bit written.
    :param act_read: activation SRAM, per bit read.
    :param act_write: activation SRAM, per bit written.
    :param out_read: output SRAM, per bit read.
    :param out_write: output SRAM, per bit written.
    :param dram: DRAM, per bit read or written.
    """

    core_per_cycle: float = 235.1e-12
    wgt_read: float = 0.021e-12
    wgt_write: float = 0.029e-12
    act_read: float = 0.059e-12
    act_write: float = 0.114e-12
    out_read: float = 0.033e-12
    out_write: float = 0.073e-12
    dram: float = 15e-12


# The loops after merging batch and space: pixels (N), input channels (I), output channels (O), and which tensors
# each indexes. Orders are listed innermost first.
_LOOPS = ("N", "I", "O")
_DEPS = {"act": ("N", "I"), "wgt": ("I", "O"), "out": ("N", "O")}
_ORDERS = tuple(itertools.permutations(_LOOPS))


@dataclass(frozen=True)
class _DenseLayer:
    """One group of a standard convolution or linear layer, as the tiling search sees it.

    :param kernel: kernel side.
    :param stride: stride.
    :param ic: input channels of the group.
    :param oc: output channels of the group.
    :param out_h: output height.
    :param out_w: output width.
    :param batch: images per batch.
    :param im2col: lowered as im2col (a convolution with fewer input channels than the array has rows).
    """

    kernel: int
    stride: int
    ic: int
    oc: int
    out_h: int
    out_w: int
    batch: int
    im2col: bool

    @classmethod
    def of(cls, layer: LayerShape, batch: int, rows: int) -> _DenseLayer:
        """The searched group of ``layer`` on an array of ``rows`` rows, at ``batch`` images."""
        ic, oc = layer.in_channels // layer.groups, layer.out_channels // layer.groups
        im2col = layer.kind == "conv" and ic < rows
        return cls(layer.kernel_size, layer.stride, ic, oc, *layer.out_hw, batch, im2col)

    @property
    def pixels(self) -> int:
        """Output pixels of the batch."""
        return self.batch * self.out_h * self.out_w

    @property
    def out_elems(self) -> int:
        """Output values of the batch."""
        return self.pixels * self.oc


@dataclass(frozen=True)
class _Tiling:
    """Every candidate tiling (trailing axis): tile extents, tiles along the output rows and columns, and the trip
    counts of the three loops (pixels ``N``, input channels ``I``, output channels ``O``)."""

    b: np.ndarray
    oh: np.ndarray
    ow: np.ndarray
    ic: np.ndarray
    oc: np.ndarray
    n_oh: np.ndarray
    n_ow: np.ndarray
    counts: dict[str, np.ndarray]


@dataclass(frozen=True)
class _Bits:
    """The 9 precisions (leading axis, shape (9, 1)): weight, activation and output bits, and input lanes per row
    of Fusion Units (``rows * pf``)."""

    wb: np.ndarray
    ab: np.ndarray
    ob: np.ndarray
    lanes: np.ndarray


@dataclass(frozen=True)
class _Footprints:
    """Bits of a full tile of each tensor (``act``, ``wgt``, ``acc``: what must fit the buffers) and of the
    average tile (``*_avg``: what DRAM traffic is counted in)."""

    act: np.ndarray
    wgt: np.ndarray
    acc: np.ndarray
    act_avg: np.ndarray
    wgt_avg: np.ndarray
    acc_avg: np.ndarray


def _pow2_tiles(extent: int, unit: int = 1) -> np.ndarray:
    """Power-of-two multiples of ``unit`` up to the first that covers ``extent``, clipped to ``extent``."""
    steps = int(np.ceil(np.log2(max(1.0, extent / unit)))) + 1
    return np.unique(np.minimum(unit * 2 ** np.arange(steps), extent))


def _ceil_div(x: np.ndarray | int, y: np.ndarray | int) -> np.ndarray:
    return -(-np.asarray(x) // y)


def _tile_sum(total: int, tile: np.ndarray, cost: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Sum of ``cost(size)`` over the tiles that split ``total`` into full tiles of ``tile`` and one remainder."""
    full, rest = np.divmod(total, tile)
    return full * cost(tile) + cost(rest)


def _walk(
    tile: np.ndarray, counts: dict[str, np.ndarray], deps: tuple[str, ...], order: tuple[str, ...], cap: float
) -> np.ndarray:
    """DRAM traffic of one tensor for one loop order (innermost first): a loop over the tensor's own index
    multiplies it; another loop re-reads it only once the block accumulated so far no longer fits ``cap``."""
    size = tile.astype(np.float64)
    promoting = np.ones(np.shape(size), dtype=bool)
    for loop in order:
        n = counts[loop]
        if loop in deps:
            size = size * n
            promoting &= size <= cap
        else:
            size = np.where(promoting, size, size * n)
    return size


def _monotone(cycles: np.ndarray, energy: np.ndarray, bound: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Costs over the (3, 3) rounded precisions made non-increasing towards fewer bits: narrower operands can always
    run in a wider mode, so a precision never costs more than a wider one. Latency (with its bound) and energy are
    each the best achievable; where the schedule search picked differently (rare, a few percent), they may come
    from different schedules."""
    cycles, energy, bound = cycles.copy(), energy.copy(), bound.copy()
    for i in reversed(range(3)):
        for j in reversed(range(3)):
            for wi, aj in ((i + 1, j), (i, j + 1)):
                if wi < 3 and aj < 3:
                    if cycles[wi, aj] < cycles[i, j]:
                        cycles[i, j], bound[i, j] = cycles[wi, aj], bound[wi, aj]
                    energy[i, j] = min(energy[i, j], energy[wi, aj])
    return cycles, energy, bound


class BitFusion(HardwareModel):
    """A BitFusion instance; the defaults are the configuration of the paper's evaluation. See the module docstring
    for the model and its sources.

    :param batch: images per batch (the paper's results are at 16).
    :param clock_hz: clock frequency (500 MHz in the paper).
    :param rows: Fusion Unit rows (input-channel lanes).
    :param cols: Fusion Unit columns (output channels).
    :param wgt_sram_bytes: weight SRAM (half usable per tile).
    :param act_sram_bytes: activation SRAM (half usable per tile).
    :param out_sram_bytes: output SRAM (half usable per tile).
    :param dram_bits_per_cycle: DRAM interface width.
    :param out_bits: bits outputs are written to DRAM with; None for the layer's own (rounded) activation bits.
    :param cycle_slack: relative slack over the fewest cycles within which the least-energy tiling is chosen.
    :param energy: energy constants; the core energy scales with ``rows * cols`` relative to 16 x 32.
    :param name: name of this target.
    """

    has_energy = True

    def __init__(
        self,
        *,
        batch: int = 16,
        clock_hz: float = 500e6,
        rows: int = 16,
        cols: int = 32,
        wgt_sram_bytes: int = 64 * 1024,
        act_sram_bytes: int = 32 * 1024,
        out_sram_bytes: int = 16 * 1024,
        dram_bits_per_cycle: int = 192,
        out_bits: int | None = None,
        cycle_slack: float = 0.01,
        energy: EnergyConstants | None = None,
        name: str = "bitfusion",
    ) -> None:
        super().__init__(batch=batch, clock_hz=clock_hz)
        for label, value in (
            ("rows", rows),
            ("cols", cols),
            ("wgt_sram_bytes", wgt_sram_bytes),
            ("act_sram_bytes", act_sram_bytes),
            ("out_sram_bytes", out_sram_bytes),
            ("dram_bits_per_cycle", dram_bits_per_cycle),
        ):
            if value < 1:
                raise ValueError(f"{label} must be positive, got {value}")
        if out_bits is not None and (int(out_bits) != out_bits or out_bits < 1):
            raise ValueError(f"out_bits must be a positive integer or None, got {out_bits!r}")
        self.rows, self.cols = int(rows), int(cols)
        # Half of each buffer holds a tile, the other half the next one. (S)
        self.cap = {
            "wgt": wgt_sram_bytes * 8 / 2,
            "act": act_sram_bytes * 8 / 2,
            "out": out_sram_bytes * 8 / 2,
        }
        self.dram_bits_per_cycle = int(dram_bits_per_cycle)
        self.out_bits = out_bits
        if cycle_slack < 0:
            raise ValueError(f"cycle_slack must be >= 0, got {cycle_slack}")
        self.cycle_slack = float(cycle_slack)
        self.energy = energy or EnergyConstants()
        self.core_per_cycle = self.energy.core_per_cycle * (self.rows * self.cols) / (16 * 32)
        self.name = name
        self._grids: dict[LayerShape, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __repr__(self) -> str:
        return (
            f"BitFusion({self.name!r}, {self.rows}x{self.cols}, batch={self.batch}, clock={self.clock_hz / 1e6:g} MHz)"
        )

    def layer_cost(
        self, layer: LayerShape, w_bits: np.ndarray, a_bits: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cycles, joules and memory-bound flag for one batch of ``layer`` at the given bit widths."""
        wi = _ROUND_INDEX[check_bits(w_bits, "w_bits")]
        ai = _ROUND_INDEX[check_bits(a_bits, "a_bits")]
        # Names do not change costs: identical shapes share one search.
        key = replace(layer, name="")
        if key not in self._grids:
            self._grids[key] = self._precision_grid(key)
        cycles, energy, bound = self._grids[key]
        return cycles[wi, ai], energy[wi, ai], bound[wi, ai]

    def _precision_grid(self, layer: LayerShape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cycles, joules, memory-bound) of ``layer`` at every rounded (w, a) in 2/4/8, each of shape (3, 3)."""
        prec = np.asarray(PRECISIONS)
        wb, ab = np.meshgrid(prec, prec, indexing="ij")
        ob = ab if self.out_bits is None else np.full_like(ab, self.out_bits)
        pf = (8 // ab) * (8 // wb)
        if layer.depthwise:
            return _monotone(*self._depthwise(layer, wb, ab, ob, pf))
        cycles, energy, bound = self._dense(layer, wb.ravel(), ab.ravel(), ob.ravel(), pf.ravel())
        g = layer.groups
        # Groups of a grouped convolution run one after another.
        return _monotone(g * cycles.reshape(3, 3), g * energy.reshape(3, 3), bound.reshape(3, 3))

    def _finish(
        self,
        compute: np.ndarray,
        dram_mid: np.ndarray,
        fill: np.ndarray,
        drain: np.ndarray,
        core_cycles_energy: np.ndarray,
        sram_energy: np.ndarray,
        dram_bits: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cycles, energy and bound from compute cycles and DRAM traffic (the simulator's overlap rule)."""
        memory = np.ceil(dram_mid / self.dram_bits_per_cycle)
        latency = np.ceil(fill / self.dram_bits_per_cycle) + np.ceil(drain / self.dram_bits_per_cycle)
        cycles = compute + np.maximum(0.0, memory - compute) + latency
        energy = core_cycles_energy + sram_energy + dram_bits * self.energy.dram
        return cycles, energy, memory > compute

    def _dense(
        self, layer: LayerShape, wb: np.ndarray, ab: np.ndarray, ob: np.ndarray, pf: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Tiling and loop-order search for a standard (per-group) convolution or linear layer, vectorised over the
        9 precisions (leading axis) and every tiling and loop order (trailing axis).

        :param layer: the layer (one group of it is searched).
        :param wb: weight bits of the 9 precisions.
        :param ab: activation bits.
        :param ob: bits outputs are written to DRAM with.
        :param pf: processing elements per Fusion Unit.
        :return: cycles, joules and memory-bound flag of the chosen schedule, one per precision.
        """
        d = _DenseLayer.of(layer, self.batch, self.rows)
        t = self._tilings(d)
        bits = _Bits(wb[:, None], ab[:, None], ob[:, None], lanes=self.rows * pf[:, None])
        compute = self._dense_compute(d, t, bits.lanes)
        tiles = self._footprints(d, t, bits)
        sram_inner = self._inner_sram_energy(d, t, bits)
        candidates = [self._order_cost(d, t, bits, tiles, compute, sram_inner, order) for order in _ORDERS]
        cycles, energy, bound = (np.concatenate(x, axis=-1) for x in zip(*candidates, strict=True))
        return self._select(layer, cycles, energy, bound)

    def _tilings(self, d: _DenseLayer) -> _Tiling:
        """Every power-of-two tiling of ``d`` (the trailing axis of everything computed from it)."""
        b_opts = _pow2_tiles(self.batch)
        o_opts = _pow2_tiles(max(d.out_h, d.out_w))
        ic_opts = _pow2_tiles(d.ic)
        oc_opts = _pow2_tiles(d.oc) if d.im2col else _pow2_tiles(d.oc, self.cols)
        grid = np.meshgrid(b_opts, o_opts, ic_opts, oc_opts, indexing="ij")
        b, o, ic, oc = (x.ravel()[None, :] for x in grid)
        oh, ow = np.minimum(o, d.out_h), np.minimum(o, d.out_w)
        n_b, n_oh, n_ow = _ceil_div(self.batch, b), _ceil_div(d.out_h, oh), _ceil_div(d.out_w, ow)
        n_ic, n_oc = _ceil_div(d.ic, ic), _ceil_div(d.oc, oc)
        counts = {"N": n_b * n_oh * n_ow, "I": n_ic, "O": n_oc}
        return _Tiling(b, oh, ow, ic, oc, n_oh, n_ow, counts)

    def _dense_compute(self, d: _DenseLayer, t: _Tiling, lanes: np.ndarray) -> np.ndarray:
        """Compute cycles of every tiling at every precision.

        Edge tiles run only their remainder (the simulator charges them as full tiles, which makes it prefer 1-pixel
        tiles on odd feature maps and re-read every input k*k times). (I)
        """
        k = d.kernel
        oc_passes = _tile_sum(d.oc, t.oc, lambda x: _ceil_div(x, self.cols))
        if d.im2col:
            compute = d.pixels * oc_passes * _tile_sum(d.ic, t.ic, lambda x: _ceil_div(k * k * x, lanes))
        else:
            compute = d.pixels * oc_passes * k * k * _tile_sum(d.ic, t.ic, lambda x: _ceil_div(x, lanes))
        return compute.astype(np.float64)

    def _footprints(self, d: _DenseLayer, t: _Tiling, bits: _Bits) -> _Footprints:
        """Buffer footprints of a full tile, which decide which tilings fit (S), and the average tile, whose product
        with the tile counts is the exact tensor size (edge tiles and window halos included) for DRAM traffic."""
        k, s, n = d.kernel, d.stride, t.counts
        if d.im2col:
            act_tile = t.oh * t.ow * k * k * t.ic * t.b * bits.ab
            act_avg = d.pixels * k * k * d.ic * bits.ab / (n["N"] * n["I"])
        else:
            act_tile = (k + (t.oh - 1) * s) * (k + (t.ow - 1) * s) * t.ic * t.b * bits.ab
            rows_in = t.n_oh * (k - s) + s * d.out_h
            cols_in = t.n_ow * (k - s) + s * d.out_w
            act_avg = self.batch * rows_in * cols_in * d.ic * bits.ab / (n["N"] * n["I"])
        wgt_tile = _ceil_div(k * k * t.ic, bits.lanes) * bits.lanes * t.oc * bits.wb
        wgt_avg = k * k * d.ic * d.oc * bits.wb / (n["I"] * n["O"])
        acc_tile = t.oh * t.ow * _ceil_div(t.oc, self.cols) * self.cols * t.b * ACC_BITS
        acc_avg = d.out_elems * ACC_BITS / (n["N"] * n["O"])
        return _Footprints(act_tile, wgt_tile, acc_tile, act_avg, wgt_avg, acc_avg)

    def _inner_sram_energy(self, d: _DenseLayer, t: _Tiling, bits: _Bits) -> np.ndarray:
        """SRAM energy of the innermost loops: whichever of input-, output- and weight-stationary moves the fewest
        bits, as the simulator chooses. (S)"""
        e, k, ab, wb, lanes = self.energy, d.kernel, bits.ab, bits.wb, bits.lanes
        is_loop = _ceil_div(t.oc, self.cols) * self.cols
        os_loop = _ceil_div(k * k * t.ic, lanes) * lanes if d.im2col else _ceil_div(t.ic, lanes) * lanes * k * k
        ws_loop = t.b * t.oh * t.ow
        stationary = np.stack(
            [
                os_loop * ws_loop * (ab + is_loop * (wb + ACC_BITS)),
                is_loop * ws_loop * (ACC_BITS + os_loop * (ab + wb)),
                os_loop * is_loop * (wb + ws_loop * (ab + ACC_BITS)),
            ]
        )
        input_stationary, output_stationary = (stationary.argmin(axis=0) == i for i in (0, 1))
        macs = d.out_elems * k * k * d.ic
        reads_act = np.where(input_stationary, macs / t.oc, macs) * ab
        reads_wgt = np.where(input_stationary | output_stationary, macs, k * k * d.ic * d.oc * t.counts["N"]) * wb
        acc_rw = np.where(output_stationary, d.out_elems * t.counts["I"], macs) * ACC_BITS
        return reads_act * e.act_read + reads_wgt * e.wgt_read + acc_rw * (e.out_read + e.out_write)

    def _order_cost(
        self,
        d: _DenseLayer,
        t: _Tiling,
        bits: _Bits,
        tiles: _Footprints,
        compute: np.ndarray,
        sram_inner: np.ndarray,
        order: tuple[str, ...],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cycles (infinite where a tile does not fit), joules and bound of every tiling with loop ``order``."""
        e = self.energy
        act = _walk(tiles.act_avg, t.counts, _DEPS["act"], order, self.cap["act"])
        wgt = _walk(tiles.wgt_avg, t.counts, _DEPS["wgt"], order, self.cap["wgt"])
        acc = _walk(tiles.acc_avg, t.counts, _DEPS["out"], order, self.cap["out"])
        # Accumulators leaving more often than once are partial sums making 32-bit round trips; the final write of
        # each output is requantized to the output bits.
        psum = acc - d.out_elems * ACC_BITS
        dram_reads = act + wgt + psum
        dram_writes = d.out_elems * bits.ob + psum
        # Compute starts once the first tiles are in and ends with the last output tile's write. (I)
        fill = tiles.act + tiles.wgt
        drain = t.oh * t.ow * t.oc * t.b * bits.ob
        cycles, energy, bound = self._finish(
            compute,
            dram_reads + dram_writes - fill - drain,
            fill,
            drain,
            compute * self.core_per_cycle,
            sram_inner + act * e.act_write + wgt * e.wgt_write + psum * (e.out_write + e.out_read),
            dram_reads + dram_writes,
        )
        fits = (tiles.wgt <= self.cap["wgt"]) & (tiles.act <= self.cap["act"]) & (tiles.acc <= self.cap["out"])
        return np.where(fits, cycles, np.inf), energy, bound

    def _select(
        self, layer: LayerShape, cycles: np.ndarray, energy: np.ndarray, bound: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per precision, the least-energy schedule among those within ``cycle_slack`` of the fewest cycles."""
        fastest = cycles.min(axis=-1, keepdims=True)
        if not np.all(np.isfinite(fastest)):
            raise ValueError(f"layer {layer.name!r}: no tiling fits BitFusion's buffers")
        key = np.where(cycles <= fastest * (1.0 + self.cycle_slack), energy, np.inf).argmin(axis=-1)
        pick = np.arange(cycles.shape[0])
        return cycles[pick, key], energy[pick, key], bound[pick, key]

    def _depthwise(
        self, layer: LayerShape, wb: np.ndarray, ab: np.ndarray, ob: np.ndarray, pf: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Depthwise convolution on the diagonal Fusion Units (module docstring), at the (3, 3) precisions."""
        rows, e = self.rows, self.energy
        k, s = layer.kernel_size, layer.stride
        channels = layer.out_channels
        out_h, out_w = layer.out_hw
        ch_tiles = _ceil_div(channels, rows)
        # Each row's Fusion Units split into `pair` column groups computing horizontally adjacent output pixels from
        # one shared input window stream of k x (k + (pair - 1) * s) values, pf values per cycle.
        pair = max(1, self.cols // rows)
        stream = k * (k + (pair - 1) * s)
        passes = self.batch * ch_tiles * out_h * _ceil_div(out_w, pair)
        compute = (passes * _ceil_div(stream, pf)).astype(np.float64)

        # Spatial tile: the largest power-of-two output square whose input window and 32-bit accumulators (rows
        # channels) fit the half buffers; inputs are re-read over the window halos of neighbouring tiles.
        o_opts = _pow2_tiles(max(out_h, out_w))[None, None, :]
        oh_opts, ow_opts = np.minimum(o_opts, out_h), np.minimum(o_opts, out_w)
        window = (k + (oh_opts - 1) * s) * (k + (ow_opts - 1) * s)
        acc_fits = rows * oh_opts * ow_opts * ACC_BITS <= self.cap["out"]
        fits = acc_fits & (rows * window * ab[..., None] <= self.cap["act"])
        o = np.where(fits, o_opts, 1).max(axis=-1)
        oh, ow = np.minimum(o, out_h), np.minimum(o, out_w)
        rows_in = _ceil_div(out_h, oh) * (k - s) + s * out_h
        cols_in = _ceil_div(out_w, ow) * (k - s) + s * out_w
        act = self.batch * channels * rows_in * cols_in * ab
        wgt = channels * k * k * wb
        out = self.batch * channels * out_h * out_w * ob
        fill = rows * (k + (oh - 1) * s) * (k + (ow - 1) * s) * ab + rows * k * k * wb
        drain = rows * oh * ow * ob
        sram = (
            passes * rows * (stream * ab * e.act_read + pair * k * k * wb * e.wgt_read)
            + self.batch * channels * out_h * out_w * ACC_BITS * (e.out_read + e.out_write)
            + act * e.act_write
            + wgt * e.wgt_write
        )
        return self._finish(
            compute, act + wgt + out - fill - drain, fill, drain, compute * self.core_per_cycle, sram, act + wgt + out
        )
