"""Quantizers: linear per-channel weights, calibrated activations, k-means weight sharing, and fine-tuning."""

from hwenvs.quant.finetune import finetune
from hwenvs.quant.quantized_layer import QuantizedLayer
from hwenvs.quant.quantized_model import Policy, QuantizedModel

__all__ = ["Policy", "QuantizedLayer", "QuantizedModel", "finetune"]
