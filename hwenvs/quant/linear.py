"""Linear (uniform) fake quantization: symmetric per-channel weights and calibrated activation ranges.

Weights: symmetric, one scale per output channel, ``scale = c / (2^(b-1) - 1)``. At 5 bits and above ``c`` is the
channel's max |w| (clipping buys nothing there); below 5 bits ``c`` is searched per channel over fractions of max |w|
for the smallest squared error, the per-channel form of HAQ's divergence-minimising clip.

Activations: one range ``alpha`` per (layer, bits), searched the same way on the layer's calibration inputs.
Unsigned ``[0, alpha]`` with ``2^b - 1`` steps where the calibration inputs are never negative (after ReLU / ReLU6),
signed symmetric ``[-alpha, alpha]`` otherwise (MobileNetV2's linear-bottleneck outputs, normalised images).
"""

from __future__ import annotations

import torch

CLIP_SEARCH_BELOW_BITS = 5
"""Weight bit widths below this get a clipping search; at and above it, c = max |w|."""

CLIP_RATIOS = torch.linspace(0.2, 1.0, 33)
"""Candidate clipping thresholds as fractions of the maximum magnitude."""

SEARCH_CHUNK = 1 << 18
"""Elements per block of the clipping searches: every candidate's error is computed in cache-sized blocks (of
channels for weights, of candidates for activations), which changes no result but avoids streaming (33 x layer)
temporaries through memory."""


def _quantize(x: torch.Tensor, scale: torch.Tensor, qmin: int, qmax: int) -> torch.Tensor:
    return torch.clamp(torch.round(x / scale), qmin, qmax) * scale


MIN_BITS = 2
"""Linear quantization needs a zero level and one of each sign: 1 bit (binarization) is a different quantizer,
which HAQ does not use; k-means weight sharing does support 1-bit weights (2 centroids)."""


def check_bits(bits: int) -> None:
    """Raise ``ValueError`` unless ``bits`` is a bit width the linear quantizer supports (2..8)."""
    if not MIN_BITS <= bits <= 8:
        raise ValueError(
            f"linear quantization supports {MIN_BITS}..8 bits, got {bits}; for 1-bit weights use the k-means "
            "quantizer (quantizer='kmeans')"
        )


def weight_clip_ratio(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-output-channel clipping threshold as a fraction of the channel's max |w| (1 = no clipping)."""
    check_bits(bits)
    if bits >= CLIP_SEARCH_BELOW_BITS:
        return torch.ones(w.shape[0])
    flat = w.detach().reshape(w.shape[0], -1)
    peak = flat.abs().amax(dim=1).clamp_min(1e-12)
    levels = 2 ** (bits - 1) - 1
    # (ratios, channels, 1) scales against (1, channels, fan_in) weights: every candidate at once, per channel block.
    scales = (CLIP_RATIOS[:, None] * peak[None, :] / max(levels, 1))[:, :, None]
    block = max(1, SEARCH_CHUNK // (len(CLIP_RATIOS) * flat.shape[1]))
    errors = torch.cat(
        [
            (_quantize(rows[None], scales[:, start : start + block], -levels, levels) - rows[None]).pow(2).sum(dim=2)
            for start, rows in zip(range(0, flat.shape[0], block), flat.split(block), strict=True)
        ],
        dim=1,
    )
    return CLIP_RATIOS[errors.argmin(dim=0)]


def weight_scale(w: torch.Tensor, bits: int, clip_ratio: torch.Tensor) -> torch.Tensor:
    """Per-output-channel scale, shaped to broadcast against ``w``."""
    levels = 2 ** (bits - 1) - 1
    peak = w.detach().reshape(w.shape[0], -1).abs().amax(dim=1).clamp_min(1e-12)
    return (clip_ratio.to(w) * peak / levels).reshape(-1, *([1] * (w.dim() - 1)))


def quantize_weight(w: torch.Tensor, bits: int, clip_ratio: torch.Tensor | None = None) -> torch.Tensor:
    """Fake-quantized (quantized, then dequantized) weights, symmetric per output channel.

    :param w: weight tensor with output channels first.
    :param bits: weight bit width, 2..8.
    :param clip_ratio: per-channel clip as a fraction of max |w|; searched when None.
    """
    if clip_ratio is None:
        clip_ratio = weight_clip_ratio(w, bits)
    scale = weight_scale(w, bits, clip_ratio)
    levels = 2 ** (bits - 1) - 1
    return _quantize(w, scale, -levels, levels)


def ste(w: torch.Tensor, quantized: torch.Tensor) -> torch.Tensor:
    """Straight-through estimator: the value of ``quantized`` with the gradient of ``w``."""
    return w + (quantized - w).detach()


def activation_levels(bits: int, signed: bool) -> tuple[int, int]:
    """(quant_min, quant_max) integer range of an activation quantizer."""
    check_bits(bits)
    if signed:
        half = 2 ** (bits - 1) - 1
        return -half, half
    return 0, 2**bits - 1


def activation_alpha(samples: torch.Tensor, bits: int, signed: bool) -> float:
    """Range ``alpha`` for ``bits``-bit activations minimising the squared quantization error on ``samples``."""
    x = samples.detach().flatten().float()
    peak = float(x.abs().max()) if x.numel() else 0.0
    if peak == 0.0:
        return 1.0
    qmin, qmax = activation_levels(bits, signed)
    step_div = qmax if qmax > 0 else 1
    scales = (CLIP_RATIOS * peak / step_div)[:, None]
    block = max(1, SEARCH_CHUNK // x.numel())
    errors = torch.cat(
        [(_quantize(x[None], part, qmin, qmax) - x[None]).pow(2).sum(dim=1) for part in scales.split(block)]
    )
    return float(CLIP_RATIOS[errors.argmin()] * peak)


def fake_quantize_activation(x: torch.Tensor, alpha: float, bits: int, signed: bool) -> torch.Tensor:
    """Fake-quantize activations to ``bits`` over range ``alpha``; gradients pass straight through inside the range."""
    qmin, qmax = activation_levels(bits, signed)
    scale = alpha / qmax
    return torch.fake_quantize_per_tensor_affine(x, scale, 0, qmin, qmax)
