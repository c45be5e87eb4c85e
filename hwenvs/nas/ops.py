"""The layers of the ProxylessNAS space, shared by the supernet, the exported networks and the latency measurements."""

from __future__ import annotations

import torch
from torch import nn


def conv_bn_relu6(
    in_channels: int, out_channels: int, kernel: int, stride: int, *, track_running_stats: bool = True
) -> nn.Sequential:
    """'Same'-padded convolution, batch norm, ReLU6 (the stem and the head's 1x1 convolution).

    :param in_channels: input width.
    :param out_channels: output width.
    :param kernel: square kernel side (odd).
    :param stride: convolution stride.
    :param track_running_stats: False makes the batch norm always use the statistics of the batch it sees.
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(out_channels, track_running_stats=track_running_stats),
        nn.ReLU6(inplace=True),
    )


class MBConv(nn.Module):
    """MobileNetV2's inverted bottleneck: 1x1 expand + BN + ReLU6, kxk depthwise + BN + ReLU6, 1x1 project + BN.

    The identity shortcut is not part of this module: a block that may be skipped adds it around its candidate. The
    supernet computes the same block functionally (:meth:`hwenvs.nas.supernet.MixedBlock.candidate_output`), with its
    weights named as this module's parameters: renaming or reordering these layers must change both.

    :param in_channels: input width.
    :param out_channels: output width.
    :param kernel: depthwise kernel side (3, 5 or 7).
    :param expand: expansion ratio (1 drops the expand convolution, as in the fixed first block).
    :param stride: depthwise stride.
    :param track_running_stats: False makes every batch norm use the statistics of the batch it sees.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        expand: int,
        stride: int,
        *,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        hidden = in_channels * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(conv_bn_relu6(in_channels, hidden, 1, 1, track_running_stats=track_running_stats))
        layers += [
            nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden, track_running_stats=track_running_stats),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels, track_running_stats=track_running_stats),
        ]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the bottleneck (no shortcut)."""
        return self.layers(x)


class Residual(nn.Module):
    """``x + op(x)``: a skippable block of a deployed network.

    :param op: the block's candidate.
    """

    def __init__(self, op: nn.Module) -> None:
        super().__init__()
        self.op = op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add the shortcut."""
        return x + self.op(x)


class Classifier(nn.Module):
    """Global average pool, dropout, linear.

    :param in_channels: width of the head's output.
    :param num_classes: classes.
    :param dropout: dropout rate before the linear layer.
    """

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pool and classify."""
        return self.linear(self.dropout(x.mean((2, 3))))
