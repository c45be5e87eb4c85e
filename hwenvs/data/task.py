"""A classification task: the splits a search needs (train, calibration, validation) and how to iterate them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset


@dataclass
class Task:
    """Fixed train / calibration / validation splits of one image-classification data set.

    :param name: short name (``"mnist"`` or the ImageFolder root).
    :param num_classes: number of classes.
    :param resolution: side of the square input images the models see.
    :param train: training split (fine-tuning, training the reference models).
    :param calibration: one batch of images (from the training data, disjoint from validation) for activation ranges.
    :param val: held-out validation split that rewards are measured on.
    :param in_memory: True when ``train`` and ``val`` are tensors in memory (iteration is then free of decoding).
    """

    name: str
    num_classes: int
    resolution: int
    train: Dataset
    calibration: torch.Tensor
    val: Dataset
    in_memory: bool = False
    meta: dict = field(default_factory=dict)
    _val_cache: dict = field(default_factory=dict, repr=False)

    def val_batches(self, batch_size: int = 500) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The validation split in fixed order, as (images, labels) batches; kept in memory for in-memory tasks."""
        if self.in_memory:
            if batch_size not in self._val_cache:
                x, y = self.val.tensors  # type: ignore[attr-defined]
                self._val_cache[batch_size] = list(zip(x.split(batch_size), y.split(batch_size), strict=True))
            yield from self._val_cache[batch_size]
        else:
            yield from DataLoader(self.val, batch_size=batch_size, shuffle=False, num_workers=_workers())

    def train_loader(self, batch_size: int, seed: int) -> DataLoader:
        """A shuffled loader over the training split, its order fixed by ``seed``."""
        generator = torch.Generator().manual_seed(seed)
        workers = 0 if self.in_memory else _workers()
        return DataLoader(self.train, batch_size=batch_size, shuffle=True, generator=generator, num_workers=workers)

    @property
    def num_val(self) -> int:
        """Number of validation images."""
        return len(self.val)  # type: ignore[arg-type]


def tensor_dataset(x: torch.Tensor, y: torch.Tensor) -> TensorDataset:
    """A dataset over in-memory tensors."""
    return TensorDataset(x.contiguous(), y.contiguous())


def _workers() -> int:
    return min(4, torch.get_num_threads())
