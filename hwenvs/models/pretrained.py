"""Trained reference models: the weights shipped for the embedded task, or torchvision's / a user's for ImageFolder
tasks."""

from __future__ import annotations

import hashlib
import io
import json
from functools import cache
from pathlib import Path

import torch
from torch import nn
from torchvision import models as tv_models

from hwenvs.data import Task
from hwenvs.models.zoo import ARCHITECTURES, build_architecture

WEIGHTS_DIR = Path(__file__).parent / "weights"
TORCHVISION_WEIGHTS = {"mobilenet_v2": tv_models.MobileNet_V2_Weights, "resnet18": tv_models.ResNet18_Weights}
"""Models with ImageNet weights in torchvision (MobileNetV1 has none: pass a state-dict path)."""


@cache
def shipped_manifest() -> dict[str, dict]:
    """The manifest of shipped weights: ``"model/task"`` -> file, sha256, float accuracy, training config."""
    path = WEIGHTS_DIR / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _load_shipped(name: str, task: Task) -> nn.Module:
    key = f"{name}/{task.name}"
    entry = shipped_manifest().get(key)
    if entry is None:
        raise FileNotFoundError(
            f"no shipped weights for {key}; regenerate them with `python -m hwenvs.models.train {name}`"
        )
    data = (WEIGHTS_DIR / entry["file"]).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry["sha256"]:
        raise ValueError(
            f"{entry['file']}: sha256 {digest} does not match the manifest's {entry['sha256']}; the file is corrupt "
            f"or was regenerated without updating manifest.json (`python -m hwenvs.models.train {name}`)"
        )
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    model = build_architecture(name, task.num_classes)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.eval()


def load_reference_model(name: str, task: Task, weights: str | Path | None = "default") -> nn.Module:
    """A trained float model of architecture ``name`` for ``task``, in eval mode.

    :param name: ``"mobilenet_v2"``, ``"resnet18"`` or ``"mobilenet_v1"``.
    :param task: the task the model classifies (its class count sizes the classifier).
    :param weights: ``"default"``: the shipped weights for an embedded task, torchvision's ImageNet weights for an
        ImageFolder task (its labels must be ImageNet class indices, as with imagenet100's first 100 classes);
        a torchvision weights name (``"IMAGENET1K_V1"``); the path of a state dict; or None for random weights.
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; valid: {sorted(ARCHITECTURES)}")
    if weights is None:
        return build_architecture(name, task.num_classes).eval()
    if weights == "default" and task.in_memory:
        return _load_shipped(name, task)
    path = Path(weights)
    if (weights != "default" and path.suffix in (".pt", ".pth")) or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"weights file {path} does not exist")
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        classes = next(v.shape[0] for k, v in reversed(state.items()) if k.endswith("weight"))
        model = build_architecture(name, classes)
        model.load_state_dict(state)
        return model.eval()
    if name not in TORCHVISION_WEIGHTS:
        raise ValueError(f"torchvision has no ImageNet weights for {name!r}; pass the path of a state dict")
    enum = TORCHVISION_WEIGHTS[name]
    chosen = enum.DEFAULT if weights == "default" else enum[str(weights)]
    return ARCHITECTURES[name](weights=chosen).eval()
