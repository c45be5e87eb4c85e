"""Warm up the weight-sharing supernet, and load it for a task (shipped for the embedded task, else trained on first
use and cached): the runtime side, which an environment needs. Building the shipped supernet and its manifest entry
is the lab's (:mod:`hwenvs.lab.train_supernet`).

Warm-up is ProxylessNAS's first phase: train the supernet's weights on uniformly sampled paths (every block draws
one of its candidates uniformly, zero included where allowed) for a few epochs, before any architecture is scored.
The shipped supernet for the embedded task has width multiplier 0.35 (0.69 M parameters, stored in float16 at
1.4 MB); ``python -m hwenvs.nas.train_supernet`` (:mod:`hwenvs.lab.train_supernet`) rebuilds it and its manifest
entry (30 epochs, 168 s on one shared CPU thread; sampled paths then score 95.3-97.0% on the 1,000 validation
images).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hwenvs.cache import atomic_write_bytes, cache_dir, corrupt_cache_error
from hwenvs.data import Task
from hwenvs.data.task import dataset_size
from hwenvs.deprecation import moved_names
from hwenvs.nas.architecture import Architecture
from hwenvs.nas.search_space import NUM_MBCONV_OPS, ZERO_ALLOWED, SearchSpace
from hwenvs.nas.supernet import SuperNet
from hwenvs.training import TrainConfig, sgd_step, train
from hwenvs.weights import SUPERNET_WEIGHTS

DEFAULT_WIDTH = 0.35
"""Width multiplier of the embedded task's supernet (the deployed network whose latency is costed has width 1)."""


WarmupConfig = partial(TrainConfig, epochs=30)
"""The warm-up recipe: :class:`~hwenvs.training.TrainConfig` with 30 epochs, one uniformly sampled path per batch
(keyword arguments override)."""


def sample_architecture(rng: np.random.Generator) -> Architecture:
    """A uniformly sampled path: each block draws one of its candidates (6, or 7 where zero is allowed).

    :param rng: the random source.
    """
    return Architecture(tuple(int(rng.integers(NUM_MBCONV_OPS + int(z))) for z in ZERO_ALLOWED))


def weight_step(
    supernet: SuperNet, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, arch: Architecture
) -> float:
    """One SGD step on the path ``arch`` (only its candidates get gradients); returns the loss.

    :param supernet: the supernet, in train mode.
    :param optimizer: its optimizer.
    :param x: images (channels-last, as the supernet runs).
    :param y: labels.
    :param arch: the path to train.
    """
    loss = sgd_step(optimizer, lambda: nn.functional.cross_entropy(supernet(x, arch), y))
    return float(loss.detach())


PathForward = Callable[[torch.Tensor, Architecture], torch.Tensor]
"""A path's logits on a batch: a :class:`SuperNet`, or a :class:`~hwenvs.nas.prefix_cache.PrefixCache` over one."""


@torch.inference_mode()
def path_accuracy(supernet: PathForward, x: torch.Tensor, y: torch.Tensor, arch: Architecture) -> float:
    """Top-1 accuracy (a fraction) of path ``arch`` on one batch.

    :param supernet: the supernet (or a prefix cache over it).
    :param x: images (channels-last).
    :param y: labels.
    :param arch: the path.
    """
    return float((supernet(x, arch).argmax(1) == y).float().mean())


def warm_up(task: Task, space: SearchSpace, config: TrainConfig, progress: bool = True) -> SuperNet:
    """Train a fresh supernet on uniformly sampled paths; returns it in eval mode.

    :param task: the task (its training split).
    :param space: the supernet's space (width, the task's resolution and classes).
    :param config: the schedule (:data:`WarmupConfig` for the shipped one).
    :param progress: show a progress bar.
    """
    rng = np.random.default_rng(config.seed)

    def sampled_path_loss(supernet: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(supernet(x, sample_architecture(rng)), y)

    return train(
        lambda: SuperNet(space).to(memory_format=torch.channels_last),
        task,
        config,
        loss=sampled_path_loss,
        channels_last=True,
        progress=progress,
        desc="supernet warm-up",
    )


def _state_bytes(supernet: SuperNet) -> bytes:
    half = {k: v.half() if v.is_floating_point() else v for k, v in supernet.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(half, buffer)
    return buffer.getvalue()


def _load_state(space: SearchSpace, data: bytes) -> SuperNet:
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    supernet = SuperNet(space)
    supernet.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return supernet.to(memory_format=torch.channels_last).eval()


def shipped_manifest() -> dict[str, dict]:
    """Shipped supernets: ``"task/w<width>"`` -> file, sha256, warm-up config and measured figures."""
    return SUPERNET_WEIGHTS.manifest()


def regenerate_command(width_mult: float, task: str = "mnist") -> str:
    """The command that regenerates the shipped supernet of width ``width_mult`` for the named task ``task``.

    :param width_mult: the supernet's width multiplier.
    :param task: the named task (the script's default, ``"mnist"``, is left out of the command).
    """
    dataset = "" if task == "mnist" else f" --dataset {task}"
    return f"python -m hwenvs.nas.train_supernet{dataset} --width-mult {width_mult:g}"


def shipped_space(space: SearchSpace, entry: dict) -> SearchSpace:
    """The space a shipped supernet was trained in: ``space`` with the entry's stem stride (entries without one
    were warmed up with the default, 2). Weights do not depend on the stride, so it must come from the entry.

    :param space: the task's space (:func:`embedded_space`).
    :param entry: the supernet's manifest entry.
    """
    return replace(space, stem_stride=int(entry.get("stem_stride", space.stem_stride)))


def shipped_command(entry: dict, width_mult: float, task: str) -> str:
    """The command that regenerates a shipped supernet: the entry's own (a recipe of
    ``benchmarks/supernet_recipes.py``), else :func:`regenerate_command`'s.

    :param entry: the supernet's manifest entry.
    :param width_mult: the supernet's width multiplier.
    :param task: the named task.
    """
    return entry.get("regenerate") or regenerate_command(width_mult, task)


def _manifest_key(task_name: str, width_mult: float) -> str:
    return f"{task_name}/w{width_mult:g}"


def _cache_path(task: Task, space: SearchSpace, config: TrainConfig) -> Path:
    # config.record(): the keys supernets were cached under before the training config was unified stay the same
    ident = json.dumps(
        [task.name, task.num_classes, task.resolution, dataset_size(task.train), asdict(space), config.record()]
    )
    return cache_dir("nas", "supernets") / f"supernet-{hashlib.sha256(ident.encode()).hexdigest()[:16]}.pt"


def embedded_space(task: Task, width_mult: float = DEFAULT_WIDTH) -> SearchSpace:
    """The supernet's space for ``task``: the task's resolution and classes at ``width_mult``.

    :param task: the task.
    :param width_mult: the supernet's width multiplier.
    """
    return SearchSpace(width_mult=width_mult, resolution=task.resolution, num_classes=task.num_classes)


def load_supernet(
    task: Task, width_mult: float = DEFAULT_WIDTH, config: TrainConfig | None = None, progress: bool = True
) -> SuperNet:
    """The warmed-up supernet for ``task``, in eval mode and channels-last.

    The embedded task's supernet ships with the package (sha256-checked), and so does Fashion-MNIST's; a shipped
    supernet is built with the stem stride its manifest entry records (the Fashion-MNIST one of a
    ``benchmarks/supernet_recipes.py`` recipe has stride 1). Any other task or width is warmed up on first use
    (with a progress bar) and cached under ``cache_dir("nas", "supernets")``.

    :param task: the task.
    :param width_mult: the supernet's width multiplier.
    :param config: warm-up schedule for a supernet that is not shipped (default :class:`WarmupConfig`).
    :param progress: show a progress bar when warming up.
    """
    space = embedded_space(task, width_mult)
    entry = shipped_manifest().get(_manifest_key(task.name, width_mult)) if task.in_memory else None
    if entry is not None and config is None:
        key = _manifest_key(task.name, width_mult)
        data = SUPERNET_WEIGHTS.read(key, shipped_command(entry, width_mult, task.name))
        return _load_state(shipped_space(space, entry), data)
    config = config or WarmupConfig()
    path = _cache_path(task, space, config)
    if path.is_file():
        return _load_cached(space, path)
    supernet = warm_up(task, space, config, progress=progress)
    atomic_write_bytes(path, _state_bytes(supernet))
    return _load_state(space, path.read_bytes())


def _load_cached(space: SearchSpace, path: Path) -> SuperNet:
    """The supernet cached at ``path``.

    :raises CorruptCacheError: the file cannot be read back as this space's supernet (truncated, overwritten, not a
        state dict, or of other shapes), naming it and saying that deleting it has the supernet warmed up again.
    """
    try:
        return _load_state(space, path.read_bytes())
    except Exception as exc:  # whatever torch.load or load_state_dict makes of a damaged file: all mean the same
        # the reader's first sentence only: torch's advice to retry with weights_only=False must not reach the user
        problem = " ".join(str(exc).split()).split(". ")[0].rstrip(".:")[:120]
        raise corrupt_cache_error(
            path, "supernet", f"{type(exc).__name__}: {problem}" if problem else type(exc).__name__,
            "warmed up again (with a progress bar) and cached",
        ) from exc  # fmt: skip


__getattr__ = moved_names(__name__, "hwenvs.lab.train_supernet", ("evaluate_paths", "save_supernet", "main"))
"""The names that moved to the lab, still importable from here (deprecated)."""

if __name__ == "__main__":  # the regeneration command the error messages quote names this module
    from hwenvs.deprecation import run_moved_main

    run_moved_main("hwenvs.lab.train_supernet")
