"""MobileNetV1 (Howard et al., 2017), HAQ's main model: a 3x3 stem then 13 depthwise-separable blocks.

torchvision has no MobileNetV1, so it is defined here with the paper's topology: 28 quantizable layers (27 conv +
1 linear), 13 of them depthwise. BatchNorm and ReLU follow every convolution.
"""

from __future__ import annotations

import torch
from torch import nn

# (output channels, stride) of each depthwise-separable block, from the paper's Table 1.
BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)  # fmt: skip


def _conv_bn_relu(in_ch: int, out_ch: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


class MobileNetV1(nn.Module):
    """MobileNetV1 at width 1.0.

    :param num_classes: outputs of the classifier.
    :param dropout: dropout before the classifier.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        layers = [_conv_bn_relu(3, 32, 3, 2)]
        in_ch = 32
        for out_ch, stride in BLOCKS:
            layers.append(
                nn.Sequential(_conv_bn_relu(in_ch, in_ch, 3, stride, groups=in_ch), _conv_bn_relu(in_ch, out_ch, 1, 1))
            )
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_ch, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def mobilenet_v1(num_classes: int = 1000) -> MobileNetV1:
    """A randomly initialised MobileNetV1."""
    return MobileNetV1(num_classes=num_classes)
