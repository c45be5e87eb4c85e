"""What an hwenvs environment offers beyond Gymnasium's API: the contract the search pipeline, replay and reports use.

Gymnasium's API is enough to search. To *report* a search honestly, the pipeline needs three more things, which
every hwenvs environment declares (as CompilerGym declares ``validate``) instead of being probed with ``hasattr``:

* where the solution and its cost sit in the terminal info (:attr:`SearchEnv.solution_key`, :attr:`cost_key`);
* the evaluation of exactly a given solution on a chosen split (:meth:`SearchEnv.evaluate_solution`): the reward's
  ``"val"`` split for replay and selection, the ``"test"`` split for what a person reads;
* the reference points a result is shown next to (:meth:`SearchEnv.reference_points`): float and fixed 8-bit for
  HAQ, and the best *uniform* solution within the budget, chosen on validation, that a search has to beat.

A solution here is what an episode decides: HAQ's bit allocation (``[w_bits, a_bits]`` per layer) or ProxylessNAS's
architecture string. It is not an RL policy, and not the ``policy.json`` result file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import gymnasium as gym

if TYPE_CHECKING:  # hwenvs.data imports torch; the contract stays importable without it (hwenvs.agents does)
    from hwenvs.data.task import Split


@dataclass(frozen=True)
class ReferencePoint:
    """A solution a search result is reported next to.

    :param name: what it is (``"float"``, ``"fixed 8-bit"``, ``"best uniform 4/4"``...).
    :param val_accuracy: accuracy on the validation split (the reward's), None if not a model (a budget line).
    :param test_accuracy: accuracy on the test split (the headline).
    :param cost: its cost in the environment's unit, None where not defined (the float model).
    :param cost_ratio: its cost as the environment's ``cost_ratio`` (HAQ: of fixed 8-bit; ProxylessNAS: of target).
    :param val_reward: the reward it earns on validation (how the plot compares it with episodes).
    :param test_reward: the reward it would earn measured on test.
    :param solution: the solution itself, None for the float model.
    :param to_beat: True for the baseline a search must beat (the best uniform solution within the budget).
    """

    name: str
    val_accuracy: float | None
    test_accuracy: float | None
    cost: float | None
    cost_ratio: float | None
    val_reward: float | None = None
    test_reward: float | None = None
    solution: Any = None
    to_beat: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``policy.json``'s ``references``)."""
        return asdict(self)


def measure_reference(env: SearchEnv, name: str, solution: Any, to_beat: bool = False) -> ReferencePoint:
    """``solution`` evaluated on both splits as a reference point (the one way both environments build theirs).

    :param env: the environment (unwrapped).
    :param name: the point's name.
    :param solution: a bit allocation or an architecture, as ``env.evaluate_solution`` takes it.
    :param to_beat: True for the baseline a search must beat.
    """
    val, test = env.evaluate_solution(solution, "val"), env.evaluate_solution(solution, "test")
    return ReferencePoint(
        name, val["accuracy"], test["accuracy"], val[env.cost_key], val["cost_ratio"], val["reward"], test["reward"],
        val[env.solution_key], to_beat,
    )  # fmt: skip


@runtime_checkable
class SearchEnv(Protocol):
    """The interface every hwenvs environment (the unwrapped one) offers to agents, replay and reports."""

    solution_key: ClassVar[str]
    """Terminal-info key of the solution (``"policy"`` for HAQ, ``"architecture"`` for ProxylessNAS)."""
    cost_key: ClassVar[str]
    """Terminal-info key of the solution's cost (``"cost"``, ``"latency_ms"``)."""
    steps_per_episode: int
    """Steps of every episode with the arguments the environment was made with (agents size budgets with it)."""

    def evaluate_solution(self, solution: Any, split: Split = "val") -> dict[str, Any]:
        """The terminal info of exactly ``solution`` (no repair, no rollback) with accuracy and reward on ``split``.

        :raises ValueError: a solution that does not fit the environment, with the reason.
        """
        ...

    def reference_points(self) -> list[ReferencePoint]:
        """The reference points a result is reported next to, chosen on validation (measured once, cached)."""
        ...


@runtime_checkable
class BitAllocationEnv(SearchEnv, Protocol):
    """What HAQ-specific agents (the fixed-precision baseline, DDPG's warm start) need beyond :class:`SearchEnv`."""

    min_bits: int
    max_bits: int
    steps_per_layer: int
    """1 (weight bits only, model-size budget) or 2 (weight bits, then activation bits)."""

    def bits_to_action(self, bits: int) -> float:
        """The action whose bin is ``bits``."""
        ...

    def uniform_pairs(self) -> list[tuple[int, int]]:
        """Every uniform ``(w_bits, a_bits)`` pair within the budget, most expensive first."""
        ...

    def best_uniform_policy(self) -> list[list[int | None]] | None:
        """The uniform bit allocation within the budget with the best validation accuracy."""
        ...


@runtime_checkable
class PerImageEnv(SearchEnv, Protocol):
    """An environment that can say which images a solution gets right: the paired tests of a benchmark (a search's
    solution against the best uniform one, on the same test images) need it. Both hwenvs environments offer it with
    real accuracy; surrogate mode has no images and raises ``RuntimeError``."""

    def correct_on(self, solution: Any, split: Split = "test") -> Any:
        """Per-image correctness of exactly ``solution`` on ``split``: a bool array in the split's order."""
        ...


class SupernetEnv(SearchEnv, Protocol):
    """What the ProxylessNAS gradient agent needs: the supernet, the latency table and target, and the task."""

    supernet: Any
    table: Any
    target_ms: float
    task: Any


class ContractError(TypeError, ValueError):
    """An environment that does not offer what a component needs (a TypeError; a ValueError for 0.1's callers)."""


def members(protocol: type) -> tuple[str, ...]:
    """The attributes and methods a contract declares, its parents' included."""
    names: set[str] = set()
    for klass in protocol.__mro__:
        if klass in (Protocol, object) or not getattr(klass, "_is_protocol", False):
            continue
        names |= set(getattr(klass, "__annotations__", {}))
        names |= {name for name, value in vars(klass).items() if callable(value) and not name.startswith("_")}
    return tuple(sorted(names))


def require(env: gym.Env, protocol: type, needed_by: str) -> Any:
    """``env`` unwrapped, checked once to offer ``protocol``'s members.

    :param env: the environment (wrapped or not).
    :param protocol: :class:`SearchEnv`, :class:`BitAllocationEnv` or :class:`SupernetEnv`.
    :param needed_by: who needs it, for the message ("the fixed-precision baseline").
    :raises ContractError: naming the contract and every member the environment lacks.
    """
    unwrapped = env.unwrapped
    missing = [name for name in members(protocol) if not hasattr(unwrapped, name)]
    if missing:
        kind = {"BitAllocationEnv": "a HAQ environment", "SupernetEnv": "a ProxylessNAS environment"}
        raise ContractError(
            f"{needed_by} needs {kind.get(protocol.__name__, 'an hwenvs environment')} (it must offer "
            f"hwenvs.envs.contract.{protocol.__name__}); {type(unwrapped).__name__} lacks {', '.join(missing)}"
        )
    return unwrapped


def search_env(env: gym.Env) -> SearchEnv:
    """``env`` unwrapped, checked to offer the :class:`SearchEnv` contract (what reports and replay need).

    :raises ContractError: naming what the environment lacks (a third-party environment, or a wrapper around one).
    """
    return require(env, SearchEnv, "the reports and replay")
