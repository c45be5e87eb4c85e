"""Shared fixtures: the reference data folder, and small real tasks that keep environment tests fast."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from hwenvs.data import Task, load_task
from hwenvs.data.task import tensor_dataset
from hwenvs.nas.search_space import SearchSpace
from hwenvs.nas.supernet import SuperNet

REFERENCE_DATA = Path(__file__).resolve().parents[2] / "shared" / "reference-data"

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session", autouse=True)
def _reference_data() -> None:
    """Point hwenvs at the shared copies of the published tables (never the network) when they are present."""
    if REFERENCE_DATA.is_dir():
        os.environ.setdefault("HWENVS_REFERENCE_DATA", str(REFERENCE_DATA))


@pytest.fixture(scope="session")
def mobile_table_file() -> None:
    """Skip a test that needs ProxylessNAS's published phone table: it cannot be downloaded on this network, so it
    comes from ../shared/reference-data or not at all (every other latency target is computed or measured here)."""
    if not (REFERENCE_DATA / "proxylessnas_mobile_trim.yaml").is_file():
        pytest.skip("ProxylessNAS's mobile table is not in ../shared/reference-data")


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One intra-op thread for a module (the machine is shared: more threads only contend), restored after.

    Use it with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_task(num_val: int = 100) -> Task:
    """The embedded MNIST task with only its first ``num_val`` validation and test images (same order)."""
    task = load_task("mnist")
    x, y = task.val.tensors
    tx, ty = task.test.tensors
    return Task(
        name=task.name,
        num_classes=task.num_classes,
        resolution=task.resolution,
        train=task.train,
        calibration=task.calibration,
        val=tensor_dataset(x[:num_val], y[:num_val]),
        test=tensor_dataset(tx[:num_val], ty[:num_val]),
        in_memory=True,
        meta=task.meta,
    )


@pytest.fixture(scope="session")
def mnist_small() -> Task:
    """100-image validation and test splits of the embedded task, for fast episodes."""
    return small_task(100)


def random_supernet(width_mult: float) -> SuperNet:
    """A fresh 32x32 supernet whose batch-norm scales and shifts are all random, so that every residual candidate
    contributes (at initialisation their last scale is zero); channels-last, in eval mode."""
    torch.manual_seed(0)
    supernet = SuperNet(SearchSpace(width_mult=width_mult, resolution=32, num_classes=10))
    with torch.no_grad():
        for module in supernet.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)
    return supernet.to(memory_format=torch.channels_last).eval()
