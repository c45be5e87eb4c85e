"""Reference models by name: their topologies, and where their trained weights come from."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn
from torchvision import models as tv_models

from hwenvs.models.mobilenet_v1 import mobilenet_v1

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "mobilenet_v2": tv_models.mobilenet_v2,
    "resnet18": tv_models.resnet18,
    "mobilenet_v1": mobilenet_v1,
}
"""Model name -> constructor taking ``num_classes``."""


def build_architecture(name: str, num_classes: int) -> nn.Module:
    """A randomly initialised model of the named architecture."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; valid: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[name](num_classes=num_classes)
