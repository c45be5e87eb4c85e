"""Real-world data: an ImageFolder root (ImageNet or any class-per-folder image set).

Two layouts are understood:

* ``root/train/<class>/*`` and ``root/val/<class>/*``: the two folders are used as given.
* HAQ's protocol (``carve_val=True``, automatic when ``root/val`` is missing): validation and training images are
  carved out of the training folder with a fixed seed, restricted to the first ``num_classes`` classes
  (imagenet100: ``num_classes=100, val_size=10000, train_size=20000, seed=1``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Subset
from torchvision import datasets, transforms

from hwenvs.data.task import Task

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _transforms(resolution: int, train: bool) -> transforms.Compose:
    if train:
        ops = [transforms.RandomResizedCrop(resolution), transforms.RandomHorizontalFlip()]
    else:
        ops = [transforms.Resize(round(resolution / 0.875)), transforms.CenterCrop(resolution)]
    return transforms.Compose([*ops, transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def _first_classes(dataset: datasets.ImageFolder, num_classes: int | None) -> list[int]:
    if num_classes is None:
        return list(range(len(dataset.samples)))
    if num_classes > len(dataset.classes):
        raise ValueError(f"num_classes={num_classes} but {dataset.root} has only {len(dataset.classes)} classes")
    return [i for i, (_, label) in enumerate(dataset.samples) if label < num_classes]


def _relabel(val: datasets.ImageFolder, train: datasets.ImageFolder) -> datasets.ImageFolder:
    """``val`` with its labels renumbered to ``train``'s class indices.

    ImageFolder numbers the classes of each folder on its own, so a ``val/`` that lacks one of ``train/``'s classes
    would otherwise be labelled off by one from that class on.

    :raises ValueError: naming the classes of ``val/`` that ``train/`` does not have.
    """
    extra = sorted(set(val.classes) - set(train.class_to_idx))
    if extra:
        raise ValueError(f"{val.root} has classes that {train.root} lacks: {extra[:10]}")
    if val.classes == train.classes:
        return val
    to_train = [train.class_to_idx[name] for name in val.classes]
    val.samples = [(path, to_train[label]) for path, label in val.samples]
    val.imgs = val.samples
    val.targets = [label for _, label in val.samples]
    val.classes, val.class_to_idx = list(train.classes), dict(train.class_to_idx)
    return val


def load_imagefolder(
    root: str | Path,
    *,
    resolution: int = 224,
    num_classes: int | None = None,
    val_size: int | None = None,
    train_size: int | None = None,
    calibration_size: int = 128,
    carve_val: bool | None = None,
    seed: int = 1,
) -> Task:
    """An ImageFolder task.

    :param root: folder with ``train/`` (and optionally ``val/``) class sub-folders, or class folders directly.
    :param resolution: input side after resize and centre crop.
    :param num_classes: keep only the first N classes (in sorted folder order), as imagenet100 does.
    :param val_size: validation images (carved, or a seeded subset of ``val/``); None for all.
    :param train_size: training images (a seeded subset); None for all remaining.
    :param calibration_size: images in the calibration batch, taken from training images outside the train subset
        when there are enough, else from the train subset.
    :param carve_val: carve validation out of the training folder (HAQ's protocol); default: only if no ``val/``.
    :param seed: seed of the carving permutation.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {root} does not exist")
    train_dir = root / "train" if (root / "train").is_dir() else root
    val_dir = root / "val"
    if carve_val is None:
        carve_val = not val_dir.is_dir()
    train_full = datasets.ImageFolder(train_dir, transform=_transforms(resolution, train=True))
    train_eval = datasets.ImageFolder(train_dir, transform=_transforms(resolution, train=False))
    pool = _first_classes(train_full, num_classes)
    generator = torch.Generator().manual_seed(seed)
    pool = [pool[i] for i in torch.randperm(len(pool), generator=generator).tolist()]

    if carve_val:
        n_val = val_size if val_size is not None else max(1, len(pool) // 10)
        if n_val >= len(pool):
            raise ValueError(f"val_size={n_val} leaves no training images out of {len(pool)}")
        val = Subset(train_eval, pool[:n_val])
        pool = pool[n_val:]
    else:
        val_full = _relabel(datasets.ImageFolder(val_dir, transform=_transforms(resolution, train=False)), train_full)
        keep = _first_classes(val_full, num_classes)
        if val_size is not None:
            keep = [keep[i] for i in torch.randperm(len(keep), generator=generator)[:val_size].tolist()]
        val = Subset(val_full, keep)

    n_train = train_size if train_size is not None else len(pool)
    train_idx = pool[:n_train]
    spare = pool[n_train:]
    calib_idx = (spare if len(spare) >= calibration_size else train_idx)[:calibration_size]
    calibration = torch.stack([train_eval[i][0] for i in calib_idx])
    classes = num_classes if num_classes is not None else len(train_full.classes)
    return Task(
        name=str(root),
        num_classes=classes,
        resolution=resolution,
        train=Subset(train_full, train_idx),
        calibration=calibration,
        val=val,
        in_memory=False,
        meta={"root": str(root), "carved_val": carve_val, "seed": seed, "classes": train_full.classes[:classes]},
    )
