"""Trained reference models: the weights shipped for the embedded task, or torchvision's / a user's for ImageFolder
tasks."""

from __future__ import annotations

import io
from pathlib import Path

import torch
from torch import nn
from torchvision import models as tv_models

from hwenvs import weights as store
from hwenvs.data import Task
from hwenvs.models.shapes import quantizable_layers
from hwenvs.models.zoo import ARCHITECTURES, build_architecture

WEIGHTS_DIR = store.MODEL_WEIGHTS_DIR
"""Where the shipped weights and their ``manifest.json`` live (looked up at call time, so it can be pointed
elsewhere)."""
TORCHVISION_WEIGHTS = {"mobilenet_v2": tv_models.MobileNet_V2_Weights, "resnet18": tv_models.ResNet18_Weights}
"""Models with ImageNet weights in torchvision (MobileNetV1 has none: pass a state-dict path)."""


def weights_store() -> store.WeightsStore:
    """The store of shipped reference-model weights (in :data:`WEIGHTS_DIR` as it is now)."""
    return store.WeightsStore(Path(WEIGHTS_DIR))


def regenerate_command(name: str, task: str = "mnist") -> str:
    """The command that regenerates ``name``'s shipped weights for the named task ``task`` and their manifest entry.

    :param name: the architecture.
    :param task: the named task (the script's default, ``"mnist"``, is left out of the command).
    """
    dataset = "" if task == "mnist" else f" --dataset {task}"
    return f"python -m hwenvs.models.train {name}{dataset}"


def shipped_manifest(weights_dir: str | Path | None = None) -> dict[str, dict]:
    """The manifest of shipped weights: ``"model/task"`` -> file, sha256, float accuracy, training config.

    :param weights_dir: the folder holding ``manifest.json`` (default :data:`WEIGHTS_DIR`).
    """
    return store.WeightsStore(Path(weights_dir if weights_dir is not None else WEIGHTS_DIR)).manifest()


# a rewritten manifest is noticed by itself; kept for callers that clear it explicitly
shipped_manifest.cache_clear = store.clear_cache  # type: ignore[attr-defined]  # an attribute mypy's function lacks


def _load_shipped(name: str, task: Task) -> nn.Module:
    data = weights_store().read(f"{name}/{task.name}", regenerate_command(name, task.name))
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    model = build_architecture(name, task.num_classes)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.eval()


def _load_state_dict_file(name: str, path: Path, task: Task) -> nn.Module:
    """Architecture ``name`` with the weights of the state dict saved at ``path``.

    Accepts a bare state dict, one under a ``"state_dict"`` or ``"model"`` key (training checkpoints), and keys
    prefixed ``module.`` (saved from ``DataParallel``). The classifier's size is read from the file.
    """
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"{path} is not a loadable state dict ({type(error).__name__}: {error})") from error
    if isinstance(state, dict):
        for wrapper in ("state_dict", "model"):
            if isinstance(state.get(wrapper), dict):
                state = state[wrapper]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict (a mapping of parameter names to tensors)")
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    template = build_architecture(name, task.num_classes)
    head = f"{quantizable_layers(template)[-1][0]}.weight"
    expected = set(template.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected or head not in state:
        raise ValueError(
            f"{path} is not a {name} state dict: {len(missing)} missing keys {missing[:5]}, "
            f"{len(unexpected)} unexpected keys {unexpected[:5]}"
        )
    classes = state[head].shape[0]
    if classes < task.num_classes:
        raise ValueError(
            f"{path}: the classifier {head} has {classes} outputs but task {task.name!r} has {task.num_classes} classes"
        )
    model = build_architecture(name, classes)
    mismatched = [
        f"{key}: {tuple(state[key].shape)} in the file, {tuple(value.shape)} in the model"
        for key, value in model.state_dict().items()
        if state[key].shape != value.shape
    ]
    if mismatched:
        raise ValueError(
            f"{path} does not fit {name}: {len(mismatched)} tensors have another shape (size mismatch), "
            f"e.g. {mismatched[:3]}"
        )
    broken = [key for key, value in state.items() if value.is_floating_point() and not torch.isfinite(value).all()]
    if broken:  # a network with them scores noise (a NaN state dict scored 0.087), not a mistake one would see
        raise ValueError(
            f"{path} holds NaN or infinite values in {len(broken)} of its {len(state)} tensors (e.g. {broken[:3]}): "
            "not trained weights; pass another file"
        )
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.eval()


def load_reference_model(
    name: str, task: Task, weights: str | Path | tv_models.WeightsEnum | None = "default"
) -> nn.Module:
    """A trained float model of architecture ``name`` for ``task``, in eval mode.

    :param name: ``"mobilenet_v2"``, ``"resnet18"`` or ``"mobilenet_v1"``.
    :param task: the task the model classifies (its class count sizes the classifier).
    :param weights: ``"default"``: the shipped weights for an embedded task, torchvision's ImageNet weights for an
        ImageFolder task (its labels must be ImageNet class indices, as with imagenet100's first 100 classes);
        a torchvision weights name (``"IMAGENET1K_V1"``) or enum member; the path of a state dict (its classifier
        may have more outputs than the task has classes, as an ImageNet model for imagenet100 does); or None for
        random weights.
    :raises ValueError: unknown model or torchvision weights name, or a state dict that does not fit the model.
    :raises FileNotFoundError: a state-dict path that does not exist, or missing shipped weights.
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; valid: {sorted(ARCHITECTURES)}")
    if weights is None:
        return build_architecture(name, task.num_classes).eval()
    if isinstance(weights, tv_models.WeightsEnum):
        if name not in TORCHVISION_WEIGHTS or not isinstance(weights, TORCHVISION_WEIGHTS[name]):
            raise ValueError(f"{weights} are not {name} weights")
        return ARCHITECTURES[name](weights=weights).eval()
    if weights == "default" and task.in_memory:
        return _load_shipped(name, task)
    path = Path(weights)
    if (weights != "default" and path.suffix in (".pt", ".pth", ".bin", ".ckpt", ".tar")) or path.is_file():
        return _load_state_dict_file(name, path, task)
    if name not in TORCHVISION_WEIGHTS:
        raise ValueError(f"torchvision has no ImageNet weights for {name!r}; pass the path of a state dict")
    enum = TORCHVISION_WEIGHTS[name]
    if weights == "default":
        chosen = enum.DEFAULT
    elif str(weights) in enum.__members__:
        chosen = enum[str(weights)]
    else:
        raise ValueError(
            f"weights {str(weights)!r} are neither a file nor a torchvision weights name for {name}; "
            f"valid names: {sorted(enum.__members__)}"
        )
    try:
        return ARCHITECTURES[name](weights=chosen).eval()
    except OSError as exc:  # urllib's URLError and socket errors: torchvision downloads the weights on first use
        raise ValueError(
            f"torchvision's {chosen} weights for {name} could not be downloaded ({exc}); offline, pass weights= the "
            f"path of a local state dict (a file saved with torch.save(model.state_dict(), path)), or put "
            f"{Path(chosen.url).name} into {Path(torch.hub.get_dir()) / 'checkpoints'}"
        ) from exc
