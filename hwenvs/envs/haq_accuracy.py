"""HAQ's accuracy sources: the quantized network measured on the task, or the surrogate's prediction.

Both score a :class:`~hwenvs.envs.bit_allocation.BitAllocation` (see :mod:`hwenvs.envs.accuracy_source`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from hwenvs.data import Task
from hwenvs.data.task import Split
from hwenvs.envs.accuracy_source import BATCHES, PER_IMAGE, TRAINING, Capabilities
from hwenvs.envs.bit_allocation import BitAllocation
from hwenvs.models.evaluate import accuracy as model_accuracy
from hwenvs.quant.finetune import finetune
from hwenvs.quant.quantized_layer import Method
from hwenvs.quant.quantized_model import EVAL_BATCH_SIZE, QuantizedModel
from hwenvs.surrogate.accuracy import HAQSurrogate

SURROGATE_FIXED = {
    "quantizer": "linear", "finetune_steps": 0, "weights": "default", "keep_first_layer": True,
    "keep_last_layer": True, "dataset_kwargs": {},
}  # fmt: skip
"""What the surrogate datasets were measured with: a predictor of other settings' accuracy would be extrapolating."""


class _HAQSource(Capabilities):
    needs: ClassVar[dict[str, str]] = {
        TRAINING: "the trained network: make the environment with accuracy='real'",
        PER_IMAGE: "the trained network without fine-tuning (accuracy='real')",
    }


class QuantizedAccuracy(_HAQSource):
    """The accuracy of the quantized network on the task (``accuracy="real"``), after ``finetune_steps`` of
    quantization-aware fine-tuning when asked; per-image outcomes without fine-tuning (each evaluation would train
    a copy).

    :param task: the task.
    :param network: the trained float network (quantized on a copy; moved to ``device``).
    :param quantizer: ``"linear"`` or ``"kmeans"`` weights.
    :param device: where the networks run.
    :param finetune_steps: SGD steps of fine-tuning before each evaluation (0: none).
    :param finetune_lr: their learning rate.
    """

    name = "real"

    def __init__(
        self,
        task: Task,
        network: torch.nn.Module,
        quantizer: Method,
        device: torch.device,
        finetune_steps: int = 0,
        finetune_lr: float = 1e-3,
    ) -> None:
        self.task = task
        self.quantized = QuantizedModel(network, task.calibration, method=quantizer, device=device)
        self.float_model = network.to(device)
        self.device = device
        self.finetune_steps, self.finetune_lr = finetune_steps, finetune_lr
        self.supports = frozenset({TRAINING} if finetune_steps else {TRAINING, PER_IMAGE})
        self._finetuned: QuantizedModel | None = None  # where trained copies are measured, made on first use
        self._float_accuracy: dict[str, float] = {}  # measured on first use: one float pass less in gym.make

    def accuracy(self, solution: BitAllocation, split: Split) -> float:
        """The quantized network's accuracy at ``solution`` on ``split`` (fine-tuned first, when asked).

        :param solution: the bit allocation.
        :param split: ``"val"`` or ``"test"``.
        """
        policy = solution.to_policy()
        if not self.finetune_steps:
            return self.quantized.accuracy(self.task, policy, split=split)
        model = finetune(
            self.quantized.trainable_copy(policy), self.task, steps=self.finetune_steps, lr=self.finetune_lr,
            device=self.device,
        )  # fmt: skip
        return self.trained_accuracy(model, split)

    def accuracies(self, solutions: Sequence[BitAllocation], split: Split) -> list[float]:
        """:meth:`accuracy` of each, one network pass after another.

        :param solutions: the bit allocations.
        :param split: ``"val"`` or ``"test"``.
        """
        return [self.accuracy(solution, split) for solution in solutions]

    def float_accuracy(self, split: Split) -> float:
        """The float network's accuracy on ``split`` (measured once per split, on first use).

        :param split: ``"val"`` or ``"test"``.
        """
        if split not in self._float_accuracy:
            self._float_accuracy[split] = model_accuracy(
                self.float_model, self.task, self.device, EVAL_BATCH_SIZE, split=split
            )
        return self._float_accuracy[split]

    def correct_on(self, solution: BitAllocation, split: Split) -> np.ndarray:
        """Per-image correctness of the quantized network at ``solution`` on ``split`` (no fine-tuning).

        :param solution: the bit allocation.
        :param split: ``"val"`` or ``"test"``.
        :raises RuntimeError: with fine-tuning.
        """
        self.require(PER_IMAGE, "correct_on()")
        return self.quantized.correct(self.task, solution.to_policy(), split=split).numpy()

    def trainable_copy(self, solution: BitAllocation) -> torch.nn.Module:
        """An independent, trainable fake-quantized copy of the network at ``solution``.

        :param solution: the bit allocation.
        """
        return self.quantized.trainable_copy(solution.to_policy())

    def trained_accuracy(self, model: torch.nn.Module, split: Split) -> float:
        """Accuracy on ``split`` of ``model``, a :meth:`trainable_copy` after training, measured through the fused
        path on a second copy of the quantized network (made on first use), so that the first stays untouched.

        :param model: the trained copy.
        :param split: ``"val"`` or ``"test"``.
        """
        if self._finetuned is None:
            self._finetuned = copy.deepcopy(self.quantized)
        self._finetuned.load_trained(model)
        return self._finetuned.accuracy(self.task, split=split)


class PredictedHAQAccuracy(_HAQSource):
    """The surrogate's predicted accuracy (``accuracy="surrogate"``): no data, no network, many allocations per call.

    :param surrogate: the fitted surrogate of the model on the task.
    :param num_layers: the model's quantizable layers (the surrogate must have as many).
    :param model: the model's name, for the message.
    :raises ValueError: a surrogate of another layer count.
    """

    name = "surrogate"
    supports = frozenset({BATCHES})
    task = None

    def __init__(self, surrogate: HAQSurrogate, num_layers: int, model: str) -> None:
        if surrogate.num_layers != num_layers:
            raise ValueError(f"the {model} surrogate has {surrogate.num_layers} layers, the model {num_layers}")
        self.surrogate = surrogate

    @classmethod
    def check_arguments(cls, arguments: dict[str, Any]) -> None:
        """Refuse settings the surrogate cannot stand for, naming the setting and what the surrogate supports.

        :param arguments: every HAQ constructor argument, checked and normalised.
        :raises ValueError: no surrogate dataset for the model and task, the size budget, or a setting other than
            :data:`SURROGATE_FIXED`'s.
        """
        from hwenvs.surrogate.accuracy import unavailable
        from hwenvs.surrogate.dataset import available_datasets, haq_name

        dataset = arguments["dataset"]
        if not isinstance(dataset, str) or haq_name(arguments["model"], dataset) not in available_datasets():
            raise unavailable(haq_name(arguments["model"], str(getattr(dataset, "name", dataset))), "haq")
        if arguments["constraint"] == "size":
            raise ValueError(
                "accuracy='surrogate' supports the latency and energy budgets (weights and activations quantized), "
                "not constraint='size'; use accuracy='real'"
            )
        for name, value in SURROGATE_FIXED.items():
            if arguments[name] != value:
                raise ValueError(
                    f"accuracy='surrogate' predicts the accuracy of {name}={value!r} only (what its dataset "
                    f"measured), got {name}={arguments[name]!r}; use accuracy='real' for that setting"
                )

    def accuracy(self, solution: BitAllocation, split: Split) -> float:
        """The predicted accuracy of ``solution`` on ``split``.

        :param solution: the bit allocation.
        :param split: ``"val"`` or ``"test"``.
        """
        return self.surrogate.accuracy(solution.w, solution.a, split)

    def accuracies(self, solutions: Sequence[BitAllocation], split: Split) -> list[float]:
        """The predicted accuracies of ``solutions`` in one call (each as :meth:`accuracy` gives it alone).

        :param solutions: the bit allocations.
        :param split: ``"val"`` or ``"test"``.
        """
        w = np.stack([solution.w for solution in solutions])
        a = np.stack([solution.a for solution in solutions])
        return self.surrogate.accuracies(w, a, split)

    def float_accuracy(self, split: Split) -> float:
        """The float network's accuracy on ``split``, measured when the surrogate dataset was made.

        :param split: ``"val"`` or ``"test"``.
        """
        return float(self.surrogate.float_accuracy[split])

    def correct_on(self, solution: BitAllocation, split: Split) -> np.ndarray:
        """Refused: a prediction has no images.

        :raises RuntimeError: always.
        """
        self.require(PER_IMAGE, "correct_on()")
        raise AssertionError("unreachable: the surrogate does not support per-image outcomes")

    def trainable_copy(self, solution: BitAllocation) -> torch.nn.Module:
        """Refused: the surrogate has no network.

        :raises RuntimeError: always.
        """
        self.require(TRAINING, "quantized_model()")
        raise AssertionError("unreachable: the surrogate does not support training")

    def trained_accuracy(self, model: torch.nn.Module, split: Split) -> float:
        """Refused: the surrogate has no network.

        :raises RuntimeError: always.
        """
        self.require(TRAINING, "trained_accuracy()")
        raise AssertionError("unreachable: the surrogate does not support training")


HAQ_SOURCES: dict[str, type[QuantizedAccuracy] | type[PredictedHAQAccuracy]] = {
    "real": QuantizedAccuracy,
    "surrogate": PredictedHAQAccuracy,
}
"""HAQ's sources by the ``accuracy`` argument that names them."""
