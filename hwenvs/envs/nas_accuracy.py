"""ProxylessNAS's accuracy sources: the supernet path measured on a fixed batch, or the surrogate's prediction.

Both score an :class:`~hwenvs.nas.architecture.Architecture` (see :mod:`hwenvs.envs.accuracy_source`). Neither has a
float reference: the reward is accuracy times a latency term.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from hwenvs.data import Task
from hwenvs.data.task import Split
from hwenvs.envs.accuracy_source import PER_IMAGE, Capabilities
from hwenvs.nas.architecture import Architecture
from hwenvs.nas.prefix_cache import PrefixCache
from hwenvs.nas.supernet import SuperNet
from hwenvs.nas.train_supernet import PathForward
from hwenvs.surrogate.accuracy import NASSurrogate

PathScore = Callable[[PathForward, torch.Tensor, torch.Tensor, Architecture], float]
"""How a path is scored on one batch (:func:`hwenvs.nas.train_supernet.path_accuracy`)."""


class _NASSource(Capabilities):
    needs: ClassVar[dict[str, str]] = {PER_IMAGE: "the supernet (accuracy='real')"}

    def float_accuracy(self, split: Split) -> None:
        """None: ProxylessNAS's reward has no float reference.

        :param split: ``"val"`` or ``"test"``.
        """
        return None


class SupernetAccuracy(_NASSource):
    """The accuracy of an architecture's path through the supernet on the first ``val_batch_size`` images of a
    split (``accuracy="real"``), with per-image outcomes.

    :param task: the task.
    :param supernet: the warmed-up supernet (online weight steps change it between scores).
    :param val_batch_size: images per split that score a path.
    :param score: how a path is scored on a batch (the environment passes its
        :func:`~hwenvs.nas.train_supernet.path_accuracy`).
    """

    name = "real"
    supports = frozenset({PER_IMAGE})

    def __init__(self, task: Task, supernet: SuperNet, val_batch_size: int, score: PathScore) -> None:
        self.task = task
        self.supernet = supernet
        self.space = supernet.space
        # every path scored on a fixed batch shares the stem and one of seven first blocks: computed once each
        self._forward = PrefixCache(supernet)
        self.val_batch_size = val_batch_size
        self._score = score
        self._eval_batches: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def eval_batch(self, split: Split) -> tuple[torch.Tensor, torch.Tensor]:
        """The fixed first ``val_batch_size`` images of ``split`` and their labels (loaded on first use).

        :param split: ``"val"`` or ``"test"``.
        """
        if split not in self._eval_batches:
            x, y = next(iter(self.task.batches(split, self.val_batch_size)))
            self._eval_batches[split] = (x.contiguous(memory_format=torch.channels_last), y)
        return self._eval_batches[split]

    def accuracy(self, solution: Architecture, split: Split) -> float:
        """The path's accuracy on ``split``'s fixed batch.

        :param solution: the architecture.
        :param split: ``"val"`` or ``"test"``.
        """
        return self._score(self._forward, *self.eval_batch(split), solution)

    def accuracies(self, solutions: Sequence[Architecture], split: Split) -> list[float]:
        """:meth:`accuracy` of each, one pass after another.

        :param solutions: the architectures.
        :param split: ``"val"`` or ``"test"``.
        """
        return [self.accuracy(solution, split) for solution in solutions]

    def correct_on(self, solution: Architecture, split: Split) -> np.ndarray:
        """Whether the path classifies each image of ``split``'s fixed batch right (their mean is :meth:`accuracy`).

        :param solution: the architecture.
        :param split: ``"val"`` or ``"test"``.
        """
        x, y = self.eval_batch(split)
        with torch.inference_mode():
            return (self._forward(x, solution).argmax(1) == y).numpy()


class PredictedNASAccuracy(_NASSource):
    """The surrogate's predicted path accuracy (``accuracy="surrogate"``): no data, no supernet.

    :param surrogate: the fitted surrogate of the supernet on the task.
    """

    name = "surrogate"
    supports: frozenset[str] = frozenset()
    task = supernet = space = None

    def __init__(self, surrogate: NASSurrogate) -> None:
        self.surrogate = surrogate

    @classmethod
    def check_arguments(cls, arguments: dict[str, Any]) -> None:
        """Refuse settings the surrogate cannot stand for, naming the setting and what the surrogate supports.

        :param arguments: every ProxylessNAS constructor argument, checked and normalised.
        :raises ValueError: no surrogate dataset for the task and width, online weights, or another batch size
            than the dataset measured.
        """
        from hwenvs.surrogate.accuracy import unavailable
        from hwenvs.surrogate.dataset import available_datasets, nas_name, shipped_meta

        dataset = arguments["dataset"]
        name = nas_name(str(getattr(dataset, "name", dataset)), arguments["width_mult"])
        if not isinstance(dataset, str) or name not in available_datasets():
            raise unavailable(name, "nas")
        if arguments["weights"] != "frozen":
            raise ValueError(
                "accuracy='surrogate' predicts the shipped supernet's accuracy, which online weight steps would "
                f"change: use weights='frozen', or accuracy='real' with weights={arguments['weights']!r}"
            )
        measured = shipped_meta(name).get("val_batch_size")
        if measured is not None and measured != arguments["val_batch_size"]:
            raise ValueError(
                f"accuracy='surrogate' predicts accuracy on the first {measured} images of each split (what its "
                f"dataset measured), got val_batch_size={arguments['val_batch_size']}; use accuracy='real' for "
                "another batch"
            )

    def accuracy(self, solution: Architecture, split: Split) -> float:
        """The predicted accuracy of the path on ``split``.

        :param solution: the architecture.
        :param split: ``"val"`` or ``"test"``.
        """
        return self.surrogate.accuracy(solution.choices, split)

    def accuracies(self, solutions: Sequence[Architecture], split: Split) -> list[float]:
        """:meth:`accuracy` of each.

        :param solutions: the architectures.
        :param split: ``"val"`` or ``"test"``.
        """
        return [self.accuracy(solution, split) for solution in solutions]

    def correct_on(self, solution: Architecture, split: Split) -> np.ndarray:
        """Refused: a prediction has no images.

        :raises RuntimeError: always.
        """
        self.require(PER_IMAGE, "correct_on()")
        raise AssertionError("unreachable: the surrogate does not support per-image outcomes")


NAS_SOURCES: dict[str, type[SupernetAccuracy] | type[PredictedNASAccuracy]] = {
    "real": SupernetAccuracy,
    "surrogate": PredictedNASAccuracy,
}
"""ProxylessNAS's sources by the ``accuracy`` argument that names them."""
