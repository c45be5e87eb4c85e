"""Train an exported architecture from scratch on a task and report its accuracy.

The network is the standalone :class:`~hwenvs.nas.export.ProxylessNet` at the task's resolution and the supernet's
width multiplier (the deployed latency is that of the width-1, 224x224 network, read from a latency table). Training
is SGD with Nesterov momentum and a one-cycle schedule, as for the HAQ reference models.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import partial

import torch
from torch import nn

from hwenvs.data import Task
from hwenvs.models.evaluate import accuracy
from hwenvs.nas.architecture import Architecture
from hwenvs.nas.export import ProxylessNet, build_network
from hwenvs.nas.ops import Residual
from hwenvs.nas.train_supernet import DEFAULT_WIDTH, embedded_space
from hwenvs.training import TrainConfig, train

RetrainConfig = partial(TrainConfig, epochs=10)
"""The retraining recipe: :class:`~hwenvs.training.TrainConfig` with 10 epochs (keyword arguments override)."""


@dataclass
class Retrained:
    """A network trained from scratch, with its accuracy on both held-out splits.

    :param net: the network, in eval mode.
    :param test_accuracy: accuracy on the test split (what reports show).
    :param val_accuracy: accuracy on the validation split (what a search's choice was based on).
    :param seconds: training time.
    """

    net: ProxylessNet
    test_accuracy: float
    val_accuracy: float
    seconds: float


def zero_init_residual(net: ProxylessNet) -> ProxylessNet:
    """Zero the scale of the last batch norm of every block with an identity shortcut, so that each such block
    starts as the identity (as ResNets are often initialised): a deep network then starts as the shallowest one of
    its stages and adds what its extra blocks learn, instead of starting from a sum of random branches that short
    schedules do not recover from.

    :param net: a freshly built network (changed in place).
    :return: ``net``.
    """
    for module in net.modules():
        if isinstance(module, Residual):
            norms = [m for m in module.op.modules() if isinstance(m, nn.BatchNorm2d)]
            nn.init.zeros_(norms[-1].weight)
    return net


def train_from_scratch(
    arch: Architecture,
    task: Task,
    width_mult: float = DEFAULT_WIDTH,
    config: TrainConfig | None = None,
    progress: bool = True,
    dropout: float = 0.0,
    stem_stride: int | None = None,
    zero_init: bool = False,
) -> Retrained:
    """Train ``arch`` from scratch on ``task``.

    :param arch: the architecture.
    :param task: the task.
    :param width_mult: width multiplier of the trained network.
    :param config: the schedule (default :data:`RetrainConfig`).
    :param progress: show a progress bar.
    :param dropout: dropout before the classifier.
    :param stem_stride: stride of the stem convolution (None: the supernet's, 2). 1 keeps 32x32 inputs at 32x32
        through the stem, so the late stages see 2x2 maps instead of 1x1 ones and kernel sizes still matter there.
    :param zero_init: start every block with an identity shortcut as the identity (:func:`zero_init_residual`).
    :return: the network with its test and validation accuracy and the training time.
    """
    config = config or RetrainConfig()
    space = embedded_space(task, width_mult)
    if stem_stride is not None:
        space = replace(space, stem_stride=stem_stride)
    start = time.perf_counter()

    def build() -> ProxylessNet:
        net = build_network(arch, space, dropout)
        return (zero_init_residual(net) if zero_init else net).to(memory_format=torch.channels_last)

    net = train(
        build,
        task,
        config,
        channels_last=True,
        progress=progress,
        desc="training from scratch",
    )
    seconds = time.perf_counter() - start
    return Retrained(net, accuracy(net, task, split="test"), accuracy(net, task), seconds)
