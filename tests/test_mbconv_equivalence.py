"""The supernet's functional MBConv path (:class:`hwenvs.nas.supernet.MixedBlock`) and the exported network's module
(:class:`hwenvs.nas.ops.MBConv`) compute the same block.

The supernet keeps its own functional copy of the block's computation because it is the search's hot path (sliced
shared weights, in-place ReLU6 and shortcut, cached contiguous slices); the two are coupled only through the
state-dict names :meth:`MixedBlock.candidate_weights` returns. These tests pin that coupling: the names match the
exported block's parameters for every candidate, and an exported sub-network computes exactly what its supernet path
computes, on many random architectures.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import random_supernet

from hwenvs.data import load_task
from hwenvs.nas.architecture import Architecture, shallowest, uniform
from hwenvs.nas.export import extract_subnet
from hwenvs.nas.ops import MBConv
from hwenvs.nas.search_space import OPS
from hwenvs.nas.supernet import SuperNet
from hwenvs.nas.train_supernet import load_supernet, sample_architecture

pytestmark = pytest.mark.usefixtures("one_thread")

RANDOM_ARCHITECTURES = 24


def _architectures() -> list[Architecture]:
    """Every uniform architecture (each candidate in every block), the shallowest one, and random ones."""
    rng = np.random.default_rng(0)
    named = [uniform(op.name) for op in OPS if not op.is_zero] + [shallowest()]
    return named + [sample_architecture(rng) for _ in range(RANDOM_ARCHITECTURES)]


@pytest.fixture(scope="module", params=["shipped", "random"])
def supernet(request: pytest.FixtureRequest) -> SuperNet:
    return load_supernet(load_task("mnist")) if request.param == "shipped" else random_supernet(0.5)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return load_task("mnist").val.tensors[0][:8].contiguous(memory_format=torch.channels_last)


def test_candidate_weights_are_named_and_shaped_as_the_exported_block(supernet: SuperNet) -> None:
    for spec, block in zip(supernet.space.blocks, supernet.blocks, strict=True):
        for index, op in enumerate(OPS):
            if op.is_zero:
                continue
            exported = MBConv(spec.in_channels, spec.out_channels, op.kernel, op.expand, spec.stride)
            params = dict(exported.named_parameters())
            weights = block.candidate_weights(index)
            assert sorted(weights) == sorted(params), (spec, op.name)
            assert all(weights[k].shape == params[k].shape for k in params), (spec, op.name)


def test_exported_subnetwork_computes_the_supernet_path(supernet: SuperNet, images: torch.Tensor) -> None:
    for arch in _architectures():
        # train mode: the exported batch norms normalise with the batch's statistics, as the supernet's always do;
        # channels-last, as the supernet runs, so both take the same kernels and agree to the bit
        net = extract_subnet(supernet, arch).train().to(memory_format=torch.channels_last)
        with torch.no_grad():  # the scoring path: the supernet's cached contiguous slices
            expected, out = supernet(images, arch), net(images)
        assert torch.equal(out, expected), arch.to_string()
    # the training path: autograd-tracked strided slices of the shared weights
    for arch in _architectures()[:: len(_architectures()) // 4]:
        net = extract_subnet(supernet, arch).train().to(memory_format=torch.channels_last)
        torch.testing.assert_close(net(images), supernet(images, arch), rtol=1e-5, atol=1e-5)
