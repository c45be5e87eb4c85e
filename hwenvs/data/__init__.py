"""Data sets: the embedded MNIST task (ships with a PyPI package) and ImageFolder roots such as ImageNet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hwenvs.data.embedded import load_mnist
from hwenvs.data.imagefolder import load_imagefolder
from hwenvs.data.task import Task

EMBEDDED_TASKS = {"mnist": load_mnist}


def load_task(dataset: str | Path | Task = "mnist", **options: Any) -> Task:
    """Load a task by embedded name (``"mnist"``) or ImageFolder root path.

    :param dataset: an embedded task name, a folder path, or an already loaded :class:`Task` (returned as is).
    :param options: keyword arguments for :func:`load_imagefolder` (or the embedded loader).
    :raises TypeError: if ``options`` are given with an already loaded :class:`Task` (they would be ignored).
    """
    if isinstance(dataset, Task):
        if options:
            raise TypeError(f"options {sorted(options)} cannot apply to an already loaded Task; pass a name or path")
        return dataset
    if isinstance(dataset, str) and dataset in EMBEDDED_TASKS:
        return EMBEDDED_TASKS[dataset](**options)
    path = Path(dataset)
    if path.is_dir():
        return load_imagefolder(path, **options)
    raise ValueError(
        f"unknown dataset {dataset!r}: valid are the embedded tasks {sorted(EMBEDDED_TASKS)} "
        "or the path of an existing ImageFolder root"
    )


__all__ = ["EMBEDDED_TASKS", "Task", "load_imagefolder", "load_mnist", "load_task"]
