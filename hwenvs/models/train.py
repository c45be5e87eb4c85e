"""Train the reference models on the embedded task and write the weights that ship with the package.

Run ``python -m hwenvs.models.train`` (all models) or ``python -m hwenvs.models.train mobilenet_v2``. Each model is
trained from scratch on the training split with SGD and a cosine schedule, evaluated on the validation split, and
written as a float16 state dict (half the size; the searches quantize to at most 8 bits, and the float accuracy in
the manifest is measured after the float16 round trip) to ``hwenvs/models/weights/`` with its sha256 and accuracy
in ``manifest.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from hwenvs.data import Task, load_task
from hwenvs.data.augment import random_shift
from hwenvs.models.evaluate import accuracy
from hwenvs.models.pretrained import shipped_manifest
from hwenvs.models.zoo import ARCHITECTURES, build_architecture

WEIGHTS_DIR = Path(__file__).parent / "weights"
MANIFEST = WEIGHTS_DIR / "manifest.json"


@dataclass
class TrainConfig:
    """How the shipped reference models were trained."""

    epochs: int = 12
    """Passes over the training split."""
    batch_size: int = 128
    """Images per SGD step."""
    lr: float = 0.05
    """Peak learning rate of the cosine schedule."""
    momentum: float = 0.9
    """SGD momentum."""
    weight_decay: float = 4e-5
    """L2 penalty (MobileNet's value)."""
    max_shift: int = 2
    """Random translation in pixels, the only augmentation."""
    seed: int = 0
    """Seeds initialisation and batch order."""


def train_model(name: str, task: Task, config: TrainConfig, log: bool = True) -> nn.Module:
    """Train one architecture from scratch on ``task``; returns the model in eval mode."""
    torch.manual_seed(config.seed)
    model = build_architecture(name, task.num_classes)
    loader = task.train_loader(config.batch_size, seed=config.seed)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, nesterov=True
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=config.epochs * len(loader), pct_start=0.15
    )
    generator = torch.Generator().manual_seed(config.seed)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(config.epochs):
        model.train()
        start = time.perf_counter()
        for x, y in loader:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(random_shift(x, config.max_shift, generator)), y)
            loss.backward()
            optimizer.step()
            scheduler.step()
        if log:
            acc = accuracy(model, task)
            print(f"{name} epoch {epoch + 1}/{config.epochs}: loss {loss.item():.3f} val {acc:.4f} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
    return model.eval()


def save_weights(name: str, model: nn.Module, task: Task, config: TrainConfig) -> dict:
    """Write ``name``'s float16 weights and update the manifest; returns the manifest entry."""
    half = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(half, buffer)
    data = buffer.getvalue()
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    (WEIGHTS_DIR / f"{name}_{task.name}.pt").write_bytes(data)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in half.items()})
    entry = {
        "file": f"{name}_{task.name}.pt",
        "sha256": hashlib.sha256(data).hexdigest(),
        "task": task.name,
        "float_accuracy": accuracy(model, task),
        "float_test_accuracy": accuracy(model, task, split="test"),
        "train_config": asdict(config),
        "torch_version": torch.__version__,
    }
    manifest = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
    manifest[f"{name}/{task.name}"] = entry
    MANIFEST.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    shipped_manifest.cache_clear()  # a later load_reference_model in this process must see the new entry
    return entry


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=sorted(ARCHITECTURES), help="models to train (default: all)")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    task = load_task("mnist")
    config = TrainConfig(epochs=args.epochs)
    for name in args.models:
        start = time.perf_counter()
        model = train_model(name, task, config)
        entry = save_weights(name, model, task, config)
        print(f"{name}: float accuracy {entry['float_test_accuracy']:.4f} test, {entry['float_accuracy']:.4f} val, "
              f"{time.perf_counter() - start:.0f} s, sha256 {entry['sha256'][:12]}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
