"""Accuracy of a classifier on one of a task's held-out splits."""

from __future__ import annotations

import torch
from torch import nn

from hwenvs.data import Task
from hwenvs.data.task import Split


@torch.no_grad()
def correct(
    model: nn.Module, task: Task, device: str | torch.device = "cpu", batch_size: int = 500, split: Split = "val"
) -> torch.Tensor:
    """Whether ``model``'s top-1 prediction is right, image by image, on ``task``'s ``split`` (a bool tensor in the
    split's order): what paired tests between two models on the same images need.

    Runs in eval mode under ``no_grad``, not ``inference_mode``: tensors a model caches during evaluation (the
    quantized weights of :class:`hwenvs.quant.QuantizedLayer`) must stay usable in later autograd-tracked forwards.
    """
    if task.num_images(split) == 0:
        raise ValueError(f"task {task.name!r} has an empty {split} split")
    was_training = model.training
    model.eval()
    hits = []
    for x, y in task.batches(split, batch_size):
        hits.append(model(x.to(device, non_blocking=True)).argmax(1).cpu() == y)
    model.train(was_training)
    return torch.cat(hits)


def accuracy(
    model: nn.Module, task: Task, device: str | torch.device = "cpu", batch_size: int = 500, split: Split = "val"
) -> float:
    """Top-1 accuracy (a fraction in [0, 1]) of ``model`` on ``task``'s ``split`` (``"val"`` or ``"test"``): the mean
    of :func:`correct`."""
    hits = correct(model, task, device, batch_size, split)
    return int(hits.sum()) / len(hits)
