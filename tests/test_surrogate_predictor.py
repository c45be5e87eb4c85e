"""The surrogate predictors: features, both model families, the held-out metrics, and the fitted surrogate's cache.

Synthetic data stands in for the shipped datasets here (tests/test_surrogate_mode.py uses those): an accuracy that
collapses when any layer drops to 2 bits, which both families must learn well enough to rank.
"""

from __future__ import annotations

import numpy as np
import pytest

from hwenvs.surrogate import predictor

LAYERS = 12


def synthetic(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bit allocations and an accuracy that falls with low bits, most of all below 3 bits."""
    rng = np.random.default_rng(seed)
    w = rng.integers(2, 9, (rows, LAYERS)).astype(np.int8)
    a = rng.integers(2, 9, (rows, LAYERS)).astype(np.int8)
    a[:, 0] = 0  # an unquantized input, as the first layer's is under some rules
    accuracy = 0.95 - 0.03 * (8 - w).mean(1) - 0.4 * ((w == 2).sum(1) > 1) + rng.normal(0, 0.005, rows)
    return w, a, np.clip(accuracy, 0, 1)


def test_haq_features_describe_bits_and_count_the_dangerous_ones() -> None:
    w = np.array([[8, 2, 3, 8]], dtype=np.int8)
    a = np.array([[0, 4, 2, 8]], dtype=np.int8)
    features = predictor.haq_features(w, a)
    assert features.shape == (1, 2 * 4 + 9)
    assert features.dtype == np.float32
    assert features[0, :4].tolist() == [8, 2, 3, 8]
    assert features[0, 4:8].tolist() == [predictor.UNQUANTIZED_AS, 4, 2, 8]  # unquantized reads as more than 8 bits
    w_min, a_min, _, _, w_le2, w_le3, a_le2, a_le3, a_le4 = features[0, 8:]
    assert (w_min, a_min, w_le2, w_le3, a_le2, a_le3, a_le4) == (2, 2, 1, 2, 1, 1, 2)


def test_nas_features_count_the_blocks_each_stage_keeps() -> None:
    from hwenvs.nas.search_space import NUM_BLOCKS, OPS, STAGES, ZERO, ZERO_ALLOWED

    skippable_stages = sum(blocks > 1 for _, blocks, _ in STAGES)

    deepest = np.zeros((1, NUM_BLOCKS), dtype=np.int8)
    shallowest = np.array([[ZERO if allowed else 0 for allowed in ZERO_ALLOWED]], dtype=np.int8)
    features = predictor.nas_features(np.concatenate([deepest, shallowest]))
    assert features.shape[1] == NUM_BLOCKS * len(OPS) + 3 * NUM_BLOCKS + skippable_stages + 1
    assert features[0, -1] == NUM_BLOCKS
    assert features[1, -1] == NUM_BLOCKS - sum(ZERO_ALLOWED)
    assert (features[1, -1 - skippable_stages : -1] == 1).all()  # those stages keep only their first block


@pytest.mark.parametrize("family", predictor.FAMILIES)
def test_each_family_learns_to_rank_held_out_policies(family: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if family == "mlp":
        monkeypatch.setattr(predictor.NeuralNet, "EPOCHS", 60)  # enough for this small problem, and quick
    w, a, accuracy = synthetic(1500)
    features = predictor.haq_features(w, a)
    targets = np.stack([accuracy, accuracy - 0.01], axis=1)
    train, held_out = predictor.holdout_split(len(features))
    model = predictor.fit(family, features[train], targets[train])
    predicted = predictor.clipped(model.predict(features[held_out]))
    assert predicted.shape == (len(held_out), 2)
    metrics = predictor.error_metrics(predicted[:, 0], targets[held_out, 0])
    assert metrics["kendall_tau"] > 0.6, metrics
    constant_rmse = 100 * np.sqrt(np.mean((targets[train, 0].mean() - targets[held_out, 0]) ** 2))
    assert metrics["rmse_points"] < constant_rmse / 2, (metrics, constant_rmse)


def test_compiled_forest_predicts_what_scikit_learn_predicts() -> None:
    w, a, accuracy = synthetic(600, seed=1)
    features = predictor.haq_features(w, a)
    model = predictor.GradientBoosting.fit(features, np.stack([accuracy, accuracy**2], axis=1))
    fresh = predictor.haq_features(*synthetic(200, seed=2)[:2])
    for column, sklearn_model in enumerate(model.models):
        expected = sklearn_model.predict(fresh)
        np.testing.assert_allclose(model.predict_split(fresh, column), expected, rtol=0, atol=1e-12)
        np.testing.assert_allclose(model.predict(fresh)[:, column], expected, rtol=0, atol=1e-12)
        # one row at a time takes the environments' own path
        one_by_one = np.concatenate([model.predict_split(fresh[i : i + 1], column) for i in range(50)])
        np.testing.assert_allclose(one_by_one, expected[:50], rtol=0, atol=1e-12)


def test_holdout_split_is_fixed_by_seed_and_disjoint() -> None:
    train, held_out = predictor.holdout_split(1000)
    assert len(held_out) == 200 and len(train) == 800
    assert not set(train) & set(held_out)
    again = predictor.holdout_split(1000)
    assert (again[0] == train).all() and (again[1] == held_out).all()
    assert not (predictor.holdout_split(1000, seed=1)[1] == held_out).all()


def test_error_metrics_on_known_numbers() -> None:
    measured = np.linspace(0.0, 1.0, 200)
    perfect = predictor.error_metrics(measured, measured)
    assert perfect["rmse_points"] == 0 and perfect["kendall_tau"] == pytest.approx(1.0)
    assert perfect["top_precision"] == 1.0 and perfect["top_rows"] == 2
    reversed_ = predictor.error_metrics(measured[::-1].copy(), measured)
    assert reversed_["kendall_tau"] == pytest.approx(-1.0) and reversed_["top_precision"] == 0.0
    off = predictor.error_metrics(measured + 0.02, measured)
    assert off["rmse_points"] == pytest.approx(2.0) and off["mae_points"] == pytest.approx(2.0)


def test_unknown_family_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown surrogate family 'xgb'; valid: gbm, mlp"):
        predictor.fit("xgb", np.zeros((4, 2)), np.zeros((4, 2)))


def test_neural_net_runs_in_numpy_as_it_ran_in_torch() -> None:
    import torch

    w, a, accuracy = synthetic(300)
    features = predictor.haq_features(w, a)
    net = predictor.NeuralNet.fit(features, np.stack([accuracy, accuracy], axis=1))
    layers = [torch.nn.Linear(*weight.shape) for weight, _ in net.layers]
    for layer, (weight, bias) in zip(layers, net.layers, strict=True):
        layer.weight.data = torch.from_numpy(weight.T.copy())
        layer.bias.data = torch.from_numpy(bias)
    x = torch.from_numpy((features - net.mean) / net.scale)
    standardised = layers[2](torch.relu(layers[1](torch.relu(layers[0](x))))).detach().numpy()
    expected = standardised * net.target_scale + net.target_mean
    np.testing.assert_allclose(net.predict(features), expected, rtol=1e-4, atol=1e-5)
