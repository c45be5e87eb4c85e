"""Export an architecture as a standalone torch module: fresh weights (to train from scratch) or its supernet path's.

The exported network is a plain ``nn.Module`` built from :mod:`hwenvs.nas.ops` (no supernet, no slicing), with
batch norms that track running statistics as usual. :func:`save_network` / :func:`load_network` write and read it
as a state dict plus the architecture and space, so it loads without hwenvs' search machinery.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hwenvs.nas.architecture import Architecture
from hwenvs.nas.ops import Classifier, MBConv, Residual, conv_bn_relu6
from hwenvs.nas.search_space import OPS, SearchSpace
from hwenvs.nas.supernet import MixedBlock, SuperNet


class ProxylessNet(nn.Module):
    """A network of the ProxylessNAS space: stem, fixed first block, the chosen blocks (skipped where ``zero``),
    head, classifier.

    :param arch: the architecture.
    :param space: widths, resolution, classes and stem stride.
    :param dropout: dropout before the classifier.
    """

    def __init__(self, arch: Architecture, space: SearchSpace, dropout: float = 0.0) -> None:
        super().__init__()
        self.arch = arch
        self.space = space
        layers: list[nn.Module] = [
            conv_bn_relu6(3, space.stem_channels, 3, space.stem_stride),
            MBConv(space.stem_channels, space.first_block_channels, 3, 1, 1),
        ]
        for spec, op_index in zip(space.blocks, arch.choices, strict=True):
            op = OPS[op_index]
            if op.is_zero:
                continue
            block = MBConv(spec.in_channels, spec.out_channels, op.kernel, op.expand, spec.stride)
            layers.append(Residual(block) if spec.zero_allowed else block)
        layers.append(conv_bn_relu6(space.blocks[-1].out_channels, space.head_channels, 1, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = Classifier(space.head_channels, space.num_classes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits."""
        return self.classifier(self.features(x))


def build_network(arch: Architecture, space: SearchSpace, dropout: float = 0.0) -> ProxylessNet:
    """A freshly initialised network of ``arch`` (to train from scratch, or to time).

    :param arch: the architecture.
    :param space: the network's space.
    :param dropout: dropout before the classifier.
    """
    return ProxylessNet(arch, space, dropout)


def _copy(dst: nn.Module, src: nn.Module) -> None:
    dst.load_state_dict(src.state_dict())


def _copy_tensor(dst: nn.Module, src: nn.Module, name: str) -> None:
    """``dst.<name>.copy_(src.<name>)``: torch types a module's attributes by name as ``Tensor | Module``."""
    getattr(dst, name).copy_(getattr(src, name))


def _sequential(module: nn.Module) -> nn.Sequential:
    """``module``, a :func:`conv_bn_relu6` block (conv, batch norm, ReLU6), as the Sequential it is."""
    assert isinstance(module, nn.Sequential), module
    return module


@torch.no_grad()
def extract_subnet(supernet: SuperNet, arch: Architecture, calibration: torch.Tensor | None = None) -> ProxylessNet:
    """The supernet path ``arch`` as a standalone network carrying the path's weights.

    The supernet normalises with batch statistics; the exported network's batch norms get running statistics from
    ``calibration`` (one forward pass in train mode with cumulative averaging), so that in eval mode on that batch
    it computes what the supernet path computes, up to the n / (n - 1) factor of running (unbiased) variances.

    :param supernet: the warmed-up supernet.
    :param arch: the path.
    :param calibration: images to compute batch-norm statistics on (None leaves them at 0 mean, 1 variance).
    """
    net = ProxylessNet(arch, supernet.space)
    features = iter(net.features)
    stem = _sequential(next(features))
    _copy(stem[0], supernet.stem[0])
    _copy_tensor(stem[1], supernet.stem[1], "weight")
    _copy_tensor(stem[1], supernet.stem[1], "bias")
    first = next(features)
    for dst, src in zip(first.modules(), supernet.first_block.modules(), strict=True):
        if isinstance(dst, (nn.Conv2d, nn.BatchNorm2d)):
            _copy_tensor(dst, src, "weight")
            if dst.bias is not None:
                _copy_tensor(dst, src, "bias")
    for block, op_index in zip(supernet.blocks, arch.choices, strict=True):
        if OPS[op_index].is_zero:
            continue
        assert isinstance(block, MixedBlock)  # SuperNet.blocks: a ModuleList of them
        module = next(features)
        mbconv: nn.Module = module.op if isinstance(module, Residual) else module
        state = mbconv.state_dict()
        for name, value in block.candidate_weights(op_index).items():
            state[name] = value.detach().clone()
        mbconv.load_state_dict(state)
    head = _sequential(next(features))
    _copy_tensor(head[0], supernet.head[0], "weight")
    _copy_tensor(head[1], supernet.head[1], "weight")
    _copy_tensor(head[1], supernet.head[1], "bias")
    net.classifier.linear.weight.copy_(supernet.classifier.weight)
    net.classifier.linear.bias.copy_(supernet.classifier.bias)
    if calibration is not None:
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None
        net.train()
        net(calibration)
    return net.eval()


def save_network(net: ProxylessNet, path: str | Path, extra: dict[str, Any] | None = None) -> None:
    """Write ``net`` as ``{"architecture", "space", "state_dict", ...extra}``.

    :param net: the network.
    :param path: the ``.pt`` file.
    :param extra: more fields to store (accuracy, latency, training config...).
    """
    torch.save(
        {
            "architecture": net.arch.to_json(),
            "space": asdict(net.space),
            "state_dict": net.state_dict(),
            **(extra or {}),
        },
        path,
    )


def load_network(path: str | Path) -> tuple[ProxylessNet, dict[str, Any]]:
    """Read a network written by :func:`save_network`; returns it in eval mode and the stored record.

    :param path: the ``.pt`` file.
    """
    record = torch.load(path, map_location="cpu", weights_only=True)
    net = ProxylessNet(Architecture.from_json(record["architecture"]), SearchSpace(**record["space"]))
    net.load_state_dict(record["state_dict"])
    return net.eval(), record
