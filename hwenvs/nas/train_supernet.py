"""Warm up the weight-sharing supernet, and load it for a task (shipped for the embedded task, else trained on first
use and cached).

Warm-up is ProxylessNAS's first phase: train the supernet's weights on uniformly sampled paths (every block draws
one of its candidates uniformly, zero included where allowed) for a few epochs, before any architecture is scored.
The shipped supernet for the embedded task has width multiplier 0.35 (0.69 M parameters, stored in float16 at
1.4 MB); ``python -m hwenvs.nas.train_supernet`` rebuilds it and its manifest entry (30 epochs, 168 s on one
shared CPU thread; sampled paths then score 95.3-97.0% on the 1,000 validation images).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import time
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from hwenvs.cache import atomic_write_bytes, cache_dir, corrupt_cache_error
from hwenvs.data import Task, load_task
from hwenvs.data.augment import random_shift
from hwenvs.nas.architecture import Architecture
from hwenvs.nas.search_space import NUM_MBCONV_OPS, ZERO_ALLOWED, SearchSpace
from hwenvs.nas.supernet import SuperNet

WEIGHTS_DIR = Path(__file__).parent / "weights"
MANIFEST = WEIGHTS_DIR / "manifest.json"
DEFAULT_WIDTH = 0.35
"""Width multiplier of the embedded task's supernet (the deployed network whose latency is costed has width 1)."""


@dataclass
class WarmupConfig:
    """How a supernet is warmed up."""

    epochs: int = 30
    """Passes over the training split, one uniformly sampled path per batch."""
    batch_size: int = 128
    """Images per SGD step."""
    lr: float = 0.05
    """Peak learning rate of the one-cycle schedule."""
    momentum: float = 0.9
    """SGD (Nesterov) momentum."""
    weight_decay: float = 4e-5
    """L2 penalty (MobileNet's value)."""
    max_shift: int = 2
    """Random translation in pixels (embedded task only; ImageFolder tasks bring their own augmentation)."""
    seed: int = 0
    """Seeds initialisation, batch order and sampled paths."""


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
    optimizer.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(supernet(x, arch), y)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


@torch.inference_mode()
def path_accuracy(supernet: SuperNet, x: torch.Tensor, y: torch.Tensor, arch: Architecture) -> float:
    """Top-1 accuracy (a fraction) of path ``arch`` on one batch.

    :param supernet: the supernet.
    :param x: images (channels-last).
    :param y: labels.
    :param arch: the path.
    """
    return float((supernet(x, arch).argmax(1) == y).float().mean())


def warm_up(task: Task, space: SearchSpace, config: WarmupConfig, progress: bool = True) -> SuperNet:
    """Train a fresh supernet on uniformly sampled paths; returns it in eval mode.

    :param task: the task (its training split).
    :param space: the supernet's space (width, the task's resolution and classes).
    :param config: the schedule.
    :param progress: show a progress bar.
    """
    torch.manual_seed(config.seed)
    supernet = SuperNet(space).to(memory_format=torch.channels_last)
    loader = task.train_loader(config.batch_size, seed=config.seed)
    optimizer = torch.optim.SGD(
        supernet.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, nesterov=True
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=config.epochs * len(loader), pct_start=0.15
    )
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    supernet.train()
    bar = tqdm(total=config.epochs * len(loader), desc="supernet warm-up", unit="step", disable=not progress)
    for _ in range(config.epochs):
        for x, y in loader:
            if task.in_memory and config.max_shift:
                x = random_shift(x, config.max_shift, generator)
            loss = weight_step(
                supernet, optimizer, x.contiguous(memory_format=torch.channels_last), y, sample_architecture(rng)
            )
            scheduler.step()
            bar.update()
            bar.set_postfix(loss=f"{loss:.3f}")
    bar.close()
    return supernet.eval()


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


@cache
def shipped_manifest() -> dict[str, dict]:
    """Shipped supernets: ``"task/w<width>"`` -> file, sha256, warm-up config and measured figures."""
    return json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}


def _manifest_key(task_name: str, width_mult: float) -> str:
    return f"{task_name}/w{width_mult:g}"


def _cache_path(task: Task, space: SearchSpace, config: WarmupConfig) -> Path:
    ident = json.dumps([task.name, task.num_classes, task.resolution, len(task.train), asdict(space), asdict(config)])
    return cache_dir("nas", "supernets") / f"supernet-{hashlib.sha256(ident.encode()).hexdigest()[:16]}.pt"


def embedded_space(task: Task, width_mult: float = DEFAULT_WIDTH) -> SearchSpace:
    """The supernet's space for ``task``: the task's resolution and classes at ``width_mult``.

    :param task: the task.
    :param width_mult: the supernet's width multiplier.
    """
    return SearchSpace(width_mult=width_mult, resolution=task.resolution, num_classes=task.num_classes)


def load_supernet(
    task: Task, width_mult: float = DEFAULT_WIDTH, config: WarmupConfig | None = None, progress: bool = True
) -> SuperNet:
    """The warmed-up supernet for ``task``, in eval mode and channels-last.

    The embedded task's supernet ships with the package (sha256-checked). Any other task or width is warmed up on
    first use (with a progress bar) and cached under ``cache_dir("nas", "supernets")``.

    :param task: the task.
    :param width_mult: the supernet's width multiplier.
    :param config: warm-up schedule for a supernet that is not shipped (default :class:`WarmupConfig`).
    :param progress: show a progress bar when warming up.
    """
    space = embedded_space(task, width_mult)
    entry = shipped_manifest().get(_manifest_key(task.name, width_mult)) if task.in_memory else None
    if entry is not None and config is None:
        data = (WEIGHTS_DIR / entry["file"]).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != entry["sha256"]:
            raise ValueError(
                f"{entry['file']}: sha256 {digest} does not match the manifest's {entry['sha256']}; the file is "
                "corrupt or was regenerated without its manifest (`python -m hwenvs.nas.train_supernet`)"
            )
        return _load_state(space, data)
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


def evaluate_paths(supernet: SuperNet, task: Task, count: int, seed: int = 0) -> np.ndarray:
    """Validation accuracy of ``count`` uniformly sampled paths, on the whole validation split.

    :param supernet: the supernet.
    :param task: the task.
    :param count: paths to sample.
    :param seed: sampling seed.
    """
    rng = np.random.default_rng(seed)
    x, y = next(iter(task.val_batches(task.num_val)))
    x = x.contiguous(memory_format=torch.channels_last)
    return np.array([path_accuracy(supernet, x, y, sample_architecture(rng)) for _ in range(count)])


def main(argv: list[str] | None = None) -> None:
    """Rebuild the shipped supernet of the embedded task and its manifest entry."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width-mult", type=float, default=DEFAULT_WIDTH)
    parser.add_argument("--epochs", type=int, default=WarmupConfig.epochs)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    task = load_task("mnist")
    config = WarmupConfig(epochs=args.epochs)
    space = embedded_space(task, args.width_mult)
    start = time.perf_counter()
    supernet = warm_up(task, space, config)
    seconds = time.perf_counter() - start
    data = _state_bytes(supernet)
    supernet = _load_state(space, data)
    accs = evaluate_paths(supernet, task, count=50)
    name = f"supernet_{task.name}_w{args.width_mult:g}.pt"
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    (WEIGHTS_DIR / name).write_bytes(data)
    entry = {
        "file": name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "task": task.name,
        "width_mult": args.width_mult,
        "warmup_config": asdict(config),
        "warmup_seconds": round(seconds, 1),
        "threads": args.threads,
        "sampled_path_accuracy": {
            "mean": float(accs.mean()),
            "min": float(accs.min()),
            "max": float(accs.max()),
            "paths": len(accs),
        },
        "torch_version": torch.__version__,
    }
    manifest = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
    manifest[_manifest_key(task.name, args.width_mult)] = entry
    MANIFEST.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(json.dumps(entry, indent=2))


if __name__ == "__main__":
    main()
