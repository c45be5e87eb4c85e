"""The quantizable layers of a model (every Conv2d and Linear, in execution order) and their deployed shapes."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from hwenvs.hardware.base import LayerShape

QUANTIZABLE = (nn.Conv2d, nn.Linear)


def quantizable_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d | nn.Linear]]:
    """(qualified name, module) of every Conv2d and Linear, in registration order (torchvision's execution order).

    :raises TypeError: naming the module if the model holds another kind of weight layer (say ConvTranspose2d).
    """
    layers: list[tuple[str, nn.Conv2d | nn.Linear]] = []
    for name, module in model.named_modules():
        if isinstance(module, QUANTIZABLE):
            layers.append((name, module))
        elif isinstance(module, (nn.modules.conv._ConvNd, nn.Bilinear)):
            raise TypeError(f"layer {name!r} is a {type(module).__name__}, which hwenvs cannot quantize or cost")
    return layers


@torch.no_grad()
def layer_shapes(model: nn.Module, resolution: int, in_channels: int = 3) -> list[LayerShape]:
    """Shapes of the quantizable layers when the model runs on ``resolution`` x ``resolution`` images.

    Found with one forward pass of a single zero image (hooks record every layer's input and output size), so the
    order is execution order and any topology works.
    """
    records: dict[str, LayerShape] = {}
    handles = []

    def hook(name: str) -> Callable[[nn.Module, tuple[torch.Tensor, ...], torch.Tensor], None]:
        def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            if isinstance(module, nn.Conv2d):
                (in_h, in_w), (out_h, out_w) = inputs[0].shape[-2:], output.shape[-2:]
                records[name] = LayerShape(
                    name=name,
                    kind="conv",
                    in_channels=module.in_channels,
                    out_channels=module.out_channels,
                    kernel_size=module.kernel_size[0],
                    stride=module.stride[0],
                    groups=module.groups,
                    in_hw=(in_h, in_w),
                    out_hw=(out_h, out_w),
                    padding=module.padding[0] if isinstance(module.padding, tuple) else 0,
                )
            else:
                assert isinstance(module, nn.Linear)  # the hooks go on quantizable layers only: Conv2d and Linear
                records[name] = LayerShape(
                    name=name, kind="linear", in_channels=module.in_features, out_channels=module.out_features
                )

        return record

    layers = quantizable_layers(model)
    for name, module in layers:
        handles.append(module.register_forward_hook(hook(name)))
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros(1, in_channels, resolution, resolution, device=next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    missing = [name for name, _ in layers if name not in records]
    if missing:
        raise ValueError(f"layers never ran in a forward pass, so they cannot be costed: {missing}")
    return [records[name] for name, _ in layers]
