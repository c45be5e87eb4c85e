"""Accuracy of a classifier on a task's validation split."""

from __future__ import annotations

import torch
from torch import nn

from hwenvs.data import Task


@torch.no_grad()
def accuracy(model: nn.Module, task: Task, device: str | torch.device = "cpu", batch_size: int = 500) -> float:
    """Top-1 accuracy (a fraction in [0, 1]) of ``model`` on ``task``'s validation split, in eval mode.

    Runs under ``no_grad``, not ``inference_mode``: tensors a model caches during evaluation (the quantized weights
    of :class:`hwenvs.quant.QuantizedLayer`) must stay usable in later autograd-tracked forwards.
    """
    if task.num_val == 0:
        raise ValueError(f"task {task.name!r} has an empty validation split")
    was_training = model.training
    model.eval()
    correct = 0
    for x, y in task.val_batches(batch_size):
        logits = model(x.to(device, non_blocking=True))
        correct += int((logits.argmax(1).cpu() == y).sum())
    model.train(was_training)
    return correct / task.num_val
