"""Accuracy of a classifier on one of a task's held-out splits."""

from __future__ import annotations

import torch
from torch import nn

from hwenvs.data import Task
from hwenvs.data.task import Split


@torch.no_grad()
def accuracy(
    model: nn.Module, task: Task, device: str | torch.device = "cpu", batch_size: int = 500, split: Split = "val"
) -> float:
    """Top-1 accuracy (a fraction in [0, 1]) of ``model`` on ``task``'s ``split`` (``"val"`` or ``"test"``).

    Runs in eval mode under ``no_grad``, not ``inference_mode``: tensors a model caches during evaluation (the
    quantized weights of :class:`hwenvs.quant.QuantizedLayer`) must stay usable in later autograd-tracked forwards.
    """
    total = task.num_images(split)
    if total == 0:
        raise ValueError(f"task {task.name!r} has an empty {split} split")
    was_training = model.training
    model.eval()
    correct = 0
    for x, y in task.batches(split, batch_size):
        logits = model(x.to(device, non_blocking=True))
        correct += int((logits.argmax(1).cpu() == y).sum())
    model.train(was_training)
    return correct / total
