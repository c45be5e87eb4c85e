"""What a person reads after a search: the summary table, the verdict against the best uniform solution, the plot.

Selection and reporting are kept apart: the search picks its best episode by the validation reward, and the
reference points are chosen on validation too (:mod:`hwenvs.envs.contract`); every table here leads with the
*test* accuracy of those choices, with validation beside it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwenvs.envs.contract import ReferencePoint
from hwenvs.envs.paired_test import mcnemar, measurable

TIE_TOLERANCE = 1e-12
"""Test rewards closer than this are a tie (they are computed from the same counts of correct images)."""

SIGNIFICANCE = 0.05
"""The level of the paired test a search's win must pass (as in the benchmark reports)."""


def found_point(best_val: Mapping[str, Any], best_test: Mapping[str, Any] | None, solution_key: str) -> ReferencePoint:
    """The search's best episode as a row like the reference points.

    :param best_val: the best episode's terminal info (validation).
    :param best_test: the same solution evaluated on the test split, None if the environment cannot.
    :param solution_key: the terminal-info key of the solution.
    """
    cost_key = "cost" if "cost" in best_val else "latency_ms" if "latency_ms" in best_val else None
    test = best_test or {}
    return ReferencePoint(
        name="found",
        val_accuracy=best_val.get("accuracy"),
        test_accuracy=test.get("accuracy"),
        cost=best_val.get(cost_key) if cost_key else None,
        cost_ratio=best_val.get("cost_ratio"),
        val_reward=best_val.get("reward"),
        test_reward=test.get("reward"),
        solution=best_val.get(solution_key),
    )


def verdict(
    references: Sequence[ReferencePoint], found: ReferencePoint, paired: PairedTest | None = None
) -> dict[str, Any] | None:
    """Whether the search beat the baseline it has to beat, on the test split. With ``paired`` (the two solutions'
    per-image outcomes), a higher test accuracy counts as a win only when the exact McNemar test on the test images
    is significant: a few images more is within the noise of the test split.

    :param references: the reference points (the one marked ``to_beat`` is the baseline).
    :param found: the search's best solution.
    :param paired: the paired test of ``found`` against the baseline (:func:`paired_test`), where the environment
        gives per-image outcomes.
    :returns: ``{"baseline", "beat", "test_reward_gain", "test_accuracy_gain", "p_value", "test_images", "text"}``,
        or None without a baseline to beat or test figures.
    """
    baseline = next((r for r in references if r.to_beat), None)
    if baseline is None or found.test_reward is None or baseline.test_reward is None:
        return None
    gain = found.test_reward - baseline.test_reward
    acc_gain = None
    if found.test_accuracy is not None and baseline.test_accuracy is not None:
        acc_gain = found.test_accuracy - baseline.test_accuracy
    significant = paired is None or paired.p_value < SIGNIFICANCE
    if abs(gain) <= TIE_TOLERANCE:
        outcome = f"tied with {baseline.name}"
    elif not significant:
        direction = "scored above" if gain > 0 else "scored below"
        outcome = f"{direction} {baseline.name}, within the noise of the test images,"
    else:
        outcome = f"{'beat' if gain > 0 else 'did not beat'} {baseline.name}"
    accuracies = (
        f"; test accuracy {found.test_accuracy:.4f} vs {baseline.test_accuracy:.4f} ({acc_gain:+.4f})"
        if acc_gain is not None
        else ""
    )
    test = (
        ""
        if paired is None
        else f" (exact McNemar test on the {paired.images:,} test images, paired: p = {paired.p_value:.3g}, "
        f"{'' if significant else 'not '}significant at {SIGNIFICANCE:g})"
    )
    return {
        "baseline": baseline.name,
        "beat": gain > TIE_TOLERANCE and significant,
        "test_reward_gain": gain,
        "test_accuracy_gain": acc_gain,
        "p_value": None if paired is None else paired.p_value,
        "test_images": None if paired is None else paired.images,
        "text": f"The search {outcome} on the test split: reward {gain:+.5f}{accuracies}{test}.",
    }


@dataclass(frozen=True)
class PairedTest:
    """The exact McNemar test of a search's solution against the baseline on the same test images.

    :param p_value: two-sided p-value.
    :param images: the test images.
    """

    p_value: float
    images: int


def paired_test(evaluator: Any, references: Sequence[ReferencePoint], solution: Any) -> PairedTest | None:
    """``solution`` against the baseline to beat on the test images, where the environment gives per-image outcomes
    (:func:`hwenvs.envs.paired_test.measurable`); None otherwise (surrogate mode, fine-tuning, other envs).

    :param evaluator: the unwrapped environment.
    :param references: the reference points.
    :param solution: the search's best solution.
    """
    baseline = next((r for r in references if r.to_beat), None)
    if baseline is None or baseline.solution is None or solution is None or not measurable(evaluator):
        return None
    found, base = evaluator.correct_on(solution, "test"), evaluator.correct_on(baseline.solution, "test")
    return PairedTest(mcnemar(found, base), len(found))


def format_summary(rows: Sequence[ReferencePoint], unit: str = "", ratio_name: str = "cost ratio") -> str:
    """The rows as a plain-text table, test accuracy first.

    :param rows: reference points and the found solution.
    :param unit: the cost's unit, for the header.
    :param ratio_name: what ``cost_ratio`` is a ratio to (``"x 8-bit"``, ``"x target"``).
    """
    cost_header = f"cost ({unit})" if unit else "cost"
    width = max(12, *(len(r.name) for r in rows))
    lines = [f"{'':<{width}} {'test acc':>9} {'val acc':>9} {cost_header:>14} {ratio_name:>10}"]
    for row in rows:
        cells = (
            _number(row.test_accuracy, ".4f"),
            _number(row.val_accuracy, ".4f"),
            _number(row.cost, ".5g"),
            _number(row.cost_ratio, ".3f"),
        )
        lines.append(f"{row.name:<{width}} {cells[0]:>9} {cells[1]:>9} {cells[2]:>14} {cells[3]:>10}")
    return "\n".join(lines)


def _number(value: float | None, spec: str) -> str:
    return "" if value is None or not math.isfinite(value) else format(value, spec)


def plot_search(
    rewards: list[float],
    best_info: Mapping[str, Any],
    path: Path,
    title: str = "",
    references: Sequence[ReferencePoint] = (),
) -> None:
    """Best validation reward so far against episode, the reference points' validation rewards as horizontal lines
    and, for HAQ-style bit allocations, the best one's bits per layer.

    The bits panel follows HAQ's figure: weight bits as bars above the axis, activation bits below it (layers whose
    input stays in float have no activation bar).

    :param rewards: every episode's reward.
    :param best_info: the best episode's terminal info.
    :param path: the PNG to write.
    :param title: the figure's title.
    :param references: drawn as labelled horizontal lines at their validation reward.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    policy = best_info.get("policy")
    has_bits = isinstance(policy, list) and all(isinstance(p, list | tuple) and len(p) == 2 for p in policy)
    bits = policy if has_bits else None
    # constrained layout: tight_layout cannot fit a long title and the legend into a one-panel figure, and warns
    fig, axes = plt.subplots(
        2 if has_bits else 1, 1, figsize=(11, 7 if has_bits else 3.5), squeeze=False, layout="constrained"
    )
    _reward_panel(axes[0, 0], rewards, references, title)
    if bits is not None:
        _bits_panel(axes[1, 0], bits, best_info)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _reward_panel(ax: Any, rewards: list[float], references: Sequence[ReferencePoint], title: str) -> None:
    import matplotlib.ticker

    episodes = np.arange(len(rewards))
    ax.scatter(episodes, rewards, s=6, alpha=0.35, color="tab:gray", label="episode reward (val)")
    ax.step(episodes, np.maximum.accumulate(rewards), where="post", color="tab:blue", label="best so far (val)")
    styles = ["tab:green", "tab:red", "tab:purple", "tab:brown"]
    for ref, color in zip((r for r in references if r.val_reward is not None), styles, strict=False):
        test = f", test acc {ref.test_accuracy:.4f}" if ref.test_accuracy is not None else ""
        ax.axhline(ref.val_reward, color=color, linestyle="--", linewidth=1, label=f"{ref.name}{test}")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("episode")
    ax.set_ylabel("reward (validation)")
    ax.legend(loc="lower right", fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)


def _bits_panel(ax: Any, policy: list, best_info: Mapping[str, Any]) -> None:
    layers = np.arange(len(policy))
    w_bits = np.array([p[0] for p in policy], dtype=float)
    a_bits = np.array([np.nan if p[1] is None else p[1] for p in policy], dtype=float)
    ax.bar(layers, w_bits, color="tab:blue", label="weight bits")
    top = int(np.nanmax(w_bits)) if len(policy) else 8
    bottom = 0
    if not np.isnan(a_bits).all():  # weights-only (model-size) policies have no activation half
        ax.bar(layers, -a_bits, color="tab:orange", label="activation bits")
        ax.axhline(0, color="black", linewidth=0.6)
        top = max(top, int(np.nanmax(a_bits)))
        bottom = -top
    ticks = range(bottom, top + 1, 2)
    ax.set_yticks(ticks, [str(abs(t)) for t in ticks])
    ax.set_xlabel("layer")
    ax.set_ylabel("bits")
    summary = ", ".join(
        f"{name} {best_info[k]:.4g}"
        for k, name in (("accuracy", "val accuracy"), ("cost_ratio", "cost ratio"))
        if isinstance(best_info.get(k), float | int)
    )
    ax.set_title(f"best policy ({summary})", fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
