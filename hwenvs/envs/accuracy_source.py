"""Where an environment's accuracy comes from: one protocol, measured or predicted.

Both environments score a solution (a HAQ :class:`~hwenvs.envs.bit_allocation.BitAllocation`, a ProxylessNAS
:class:`~hwenvs.nas.architecture.Architecture`) through an :class:`AccuracySource` chosen by their ``accuracy``
argument: ``"real"`` measures the network (the quantized model, :mod:`hwenvs.envs.haq_accuracy`; the supernet path,
:mod:`hwenvs.envs.nas_accuracy`), ``"surrogate"`` predicts with the predictor fit on the shipped dataset
(:mod:`hwenvs.surrogate.accuracy`). An environment never asks which one it holds: it asks what the source supports
(:data:`PER_IMAGE`, :data:`TRAINING`, :data:`BATCHES`), and each source refuses, when the arguments are checked, the
settings it cannot stand for. :class:`CachedAccuracy` puts the environment's bounded cache in front of either.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, runtime_checkable

from hwenvs.envs import checks
from hwenvs.envs.accuracy_cache import AccuracyCache

if TYPE_CHECKING:
    import numpy as np

    from hwenvs.data import Task
    from hwenvs.data.task import Split

PER_IMAGE = "per-image outcomes"
"""Capability: which images a solution gets right (:meth:`AccuracySource.correct_on`), for paired statistics."""
TRAINING = "fine-tuning"
"""Capability: a trainable copy of the network at a solution, and the accuracy of a trained copy."""
BATCHES = "batched predictions"
"""Capability: :meth:`AccuracySource.accuracies` scores many solutions in one call (else one at a time)."""

Solution = TypeVar("Solution", contravariant=True)
"""What a source scores: a :class:`~hwenvs.envs.bit_allocation.BitAllocation`, an Architecture."""
Source = TypeVar("Source", bound="AccuracySource[Any]")


@runtime_checkable
class AccuracySource(Protocol[Solution]):
    """The accuracy of a solution on a split, and what goes with it: the float reference, the capabilities, and
    the checks of the environment arguments the source can stand for."""

    @property
    def name(self) -> str:
        """``"real"`` or ``"surrogate"``: the environment's ``accuracy`` argument and ``info["accuracy_source"]``."""
        ...

    @property
    def supports(self) -> frozenset[str]:
        """The capabilities it offers (:data:`PER_IMAGE`, :data:`TRAINING`, :data:`BATCHES`)."""
        ...

    @property
    def task(self) -> Task | None:
        """The data it measures on; None where nothing is measured (a surrogate loads no data)."""
        ...

    @classmethod
    def check_arguments(cls, arguments: dict[str, Any]) -> None:
        """Refuse environment arguments this source cannot stand for (run with the environment's own checks).

        :param arguments: every constructor argument, checked and normalised.
        :raises ValueError: naming the argument and what the source supports.
        """
        ...

    def accuracy(self, solution: Solution, split: Split) -> float:
        """Top-1 accuracy of ``solution`` on ``split`` (``"val"`` or ``"test"``), as a fraction."""
        ...

    def accuracies(self, solutions: Sequence[Solution], split: Split) -> list[float]:
        """:meth:`accuracy` of each of ``solutions``, each as it would be alone."""
        ...

    def float_accuracy(self, split: Split) -> float | None:
        """The float reference the reward subtracts (HAQ), None where rewards have none (ProxylessNAS)."""
        ...

    def correct_on(self, solution: Solution, split: Split) -> np.ndarray:
        """Per-image correctness of ``solution`` on ``split`` (bools in the split's order): needs :data:`PER_IMAGE`."""
        ...

    def require(self, capability: str, caller: str) -> None:
        """Raise ``RuntimeError`` naming ``caller`` and what it needs, where ``capability`` is not supported."""
        ...


class Capabilities:
    """What sources share: :meth:`require` from their ``supports`` and their ``needs`` (the message's end for each
    capability a source may lack), and no argument to refuse."""

    supports: frozenset[str] = frozenset()
    needs: ClassVar[dict[str, str]] = {}

    @classmethod
    def check_arguments(cls, arguments: dict[str, Any]) -> None:
        """Accept every argument (a source that measures the network stands for any setting).

        :param arguments: every constructor argument, checked and normalised.
        """

    def require(self, capability: str, caller: str) -> None:
        """Raise ``RuntimeError`` naming ``caller`` and what it needs, where ``capability`` is not supported.

        :param capability: :data:`PER_IMAGE`, :data:`TRAINING` or :data:`BATCHES`.
        :param caller: the method asking, as its message names it (``"correct_on()"``).
        """
        if capability not in self.supports:
            raise RuntimeError(f"{caller} needs {self.needs[capability]}")


class CachedAccuracy(Generic[Source]):
    """An :class:`AccuracySource` with the environment's bounded cache in front: a solution scored once on a split
    is not scored again (when enabled); what is not accuracy passes through.

    :param source: the source.
    :param key: a solution's cache key (hashable, small: the packed bits, the op indices).
    :param enabled: remember scores (False: every call scores).
    """

    def __init__(self, source: Source, key: Callable[[Any], Hashable], enabled: bool) -> None:
        self.source = source
        self.cache = AccuracyCache(enabled=enabled)
        self._key = key

    @property
    def name(self) -> str:
        """The source's name (``"real"`` or ``"surrogate"``)."""
        return self.source.name

    @property
    def supports(self) -> frozenset[str]:
        """The source's capabilities."""
        return self.source.supports

    def accuracy(self, solution: Any, split: Split) -> float:
        """:meth:`AccuracySource.accuracy`, remembered.

        :param solution: the solution.
        :param split: ``"val"`` or ``"test"``.
        """
        return self.cache.get_or_compute((split, self._key(solution)), lambda: self.source.accuracy(solution, split))

    def accuracies(self, solutions: Sequence[Any], split: Split) -> list[float]:
        """:meth:`AccuracySource.accuracies`: the remembered ones looked up, the rest scored in one call.

        :param solutions: the solutions.
        :param split: ``"val"`` or ``"test"``.
        """
        keys = [(split, self._key(solution)) for solution in solutions]
        return self.cache.get_or_compute_many(
            keys, lambda rows: self.source.accuracies([solutions[i] for i in rows], split)
        )

    def float_accuracy(self, split: Split) -> float | None:
        """:meth:`AccuracySource.float_accuracy` (the source remembers it).

        :param split: ``"val"`` or ``"test"``.
        """
        return self.source.float_accuracy(split)

    def correct_on(self, solution: Any, split: Split) -> np.ndarray:
        """:meth:`AccuracySource.correct_on` (not remembered: an array per solution would outgrow the cache).

        :param solution: the solution.
        :param split: ``"val"`` or ``"test"``.
        """
        return self.source.correct_on(solution, split)

    def require(self, capability: str, caller: str) -> None:
        """:meth:`AccuracySource.require`.

        :param capability: the capability.
        :param caller: the method asking.
        """
        self.source.require(capability, caller)


def checked_source(arguments: dict[str, Any], sources: Mapping[str, type[Any]]) -> str:
    """The ``accuracy`` argument checked against an environment's ``sources``, and the other arguments against
    the source it names (the one place both environments check it).

    :param arguments: every constructor argument, the others already checked and normalised.
    :param sources: the environment's source classes by name (``"real"``, ``"surrogate"``).
    :raises TypeError: ``accuracy`` not a string.
    :raises ValueError: ``accuracy`` not a name of ``sources``, or an argument the source cannot stand for.
    """
    name = checks.choice("accuracy", arguments["accuracy"], tuple(sources))
    sources[name].check_arguments(arguments)
    return name


def env_kwargs(accuracy: str) -> dict[str, str]:
    """The ``gym.make`` keywords that select the accuracy source ``accuracy``: none for ``"real"`` (every
    environment's default, so environments without a surrogate mode take it too), else ``{"accuracy": accuracy}``.

    :param accuracy: ``"real"`` or ``"surrogate"``.
    """
    return {} if accuracy == "real" else {"accuracy": accuracy}
