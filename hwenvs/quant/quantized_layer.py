"""A Conv2d or Linear layer running at a chosen (weight bits, activation bits).

The layer's input is fake-quantized to the activation bits (HAQ's convention: a layer's activation bits are the
precision of its input), and its weights are replaced by their quantized values. In eval mode the quantized weights
for each bit width are computed once and kept, so switching a policy costs nothing; in train mode they are
recomputed from the float weights on every forward with a straight-through estimator, so fine-tuning works.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from hwenvs.quant.kmeans import kmeans_codebook, project
from hwenvs.quant.linear import (
    activation_alpha,
    fake_quantize_activation,
    quantize_weight,
    ste,
    weight_clip_ratio,
)

Method = Literal["linear", "kmeans"]
CALIBRATION_SAMPLES = 32768
"""Input values kept per layer from the calibration batch to fit activation ranges."""


class QuantizedLayer(nn.Module):
    """Wraps ``layer`` with weight and activation quantizers.

    :param layer: the float Conv2d or Linear (shared, not copied).
    :param method: ``"linear"`` (per-channel symmetric) or ``"kmeans"`` (shared codebook) weights.
    :param seed: seed of the k-means initialisation.
    """

    def __init__(self, layer: nn.Conv2d | nn.Linear, method: Method = "linear", seed: int = 0) -> None:
        super().__init__()
        if method not in ("linear", "kmeans"):
            raise ValueError(f"unknown quantization method {method!r}; valid: 'linear', 'kmeans'")
        self.layer = layer
        self.method = method
        self.seed = seed
        self.w_bits: int | None = None
        self.a_bits: int | None = None
        self.signed = True
        self.register_buffer("calibration_samples", torch.empty(0), persistent=False)
        self._weights: dict[int, torch.Tensor] = {}
        self._alphas: dict[int, float] = {}
        self._codebooks: dict[int, torch.Tensor] = {}
        self._clip_ratios: dict[int, torch.Tensor] = {}

    def calibrate(self, inputs: torch.Tensor, generator: torch.Generator) -> None:
        """Record a sample of this layer's inputs (and whether they can be negative) for activation ranges."""
        flat = inputs.detach().flatten()
        if flat.numel() > CALIBRATION_SAMPLES:
            idx = torch.randint(flat.numel(), (CALIBRATION_SAMPLES,), generator=generator)
            flat = flat[idx.to(flat.device)]
        self.calibration_samples = flat.float()
        self.signed = bool((inputs < 0).any())
        self._alphas.clear()

    def alpha(self, bits: int) -> float:
        """Calibrated activation range at ``bits``."""
        if bits not in self._alphas:
            if self.calibration_samples.numel() == 0:
                raise RuntimeError("activation quantization needs calibrate() first")
            self._alphas[bits] = activation_alpha(self.calibration_samples, bits, self.signed)
        return self._alphas[bits]

    def _quantize(self, w: torch.Tensor, bits: int) -> torch.Tensor:
        if self.method == "kmeans":
            if bits not in self._codebooks:
                self._codebooks[bits] = kmeans_codebook(w, bits, self.seed)
            return project(w, self._codebooks[bits])
        if bits not in self._clip_ratios:
            self._clip_ratios[bits] = weight_clip_ratio(w, bits)
        return quantize_weight(w, bits, self._clip_ratios[bits])

    def quantized_weight(self, bits: int) -> torch.Tensor:
        """The layer's weights at ``bits``, computed once per bit width (eval) or afresh with an STE (train)."""
        w = self.layer.weight
        if self.training:
            return ste(w, self._quantize(w, bits))
        if bits not in self._weights:
            with torch.no_grad():
                self._weights[bits] = self._quantize(w, bits)
        return self._weights[bits]

    def forget_quantized_weights(self) -> None:
        """Drop cached quantized weights (call after the float weights change)."""
        self._weights.clear()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.a_bits is not None:
            x = fake_quantize_activation(x, self.alpha(self.a_bits), self.a_bits, self.signed)
        w = self.layer.weight if self.w_bits is None else self.quantized_weight(self.w_bits)
        layer = self.layer
        if isinstance(layer, nn.Conv2d):
            return F.conv2d(x, w, layer.bias, layer.stride, layer.padding, layer.dilation, layer.groups)
        return F.linear(x, w, layer.bias)
