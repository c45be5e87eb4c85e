"""A Conv2d or Linear layer running at a chosen (weight bits, activation bits).

The layer's input is fake-quantized to the activation bits (HAQ's convention: a layer's activation bits are the
precision of its input), and its weights are replaced by their quantized values. In eval mode the quantized weights
for each bit width are computed once and kept, so switching a policy costs nothing; in train mode they are
recomputed from the float weights on every forward with a straight-through estimator, so fine-tuning works.

Evaluation of many policies (:meth:`QuantizedModel.accuracy`) runs a *fused* inference path that computes the same
function with fewer passes over the activations:

* a BatchNorm that only reads this layer's output is applied to the cached quantized weights instead of the output
  (``BN(conv(x, Q(W))) = conv(x, k * Q(W)) + shift`` per output channel: the weights are quantized first, then
  scaled, so the quantized values are exactly HAQ's unfolded ones; HAQ does not fold BatchNorm into the weights
  before quantizing, and neither does this);
* a ReLU / ReLU6 whose only reader is this layer is dropped when the input quantizer's range already lies inside
  the activation's (``[0, alpha]`` within ``[0, 6]``: clamping twice is clamping once);
* the input fake-quantization is one multiply, round, clamp and multiply on a fresh tensor, with the scale and its
  inverse precomputed per bit width in float32 exactly as ``torch.fake_quantize_per_tensor_affine`` computes them
  (bit-for-bit the same values);
* folded weights are cached channels_last, so oneDNN runs the convolutions in its faster NHWC layout.

Folding and the NHWC convolutions change float rounding (about 1e-7 relative), which now and then tips a later
activation across a quantization step: a policy's accuracy can differ from the unfused model's by an image or two
in a thousand, identically on every evaluation. Float sides of a policy (``None`` bits) keep the plain float ops, so
the all-float policy is bit-for-bit the float model.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from hwenvs.quant.kmeans import kmeans_codebook, project
from hwenvs.quant.linear import (
    activation_alpha,
    activation_levels,
    fake_quantize_activation,
    quantize_weight,
    ste,
    weight_clip_ratio,
)

Method = Literal["linear", "kmeans"]
CALIBRATION_SAMPLES = 32768
"""Input values kept per layer from the calibration batch to fit activation ranges."""


class FoldedBatchNorm(nn.Module):
    """Stands in for a BatchNorm folded into ``producer``'s weights during fused evaluation.

    It passes its input through where the producer applied the BatchNorm (quantized weights) and runs the BatchNorm
    itself where the producer stayed in float.
    """

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm, producer: QuantizedLayer) -> None:
        super().__init__()
        self.bn = bn
        self.producer = [producer]  # a list: not registered as a submodule (no cycles in named_modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.producer[0].w_bits is not None else self.bn(x)


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
        # Fused inference (set up by QuantizedModel, active only inside its evaluation context).
        self.fused = False
        self.fold: tuple[torch.Tensor, torch.Tensor] | None = None
        """Per-output-channel (scale, shift) of a BatchNorm folded into this layer's quantized weights."""
        self._input_activation: tuple[nn.Module, ...] = ()  # a tuple: not registered as a submodule
        self._folded: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._input_quantizers: dict[int, tuple[float, float, int, int, bool]] = {}

    def calibrate(self, inputs: torch.Tensor, generator: torch.Generator) -> None:
        """Record a sample of this layer's inputs (and whether they can be negative) for activation ranges."""
        flat = inputs.detach().flatten()
        if flat.numel() > CALIBRATION_SAMPLES:
            idx = torch.randint(flat.numel(), (CALIBRATION_SAMPLES,), generator=generator)
            flat = flat[idx.to(flat.device)]
        self.calibration_samples = flat.float()
        self.signed = bool((inputs < 0).any())
        self._alphas.clear()
        self._input_quantizers.clear()

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
        self._folded.clear()

    @property
    def input_activation(self) -> nn.Module | None:
        """A ReLU / ReLU6 whose only reader is this layer, absorbed into its input quantizer (None: none)."""
        return self._input_activation[0] if self._input_activation else None

    def absorb_input_activation(self, module: nn.Module | None) -> None:
        """Make ``module`` (a ReLU, ReLU6 or Hardtanh that only this layer reads) part of the fused input path."""
        self._input_activation = () if module is None else (module,)
        self._input_quantizers.clear()

    @property
    def input_clamp(self) -> tuple[float, float] | None:
        """(low, high) of the absorbed input activation, None without one."""
        act = self.input_activation
        if act is None:
            return None
        if isinstance(act, nn.Hardtanh):  # ReLU6 included
            return float(act.min_val), float(act.max_val)
        return 0.0, math.inf

    def folded_weight(self, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(weights, bias) at ``bits`` with the folded BatchNorm applied after quantization; computed once."""
        if bits not in self._folded:
            if self.fold is None:
                raise RuntimeError("folded_weight() needs a BatchNorm folded into this layer")
            scale, shift = self.fold
            with torch.no_grad():
                q = self.quantized_weight(bits).double()
                w = (q * scale.reshape(-1, *([1] * (q.dim() - 1)))).to(self.layer.weight.dtype)
                bias = shift if self.layer.bias is None else shift + scale * self.layer.bias.detach().double()
                # channels_last weights make the convolution run (and hand on) channels_last activations: faster
                # on CPU (oneDNN) for this family of networks, and the following layers follow suit.
                w = w.contiguous(memory_format=torch.channels_last if w.dim() == 4 else torch.contiguous_format)
                self._folded[bits] = (w, bias.to(self.layer.weight.dtype))
        return self._folded[bits]

    def input_quantizer(self, bits: int) -> tuple[float, float, int, int, bool]:
        """(scale, 1 / scale, qmin, qmax, clamp first) of the fused input quantizer at ``bits``.

        Scale and inverse are the float32 values ``torch.fake_quantize_per_tensor_affine`` uses. "Clamp first" is
        True when an absorbed activation's range does not contain the quantizer's ``[qmin, qmax] * scale``, so the
        activation's clamp must still run before quantization.
        """
        if bits not in self._input_quantizers:
            qmin, qmax = activation_levels(bits, self.signed)
            scale = float(torch.tensor(self.alpha(bits) / qmax, dtype=torch.float32))
            inverse = float(1.0 / torch.tensor(scale, dtype=torch.float32))
            clamp = self.input_clamp
            clamp_first = clamp is not None and not (clamp[0] <= qmin * scale and qmax * scale <= clamp[1])
            self._input_quantizers[bits] = (scale, inverse, qmin, qmax, clamp_first)
        return self._input_quantizers[bits]

    def _fused_forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.a_bits is not None:
            scale, inverse, qmin, qmax, clamp_first = self.input_quantizer(self.a_bits)
            if clamp_first:
                clamp = self.input_clamp
                assert clamp is not None  # input_quantizer clamps first only where there is a clamp
                x = torch.clamp(x, *clamp).mul_(inverse)
            else:
                x = torch.mul(x, inverse)
            x = x.round_().clamp_(qmin, qmax).mul_(scale)
        elif self.input_activation is not None:  # float input: the absorbed activation, unchanged
            x = self.input_activation(x)
        if self.w_bits is None:
            w, bias = self.layer.weight, self.layer.bias  # the BatchNorm runs unfolded after a float layer
        elif self.fold is not None:
            w, bias = self.folded_weight(self.w_bits)
        else:
            w, bias = self.quantized_weight(self.w_bits), self.layer.bias
        layer = self.layer
        if isinstance(layer, nn.Conv2d):
            return F.conv2d(x, w, bias, layer.stride, layer.padding, layer.dilation, layer.groups)
        return F.linear(x, w, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused and not self.training:
            return self._fused_forward(x)
        if self.a_bits is not None:
            x = fake_quantize_activation(x, self.alpha(self.a_bits), self.a_bits, self.signed)
        w = self.layer.weight if self.w_bits is None else self.quantized_weight(self.w_bits)
        layer = self.layer
        if isinstance(layer, nn.Conv2d):
            return F.conv2d(x, w, layer.bias, layer.stride, layer.padding, layer.dilation, layer.groups)
        return F.linear(x, w, layer.bias)
