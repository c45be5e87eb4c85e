"""A benchmark's report, end to end: stored trials -> ``results.json`` -> ``results.md`` and its PNG plots.

:func:`write_results` collects and writes ``results.json`` and renders the rest from it; :func:`render_files`
renders again from ``results.json`` alone. The parts live in modules named for what they are:

* :mod:`hwenvs.benchmark.results`: :func:`~hwenvs.benchmark.results.collect`,
  :func:`~hwenvs.benchmark.results.combine` and the ``results.json`` format.
* :mod:`hwenvs.benchmark.summary`: the statistics (:func:`~hwenvs.benchmark.summary.summarise` and the normalised
  score it reads every trial by).
* :mod:`hwenvs.benchmark.markdown`: :func:`~hwenvs.benchmark.markdown.render`.
* :mod:`hwenvs.benchmark.plots`: :func:`~hwenvs.benchmark.plots.plot`.

This module stays the stable way in: it re-exports their public names (``from hwenvs.benchmark.report import
combine, render`` keeps working, without a warning), so scripts need not follow the split.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hwenvs.benchmark.markdown import render
from hwenvs.benchmark.plots import PLOTS, plot
from hwenvs.benchmark.results import COMBINED_SETTINGS, RESULTS_FORMAT, accuracy_label, collect, combine
from hwenvs.benchmark.summary import (
    BOOTSTRAP_SEED,
    CURVE_POINTS,
    FAMILY_TITLES,
    anchors,
    best_so_far,
    episodes_to_beat,
    normalised,
    summarise,
    variants,
)
from hwenvs.benchmark.trials import TrialSpec, write_json
from hwenvs.cache import atomic_write_bytes

__all__ = [
    "BOOTSTRAP_SEED",
    "COMBINED_SETTINGS",
    "CURVE_POINTS",
    "FAMILY_TITLES",
    "PLOTS",
    "RESULTS_FORMAT",
    "accuracy_label",
    "anchors",
    "best_so_far",
    "collect",
    "combine",
    "episodes_to_beat",
    "normalised",
    "plot",
    "render",
    "render_files",
    "summarise",
    "variants",
    "write_results",
]


def write_results(jobs: Sequence[TrialSpec], meta: Mapping[str, Any], out: Path) -> dict[str, Any]:
    """Collect the benchmark in ``out`` into ``results.json``, then render ``results.md`` and the plots from it.

    :param jobs: the benchmark's jobs.
    :param meta: see :func:`~hwenvs.benchmark.results.collect`.
    :param out: the benchmark's output folder.
    :returns: what ``results.json`` holds.
    """
    data = collect(jobs, meta)
    write_json(out / "results.json", data)
    render_files(out)
    return data


def render_files(out: Path) -> Path:
    """``results.md`` and the plots from ``out/results.json`` alone; returns the markdown's path.

    :param out: the benchmark's output folder.
    :raises FileNotFoundError: no ``results.json`` in ``out``.
    """
    path = out / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run the benchmark into {out} first")
    data = json.loads(path.read_text())
    atomic_write_bytes(out / "results.md", render(data).encode())
    if data["trials"]:
        plot(data, out)
    return out / "results.md"
