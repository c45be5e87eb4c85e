"""The weight-sharing supernet: every searchable block holds all six MBConv candidates (as nested slices of one
k7e6 MBConv, see :class:`MixedBlock`), and a forward pass runs exactly one of them per block (ProxylessNAS's binary
gates), so activations cost what one compact network costs.

Batch norms of the supernet never track running statistics: they always normalise with the statistics of the batch
in front of them. Shared running statistics would mix all the paths ever sampled and misjudge any single one;
normalising each evaluation with the statistics of its own fixed validation batch is the per-path recalibration
weight-sharing searches use, and keeps the supernet stateless (a frozen environment is then exactly stationary).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from hwenvs.nas.architecture import Architecture
from hwenvs.nas.ops import MBConv, conv_bn_relu6
from hwenvs.nas.search_space import OPS, BlockSpec, SearchSpace

MAX_KERNEL = max(op.kernel for op in OPS)
MAX_EXPAND = max(op.expand for op in OPS)


def _dense(t: torch.Tensor) -> torch.Tensor:
    # channels-last, like the activations: mixing memory formats sends convolutions down a slow path
    return t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t.contiguous()


class MixedBlock(nn.Module):
    """One searchable block: the six MBConv candidates as nested slices of one k7e6 MBConv, plus the identity
    shortcut where zero is allowed.

    Candidate (k, e) uses the first ``in_channels * e`` hidden channels and the centre k x k of the depthwise
    kernels (weight entanglement, as in Single-Path NAS and Once-for-All). ProxylessNAS gives each candidate its own
    weights; measured on the embedded task, such a supernet did not warm up in minutes: with the first block of
    each stage drawn at random, the warm-up loss stayed at or above chance (2.3-3.7 after three epochs, at learning
    rates 0.002 to 0.1, SGD or Adam), because the layers after such a block see six unrelated representations. Nested
    candidates compute related features by construction, train in minutes, and need a sixth of the weights.

    :param spec: the block's shape.
    """

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__()
        self.spec = spec
        cin, cout = spec.in_channels, spec.out_channels
        hidden = cin * MAX_EXPAND
        self.expand_weight = nn.Parameter(torch.empty(hidden, cin, 1, 1))
        self.expand_bn = nn.BatchNorm2d(hidden, track_running_stats=False)
        self.depthwise_weight = nn.Parameter(torch.empty(hidden, 1, MAX_KERNEL, MAX_KERNEL))
        self.depthwise_bn = nn.BatchNorm2d(hidden, track_running_stats=False)
        self.project_weight = nn.Parameter(torch.empty(cout, hidden, 1, 1))
        self.project_bn = nn.BatchNorm2d(cout, track_running_stats=False)
        for weight in (self.expand_weight, self.depthwise_weight, self.project_weight):
            nn.init.kaiming_normal_(weight, mode="fan_out")
        if spec.zero_allowed:
            # Every residual candidate starts as the identity, so paths of any sampled depth train stably from the
            # first step (the supernet would otherwise sum up to 15 unit-variance residuals at initialisation).
            nn.init.zeros_(self.project_bn.weight)

        self._inference_cache: dict[int, tuple[tuple[tuple[int, int], ...], dict[str, torch.Tensor]]] = {}

    def candidate_weights(self, op_index: int) -> dict[str, torch.Tensor]:
        """The weights candidate ``op_index`` uses, keyed as in :class:`~hwenvs.nas.ops.MBConv`'s state dict.

        :meth:`candidate_output` computes what that MBConv computes, with these weights, in functional form (the
        search's hot path: sliced shared weights, in-place activations); ``tests/test_mbconv_equivalence.py`` pins
        both the names and the computation against the exported block.
        """
        op = OPS[op_index]
        hidden = self.spec.in_channels * op.expand
        trim = (MAX_KERNEL - op.kernel) // 2
        window = slice(trim, trim + op.kernel)
        return {
            "layers.0.0.weight": self.expand_weight[:hidden],
            "layers.0.1.weight": self.expand_bn.weight[:hidden],
            "layers.0.1.bias": self.expand_bn.bias[:hidden],
            "layers.1.weight": self.depthwise_weight[:hidden, :, window, window],
            "layers.2.weight": self.depthwise_bn.weight[:hidden],
            "layers.2.bias": self.depthwise_bn.bias[:hidden],
            "layers.4.weight": self.project_weight[:, :hidden],
            "layers.5.weight": self.project_bn.weight,
            "layers.5.bias": self.project_bn.bias,
        }

    def _weights(self, op_index: int) -> dict[str, torch.Tensor]:
        if torch.is_grad_enabled():
            return self.candidate_weights(op_index)
        # Scoring reuses contiguous copies of the slices: a sliced depthwise kernel is strided and would be copied
        # by every convolution (about 10% of an episode). A copy stays valid while every parameter keeps its
        # storage and version, so weight steps, load_state_dict and deep copies all invalidate it.
        stamp = tuple((p.data_ptr(), p._version) for p in self.parameters())
        entry = self._inference_cache.get(op_index)
        if entry is None or entry[0] != stamp:
            weights = {k: _dense(v.detach()) for k, v in self.candidate_weights(op_index).items()}
            entry = self._inference_cache[op_index] = (stamp, weights)
        return entry[1]

    def candidate_output(self, x: torch.Tensor, op_index: int) -> torch.Tensor:
        """Output of candidate ``op_index`` without the shortcut (zeros for the zero candidate)."""
        op = OPS[op_index]
        if op.is_zero:
            return torch.zeros_like(x)
        w = self._weights(op_index)
        eps = self.expand_bn.eps
        y = F.conv2d(x, w["layers.0.0.weight"])
        # ReLU6 in place, as the exported network's: an out-of-place activation allocates a tensor the size of the
        # batch's hidden activations, which cost a fifth of an episode
        y = F.relu6(F.batch_norm(y, None, None, w["layers.0.1.weight"], w["layers.0.1.bias"], True, 0.0, eps), True)
        hidden = y.shape[1]
        y = F.conv2d(y, w["layers.1.weight"], None, self.spec.stride, op.kernel // 2, 1, hidden)
        y = F.relu6(F.batch_norm(y, None, None, w["layers.2.weight"], w["layers.2.bias"], True, 0.0, eps), True)
        y = F.conv2d(y, w["layers.4.weight"])
        return F.batch_norm(y, None, None, w["layers.5.weight"], w["layers.5.bias"], True, 0.0, eps)

    def forward(self, x: torch.Tensor, op_index: int) -> torch.Tensor:
        """Run candidate ``op_index`` (only that one), adding the shortcut where the block has one."""
        if OPS[op_index].is_zero:
            return x
        out = self.candidate_output(x, op_index)
        # in place: a fresh allocation per block costs more than the addition (page faults on large batches)
        return out.add_(x) if self.spec.zero_allowed else out


class SuperNet(nn.Module):
    """The over-parameterised network of a :class:`~hwenvs.nas.search_space.SearchSpace`.

    :param space: widths, resolution, classes and stem stride.
    """

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.space = space
        self.stem = conv_bn_relu6(3, space.stem_channels, 3, space.stem_stride, track_running_stats=False)
        self.first_block = MBConv(space.stem_channels, space.first_block_channels, 3, 1, 1, track_running_stats=False)
        self.blocks = nn.ModuleList(MixedBlock(spec) for spec in space.blocks)
        last = space.blocks[-1].out_channels
        self.head = conv_bn_relu6(last, space.head_channels, 1, 1, track_running_stats=False)
        self.classifier = nn.Linear(space.head_channels, space.num_classes)

    def stem_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The fixed layers before the searchable blocks."""
        return self.first_block(self.stem(x))

    def head_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The fixed layers after the searchable blocks: 1x1 conv, global pool, classifier."""
        return self.classifier(self.head(x).mean((2, 3)))

    def forward(self, x: torch.Tensor, arch: Architecture | Sequence[int]) -> torch.Tensor:
        """Logits of the sub-network ``arch`` (an :class:`Architecture` or 21 op indices)."""
        return self.blocks_forward(self.stem_forward(x), arch)

    def blocks_forward(self, x: torch.Tensor, arch: Architecture | Sequence[int], start: int = 0) -> torch.Tensor:
        """Logits of the sub-network ``arch`` from the input of searchable block ``start`` on: its blocks from
        ``start``, then the head (what :class:`~hwenvs.nas.prefix_cache.PrefixCache` runs after a remembered prefix).

        :param x: the output of the stem (``start`` 0) or of searchable block ``start - 1``.
        :param arch: an :class:`Architecture` or 21 op indices.
        :param start: the first searchable block to run.
        """
        choices = arch.choices if isinstance(arch, Architecture) else arch
        if len(choices) != len(self.blocks):
            raise ValueError(f"an architecture of this supernet has {len(self.blocks)} choices, got {len(choices)}")
        for block, op_index in zip(self.blocks[start:], choices[start:], strict=True):
            x = block(x, int(op_index))
        return self.head_forward(x)
