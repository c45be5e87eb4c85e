"""A classification task: the splits a search needs (train, calibration, validation, test) and how to iterate them.

Selection and reporting are kept apart by construction: rewards and every choice a search makes use the
``"val"`` split; what a person reads (search summaries, policy.json, benchmark results) is measured on the
``"test"`` split, which no search ever sees.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from dataclasses import dataclass, field
from typing import Literal, cast

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

Split = Literal["val", "test"]
EVAL_SPLITS = ("val", "test")
"""The held-out splits a model is evaluated on: ``"val"`` (rewards, selection) and ``"test"`` (reporting)."""


@dataclass
class Task:
    """Fixed, disjoint train / calibration / validation / test splits of one image-classification data set.

    :param name: short name (``"mnist"`` or the ImageFolder root).
    :param num_classes: number of classes.
    :param resolution: side of the square input images the models see.
    :param train: training split (fine-tuning, training the reference models).
    :param calibration: one batch of images (from the training data, disjoint from validation and test) for
        activation ranges.
    :param val: held-out validation split that rewards and selection use.
    :param test: held-out test split that reported results use; never seen by a search.
    :param in_memory: True when the splits are tensors in memory (iteration is then free of decoding).
    """

    name: str
    num_classes: int
    resolution: int
    train: Dataset
    calibration: torch.Tensor
    val: Dataset
    test: Dataset
    in_memory: bool = False
    meta: dict = field(default_factory=dict)
    _batch_cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        """Refuse a task with an empty split: a data folder with too few images made a task whose first episode
        failed on calibration (or scored an empty validation split), far from the folder's mistake.

        :raises ValueError: naming the task and every split's size.
        """
        sizes = {"train": dataset_size(self.train), "calibration": len(self.calibration),
                 "val": dataset_size(self.val), "test": dataset_size(self.test)}  # fmt: skip
        empty = [name for name, size in sizes.items() if size == 0]
        if empty:
            shown = ", ".join(f"{name} {size:,}" for name, size in sizes.items())
            raise ValueError(
                f"task {self.name!r} has no {' and no '.join(empty)} images ({shown}): its data holds too few images "
                "for its splits; check the folder (or the sizes asked for)"
            )

    def split(self, split: Split) -> Dataset:
        """The ``"val"`` or ``"test"`` dataset.

        :raises ValueError: for any other name.
        """
        if split not in EVAL_SPLITS:
            raise ValueError(f"unknown split {split!r}; valid: {list(EVAL_SPLITS)}")
        return self.val if split == "val" else self.test

    def batches(self, split: Split = "val", batch_size: int = 500) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """A held-out split in fixed order, as (images, labels) batches; kept in memory for in-memory tasks."""
        dataset = self.split(split)
        if not self.in_memory:
            yield from DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=_workers())
            return
        key = (split, batch_size)
        if key not in self._batch_cache:
            assert isinstance(dataset, TensorDataset)  # an in-memory task holds its splits as TensorDatasets
            x, y = dataset.tensors
            self._batch_cache[key] = list(zip(x.split(batch_size), y.split(batch_size), strict=True))
        yield from self._batch_cache[key]

    def val_batches(self, batch_size: int = 500) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The validation split in fixed order (``batches("val", batch_size)``)."""
        return self.batches("val", batch_size)

    def train_loader(self, batch_size: int, seed: int) -> DataLoader:
        """A shuffled loader over the training split, its order fixed by ``seed``."""
        generator = torch.Generator().manual_seed(seed)
        workers = 0 if self.in_memory else _workers()
        return DataLoader(self.train, batch_size=batch_size, shuffle=True, generator=generator, num_workers=workers)

    def num_images(self, split: Split) -> int:
        """Number of images in a held-out split."""
        return dataset_size(self.split(split))

    @property
    def num_val(self) -> int:
        """Number of validation images."""
        return self.num_images("val")

    @property
    def num_test(self) -> int:
        """Number of test images."""
        return self.num_images("test")


def dataset_size(dataset: Dataset) -> int:
    """The number of examples in ``dataset``: every split of a :class:`Task` is a map-style dataset with a length
    (``TensorDataset``, ``Subset``, ``ImageFolder``), which torch's ``Dataset`` type does not declare."""
    return len(cast(Sized, dataset))


def tensor_dataset(x: torch.Tensor, y: torch.Tensor) -> TensorDataset:
    """A dataset over in-memory tensors."""
    return TensorDataset(x.contiguous(), y.contiguous())


def _workers() -> int:
    return min(4, torch.get_num_threads())
