"""The ProxylessNAS search space: a MobileNetV2 backbone with 21 searchable blocks in six stages.

Stem (3x3 conv, 32 channels) -> a fixed MBConv (expand 1, kernel 3) to 16 channels -> six stages of searchable
blocks, widths (24, 40, 80, 96, 192, 320), block counts (4, 4, 4, 4, 4, 1), first strides (2, 2, 2, 1, 2, 1)
-> 1x1 conv to 1280 channels -> global average pool -> linear. Every searchable block picks one of six MBConv
candidates (kernel 3, 5 or 7 x expand ratio 3 or 6); the 15 blocks whose stride is 1 and whose input width equals
their output width may also pick ``zero`` (skip the block; those blocks carry an identity shortcut).

Widths scale with ``width_mult`` (rounded to multiples of 8 as in MobileNetV2); the head keeps 1280 channels for
``width_mult <= 1``, as ProxylessNAS does.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

STAGES: tuple[tuple[int, int, int], ...] = ((24, 4, 2), (40, 4, 2), (80, 4, 2), (96, 4, 1), (192, 4, 2), (320, 1, 1))
"""(width, blocks, stride of the first block) of each searchable stage at width multiplier 1."""

STEM_WIDTH = 32
FIRST_BLOCK_WIDTH = 16
HEAD_WIDTH = 1280


@dataclass(frozen=True)
class Op:
    """One candidate operation of a searchable block.

    :param name: canonical name (``"k5e6"`` or ``"zero"``).
    :param kernel: depthwise kernel side (0 for zero).
    :param expand: expansion ratio of the inverted bottleneck (0 for zero).
    """

    name: str
    kernel: int
    expand: int

    @property
    def is_zero(self) -> bool:
        """True for the skip candidate."""
        return self.kernel == 0


OPS: tuple[Op, ...] = (
    Op("k3e3", 3, 3),
    Op("k3e6", 3, 6),
    Op("k5e3", 5, 3),
    Op("k5e6", 5, 6),
    Op("k7e3", 7, 3),
    Op("k7e6", 7, 6),
    Op("zero", 0, 0),
)
"""All candidates, in ProxylessNAS's order; an action is an index into this tuple (``zero`` is the last, 6)."""

OP_INDEX: dict[str, int] = {op.name: i for i, op in enumerate(OPS)}
ZERO = OP_INDEX["zero"]
NUM_MBCONV_OPS = ZERO
"""Candidates every block has (the six MBConvs); blocks that allow zero have one more."""


def make_divisible(value: float, divisor: int = 8) -> int:
    """MobileNetV2's channel rounding: nearest multiple of ``divisor``, never below 90% of ``value``."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def conv_out(size: int, stride: int) -> int:
    """Output side of a 'same'-padded convolution with an odd kernel."""
    return (size - 1) // stride + 1


@dataclass(frozen=True)
class BlockSpec:
    """One searchable block as deployed in a given space.

    :param index: 0-based position among the 21 searchable blocks.
    :param stage: 0-based stage.
    :param in_channels: input width.
    :param out_channels: output width.
    :param stride: depthwise stride.
    :param in_hw: input feature-map side.
    :param out_hw: output feature-map side.
    :param zero_allowed: whether ``zero`` is a candidate (and the block has an identity shortcut).
    """

    index: int
    stage: int
    in_channels: int
    out_channels: int
    stride: int
    in_hw: int
    out_hw: int
    zero_allowed: bool

    @property
    def num_choices(self) -> int:
        """Number of candidates: 7 where zero is allowed, else 6."""
        return NUM_MBCONV_OPS + int(self.zero_allowed)


@dataclass(frozen=True)
class SearchSpace:
    """The ProxylessNAS space at one width multiplier and input resolution.

    :param width_mult: channel multiplier of every layer except the 1280-wide head (kept for ``width_mult <= 1``).
    :param resolution: input image side.
    :param num_classes: classifier outputs.
    :param stem_stride: stride of the stem convolution (2 on ImageNet; 1 suits 32x32 images, see
        :mod:`hwenvs.nas.supernet`).
    """

    width_mult: float = 1.0
    resolution: int = 224
    num_classes: int = 1000
    stem_stride: int = 2

    def __post_init__(self) -> None:
        if not self.width_mult > 0:
            raise ValueError(f"width_mult must be positive, got {self.width_mult!r}")
        if self.resolution < 1 or int(self.resolution) != self.resolution:
            raise ValueError(f"resolution must be a positive integer, got {self.resolution!r}")
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {self.num_classes!r}")
        if self.stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2, got {self.stem_stride!r}")

    def width(self, channels: int) -> int:
        """``channels`` scaled by the width multiplier and rounded."""
        return make_divisible(channels * self.width_mult)

    @property
    def stem_channels(self) -> int:
        """Output width of the stem convolution."""
        return self.width(STEM_WIDTH)

    @property
    def first_block_channels(self) -> int:
        """Output width of the fixed first MBConv."""
        return self.width(FIRST_BLOCK_WIDTH)

    @property
    def head_channels(self) -> int:
        """Width of the final 1x1 convolution."""
        return self.width(HEAD_WIDTH) if self.width_mult > 1.0 else HEAD_WIDTH

    @property
    def stem_out_hw(self) -> int:
        """Feature-map side after the stem (and the fixed first block, which has stride 1)."""
        return conv_out(self.resolution, self.stem_stride)

    @cached_property
    def blocks(self) -> tuple[BlockSpec, ...]:
        """The 21 searchable blocks, in order."""
        specs: list[BlockSpec] = []
        channels, hw = self.first_block_channels, self.stem_out_hw
        for stage, (width, count, first_stride) in enumerate(STAGES):
            out_channels = self.width(width)
            for i in range(count):
                stride = first_stride if i == 0 else 1
                out_hw = conv_out(hw, stride)
                # Structural, so that every width multiplier shares one action space: at width 1 exactly the
                # non-first blocks of a stage have stride 1 and equal widths (narrow multipliers can round the first
                # block of a stride-1 stage to equal widths too, but it still gets no shortcut).
                zero_allowed = i > 0
                specs.append(BlockSpec(len(specs), stage, channels, out_channels, stride, hw, out_hw, zero_allowed))
                channels, hw = out_channels, out_hw
        return tuple(specs)

    @property
    def num_blocks(self) -> int:
        """Number of searchable blocks (21)."""
        return len(self.blocks)

    @property
    def final_hw(self) -> int:
        """Feature-map side entering the head."""
        return self.blocks[-1].out_hw

    @property
    def zero_allowed(self) -> tuple[bool, ...]:
        """Per block, whether ``zero`` is a candidate."""
        return tuple(b.zero_allowed for b in self.blocks)


ZERO_ALLOWED: tuple[bool, ...] = SearchSpace().zero_allowed
"""Where zero is allowed (every block but the first of its stage), identical for every width and resolution."""

NUM_BLOCKS = len(ZERO_ALLOWED)
