"""Data sets: named tasks (the embedded MNIST task, which ships with a PyPI package, and Fashion-MNIST, read from
local idx files) and ImageFolder roots such as ImageNet."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hwenvs.data.embedded import load_mnist
from hwenvs.data.fashion_mnist import load_fashion_mnist
from hwenvs.data.imagefolder import load_imagefolder
from hwenvs.data.task import Task

NAMED_TASKS: dict[str, Callable[..., Task]] = {"mnist": load_mnist, "fashion-mnist": load_fashion_mnist}
"""Tasks known by name: name -> loader (its keyword arguments are the ``dataset_kwargs`` it takes). The name is the
:class:`Task`'s ``name``, which keys the shipped weights (``"model/task"``)."""
EMBEDDED_TASKS = NAMED_TASKS
"""The same table under its 0.1 name (the argument checks still use it); Fashion-MNIST is named, not embedded."""


def load_task(dataset: str | Path | Task = "mnist", **options: Any) -> Task:
    """Load a task by name (``"mnist"``, ``"fashion-mnist"``) or ImageFolder root path.

    :param dataset: a named task, a folder path, or an already loaded :class:`Task` (returned as is).
    :param options: keyword arguments for the named task's loader (:func:`load_mnist`, :func:`load_fashion_mnist`)
        or :func:`load_imagefolder`.
    :raises TypeError: if ``options`` are given with an already loaded :class:`Task` (they would be ignored).
    """
    if isinstance(dataset, Task):
        if options:
            raise TypeError(f"options {sorted(options)} cannot apply to an already loaded Task; pass a name or path")
        return dataset
    if isinstance(dataset, str) and dataset in NAMED_TASKS:
        return NAMED_TASKS[dataset](**options)
    path = Path(dataset)
    if path.is_dir():
        return load_imagefolder(path, **options)
    raise ValueError(
        f"unknown dataset {dataset!r}: valid are the named tasks {sorted(NAMED_TASKS)} "
        "or the path of an existing ImageFolder root"
    )


__all__ = [
    "EMBEDDED_TASKS",
    "NAMED_TASKS",
    "Task",
    "load_fashion_mnist",
    "load_imagefolder",
    "load_mnist",
    "load_task",
]
