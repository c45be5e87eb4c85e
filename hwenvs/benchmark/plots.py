"""The report's PNG plots, drawn from ``results.json`` alone: best-so-far curves, aggregate intervals, probability of
improvement and performance profiles (:data:`PLOTS`). matplotlib is imported when :func:`plot` runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwenvs.benchmark.results import accuracy_label

PLOTS = ("curves.png", "intervals.png", "improvement.png", "profiles.png")
"""The plots a report draws beside ``results.md``."""


def plot(data: Mapping[str, Any], out: Path) -> list[Path]:
    """Draw the report's PNGs into ``out`` from ``results.json`` alone; returns their paths.

    :param data: what :func:`hwenvs.benchmark.results.collect` wrote.
    :param out: the folder (beside ``results.md``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary, label = data["summary"], accuracy_label(data)
    variant = summary["variants"][0]
    drawn = []
    for name, draw in zip(PLOTS, (_plot_curves, _plot_intervals, _plot_improvement, _plot_profiles), strict=True):
        fig = draw(plt, summary, variant, label)
        fig.savefig(out / name, dpi=110, bbox_inches="tight")
        plt.close(fig)
        drawn.append(out / name)
    return drawn


def _grid(plt: Any, panels: int, width: float = 5.0, height: float = 3.6, cols: int = 3) -> tuple[Any, list[Any]]:
    cols = min(cols, max(1, panels))
    rows = math.ceil(max(1, panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False, layout="constrained")
    flat = list(axes.flat)
    for ax in flat[panels:]:
        ax.set_visible(False)
    return fig, flat


def _colours(agents: Sequence[str]) -> dict[str, Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return {a: cmap(i % 10) for i, a in enumerate(agents)}


def _all_agents(summary: Mapping[str, Any]) -> list[str]:
    return list(dict.fromkeys(a for env in summary["envs"].values() for a in env["agents"]))


def _plot_curves(plt: Any, summary: Mapping[str, Any], variant: str, label: str) -> Any:
    envs = list(summary["envs"])
    colours = _colours(_all_agents(summary))
    fig, axes = _grid(plt, len(envs))
    for ax, name in zip(axes, envs, strict=False):
        for agent, curve in summary["envs"][name]["curves"][variant].items():
            if not curve["episodes"]:
                continue
            ax.plot(curve["episodes"], curve["iqm"], color=colours[agent], label=agent)
            ax.fill_between(curve["episodes"], curve["low"], curve["high"], color=colours[agent], alpha=0.2)
        ax.axhline(1.0, color="black", linestyle="--", linewidth=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("episodes")
        ax.set_ylabel("normalised test score (IQM)")
        ax.legend(fontsize=7)
    fig.suptitle(f"Best so far (chosen on validation), 95% CI; dashed: best uniform — {label}")
    return fig


def _plot_intervals(plt: Any, summary: Mapping[str, Any], variant: str, label: str) -> Any:
    families = list(summary["families"])
    colours = _colours(_all_agents(summary))
    height = 0.4 * max(4, len(_all_agents(summary))) + 1
    fig, axes = _grid(plt, 2 * len(families), width=4.5, height=height, cols=2)
    for i, family in enumerate(families):
        agents = [(a, v[variant]) for a, v in summary["families"][family]["agents"].items() if v.get(variant)]
        for j, metric in enumerate(("iqm", "mean")):
            ax = axes[2 * i + j]
            for row, (agent, entry) in enumerate(agents):
                if entry[metric] is None:
                    continue
                point, low, high = entry[metric]
                ax.plot([low, high], [row, row], linewidth=6, alpha=0.6, color=colours[agent])
                ax.plot([point], [row], "k|", markersize=12)
            # both panels of a family list the same agents: naming them once keeps the right panel's labels off the left
            ax.set_yticks(range(len(agents)), [a for a, _ in agents] if j == 0 else [])
            ax.axvline(1.0, color="black", linestyle="--", linewidth=0.8)
            ax.set_title(f"{family}: {metric.upper()} normalised score", fontsize=9)
    fig.suptitle(f"Aggregate normalised test score, 95% stratified-bootstrap CI — {label}")
    return fig


def _plot_improvement(plt: Any, summary: Mapping[str, Any], variant: str, label: str) -> Any:
    # a family whose environments have no finished search yet (a benchmark collected mid-run) has no matrix
    families = [f for f, fam in summary["families"].items() if fam["improvement"][variant]["agents"]]
    fig, axes = _grid(plt, len(families), width=5.5, height=5.0)
    for ax, family in zip(axes, families, strict=False):
        imp = summary["families"][family]["improvement"][variant]
        agents = imp["agents"]
        grid = np.array([[math.nan if c is None else c[0] for c in row] for row in imp["matrix"]]).reshape(
            len(agents), -1
        )
        ax.imshow(grid, vmin=0, vmax=1, cmap="RdBu")
        ax.set_xticks(range(len(agents)), agents, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(agents)), agents, fontsize=8)
        for r in range(len(agents)):
            for c in range(len(agents)):
                if np.isfinite(grid[r, c]):
                    ink = "white" if abs(grid[r, c] - 0.5) > 0.3 else "black"  # legible on the map's dark ends
                    ax.text(c, r, f"{grid[r, c]:.2f}", ha="center", va="center", fontsize=7, color=ink)
        ax.set_title(f"{family}: P(row > column)", fontsize=9)
    fig.suptitle(f"Probability of improvement, normalised test score — {label}")
    return fig


def _plot_profiles(plt: Any, summary: Mapping[str, Any], variant: str, label: str) -> Any:
    families = list(summary["families"])
    colours = _colours(_all_agents(summary))
    fig, axes = _grid(plt, len(families))
    for ax, family in zip(axes, families, strict=False):
        profile = summary["families"][family]["profile"][variant]
        for agent, (point, low, high) in profile["agents"].items():
            ax.plot(profile["thresholds"], point, color=colours[agent], label=agent)
            ax.fill_between(profile["thresholds"], low, high, color=colours[agent], alpha=0.2)
        ax.axvline(1.0, color="black", linestyle="--", linewidth=0.8)
        ax.set_xlabel("normalised test score tau")
        ax.set_ylabel("fraction of runs > tau")
        ax.set_title(family, fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(f"Performance profiles, 95% CI — {label}")
    return fig
