"""Quantization-aware fine-tuning (HAQ's last step): SGD on the training split through straight-through estimators."""

from __future__ import annotations

import torch
from torch import nn

from hwenvs.data import Task
from hwenvs.quant.quantized_model import forget_quantized_weights
from hwenvs.training import TrainConfig, train


def finetune(
    model: nn.Module,
    task: Task,
    *,
    epochs: float = 1.0,
    steps: int | None = None,
    lr: float = 1e-3,
    momentum: float = 0.9,
    weight_decay: float = 4e-5,
    batch_size: int = 64,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> nn.Module:
    """Fine-tune a fake-quantized model in place (HAQ's SGD settings) and return it in eval mode.

    HAQ's recipe, run by :func:`hwenvs.training.train`: plain momentum SGD at a constant learning rate, no
    augmentation. BatchNorm statistics are frozen: with a few hundred steps they would only drift away from the
    float model's.

    :param model: a model from :meth:`QuantizedModel.trainable_copy` (or any model).
    :param task: gives the training split.
    :param epochs: passes over the training split (ignored when ``steps`` is given).
    :param steps: exact number of SGD steps.
    :param lr: learning rate.
    :param momentum: SGD momentum.
    :param weight_decay: L2 penalty.
    :param batch_size: images per step.
    :param seed: fixes the batch order, so the same policy always fine-tunes to the same weights.
    :param device: where to train.
    :param progress: show a progress bar.
    """
    config = TrainConfig(
        epochs=epochs,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        momentum=momentum,
        weight_decay=weight_decay,
        max_shift=0,
        seed=seed,
        nesterov=False,
        schedule="constant",
    )
    model = train(model, task, config, device=device, freeze_batchnorm=True, progress=progress, desc="fine-tune")
    forget_quantized_weights(model)
    return model
