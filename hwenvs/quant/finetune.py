"""Quantization-aware fine-tuning (HAQ's last step): SGD on the training split through straight-through estimators."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from hwenvs.data import Task
from hwenvs.quant.quantized_model import forget_quantized_weights


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

    BatchNorm statistics are frozen: with a few hundred steps they would only drift away from the float model's.

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
    torch.manual_seed(seed)
    loader = task.train_loader(batch_size, seed=seed)
    total = steps if steps is not None else max(1, round(epochs * len(loader)))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    model.to(device).train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
    batches = itertools.islice(itertools.chain.from_iterable(itertools.repeat(loader)), total)
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, total=total, desc="fine-tune", unit="step")
    for x, y in batches:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x.to(device)), y.to(device)).backward()
        optimizer.step()
    forget_quantized_weights(model)
    return model.eval()
