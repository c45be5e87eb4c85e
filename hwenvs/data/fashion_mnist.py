"""The Fashion-MNIST task: 70,000 28x28 greyscale images of clothing in 10 classes (Zalando's standard idx files),
harder than MNIST, so quantization and architecture choices move accuracy by more.

The data is not downloaded here. The four idx files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each gzipped or not) are looked for, in this order, in:

1. the folder named by ``$HWENVS_FASHION_MNIST``;
2. ``/usr/share/datasets/fashion-mnist``, where Debian's package puts them
   (``apt-get update && apt-get install -y dataset-fashion-mnist``);
3. ``<root>/FashionMNIST/raw``, the layout of ``torchvision.datasets.FashionMNIST(root, download=True)``, for the
   ``root`` argument (``dataset_kwargs={"root": root}`` in the HAQ environments).

The files hold the same official data wherever they are found, so the order only decides which copy is read.

The images go through the embedded MNIST task's pipeline (:func:`~hwenvs.data.embedded.to_model_inputs`: zero-padded
to 32x32, normalised with Fashion-MNIST's own mean and std, repeated over 3 channels), and the splits are fixed by
``split_seed``:

* validation (the reward): 2,000 images of the official training set;
* calibration: 128 more of them (HAQ's one calibration batch);
* train: 12,000 more of them, a subset so that a reference model trains in minutes on two CPU cores (MobileNetV2 at
  32x32 measured about 65 s per epoch of 12,000 images on an idle machine);
* test (reported results only): the whole official test set, 10,000 images, in its file order. A test evaluation
  then costs 4.5x one of 2,000 images (MobileNetV2's float forward pass on one thread: 17.8 s vs 4.0 s, measured on
  a loaded two-core machine; about 11 s idle), but it never runs inside an episode: a search evaluates on test only
  when its best episode improves (4-5 times in the quick start's 150-episode DDPG searches) and for its three
  reference points. In exchange the standard error of a test accuracy falls from 0.7 to 0.3 points (at 90%), which
  1-point comparisons need, and the figures use the standard Fashion-MNIST test protocol.

The remaining 45,872 training images are unused by default. ``num_train`` takes more of them (up to
:data:`MAX_TRAIN`, all 57,872 images outside validation and calibration): the larger train split continues the same
permutation, so the default 12,000 images are its first ones, and validation, calibration and test do not change.
"""

from __future__ import annotations

import gzip
import math
import os
from functools import cache
from pathlib import Path

import numpy as np
import torch

from hwenvs.data.embedded import to_model_inputs
from hwenvs.data.task import Task, tensor_dataset

ENV_VAR = "HWENVS_FASHION_MNIST"
"""The environment variable naming a folder that holds the four idx files (searched first)."""
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` package installs the files (searched second)."""
TORCHVISION_SUBDIR = Path("FashionMNIST", "raw")
"""Where ``torchvision.datasets.FashionMNIST(root, download=True)`` puts the files under ``root`` (searched last)."""
APT_COMMAND = "apt-get update && apt-get install -y dataset-fashion-mnist"
"""The command that installs Debian's copy of the files."""
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
"""The four idx files by role (each found as is or with ``.gz``)."""

# Pixel mean and std (pixels scaled to [0, 1]) of all 60,000 official training images at 28x28, before padding, as
# MNIST's 0.1307 / 0.3081 are. Computed once with numpy, in float64, over the gzipped idx file:
#   x = train_images / 255.0; x.mean() = 0.286040..., x.std() = 0.353024...
FASHION_MNIST_MEAN = 0.2860
FASHION_MNIST_STD = 0.3530

SPLIT_SEED = 0
NUM_VAL = 2000
NUM_CALIBRATION = 128
NUM_TRAIN = 12000
TRAIN_POOL = 60000
MAX_TRAIN = TRAIN_POOL - NUM_VAL - NUM_CALIBRATION
"""The largest ``num_train``: every official training image outside validation and calibration."""
CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
"""The class names, in label order (Zalando's)."""


def search_folders(root: str | Path | None = None) -> list[tuple[str, Path | None]]:
    """Where the files are looked for, in order: ``(how the place is named, the folder or None when unset)``.

    :param root: the root given to torchvision's ``FashionMNIST(root, download=True)``, or None.
    """
    env = os.environ.get(ENV_VAR)
    torchvision_place = f"root/{TORCHVISION_SUBDIR.as_posix()} (torchvision's layout)"
    return [
        (f"${ENV_VAR}", Path(env) if env else None),
        ("Debian's dataset-fashion-mnist package", DEBIAN_DIR),
        (torchvision_place, Path(root) / TORCHVISION_SUBDIR if root else None),
    ]


def _file_in(folder: Path, name: str) -> Path | None:
    """``folder/name``, else ``folder/name.gz``, else None (the decompressed file first: it reads faster)."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def find_fashion_mnist(root: str | Path | None = None) -> dict[str, Path]:
    """The four idx files of the first folder (see :func:`search_folders`) that holds all of them, by role.

    :param root: the root given to torchvision's ``FashionMNIST(root, download=True)``, or None.
    :raises FileNotFoundError: no folder holds all four; the message says what each place lacked and the three ways
        to get the files.
    """
    looked = []
    for place, folder in search_folders(root):
        if folder is None:
            looked.append(f"  - {place}: not set")
            continue
        found = {role: _file_in(folder, name) for role, name in FILES.items()}
        missing = [FILES[role] for role, path in found.items() if path is None]
        if not missing:
            return {role: path for role, path in found.items() if path is not None}
        what = "does not exist" if not folder.is_dir() else f"lacks {', '.join(f'{m}[.gz]' for m in missing)}"
        looked.append(f"  - {place}: {folder} {what}")
    raise FileNotFoundError(
        "Fashion-MNIST's idx files were not found. Looked in:\n" + "\n".join(looked) + "\n"
        "Get them one of three ways:\n"
        f"  1. Debian / Ubuntu: {APT_COMMAND}\n"
        f"  2. set ${ENV_VAR} to a folder holding {', '.join(FILES.values())} (each may be gzipped)\n"
        "  3. torchvision: torchvision.datasets.FashionMNIST(root, download=True) fetches all four; then pass root "
        '(dataset_kwargs={"root": root}) or set $' + ENV_VAR + f" to root/{TORCHVISION_SUBDIR.as_posix()}"
    )


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An idx file (gzipped or not) of unsigned bytes as a numpy array, its shape from the standard header.

    The header is a big-endian uint32 magic number (``0x0800 + ndim`` for unsigned bytes) and one big-endian uint32
    per dimension; the data follows.

    :param path: the file.
    :param ndim: its number of dimensions (3 for images, 1 for labels).
    :raises ValueError: the file is not an idx file of ``ndim`` unsigned-byte dimensions, or is truncated.
    """
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:  # gzip's BadGzipFile is an OSError; a truncated stream raises EOFError
        raise ValueError(f"{path} cannot be read ({type(exc).__name__}: {exc}); reinstall or re-download it") from exc
    header = 4 * (1 + ndim)
    if len(data) < header:
        raise ValueError(f"{path} is too short for an idx header ({len(data)} bytes); reinstall or re-download it")
    magic, *shape = (int(v) for v in np.frombuffer(data, dtype=">u4", count=1 + ndim))
    if magic != 0x0800 + ndim:
        raise ValueError(f"{path} is not an idx file of {ndim}-dimensional unsigned bytes (magic number {magic:#x})")
    values = np.frombuffer(data, dtype=np.uint8, offset=header)
    if values.size != math.prod(shape):
        raise ValueError(
            f"{path} holds {values.size} values but its header says {shape}; it is truncated: reinstall or re-download"
        )
    return values.reshape(shape)


@cache
def _arrays(files: tuple[tuple[str, Path], ...]) -> dict[str, np.ndarray]:
    """The four files decoded, cached per process (decoding all 70,000 images takes about half a second, so no disk
    cache is kept)."""
    arrays = {role: read_idx(path, 3 if role.endswith("images") else 1) for role, path in files}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[1:] != (28, 28) or len(images) != len(labels):
            raise ValueError(
                f"Fashion-MNIST's {split} files do not match: images {images.shape}, labels {labels.shape} "
                f"({dict(files)[f'{split}_images']})"
            )
    return arrays


def load_fashion_mnist(
    root: str | Path | None = None, split_seed: int = SPLIT_SEED, num_train: int = NUM_TRAIN
) -> Task:
    """The Fashion-MNIST task with its fixed splits (sizes in :mod:`hwenvs.data.fashion_mnist`).

    :param root: the root given to torchvision's ``FashionMNIST(root, download=True)``: its ``FashionMNIST/raw``
        folder is searched after ``$HWENVS_FASHION_MNIST`` and Debian's folder.
    :param split_seed: seed of the permutation of the official training set that carves validation, calibration and
        train (the default is what the shipped models saw); the test split is always the official test set.
    :param num_train: training images (default :data:`NUM_TRAIN`, what the shipped models saw; at most
        :data:`MAX_TRAIN`). A larger split starts with the default one's images; the other splits do not change.
    :raises FileNotFoundError: the files are nowhere (the message says how to get them).
    :raises ValueError: a file is corrupt or truncated, or ``num_train`` is out of range.
    """
    if isinstance(num_train, bool) or not isinstance(num_train, int) or not 1 <= num_train <= MAX_TRAIN:
        raise ValueError(f"num_train must be an integer in 1..{MAX_TRAIN}, got {num_train!r}")
    files = find_fashion_mnist(root)
    arrays = _arrays(tuple(sorted(files.items())))
    train_images, train_labels = arrays["train_images"], arrays["train_labels"]
    order = np.random.default_rng(split_seed).permutation(len(train_labels))
    val_idx, calib_idx, train_idx, _unused = np.split(order, np.cumsum([NUM_VAL, NUM_CALIBRATION, num_train]))

    def inputs(images: np.ndarray) -> torch.Tensor:
        # only the images a split uses are converted: all 70,000 at 3x32x32 float32 would take 860 MB
        return to_model_inputs(images.astype(np.float32) / 255.0, FASHION_MNIST_MEAN, FASHION_MNIST_STD)

    def labels(values: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(values.astype(np.int64))

    return Task(
        name="fashion-mnist",
        num_classes=len(CLASSES),
        resolution=32,
        train=tensor_dataset(inputs(train_images[train_idx]), labels(train_labels[train_idx])),
        calibration=inputs(train_images[calib_idx]).contiguous(),
        val=tensor_dataset(inputs(train_images[val_idx]), labels(train_labels[val_idx])),
        test=tensor_dataset(inputs(arrays["test_images"]), labels(arrays["test_labels"])),
        in_memory=True,
        meta={
            "source": str(files["train_images"].parent),
            "split_seed": split_seed,
            "classes": list(CLASSES),
            "train_pool": len(train_labels),
        },
    )
