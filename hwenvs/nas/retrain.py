"""Train an exported architecture from scratch on a task and report its accuracy.

The network is the standalone :class:`~hwenvs.nas.export.ProxylessNet` at the task's resolution and the supernet's
width multiplier (the deployed latency is that of the width-1, 224x224 network, read from a latency table). Training
is SGD with Nesterov momentum and a one-cycle schedule, as for the HAQ reference models.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from hwenvs.data import Task
from hwenvs.data.augment import random_shift
from hwenvs.models.evaluate import accuracy
from hwenvs.nas.architecture import Architecture
from hwenvs.nas.export import ProxylessNet, build_network
from hwenvs.nas.train_supernet import DEFAULT_WIDTH, embedded_space


@dataclass
class RetrainConfig:
    """How an architecture is trained from scratch."""

    epochs: int = 10
    """Passes over the training split."""
    batch_size: int = 128
    """Images per SGD step."""
    lr: float = 0.05
    """Peak learning rate of the one-cycle schedule."""
    momentum: float = 0.9
    """SGD (Nesterov) momentum."""
    weight_decay: float = 4e-5
    """L2 penalty."""
    max_shift: int = 2
    """Random translation in pixels (in-memory tasks only)."""
    dropout: float = 0.0
    """Dropout before the classifier."""
    seed: int = 0
    """Seeds initialisation, batch order and shifts."""


def train_from_scratch(
    arch: Architecture,
    task: Task,
    width_mult: float = DEFAULT_WIDTH,
    config: RetrainConfig | None = None,
    progress: bool = True,
) -> tuple[ProxylessNet, float, float]:
    """Train ``arch`` from scratch on ``task``.

    :param arch: the architecture.
    :param task: the task.
    :param width_mult: width multiplier of the trained network.
    :param config: the schedule.
    :param progress: show a progress bar.
    :return: the network (eval mode), its validation accuracy, and the training time in seconds.
    """
    config = config or RetrainConfig()
    torch.manual_seed(config.seed)
    net = build_network(arch, embedded_space(task, width_mult), config.dropout).to(memory_format=torch.channels_last)
    loader = task.train_loader(config.batch_size, seed=config.seed)
    optimizer = torch.optim.SGD(
        net.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, nesterov=True
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=config.epochs * len(loader), pct_start=0.15
    )
    generator = torch.Generator().manual_seed(config.seed)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    net.train()
    bar = tqdm(total=config.epochs * len(loader), desc="training from scratch", unit="step", disable=not progress)
    for _ in range(config.epochs):
        for x, y in loader:
            if task.in_memory and config.max_shift:
                x = random_shift(x, config.max_shift, generator)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(net(x.contiguous(memory_format=torch.channels_last)), y)
            loss.backward()
            optimizer.step()
            scheduler.step()
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    seconds = time.perf_counter() - start
    return net.eval(), accuracy(net, task), seconds
