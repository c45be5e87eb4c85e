"""One cost function: the environment's budget, ``hwenvs hardware`` and the benchmarks cost a policy alike.

The environment (:meth:`HAQEnv.policy_cost`, :class:`BitBudget`) and ``hwenvs hardware``
(:func:`hwenvs.cli.hardware.policy_cost`) both look a policy up through
:func:`hwenvs.hardware.base.policy_layer_costs`; these tests show they agree on random policies on every hardware
target and metric, that the CLI costs the very network the environment searches, and that the benchmarks' uniform
totals (``benchmarks/hardware_validation.py``) are the same figures.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import hwenvs  # noqa: F401  (registers the environments)
from hwenvs.cli.hardware import model_layers, policy_cost
from hwenvs.envs.bit_budget import UNQUANTIZED, UNQUANTIZED_CHARGE_BITS, BitBudget
from hwenvs.envs.haq_env import _constraint_table
from hwenvs.hardware import HARDWARE, CostTable, LayerShape, make_hardware

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
REFERENCE_TABLE = Path(__file__).resolve().parents[2] / "shared" / "reference-data"
HAQ_TABLE_FILE = "haq_qmobilenetv2_imagenet100_batch16_latency_table.npy"
METRIC_KEYS = {"latency": "latency_s", "energy": "energy_j"}
"""Environment constraint -> the CLI's JSON total of the same metric."""


def random_policies(n_layers: int, count: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` random (w, a) policies over 1..8 bits, some inputs unquantized (``a == UNQUANTIZED``)."""
    rng = np.random.default_rng(seed)
    policies = []
    for _ in range(count):
        w = rng.integers(1, 9, n_layers)
        a = np.where(rng.random(n_layers) < 0.1, UNQUANTIZED, rng.integers(1, 9, n_layers))
        policies.append((w, a))
    return policies


def charged(a: np.ndarray) -> np.ndarray:
    """The activation bits the CLI is given for the environment's ``a``: an unquantized input at the charge bits."""
    return np.where(a == UNQUANTIZED, UNQUANTIZED_CHARGE_BITS, a)


@pytest.fixture(scope="module")
def mobilenet_v2() -> list[LayerShape]:
    """MobileNetV2's deployed shapes as ``hwenvs hardware`` builds them (the only model HAQ's table fits)."""
    return model_layers("mobilenet_v2", 224)


@pytest.fixture(scope="module", params=sorted(HARDWARE))
def table(request: pytest.FixtureRequest, mobilenet_v2: list[LayerShape]) -> CostTable:
    """MobileNetV2's cost table on every hardware target (HAQ's table from its local copy, which conftest points
    hwenvs at; never the network)."""
    if request.param == "haq-table" and not (REFERENCE_TABLE / HAQ_TABLE_FILE).is_file():
        pytest.skip(f"no local copy of HAQ's table in {REFERENCE_TABLE}")
    return make_hardware(request.param).cost_table(mobilenet_v2)


def metrics(table: CostTable) -> list[str]:
    return ["latency"] + (["energy"] if table.energy_j is not None else [])


def test_env_policy_cost_is_the_cli_total() -> None:
    env = gym.make("HAQ-MobileNetV1-BISMO").unwrapped
    # The CLI costs the very network the environment searches (same shapes at the same resolution).
    assert model_layers("mobilenet_v1", 224, num_classes=env.task.num_classes) == env.layers
    for w, a in random_policies(env.num_layers, 200, seed=0):
        policy = [[int(wb), None if ab == UNQUANTIZED else int(ab)] for wb, ab in zip(w, a, strict=True)]
        cli = policy_cost(env.cost_table, w, charged(a))
        assert env.policy_cost(policy) == cli["total"]["latency_s"]
        per_layer = [layer["latency_s"] for layer in cli["layers"]]
        assert env.policy_cost(policy) == pytest.approx(sum(per_layer), rel=1e-12, abs=0)  # summed in another order
    env.close()


def test_budget_cost_is_the_cli_total_on_every_target(table: CostTable) -> None:
    for metric in metrics(table):
        budget = BitBudget(_constraint_table(table, table.layers, metric), preserve_ratio=1.0)
        for w, a in random_policies(len(table.layers), 200, seed=1):
            total = policy_cost(table, w, charged(a))["total"][METRIC_KEYS[metric]]
            assert budget.cost(w, a) == total, (metric, w.tolist(), a.tolist())


def test_size_cost_is_bits_times_weights(mobilenet_v2: list[LayerShape]) -> None:
    table = make_hardware("bismo-edge").cost_table(mobilenet_v2)
    budget = BitBudget(_constraint_table(table, mobilenet_v2, "size"), preserve_ratio=1.0, quantize_activations=False)
    weights = np.array([layer.num_weights for layer in mobilenet_v2])
    for w, _ in random_policies(len(mobilenet_v2), 50, seed=2):
        a = np.full(len(w), UNQUANTIZED)
        assert budget.cost(w, a) == pytest.approx(float((weights * w).sum()), rel=1e-12)


def test_benchmark_uniform_totals_are_the_budget_costs(table: CostTable) -> None:
    """``hardware_validation.uniform`` sums the first layer apart from the rest, so equal within float rounding."""
    sys.path.insert(0, str(BENCHMARKS))  # the benchmark imports its sibling results_io
    try:
        uniform = importlib.import_module("hardware_validation").uniform
    finally:
        sys.path.remove(str(BENCHMARKS))
    for metric in metrics(table):
        budget = BitBudget(_constraint_table(table, table.layers, metric), preserve_ratio=1.0)
        for wb in range(1, 9):
            for ab in range(1, 9):
                w, a = np.full(len(table.layers), wb), np.full(len(table.layers), ab)
                a[0] = UNQUANTIZED
                expected = budget.cost(w, a)
                assert uniform(table, wb, ab, metric) == pytest.approx(expected, rel=1e-12, abs=0)
