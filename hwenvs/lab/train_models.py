"""Train the reference models on a named task and write the weights that ship with the package.

Run ``python -m hwenvs.lab.train_models`` (all models, the embedded MNIST task) or ``python -m
hwenvs.lab.train_models mobilenet_v2 --dataset fashion-mnist``; ``python -m hwenvs.models.train``, the command the
weights' error messages quote, runs the same. Each model is trained from scratch on the training split
(:func:`hwenvs.training.train`: SGD-Nesterov with a one-cycle schedule), rounded to float16 (half the size; the
searches quantize to at most 8 bits), evaluated after that round trip on the validation and test splits, and written
with its sha256 and accuracies to ``hwenvs/models/weights/`` and its ``manifest.json`` (:mod:`hwenvs.weights`),
keyed ``"model/task"``.
"""

from __future__ import annotations

import argparse
import io
import time

import torch
from torch import nn

from hwenvs.data import NAMED_TASKS, Task, load_task
from hwenvs.models.evaluate import accuracy
from hwenvs.models.pretrained import weights_store
from hwenvs.models.zoo import ARCHITECTURES, build_architecture
from hwenvs.training import TrainConfig, train
from hwenvs.weights import WeightsStore

__all__ = ["TrainConfig", "main", "save_weights", "train_model"]


def train_model(name: str, task: Task, config: TrainConfig, log: bool = True) -> nn.Module:
    """Train one architecture from scratch on ``task``; returns the model in eval mode.

    :param name: the architecture (a key of :data:`~hwenvs.models.zoo.ARCHITECTURES`).
    :param task: the task (its training split; the validation split for the per-epoch log).
    :param config: the recipe (:class:`~hwenvs.training.TrainConfig`'s defaults are the shipped models').
    :param log: print the loss and validation accuracy after each epoch.
    """

    def report(model: nn.Module, epoch: int, loss: float, seconds: float) -> None:
        acc = accuracy(model, task)
        print(f"{name} epoch {epoch}/{config.epochs}: loss {loss:.3f} val {acc:.4f} ({seconds:.0f} s)", flush=True)

    return train(lambda: build_architecture(name, task.num_classes), task, config, on_epoch=report if log else None)


def save_weights(
    name: str, model: nn.Module, task: Task, config: TrainConfig, store: WeightsStore | None = None
) -> dict:
    """Write ``name``'s float16 weights and their manifest entry together; returns the entry.

    The model is rounded to float16 in place first, and its validation and test accuracies are measured after that
    round trip, so the manifest states what a user of the shipped file gets.

    :param name: the architecture.
    :param model: the trained model.
    :param task: the task (its name keys the entry; its held-out splits give the accuracies).
    :param config: the recipe it was trained with (recorded).
    :param store: where to write (default: the shipped reference models' store).
    """
    half = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(half, buffer)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in half.items()})
    record = {
        "task": task.name,
        "float_accuracy": accuracy(model, task),
        "float_test_accuracy": accuracy(model, task, split="test"),
        "train_config": config.record(),
        "torch_version": torch.__version__,
    }
    store = store if store is not None else weights_store()
    return store.write(f"{name}/{task.name}", f"{name}_{task.name}.pt", buffer.getvalue(), record)


def main(argv: list[str] | None = None) -> None:
    """Train the reference models on ``--dataset`` and write their weights and manifest entries."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=sorted(ARCHITECTURES), help="models to train (default: all)")
    parser.add_argument(
        "--dataset", default="mnist", choices=sorted(NAMED_TASKS), help="the named task (default: mnist)"
    )
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    task = load_task(args.dataset)
    config = TrainConfig(epochs=args.epochs)
    for name in args.models:
        start = time.perf_counter()
        model = train_model(name, task, config)
        entry = save_weights(name, model, task, config)
        print(f"{name}: float accuracy {entry['float_test_accuracy']:.4f} test, {entry['float_accuracy']:.4f} val, "
              f"{time.perf_counter() - start:.0f} s, sha256 {entry['sha256'][:12]}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
