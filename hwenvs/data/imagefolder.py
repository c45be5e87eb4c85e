"""Real-world data: an ImageFolder root (ImageNet or any class-per-folder image set).

Two layouts are understood:

* ``root/train/<class>/*`` and ``root/val/<class>/*``: training images from ``train/``; ``val/`` is split with a
  fixed seed into the validation split (rewards) and the test split (reported results).
* HAQ's protocol (``carve_val=True``, automatic when ``root/val`` is missing): validation, test and training images
  are carved out of the training folder with a fixed seed, restricted to the first ``num_classes`` classes
  (imagenet100: ``num_classes=100, val_size=10000, train_size=20000, seed=1``; test as many as validation).
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
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


def load_image(path: str) -> Image.Image:
    """torchvision's image loader, with the file named when it is not a readable image (PIL's message names none:
    "cannot identify image file <_io.BufferedReader ...>").

    :param path: an image file.
    :raises ValueError: the file is not a readable image (corrupt, truncated, or not an image).
    """
    try:
        with open(path, "rb") as f:
            image = Image.open(f)
            return image.convert("RGB")
    except (OSError, SyntaxError, ValueError) as exc:  # PIL raises all three for damaged files
        raise ValueError(
            f"{path} is not a readable image ({type(exc).__name__}: {exc}); remove it from the dataset folder or "
            "replace it"
        ) from exc


def _image_folder(folder: Path, transform: transforms.Compose) -> datasets.ImageFolder:
    """torchvision's ImageFolder of ``folder``; when it finds no class folder or no image, the error says so with the
    layout expected.

    :raises FileNotFoundError: ``folder`` has no class sub-folder holding images.
    """
    try:
        return datasets.ImageFolder(folder, transform=transform, loader=load_image)
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"{folder} cannot be read as an image folder: {str(exc).rstrip('.')}. Expected "
            "root/train/<class>/<image files> (and optionally root/val/<class>/<image files>), or root/<class>/<image "
            "files>"
        ) from exc


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


def _held_out(
    pool: list[int], dataset: datasets.ImageFolder, val_size: int | None, test_size: int | None, what: str
) -> tuple[Subset, Subset, list[int]]:
    """Validation and test subsets from the front of the shuffled index list ``pool``, and what is left of it.

    Defaults: validation a tenth of the pool when carving from training images, else half of it; test as many
    images as validation when carving, else all that remain.
    """
    carving = what == "training"
    n_val = val_size if val_size is not None else max(1, len(pool) // (10 if carving else 2))
    n_test = test_size if test_size is not None else (n_val if carving else len(pool) - n_val)
    if n_val < 1 or n_test < 1 or n_val + n_test > len(pool) - (1 if carving else 0):
        raise ValueError(
            f"val_size={n_val} and test_size={n_test} do not fit the {len(pool)} {what} images they are carved from "
            "(both must be >= 1" + (", leaving at least one training image)" if carving else ")")
        )
    return Subset(dataset, pool[:n_val]), Subset(dataset, pool[n_val : n_val + n_test]), pool[n_val + n_test :]


def load_imagefolder(
    root: str | Path,
    *,
    resolution: int = 224,
    num_classes: int | None = None,
    val_size: int | None = None,
    test_size: int | None = None,
    train_size: int | None = None,
    calibration_size: int = 128,
    carve_val: bool | None = None,
    seed: int = 1,
) -> Task:
    """An ImageFolder task.

    With a ``val/`` folder, its images are split (seeded) into validation (the reward) and test (reported results),
    so neither was seen by a model trained on ``train/``. Without one (or with ``carve_val=True``, HAQ's protocol),
    both are carved out of the training folder before the training subset.

    :param root: folder with ``train/`` (and optionally ``val/``) class sub-folders, or class folders directly.
    :param resolution: input side after resize and centre crop.
    :param num_classes: keep only the first N classes (in sorted folder order), as imagenet100 does.
    :param val_size: validation images; default a tenth of the training images when carving, else half of ``val/``.
    :param test_size: test images; default as many as validation when carving, else the rest of ``val/``.
    :param train_size: training images (a seeded subset); None for all remaining.
    :param calibration_size: images in the calibration batch, taken from training images outside the train subset
        when there are enough, else from the train subset.
    :param carve_val: carve validation and test out of the training folder; default: only if there is no ``val/``.
    :param seed: seed of the carving permutations.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {root} does not exist")
    train_dir = root / "train" if (root / "train").is_dir() else root
    val_dir = root / "val"
    if carve_val is None:
        carve_val = not val_dir.is_dir()
    train_full = _image_folder(train_dir, _transforms(resolution, train=True))
    train_eval = _image_folder(train_dir, _transforms(resolution, train=False))
    generator = torch.Generator().manual_seed(seed)
    pool = _shuffled(_first_classes(train_full, num_classes), generator)

    if carve_val:
        val, test, pool = _held_out(pool, train_eval, val_size, test_size, "training")
    else:
        val_full = _relabel(_image_folder(val_dir, _transforms(resolution, train=False)), train_full)
        val, test, _ = _held_out(
            _shuffled(_first_classes(val_full, num_classes), generator), val_full, val_size, test_size, "val/"
        )

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
        test=test,
        in_memory=False,
        meta={"root": str(root), "carved_val": carve_val, "seed": seed, "classes": train_full.classes[:classes]},
    )


def _shuffled(indices: list[int], generator: torch.Generator) -> list[int]:
    return [indices[i] for i in torch.randperm(len(indices), generator=generator).tolist()]
