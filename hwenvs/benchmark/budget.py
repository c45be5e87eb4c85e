"""Budget rules: a suite row's budget fixed by a written rule, applied on validation before any agent runs.

A budget picked by hand, or after looking at results, can make a task easy or hopeless. A rule in the suite file
fixes it instead::

    budget: {grid: [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6], min_loss: 0.02}

reads: *the largest* ``preserve_ratio`` *of the grid at which the best uniform policy within the budget (chosen on
validation) loses at least* ``min_loss`` *validation accuracy against the float model.* That leaves headroom a search
can win back with mixed precision, at the loosest budget that has it. Where no grid value leaves that much, the rule
takes the smallest value whose budget still admits a uniform policy, and says so.

The rule reads validation only (each uniform policy's accuracy does not depend on the budget, so every uniform policy
is scored once, at the loosest grid value). It runs once per benchmark folder: the resolution, with the table it was
read from, is kept in ``OUT/budgets/ENV.json`` and reused while the environment and the rule are unchanged; the
resolved ratio goes into every trial's environment arguments, so the results say which budget was searched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwenvs.benchmark.trials import read_result, write_json

if TYPE_CHECKING:
    from hwenvs.envs.haq_env import HAQEnv

RULE_KEYS = ("grid", "min_loss")
"""The keys of a suite entry's ``budget`` mapping."""

RESOLUTION_FORMAT = "hwenvs-budget-rule/1"
"""The ``format`` field of a resolution file."""


@dataclass(frozen=True)
class BudgetRule:
    """The rule of a suite row's budget (see the module docstring).

    :param grid: candidate ``preserve_ratio`` values.
    :param min_loss: the validation accuracy (a fraction) the best uniform policy must lose against float.
    """

    grid: tuple[float, ...]
    min_loss: float

    @classmethod
    def parse(cls, value: Any, where: str) -> BudgetRule:
        """A rule from a suite file's ``budget`` mapping.

        :raises ValueError: naming ``where``, the problem and what is valid.
        """
        if not isinstance(value, Mapping) or set(value) != set(RULE_KEYS):
            raise ValueError(f"{where}: budget must be a mapping of exactly {', '.join(RULE_KEYS)}, got {value!r}")
        grid, min_loss = value["grid"], value["min_loss"]
        numbers = isinstance(grid, list) and grid and all(_number(g) and 0 < g <= 1 for g in grid)
        if not numbers:
            raise ValueError(f"{where}: budget grid must be a non-empty list of ratios in (0, 1], got {grid!r}")
        if not _number(min_loss) or not 0 <= min_loss < 1:
            raise ValueError(f"{where}: budget min_loss must be an accuracy fraction in [0, 1), got {min_loss!r}")
        return cls(tuple(sorted(float(g) for g in grid)), float(min_loss))

    def describe(self) -> str:
        """The rule in words, for reports."""
        grid = ", ".join(f"{g:g}" for g in self.grid)
        return (
            f"the largest preserve_ratio in {{{grid}}} at which the best uniform policy (chosen on validation) loses "
            f"at least {self.min_loss * 100:g} points of validation accuracy against float"
        )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


@dataclass(frozen=True)
class UniformScore:
    """A uniform policy's validation accuracy and cost, which the rule reads.

    :param w_bits: weight bits.
    :param a_bits: activation bits.
    :param val_accuracy: validation accuracy.
    :param cost_ratio: cost over the 8-bit reference cost.
    """

    w_bits: int
    a_bits: int
    val_accuracy: float
    cost_ratio: float


def best_uniform(scores: Sequence[UniformScore], ratio: float) -> UniformScore | None:
    """The best uniform policy within ``ratio`` of the 8-bit cost, as the environment chooses it
    (:meth:`~hwenvs.envs.haq_env.HAQEnv.best_uniform_policy`: best validation accuracy, ties to the cheaper).

    :param scores: every uniform policy's score.
    :param ratio: the ``preserve_ratio``.
    """
    fitting = sorted((s for s in scores if s.cost_ratio <= ratio * (1 + 1e-9)), key=lambda s: -s.cost_ratio)
    best = None
    for score in fitting:  # most expensive first, ">=": the cheaper wins a tie, as in the environment
        if best is None or score.val_accuracy >= best.val_accuracy:
            best = score
    return best


def apply(rule: BudgetRule, scores: Sequence[UniformScore], float_val_accuracy: float) -> dict[str, Any]:
    """The rule applied to uniform policies' scores: the chosen ratio and the table it was read from.

    :param rule: the rule.
    :param scores: every uniform policy's validation score.
    :param float_val_accuracy: the float model's validation accuracy.
    """
    table: list[dict[str, Any]] = []
    for ratio in rule.grid:
        best = best_uniform(scores, ratio)
        table.append(
            {
                "preserve_ratio": ratio,
                "best_uniform": None if best is None else f"{best.w_bits}/{best.a_bits}",
                "best_uniform_val_accuracy": None if best is None else best.val_accuracy,
                "val_loss": None if best is None else float_val_accuracy - best.val_accuracy,
            }
        )
    feasible = [row for row in table if row["val_loss"] is not None]
    if not feasible:
        raise ValueError(f"budget rule: no grid value ({', '.join(map(str, rule.grid))}) admits a uniform policy")
    lossy = [row for row in feasible if row["val_loss"] >= rule.min_loss - 1e-12]
    chosen, met = (lossy[-1], True) if lossy else (feasible[0], False)
    return {
        "rule": asdict(rule),
        "rule_text": rule.describe(),
        "float_val_accuracy": float_val_accuracy,
        "preserve_ratio": chosen["preserve_ratio"],
        "met": met,
        "table": table,
    }


def start_policy(resolution: Mapping[str, Any]) -> str | None:
    """The best uniform policy (``"w/a"``) within the ratio a resolution chose: the row's start and baseline.

    :param resolution: what :func:`resolve` returns (or :func:`read_resolution` reads).
    """
    chosen = [row for row in resolution["table"] if row["preserve_ratio"] == resolution["preserve_ratio"]]
    return chosen[0]["best_uniform"] if chosen else None


def read_resolution(folder: Path, name: str) -> dict[str, Any] | None:
    """The resolution kept for environment ``name`` in ``folder`` (None where the rule has not been applied there).

    :param folder: where resolutions are kept (a benchmark folder's ``budgets/``).
    :param name: the environment's name in the suite.
    """
    saved = read_result(folder / f"{name}.json")
    return saved if saved is not None and saved.get("format") == RESOLUTION_FORMAT else None


def score_uniform(env_id: str, env_kwargs: Mapping[str, Any], loosest: float) -> tuple[list[UniformScore], float]:
    """Every uniform policy's validation accuracy and cost ratio on ``env_id`` (built at ``loosest``), and the float
    model's validation accuracy.

    :param env_id: a HAQ id.
    :param env_kwargs: its arguments (without ``preserve_ratio``).
    :param loosest: the grid's largest ratio (only the pairs within it are scored).
    """
    import gymnasium as gym

    import hwenvs  # noqa: F401  (registers the ids)
    from hwenvs.envs.contract import BitAllocationEnv, require

    env = gym.make(env_id, **{**env_kwargs, "preserve_ratio": loosest})
    try:
        haq: HAQEnv = require(env, BitAllocationEnv, "a budget rule")  # uniform_policy: HAQ's own
        scores = []
        for w, a in haq.uniform_pairs():
            info = haq.evaluate_solution(haq.uniform_policy(w, a), "val")
            scores.append(UniformScore(w, a, float(info["accuracy"]), float(info["cost_ratio"])))
        return scores, float(info["float_accuracy"]) if scores else float("nan")
    finally:
        env.close()


def resolve(
    name: str, env_id: str, env_kwargs: Mapping[str, Any], rule: BudgetRule, folder: Path | None
) -> dict[str, Any]:
    """The rule's resolution for one environment: read from ``folder/ENV.json`` when it was made with the same
    environment and rule, else computed (:func:`score_uniform`, :func:`apply`) and written there.

    :param name: the environment's name in the suite.
    :param env_id: its id.
    :param env_kwargs: its arguments (without ``preserve_ratio``).
    :param rule: the rule.
    :param folder: where resolutions are kept (None: not kept).
    """
    identity = json.loads(json.dumps({"env_id": env_id, "env_kwargs": dict(env_kwargs), "rule": asdict(rule)}))
    saved = None if folder is None else read_resolution(folder, name)
    if saved is not None and saved.get("identity") == identity:
        return saved
    print(
        f"{name}: applying its budget rule on validation (every uniform policy within {max(rule.grid):g})", flush=True
    )
    scores, float_val = score_uniform(env_id, env_kwargs, max(rule.grid))
    resolution = {"format": RESOLUTION_FORMAT, "identity": identity, **apply(rule, scores, float_val)}
    resolution["uniform"] = [asdict(s) for s in scores]
    if folder is not None:
        write_json(folder / f"{name}.json", resolution)
    return resolution
