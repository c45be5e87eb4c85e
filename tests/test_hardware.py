"""Hardware cost models: BISMO (edge, cloud), BitFusion, lookup tables and HAQ's published table."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torchvision
from scipy.stats import spearmanr
from torch import nn

from hwenvs.hardware import (
    BISMO,
    HARDWARE,
    BitFusion,
    LayerShape,
    LookupTableHardware,
    haq_bismo_cloud_table,
    make_hardware,
    perf_factor,
    round_bits,
)
from hwenvs.models.shapes import layer_shapes

REFERENCE_DATA = Path(__file__).resolve().parents[2] / "shared" / "reference-data"
HAQ_TOTALS = {8: 39_624_933, 4: 15_716_150, 2: 7_063_425}
"""Whole-network totals of HAQ's table at uniform W/A bits (hardware.md)."""


@pytest.fixture
def reference_data(monkeypatch: pytest.MonkeyPatch) -> Path:
    if not (REFERENCE_DATA / "haq_qmobilenetv2_imagenet100_batch16_latency_table.npy").is_file():
        pytest.skip(f"no local reference data at {REFERENCE_DATA}")
    monkeypatch.setenv("HWENVS_REFERENCE_DATA", str(REFERENCE_DATA))
    return REFERENCE_DATA


@pytest.fixture(scope="module")
def mobilenet_v2() -> list[LayerShape]:
    return layer_shapes(torchvision.models.mobilenet_v2(), 224)


def pointwise(cin: int, cout: int, side: int) -> LayerShape:
    return LayerShape("pw", "conv", cin, cout, 1, 1, 1, (side, side), (side, side), 0)


def depthwise(channels: int, side: int, stride: int = 1) -> LayerShape:
    out = side // stride
    return LayerShape("dw", "conv", channels, channels, 3, stride, channels, (side, side), (out, out), 1)


# ----------------------------------------------------------------------------------------------------------------
# make_hardware


def test_make_hardware_defaults_and_kwargs() -> None:
    assert make_hardware("bismo-edge").batch == 1
    assert make_hardware("bismo-cloud").batch == 16
    assert make_hardware("bitfusion").batch == 16
    hw = make_hardware("bismo-edge", batch=4, clock_hz=100e6)
    assert (hw.batch, hw.clock_hz) == (4, 100e6)


def test_make_hardware_unknown_name_lists_valid() -> None:
    with pytest.raises(ValueError, match=r"bismo-cloud.*bismo-edge.*bitfusion"):
        make_hardware("tpu")


@pytest.mark.parametrize("name", ["bismo-edge", "bismo-cloud", "bitfusion"])
def test_cost_table_shapes_and_energy(name: str, mobilenet_v2: list[LayerShape]) -> None:
    table = make_hardware(name).cost_table(mobilenet_v2)
    assert table.latency_s.shape == (53, 8, 8)
    assert np.all(table.latency_s > 0) and np.all(np.isfinite(table.latency_s))
    assert np.allclose(table.latency_s, table.cycles / make_hardware(name).clock_hz)
    assert table.metric("energy") is table.energy_j and np.all(table.energy_j > 0)
    assert set(np.unique(table.bound)) <= {0, 1}
    # More bits never cost less.
    assert np.all(np.diff(table.latency_s, axis=1) >= -1e-12)
    assert np.all(np.diff(table.latency_s, axis=2) >= -1e-12)


@pytest.mark.parametrize("name", ["bismo-edge", "bismo-cloud", "bitfusion"])
@pytest.mark.parametrize("bits", [0, 9])
def test_bits_out_of_range_rejected(name: str, bits: int) -> None:
    with pytest.raises(ValueError, match=r"1\.\.8"):
        make_hardware(name).layer_cost(pointwise(32, 32, 8), np.array([bits]), np.array([4]))


def test_unsupported_layer_type_names_the_module() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ConvTranspose2d(8, 8, 3))
    with pytest.raises(TypeError, match=r"'1'.*ConvTranspose2d"):
        layer_shapes(model, 16)


# ----------------------------------------------------------------------------------------------------------------
# BISMO


def test_bismo_stage_arithmetic() -> None:
    """256 -> 256 pointwise on 16x16 at batch 1, perfect overlap: execute = 32*1*32*w*a cycles, fetch = 256*256*(w+a)
    bits / 64, results 256*256*a / 64."""
    edge = make_hardware("bismo-edge", overlap=math.inf)
    cycles, energy, memory_bound = edge.layer_cost(pointwise(256, 256, 16), np.array([8, 1]), np.array([8, 1]))
    assert cycles.tolist() == [65536, 2048]
    assert memory_bound.tolist() == [False, True]
    # The array's 5 W for 65536 cycles at 200 MHz, plus 15 pJ per DRAM bit.
    dram_bits = 256 * 256 * (8 + 8) + 256 * 256 * 8
    assert energy[0] == pytest.approx(5.0 * 65536 / 200e6 + 15e-12 * dram_bits, rel=1e-3)


def test_bismo_overlap_penalises_balanced_stages() -> None:
    layer = pointwise(256, 256, 16)
    perfect = make_hardware("bismo-edge", overlap=math.inf).layer_cost(layer, np.array([4]), np.array([4]))[0]
    default = make_hardware("bismo-edge").layer_cost(layer, np.array([4]), np.array([4]))[0]
    assert perfect[0] < default[0] < 2 * perfect[0]


def test_bismo_batch_scales_convolutions_linearly() -> None:
    layer = pointwise(96, 24, 28)
    one = make_hardware("bismo-edge", batch=1).cost_table([layer])
    four = make_hardware("bismo-edge", batch=4).cost_table([layer])
    assert np.allclose(four.cycles, 4 * one.cycles)


@pytest.mark.parametrize("name", ["bismo-edge", "bismo-cloud"])
def test_bismo_depthwise_cost_follows_activation_bits_only(name: str) -> None:
    table = make_hardware(name).cost_table([depthwise(144, 56)])
    cycles = table.cycles[0]
    assert cycles[0, 7] == pytest.approx(cycles[7, 7], rel=0.05)  # w = 1 vs 8 at a = 8
    assert cycles[7, 7] / cycles[7, 3] == pytest.approx(2.0, rel=0.1)  # a = 8 vs 4


def test_bismo_edge_pointwise_follows_weight_times_activation_bits() -> None:
    cycles = make_hardware("bismo-edge").cost_table([pointwise(24, 144, 56)]).cycles[0]
    assert cycles[7, 7] / cycles[3, 7] == pytest.approx(2.0, rel=0.15)
    assert cycles[7, 7] / cycles[7, 3] == pytest.approx(2.0, rel=0.15)


def test_bismo_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="dm"):
        BISMO(0, 256, 8)
    with pytest.raises(ValueError, match="overlap"):
        BISMO(8, 256, 8, overlap=0.5)
    with pytest.raises(ValueError, match="batch"):
        make_hardware("bismo-cloud", batch=0)


def test_bismo_fixed_result_bits_costs_every_bit_width() -> None:
    """A fixed ``result_bits`` makes the result stage one number; the table must still cover every (w, a)."""
    layers = [pointwise(256, 256, 16), depthwise(144, 56), LayerShape("fc", "linear", 1280, 1000)]
    table = BISMO(8, 256, 8, result_bits=32, overlap=math.inf).cost_table(layers)
    assert table.cycles.shape == table.energy_j.shape == (3, 8, 8)
    # 256 x 256 32-bit results through the 64-bit write port: 32768 cycles, the longest stage at 1/1 bits ...
    assert table.cycles[0, 0, 0] == 256 * 256 * 32 / 64 and table.bound[0, 0, 0] == 1
    # ... and shorter than the 8/8 execute stage (32 * 32 * 8 * 8 cycles)
    assert table.cycles[0, 7, 7] == 65536 and table.bound[0, 7, 7] == 0
    # results written at 32 bits never cost less than at the layer's own activation bits
    default = BISMO(8, 256, 8, overlap=math.inf).cost_table(layers)
    assert np.all(table.cycles >= default.cycles) and np.all(table.energy_j > default.energy_j)


# ----------------------------------------------------------------------------------------------------------------
# BISMO cloud against HAQ's published table


def test_haq_table_loads_and_matches_published_totals(reference_data: Path) -> None:
    table = haq_bismo_cloud_table()
    assert table.shape == (53, 8, 8) and table.dtype == np.int64
    for bits, total in HAQ_TOTALS.items():
        assert table[:, bits - 1, bits - 1].sum() == total
    # The linear layer streams 1280 x 1000 weights at 256 bits/cycle: 5000 cycles per weight bit.
    assert table[52, :, 0].tolist()[:4] == pytest.approx([5000, 10000, 15000, 20000], rel=0.01)


def test_bismo_cloud_reproduces_haq_table(reference_data: Path, mobilenet_v2: list[LayerShape]) -> None:
    ours = make_hardware("bismo-cloud").cost_table(mobilenet_v2).cycles
    theirs = haq_bismo_cloud_table().astype(np.float64)
    for bits in range(2, 9):
        b = bits - 1
        ratio = ours[:, b, b].sum() / theirs[:, b, b].sum()
        assert ratio == pytest.approx(1.0, abs=0.10), f"W{bits}A{bits} total ratio {ratio:.3f}"
        rho = spearmanr(ours[:, b, b], theirs[:, b, b]).statistic
        assert rho >= 0.9, f"W{bits}A{bits} Spearman {rho:.3f}"


def test_haq_table_hardware(reference_data: Path, mobilenet_v2: list[LayerShape]) -> None:
    hw = make_hardware("haq-table")
    table = hw.cost_table(mobilenet_v2)
    assert table.batch == 16 and table.energy_j is None and table.bound is None
    assert table.cycles[:, 7, 7].sum() == HAQ_TOTALS[8]
    assert table.latency_s[0, 0, 0] == pytest.approx(table.cycles[0, 0, 0] / hw.clock_hz)
    with pytest.raises(ValueError, match="no energy model"):
        table.metric("energy")
    with pytest.raises(ValueError, match="batch 16"):
        make_hardware("haq-table", batch=1)


def test_haq_table_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HWENVS_REFERENCE_DATA", str(tmp_path))
    monkeypatch.setenv("HWENVS_CACHE", str(tmp_path / "cache"))

    def offline(*args, **kwargs):
        raise OSError("offline")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(FileNotFoundError, match="HWENVS_REFERENCE_DATA"):
        haq_bismo_cloud_table()


# ----------------------------------------------------------------------------------------------------------------
# Lookup tables


def test_lookup_table_layer_count_mismatch_names_both_counts() -> None:
    hw = LookupTableHardware(np.ones((53, 8, 8)), "mine")
    with pytest.raises(ValueError, match=r"53 layers.*model has 2"):
        hw.cost_table([pointwise(8, 8, 4), pointwise(8, 8, 4)])


def test_lookup_table_units_and_validation() -> None:
    layers = [pointwise(8, 8, 4)]
    table = np.arange(64, dtype=float).reshape(1, 8, 8) + 1
    assert LookupTableHardware(table, unit="ms").cost_table(layers).latency_s[0, 1, 2] == pytest.approx(11e-3)
    in_cycles = LookupTableHardware(table, clock_hz=1e6).cost_table(layers)
    assert in_cycles.latency_s[0, 7, 7] == pytest.approx(64e-6)
    assert in_cycles.cycles[0, 7, 7] == 64
    energy = LookupTableHardware(table, energy_j=table * 2).cost_table(layers)
    assert energy.metric("energy")[0, 0, 0] == 2
    with pytest.raises(ValueError, match="unit"):
        LookupTableHardware(table, unit="fortnights")
    with pytest.raises(ValueError, match=r"\(layers, 8, 8\)"):
        LookupTableHardware(np.ones((3, 4, 8)))
    with pytest.raises(ValueError, match="non-negative"):
        LookupTableHardware(-table)
    with pytest.raises(TypeError, match="cost_table"):
        LookupTableHardware(table).layer_cost(layers[0], np.array([1]), np.array([1]))


# ----------------------------------------------------------------------------------------------------------------
# BitFusion


ROUNDED = {1: 2, 2: 2, 3: 4, 4: 4, 5: 8, 6: 8, 7: 8, 8: 8}


def test_bitfusion_throughput_factor_rule_for_every_pair() -> None:
    published = {(8, 8): 1, (8, 4): 2, (4, 8): 2, (4, 4): 4, (8, 2): 4, (2, 8): 4, (4, 2): 8, (2, 4): 8, (2, 2): 16}
    for w in range(1, 9):
        for a in range(1, 9):
            expected = published[ROUNDED[w], ROUNDED[a]]
            assert perf_factor(w, a) == expected, (w, a)
            assert perf_factor(w, a) == (8 // max(ROUNDED[a], 2)) * (8 // max(ROUNDED[w], 2))
    assert round_bits(np.arange(1, 9)).tolist() == [2, 2, 4, 4, 8, 8, 8, 8]


def test_bitfusion_odd_bit_widths_buy_nothing(mobilenet_v2: list[LayerShape]) -> None:
    table = make_hardware("bitfusion").cost_table(mobilenet_v2[:6])
    for low, high in ((1, 2), (3, 4), (5, 8), (6, 8), (7, 8)):
        assert np.array_equal(table.cycles[:, low - 1], table.cycles[:, high - 1])
        assert np.array_equal(table.energy_j[:, :, low - 1], table.energy_j[:, :, high - 1])


def test_bitfusion_compute_bound_conv_matches_simulator_compute() -> None:
    """3x3, 64 -> 64 on 56x56, batch 16 at 8/8: b * ceil(oc/32) * oh * ow * k * k * ceil(ic/16) compute cycles."""
    layer = LayerShape("c", "conv", 64, 64, 3, 1, 1, (56, 56), (56, 56), 1)
    cycles, energy, memory_bound = make_hardware("bitfusion").layer_cost(layer, np.array([8]), np.array([8]))
    compute = 16 * 2 * 56 * 56 * 9 * 4
    assert compute <= cycles[0] <= 1.02 * compute
    assert not memory_bound[0]
    assert energy[0] > compute * 235.1e-12


def test_bitfusion_low_precision_speeds_up_by_the_throughput_factor() -> None:
    layer = LayerShape("c", "conv", 256, 256, 3, 1, 1, (14, 14), (14, 14), 1)
    cycles = make_hardware("bitfusion").layer_cost(layer, np.array([8, 4]), np.array([8, 4]))[0]
    assert cycles[0] / cycles[1] == pytest.approx(4.0, rel=0.05)


def test_bitfusion_first_layer_runs_as_im2col() -> None:
    """3 input channels: b * oh * ow * ceil(oc/32) * ceil(k*k*ic / 16) = 16 * 112 * 112 * 1 * 2 at 8/8."""
    layer = LayerShape("stem", "conv", 3, 32, 3, 2, 1, (224, 224), (112, 112), 1)
    cycles = make_hardware("bitfusion").layer_cost(layer, np.array([8]), np.array([8]))[0]
    assert cycles[0] >= 16 * 112 * 112 * 2
    assert cycles[0] < 16 * 112 * 112 * 9  # channel-wise lowering would take k*k*ceil(3/16) per pixel


def test_bitfusion_depthwise_pairs_pixels_on_fused_lanes() -> None:
    cycles = make_hardware("bitfusion").layer_cost(depthwise(144, 56), np.array([8, 2]), np.array([8, 2]))[0]
    # 16 channels and 2 adjacent output pixels per pass, ceil(3 * 4 / pf) cycles per pass: 12 at 8/8, 1 at 2/2.
    assert 16 * 9 * 56 * 28 * 12 <= cycles[0] < 16 * 9 * 56 * 56 * 9
    assert cycles[0] / cycles[1] > 5


def test_bitfusion_network_is_bit_sensitive(mobilenet_v2: list[LayerShape]) -> None:
    """Not the simulator-as-is trap (8/8 vs 2/2 within a few percent)."""
    table = make_hardware("bitfusion").cost_table(mobilenet_v2)
    assert table.latency_s[:, 7, 7].sum() / table.latency_s[:, 1, 1].sum() > 3
    assert table.energy_j[:, 7, 7].sum() / table.energy_j[:, 1, 1].sum() > 2


def test_bitfusion_resnet18_within_peak_bounds() -> None:
    layers = layer_shapes(torchvision.models.resnet18(), 224)
    table = make_hardware("bitfusion").cost_table(layers)
    ideal = sum(layer.macs for layer in layers) * 16 / 512
    total = table.cycles[:, 7, 7].sum()
    assert ideal <= total <= 1.5 * ideal


@pytest.mark.parametrize("batch", [1, 16])
def test_bitfusion_more_bits_never_cost_less(batch: int) -> None:
    """Small layers where wider fused lanes pad the weights: the narrower mode must not cost more than a wider one."""
    layers = layer_shapes(torchvision.models.mobilenet_v2(), 96)
    table = make_hardware("bitfusion", batch=batch).cost_table(layers)
    for values in (table.cycles, table.energy_j):
        assert np.all(np.diff(values, axis=1) >= 0)
        assert np.all(np.diff(values, axis=2) >= 0)


def test_bitfusion_cycle_slack_trades_energy_not_time() -> None:
    layers = layer_shapes(torchvision.models.resnet18(), 224)[:8]
    strict = make_hardware("bitfusion", cycle_slack=0.0).cost_table(layers)
    relaxed = make_hardware("bitfusion").cost_table(layers)
    assert np.all(relaxed.cycles <= strict.cycles * 1.01 + 1)
    assert relaxed.energy_j.sum() <= strict.energy_j.sum()
    with pytest.raises(ValueError, match="cycle_slack"):
        BitFusion(cycle_slack=-1)


def test_bitfusion_grouped_conv_costs_its_groups() -> None:
    dense = LayerShape("g1", "conv", 64, 64, 3, 1, 1, (28, 28), (28, 28), 1)
    grouped = LayerShape("g2", "conv", 128, 128, 3, 1, 2, (28, 28), (28, 28), 1)
    hw = make_hardware("bitfusion")
    one = hw.layer_cost(dense, np.array([4]), np.array([4]))[0]
    two = hw.layer_cost(grouped, np.array([4]), np.array([4]))[0]
    assert two[0] == pytest.approx(2 * one[0])


@pytest.mark.parametrize("name", ["bismo-edge", "bismo-cloud", "bitfusion"])
def test_models_pickle_with_their_results(name: str) -> None:
    """Vector environments ship hardware models to worker processes."""
    layers = [pointwise(32, 64, 14), depthwise(64, 14)]
    hardware = make_hardware(name)
    before = hardware.cost_table(layers)
    after = pickle.loads(pickle.dumps(hardware)).cost_table(layers)
    assert np.array_equal(before.cycles, after.cycles) and np.array_equal(before.energy_j, after.energy_j)


def test_registry_covers_every_env_hardware() -> None:
    from hwenvs.registration import HAQ_HARDWARE

    assert set(HAQ_HARDWARE.values()) <= set(HARDWARE)
