"""The quantizers behind the HAQ environment: linear per-channel weights with a clipping search, calibrated
activations, the straight-through estimator, k-means weight sharing, the quantized-weight cache, and real
quantized inference of a shipped model."""

from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

import hwenvs  # noqa: F401  (registers the environments)
import hwenvs.quant.quantized_layer as quantized_layer_module
from hwenvs.data import Task
from hwenvs.envs.haq_env import HAQEnv
from hwenvs.models.evaluate import accuracy
from hwenvs.models.pretrained import load_reference_model
from hwenvs.quant import QuantizedLayer, QuantizedModel, finetune
from hwenvs.quant.kmeans import kmeans_codebook, quantize_weight_kmeans
from hwenvs.quant.linear import (
    activation_alpha,
    fake_quantize_activation,
    quantize_weight,
    ste,
    weight_clip_ratio,
    weight_scale,
)

QUANT = (nn.Conv2d, nn.Linear)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def mobilenet_v2(mnist_small: Task) -> nn.Module:
    """The shipped float MobileNetV2 (QuantizedModel copies it, so tests share it)."""
    return load_reference_model("mobilenet_v2", mnist_small)


def _heavy_tailed(channels: int = 16, fan_in: int = 288, seed: int = 0) -> torch.Tensor:
    """Conv-shaped weights with Laplace-like tails, where clipping a few outliers pays off at low bits."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(channels, fan_in, generator=g) * torch.rand(channels, 1, generator=g).add(0.1)
    outliers = torch.rand(channels, fan_in, generator=g) < 0.01
    return torch.where(outliers, w * 6, w).reshape(channels, fan_in // 9, 3, 3)


def _mse_per_channel(q: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return (q - w).pow(2).reshape(w.shape[0], -1).mean(dim=1)


def _identity_layer(n: int) -> nn.Linear:
    """A Linear layer whose output is its input: its QuantizedLayer output shows the quantized activations."""
    layer = nn.Linear(n, n)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(n))
        layer.bias.zero_()
    return layer


# -- linear weights -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", range(2, 9))
def test_weight_grid_is_symmetric_per_channel(bits: int) -> None:
    w = _heavy_tailed(channels=8, fan_in=4608)
    q = quantize_weight(w, bits)
    levels = 2 ** (bits - 1) - 1
    scale = weight_scale(w, bits, weight_clip_ratio(w, bits)).flatten()
    for c in range(w.shape[0]):
        values = q[c].unique()
        assert len(values) <= 2**bits - 1
        ints = values / scale[c]
        torch.testing.assert_close(ints, ints.round(), atol=1e-3, rtol=0)
        assert ints.abs().max() <= levels + 1e-3
        assert values.min() < 0 < values.max()
        if bits <= 3:  # 4608 weights fill every level of a small grid
            assert len(values) == 2**bits - 1
    # symmetric: negating the weights negates their quantized values (same scale, grid symmetric about 0)
    torch.testing.assert_close(quantize_weight(-w, bits), -q, atol=0, rtol=0)
    assert q.shape == w.shape


@pytest.mark.parametrize("bits", [3, 8])
def test_weight_scale_is_per_output_channel(bits: int) -> None:
    w = _heavy_tailed(channels=6)
    scaled = w.clone()
    scaled[2] *= 10
    base = weight_scale(w, bits, weight_clip_ratio(w, bits)).flatten()
    big = weight_scale(scaled, bits, weight_clip_ratio(scaled, bits)).flatten()
    torch.testing.assert_close(big[2], 10 * base[2], rtol=1e-5, atol=0)
    others = [c for c in range(6) if c != 2]
    torch.testing.assert_close(big[others], base[others], rtol=0, atol=0)
    q, q_big = quantize_weight(w, bits), quantize_weight(scaled, bits)
    torch.testing.assert_close(q_big[2], 10 * q[2], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(q_big[others], q[others], rtol=0, atol=0)


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_clip_search_below_5_bits_never_increases_mse(bits: int) -> None:
    w = _heavy_tailed(channels=32)
    ratio = weight_clip_ratio(w, bits)
    searched = _mse_per_channel(quantize_weight(w, bits), w)
    max_abs = _mse_per_channel(quantize_weight(w, bits, clip_ratio=torch.ones(w.shape[0])), w)
    assert torch.all(searched <= max_abs * (1 + 1e-6))
    assert torch.all(ratio <= 1) and torch.any(ratio < 1)  # the outliers do get clipped
    assert searched.sum() < 0.9 * max_abs.sum()


@pytest.mark.parametrize("bits", [5, 6, 8])
def test_no_clip_search_at_5_bits_and_above(bits: int) -> None:
    w = _heavy_tailed(channels=32)
    torch.testing.assert_close(weight_clip_ratio(w, bits), torch.ones(w.shape[0]), rtol=0, atol=0)
    q = quantize_weight(w, bits)
    # max |w| lands exactly on the outermost level: nothing is clipped
    peak = w.abs().reshape(w.shape[0], -1).amax(dim=1)
    torch.testing.assert_close(q.abs().reshape(w.shape[0], -1).amax(dim=1), peak, rtol=1e-6, atol=0)


def test_one_bit_linear_quantization_is_a_clear_error() -> None:
    w = torch.randn(4, 64, generator=torch.Generator().manual_seed(0))
    for call in (lambda: quantize_weight(w, 1), lambda: weight_clip_ratio(w, 1), lambda: quantize_weight(w, 9)):
        with pytest.raises(ValueError, match=r"2\.\.8 bits"):
            call()


def test_one_bit_weights_need_the_kmeans_size_budget(mnist_small: Task) -> None:
    with pytest.raises(ValueError, match=r"min_bits=1.*k-means"):
        HAQEnv(dataset=mnist_small, min_bits=1)
    with pytest.raises(ValueError, match="min_bits=1"):
        HAQEnv(dataset=mnist_small, constraint="size", quantizer="linear", min_bits=1)
    env = HAQEnv(dataset=mnist_small, constraint="size", min_bits=1, preserve_ratio=0.15)
    env.reset(seed=0)
    for _ in range(env.steps_per_episode):
        *_, info = env.step(np.array([-1.0], dtype=np.float32))
    assert [w for w, _ in info["policy"][1:-1]] == [1] * (env.num_layers - 2)
    assert info["cost"] <= info["budget"]


# -- activations ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", range(2, 9))
def test_unsigned_activations_after_relu(bits: int) -> None:
    g = torch.Generator().manual_seed(bits)
    calibration = torch.relu(torch.randn(256, 64, generator=g))
    layer = QuantizedLayer(_identity_layer(64)).eval()
    layer.calibrate(calibration, g)
    assert not layer.signed
    layer.a_bits = bits
    x = torch.randn(256, 64, generator=g).relu()
    with torch.no_grad():
        q = layer(x)
    values = q.unique()
    assert values.min() >= 0
    assert len(values) <= 2**bits
    alpha = layer.alpha(bits)
    steps = values / (alpha / (2**bits - 1))
    torch.testing.assert_close(steps, steps.round(), atol=1e-3, rtol=0)
    if bits <= 4:
        assert len(values) == 2**bits  # 0 and alpha included: every one of the 2^b unsigned levels is used


@pytest.mark.parametrize("bits", range(2, 9))
def test_signed_activations_where_input_can_be_negative(bits: int) -> None:
    g = torch.Generator().manual_seed(bits)
    calibration = torch.randn(256, 64, generator=g)
    layer = QuantizedLayer(_identity_layer(64)).eval()
    layer.calibrate(calibration, g)
    assert layer.signed
    layer.a_bits = bits
    with torch.no_grad():
        q = layer(torch.randn(256, 64, generator=g))
    values = q.unique()
    assert values.min() < 0 < values.max()
    assert len(values) <= 2**bits - 1
    half = 2 ** (bits - 1) - 1
    steps = values / (layer.alpha(bits) / half)
    torch.testing.assert_close(steps, steps.round(), atol=1e-3, rtol=0)
    assert steps.abs().max() <= half + 1e-3
    # symmetric range [-alpha, alpha]: the largest inputs of either sign clamp to +-alpha
    with torch.no_grad():
        ends = layer(torch.tensor([[-1e3] * 32 + [1e3] * 32]))
    torch.testing.assert_close(ends.abs(), torch.full_like(ends, layer.alpha(bits)))


def test_one_bit_activations_are_a_clear_error() -> None:
    g = torch.Generator().manual_seed(0)
    layer = QuantizedLayer(_identity_layer(64)).eval()
    layer.calibrate(torch.randn(256, 64, generator=g), g)
    layer.a_bits = 1
    with pytest.raises(ValueError, match=r"2\.\.8 bits"), torch.no_grad():
        layer(torch.randn(256, 64, generator=g))


def test_calibrated_ranges_come_from_the_calibration_batch() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),  # input: the (signed) images
        nn.ReLU(),
        nn.Conv2d(4, 4, 1),  # input: after ReLU, unsigned
        nn.Conv2d(4, 4, 1),  # input: a linear layer's output, signed
        nn.Flatten(),
        nn.ReLU(),
        nn.Linear(4 * 6 * 6, 5),  # input: after ReLU, unsigned
    ).eval()
    calibration = torch.randn(8, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    inputs: list[torch.Tensor] = []
    hooks = [m.register_forward_pre_hook(lambda _, i: inputs.append(i[0])) for m in model if isinstance(m, QUANT)]
    with torch.no_grad():
        model(calibration)
    for h in hooks:
        h.remove()
    qm = QuantizedModel(model, calibration)
    assert [layer.signed for layer in qm.layers] == [True, False, True, False]
    for layer, x in zip(qm.layers, inputs, strict=True):
        # fewer than CALIBRATION_SAMPLES values: every input value of the calibration pass is kept
        torch.testing.assert_close(layer.calibration_samples.sort().values, x.flatten().sort().values)
        for bits in (3, 8):
            assert layer.alpha(bits) == activation_alpha(x, bits, layer.signed)
            assert 0 < layer.alpha(bits) <= x.abs().max()
    # another calibration batch, other ranges: doubling the images doubles the first layer's range
    doubled = QuantizedModel(model, 2 * calibration)
    assert doubled.layers[0].alpha(8) == pytest.approx(2 * qm.layers[0].alpha(8), rel=1e-5)


def test_mobilenet_v2_signed_inputs_follow_the_linear_bottlenecks(mnist_small: Task, mobilenet_v2: nn.Module) -> None:
    qm = QuantizedModel(mobilenet_v2, mnist_small.calibration)
    signed = {name for name, layer in zip(qm.names, qm.layers, strict=True) if layer.signed}
    expansions = {f"features.{k}.conv.0.0" for k in range(2, 18)}
    # the normalised images, every expansion 1x1 after a linear bottleneck, and the final 1x1; everything else
    # (depthwise and projection convs, the classifier) reads a ReLU6 output
    assert signed == {"features.0.0", *expansions, "features.18.0"}
    first = qm.layers[0]
    assert set(first.calibration_samples.unique().tolist()) <= set(mnist_small.calibration.unique().tolist())


# -- straight-through estimator and fine-tuning -------------------------------------------------------------------


def test_ste_passes_the_weight_gradient_straight_through() -> None:
    g = torch.Generator().manual_seed(0)
    float_layer = nn.Linear(16, 8)
    layer = QuantizedLayer(float_layer).train()
    layer.w_bits = 3
    x = torch.randn(32, 16, generator=g)
    upstream = torch.randn(32, 8, generator=g)
    out = layer(x)
    wq = quantize_weight(float_layer.weight.detach(), 3)
    torch.testing.assert_close(out, x @ wq.T + float_layer.bias)  # forward: quantized weights
    (out * upstream).sum().backward()
    # backward: d out / d w taken as d out / d wq, i.e. identity through the rounding
    torch.testing.assert_close(float_layer.weight.grad, upstream.T @ x)
    assert float_layer.weight.grad.abs().sum() > 0

    w = torch.randn(5, 5, requires_grad=True)
    ste(w, quantize_weight(w.detach(), 2)).sum().backward()
    torch.testing.assert_close(w.grad, torch.ones(5, 5))


def test_activation_gradient_is_identity_inside_the_range_only() -> None:
    x = torch.tensor([-3.0, -1.0, -0.2, 0.0, 0.3, 0.99, 1.5], requires_grad=True)
    fake_quantize_activation(x, alpha=1.0, bits=4, signed=True).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([0.0, 1, 1, 1, 1, 1, 0]))


def test_short_finetune_changes_weights_through_the_quantizers(mnist_small: Task, mobilenet_v2: nn.Module) -> None:
    qm = QuantizedModel(mobilenet_v2, mnist_small.calibration)
    policy = [(3, 4)] * len(qm)
    before = [layer.layer.weight.detach().clone() for layer in qm.layers]
    qm.accuracy(mnist_small, policy)  # as in an episode: evaluate (filling the cache), then fine-tune a copy
    cached = qm.layers[5].quantized_weight(3)
    model = finetune(qm.trainable_copy(policy), mnist_small, steps=2, batch_size=32, lr=0.01)
    tuned = [m for m in model.modules() if isinstance(m, QuantizedLayer)]
    changed = sum(not torch.equal(t.layer.weight, b) for t, b in zip(tuned, before, strict=True))
    assert changed == len(qm)  # every layer, the 3-bit ones included, got a gradient through its STE
    # the shared model is untouched, and so is its cache; the copy's stale quantized weights were dropped
    assert all(torch.equal(layer.layer.weight, b) for layer, b in zip(qm.layers, before, strict=True))
    assert qm.layers[5].quantized_weight(3) is cached
    assert all(not t._weights for t in tuned)
    assert not torch.equal(tuned[5].quantized_weight(3), cached)


# -- k-means --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_kmeans_codebook_size_and_nearest_centroid(bits: int) -> None:
    w = _heavy_tailed(channels=32)
    codebook = kmeans_codebook(w, bits, seed=0)
    q = quantize_weight_kmeans(w, bits, seed=0)
    values = q.unique()
    assert len(codebook) == 2**bits and len(values) <= 2**bits
    assert set(values.tolist()) <= set(codebook.tolist())
    nearest = (w.flatten()[:, None] - codebook[None]).abs().min(dim=1).values
    torch.testing.assert_close((q - w).abs().flatten(), nearest, rtol=0, atol=1e-6)
    torch.testing.assert_close(quantize_weight_kmeans(w, bits, seed=0), q, rtol=0, atol=0)  # deterministic


def test_kmeans_error_falls_as_bits_grow() -> None:
    w = _heavy_tailed(channels=32)
    errors = [float((quantize_weight_kmeans(w, bits, seed=3) - w).pow(2).mean()) for bits in range(1, 7)]
    assert all(a > b for a, b in itertools.pairwise(errors)), errors


def test_kmeans_layer_in_a_model(mnist_small: Task, mobilenet_v2: nn.Module) -> None:
    qm = QuantizedModel(mobilenet_v2, mnist_small.calibration, method="kmeans", seed=7)
    layer = qm.layers[1].eval()  # depthwise, 288 weights
    q = layer.quantized_weight(2)
    assert len(q.unique()) <= 4
    assert set(q.unique().tolist()) <= set(layer._codebooks[2].tolist())
    again = QuantizedModel(mobilenet_v2, mnist_small.calibration, method="kmeans", seed=7).layers[1].eval()
    torch.testing.assert_close(again.quantized_weight(2), q, rtol=0, atol=0)


# -- the quantized-weight cache ---------------------------------------------------------------------------------------


def test_quantized_weights_are_computed_once_per_layer_and_bits(
    mnist_small: Task, mobilenet_v2: nn.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    original = quantized_layer_module.quantize_weight

    def counting(w: torch.Tensor, bits: int, clip_ratio: torch.Tensor | None = None) -> torch.Tensor:
        calls.append(bits)
        return original(w, bits, clip_ratio)

    monkeypatch.setattr(quantized_layer_module, "quantize_weight", counting)
    layer = QuantizedLayer(nn.Conv2d(4, 8, 3)).eval()
    assert layer.quantized_weight(4) is layer.quantized_weight(4)
    assert len(calls) == 1
    qm = QuantizedModel(mobilenet_v2, mnist_small.calibration)
    n = len(qm)
    calls.clear()
    acc4 = qm.accuracy(mnist_small, [(4, 8)] * n)
    assert len(calls) == n
    qm.accuracy(mnist_small, [(8, 8)] * n)
    assert len(calls) == 2 * n
    kept = [layer.quantized_weight(4) for layer in qm.layers]
    qm.accuracy(mnist_small, [(4, 8) if i % 2 else (8, 8) for i in range(n)])
    assert qm.accuracy(mnist_small, [(4, 8)] * n) == acc4
    assert len(calls) == 2 * n  # every (layer, bits) was seen before: nothing re-quantized
    assert all(layer.quantized_weight(4) is w for layer, w in zip(qm.layers, kept, strict=True))


def test_fresh_quantized_model_uses_the_cache(mnist_small: Task, mobilenet_v2: nn.Module) -> None:
    qm = QuantizedModel(mobilenet_v2, mnist_small.calibration)
    assert not any(layer.training for layer in qm.layers)
    assert qm.layers[3].quantized_weight(4) is qm.layers[3].quantized_weight(4)


def test_episodes_never_requantize_from_scratch(mnist_small: Task, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = quantized_layer_module.quantize_weight
    monkeypatch.setattr(
        quantized_layer_module, "quantize_weight", lambda w, b, c=None: calls.append(b) or original(w, b, c)
    )
    env = gym.make("HAQ-MobileNetV2-BISMO", dataset=mnist_small, cache_accuracy=False, preserve_ratio=0.6)

    def episode() -> dict:
        env.reset(seed=0)
        for step in range(env.unwrapped.steps_per_episode):
            *_, info = env.step(np.array([0.5 if step % 3 else -0.2], dtype=np.float32))
        return info

    first = episode()
    quantized_once = len(calls)
    assert 0 < quantized_once <= env.unwrapped.num_layers * 7
    second = episode()
    assert len(calls) == quantized_once
    assert second["accuracy"] == first["accuracy"] and second["policy"] == first["policy"]


# -- real quantized inference ---------------------------------------------------------------------------------------


def test_8_bit_close_to_float_and_2_bit_collapses(mnist_small: Task, mobilenet_v2: nn.Module) -> None:
    model = mobilenet_v2
    float_acc = accuracy(model, mnist_small)
    qm = QuantizedModel(model, mnist_small.calibration)
    n = len(qm)
    x = mnist_small.calibration[:16]
    qm.set_policy([(8, 8)] * n)
    qm.model.eval()
    with torch.no_grad():
        float_logits, q_logits = model(x), qm.model(x)
    assert not torch.equal(float_logits, q_logits)  # the 8-bit model really runs on quantized values
    torch.testing.assert_close(q_logits, float_logits, atol=0.5, rtol=0.05)
    assert abs(qm.accuracy(mnist_small, [(8, 8)] * n) - float_acc) <= 0.02
    assert qm.accuracy(mnist_small, [(2, 2)] * n) < float_acc - 0.3
    assert qm.accuracy(mnist_small, [(None, None)] * n) == float_acc
    # weights cached while evaluating stay usable under autograd (a gradient-based sensitivity, say)
    qm.accuracy(mnist_small, [(6, 6)] * n)
    qm.model(x).sum().backward()
    assert qm.layers[-1].layer.bias.grad is not None
