"""A model whose every Conv2d and Linear runs at its own (weight bits, activation bits): a mixed-precision policy."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from hwenvs.data import Task
from hwenvs.models.evaluate import accuracy
from hwenvs.models.shapes import quantizable_layers
from hwenvs.quant.quantized_layer import Method, QuantizedLayer

Policy = Sequence[Sequence[int | None]]
"""One ``(w_bits, a_bits)`` per quantizable layer; None leaves that side in float."""


class QuantizedModel:
    """Wraps a float model so that mixed-precision policies can be applied and evaluated cheaply.

    The float model is copied once; its quantizable layers are replaced by :class:`QuantizedLayer` wrappers and
    calibrated on one batch. Applying a policy only sets bit widths; quantized weights are computed on first use of
    each (layer, bits) and reused by every later policy.

    :param model: the float model (left untouched).
    :param calibration: a batch of inputs for the activation ranges.
    :param method: ``"linear"`` or ``"kmeans"`` weight quantization.
    :param device: where the model runs.
    :param seed: seeds calibration sub-sampling and k-means initialisation.
    """

    def __init__(
        self,
        model: nn.Module,
        calibration: torch.Tensor,
        method: Method = "linear",
        device: str | torch.device = "cpu",
        seed: int = 0,
    ) -> None:
        self.device = torch.device(device)
        self.model = copy.deepcopy(model).to(self.device).eval()
        self.layers: list[QuantizedLayer] = []
        self.names: list[str] = []
        for name, module in quantizable_layers(self.model):
            wrapper = QuantizedLayer(module, method=method, seed=seed)
            parent, _, child = name.rpartition(".")
            setattr(self.model.get_submodule(parent) if parent else self.model, child, wrapper)
            self.layers.append(wrapper)
            self.names.append(name)
        self._calibrate(calibration, seed)

    @torch.no_grad()
    def _calibrate(self, calibration: torch.Tensor, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        handles = [
            layer.register_forward_pre_hook(lambda mod, inputs: mod.calibrate(inputs[0], generator))
            for layer in self.layers
        ]
        self.set_policy([(None, None)] * len(self.layers))
        try:
            self.model(calibration.to(self.device))
        finally:
            for handle in handles:
                handle.remove()

    def __len__(self) -> int:
        return len(self.layers)

    def set_policy(self, policy: Policy) -> None:
        """Set every layer's (w_bits, a_bits)."""
        if len(policy) != len(self.layers):
            raise ValueError(f"policy has {len(policy)} entries, the model has {len(self.layers)} quantizable layers")
        for layer, (w_bits, a_bits) in zip(self.layers, policy, strict=True):
            layer.w_bits, layer.a_bits = w_bits, a_bits

    def accuracy(self, task: Task, policy: Policy | None = None) -> float:
        """Validation accuracy of the current policy (or of ``policy``, which then stays set)."""
        if policy is not None:
            self.set_policy(policy)
        return accuracy(self.model, task, self.device)

    def trainable_copy(self, policy: Policy) -> nn.Module:
        """An independent copy of the model at ``policy``, ready for quantization-aware training."""
        caches = [layer._weights for layer in self.layers]
        for layer in self.layers:
            layer._weights = {}
        try:
            clone = copy.deepcopy(self.model)
        finally:
            for layer, cache in zip(self.layers, caches, strict=True):
                layer._weights = cache
        for layer, (w_bits, a_bits) in zip(_wrappers(clone), policy, strict=True):
            layer.w_bits, layer.a_bits = w_bits, a_bits
        return clone


def _wrappers(model: nn.Module) -> list[QuantizedLayer]:
    return [m for m in model.modules() if isinstance(m, QuantizedLayer)]


def forget_quantized_weights(model: nn.Module) -> None:
    """Drop the cached quantized weights of every wrapped layer of ``model`` (after its float weights changed)."""
    for layer in _wrappers(model):
        layer.forget_quantized_weights()
