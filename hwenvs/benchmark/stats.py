"""The estimators of "Deep RL at the Edge of the Statistical Precipice" (Agarwal et al., NeurIPS 2021), as rliable
computes them, on scores given per task (environment) as one array of runs (seeds) each.

* :func:`iqm`: the interquartile mean of all runs of all tasks (the mean of the middle 50%, trimming a quarter of
  the scores from each end, as ``scipy.stats.trim_mean(scores, 0.25, axis=None)``: rliable's ``aggregate_iqm``).
* :func:`interval`: a point estimate with a percentile confidence interval from the *stratified* bootstrap: each
  replicate resamples the runs of every task with replacement, separately per task, so that every task keeps its
  weight (rliable's ``StratifiedBootstrap`` with ``method="percentile"``).
* :func:`probability_of_improvement`: P(X > Y), the chance that a run of algorithm X beats a run of Y on a task
  drawn at random: per task the Mann-Whitney U statistic over all pairs of runs (ties count a half), averaged over
  tasks; its interval resamples X's and Y's runs independently within each task.
* :func:`performance_profile`: the fraction of runs whose score exceeds each threshold, averaged over tasks (the
  run-score distribution), with pointwise intervals.

rliable itself is not a dependency: version 1.2 imports ``arch``, whose releases that it allows fail to import with
pandas 3. ``tests/test_benchmark.py`` checks these estimators against ``rliable.metrics`` where that imports, and the
bootstrap against a direct replicate-by-replicate computation. Tasks may have different numbers of runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwenvs.envs import paired_test

Scores = Sequence[np.ndarray]
"""One 1-D array of run scores per task."""

REPS = 2000
"""Bootstrap replicates (rliable's default is 50,000; 2,000 give the 2.5% and 97.5% percentiles to about 0.01 of
the scores' spread, and keep a report's statistics to seconds)."""

CONFIDENCE = 0.95
"""The intervals' coverage."""


@dataclass(frozen=True)
class Interval:
    """A point estimate and its confidence interval.

    :param point: the estimate on the observed runs.
    :param low: the interval's lower end.
    :param high: the interval's upper end.
    """

    point: float
    low: float
    high: float

    def to_list(self) -> list[float]:
        """``[point, low, high]`` (how results JSON stores it)."""
        return [float(self.point), float(self.low), float(self.high)]


def _tasks(scores: Scores) -> list[np.ndarray]:
    tasks = [np.asarray(task, dtype=np.float64).reshape(-1) for task in scores]
    if not tasks or any(task.size == 0 for task in tasks):
        raise ValueError("scores need at least one task with at least one run each")
    return tasks


def iqm(values: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Interquartile mean: the mean after trimming ``floor(n / 4)`` values from each end, as
    ``scipy.stats.trim_mean(values, 0.25, axis)`` computes it (without importing scipy.stats, seconds on a busy
    machine).

    :param values: scores.
    :param axis: the axis to reduce (None: all values).
    """
    array = np.asarray(values, dtype=np.float64)
    if axis is None:
        array, axis = array.reshape(-1), 0
    array = np.moveaxis(array, axis, -1)
    n = array.shape[-1]
    cut = int(0.25 * n)
    return np.sort(array, axis=-1)[..., cut : n - cut].mean(axis=-1)


def mean(values: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """The plain mean (over all runs of all tasks, or along ``axis``)."""
    return np.mean(values, axis=axis)


AGGREGATES: dict[str, Callable[..., np.ndarray | float]] = {"iqm": iqm, "mean": mean}
"""The aggregate scores a report shows, by name."""


def resample(tasks: Scores, reps: int, rng: np.random.Generator) -> np.ndarray:
    """Stratified bootstrap replicates: for every task, its runs drawn with replacement (as many as it has).

    :param tasks: one array of runs per task.
    :param reps: replicates.
    :param rng: the generator.
    :returns: ``(reps, total runs)``: replicate ``r``'s runs of every task, task after task.
    """
    parts = [task[rng.integers(0, task.size, size=(reps, task.size))] for task in _tasks(tasks)]
    return np.concatenate(parts, axis=1)


def interval(
    scores: Scores,
    aggregate: Callable[..., np.ndarray | float] = iqm,
    reps: int = REPS,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> Interval:
    """``aggregate`` of all runs with its stratified-bootstrap percentile interval.

    :param scores: one array of runs per task.
    :param aggregate: a function of ``(values, axis)``, such as :func:`iqm` or :func:`mean`.
    :param reps: bootstrap replicates.
    :param confidence: the interval's coverage.
    :param seed: the bootstrap's seed (a report's numbers must repeat).
    """
    tasks = _tasks(scores)
    point = float(aggregate(np.concatenate(tasks), axis=None))
    replicates = aggregate(resample(tasks, reps, np.random.default_rng(seed)), axis=1)
    low, high = _percentiles(replicates, confidence)
    return Interval(point, low, high)


def _percentiles(replicates: np.ndarray | float, confidence: float, axis: int = 0) -> tuple[Any, Any]:
    """(low, high) of the interval: numpy floats from 1-D replicates, arrays along ``axis`` from more dimensions
    (``replicates`` is an aggregate's result, typed as an array or a float)."""
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(replicates, [tail, 100 - tail], axis=axis)
    return low, high


def _improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) + P(X = Y) / 2 over all pairs of the last axis (``x``: (..., n), ``y``: (..., m))."""
    greater = (x[..., :, None] > y[..., None, :]).mean(axis=(-2, -1))
    equal = (x[..., :, None] == y[..., None, :]).mean(axis=(-2, -1))
    return greater + 0.5 * equal


def probability_of_improvement(
    scores_x: Scores, scores_y: Scores, reps: int = REPS, confidence: float = CONFIDENCE, seed: int = 0
) -> Interval:
    """P(X > Y) averaged over tasks, with a percentile interval from resampling X's and Y's runs independently
    within each task.

    :param scores_x: X's runs per task.
    :param scores_y: Y's runs on the same tasks, in the same order.
    :param reps: bootstrap replicates.
    :param confidence: the interval's coverage.
    :param seed: the bootstrap's seed.
    """
    xs, ys = _tasks(scores_x), _tasks(scores_y)
    if len(xs) != len(ys):
        raise ValueError(f"X has {len(xs)} tasks and Y {len(ys)}: compare them on the same tasks")
    point = float(np.mean([_improvement(x, y) for x, y in zip(xs, ys, strict=True)]))
    rng = np.random.default_rng(seed)
    per_task = [
        _improvement(x[rng.integers(0, x.size, (reps, x.size))], y[rng.integers(0, y.size, (reps, y.size))])
        for x, y in zip(xs, ys, strict=True)
    ]
    low, high = _percentiles(np.mean(per_task, axis=0), confidence)
    return Interval(point, float(low), float(high))


def performance_profile(
    scores: Scores, thresholds: np.ndarray, reps: int = REPS, confidence: float = CONFIDENCE, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fraction of runs scoring above each threshold, averaged over tasks, with pointwise intervals.

    :param scores: one array of runs per task.
    :param thresholds: the thresholds (tau).
    :param reps: bootstrap replicates.
    :param confidence: the intervals' coverage.
    :param seed: the bootstrap's seed.
    :returns: (point, low, high), each of ``thresholds``' shape.
    """
    tasks = _tasks(scores)
    tau = np.asarray(thresholds, dtype=np.float64)

    def profile(per_task: list[np.ndarray]) -> np.ndarray:  # each (..., runs) -> (..., thresholds)
        return np.mean([(t[..., :, None] > tau).mean(axis=-2) for t in per_task], axis=0)

    point = profile(tasks)
    rng = np.random.default_rng(seed)
    replicates = profile([t[rng.integers(0, t.size, (reps, t.size))] for t in tasks])
    low, high = _percentiles(replicates, confidence)
    return point, low, high


def curve_intervals(
    runs: np.ndarray, aggregate: Callable[..., np.ndarray | float] = iqm, reps: int = REPS, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An aggregate at every point of a curve (best so far against episodes) over one task's runs, with pointwise
    bootstrap intervals (the same resampled runs at every point, so the band is one curve's uncertainty).

    :param runs: ``(runs, points)``.
    :param aggregate: :func:`iqm` or :func:`mean`.
    :param reps: bootstrap replicates.
    :param seed: the bootstrap's seed.
    :returns: (point, low, high), each ``(points,)``.
    """
    runs = np.asarray(runs, dtype=np.float64)
    point = np.asarray(aggregate(runs, axis=0))
    idx = np.random.default_rng(seed).integers(0, runs.shape[0], size=(reps, runs.shape[0]))
    replicates = aggregate(runs[idx], axis=1)  # (reps, points)
    low, high = _percentiles(replicates, CONFIDENCE)
    return point, low, high


# -- statistics over test images ----------------------------------------------------------------------------------
# The intervals above resample seeds only: the test images are fixed, so a deterministic baseline reads [x, x]. The
# functions below treat the test set as a sample of the task's images too.

SIGNIFICANCE = 0.05
"""The level of the paired tests whose wins and losses a report counts."""

mcnemar = paired_test.mcnemar
"""The exact McNemar test (:func:`hwenvs.envs.paired_test.mcnemar`), re-exported beside the other estimators."""


def paired_verdict(run: np.ndarray, baseline: np.ndarray, level: float = SIGNIFICANCE) -> str:
    """``"win"``, ``"loss"`` or ``"tie"``: whether ``run`` is significantly better or worse than ``baseline`` on the
    same images (:func:`mcnemar` at ``level``), or neither."""
    if mcnemar(run, baseline) >= level:
        return "tie"
    return "win" if int(np.sum(run)) > int(np.sum(baseline)) else "loss"


def _image_weights(images: int, reps: int, rng: np.random.Generator) -> np.ndarray:
    """``(reps, images)`` bootstrap counts: how often each image is drawn in each replicate of the test set."""
    return rng.multinomial(images, np.full(images, 1.0 / images), size=reps).astype(np.float32)


def two_level_interval(
    outcomes: np.ndarray,
    baseline: np.ndarray | None = None,
    aggregate: Callable[..., np.ndarray | float] = iqm,
    reps: int = REPS,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> Interval:
    """``aggregate`` over runs of per-run accuracy (or of accuracy gain over ``baseline``), with a two-level bootstrap
    interval: each replicate draws the test images with replacement (one draw shared by every run, since every run is
    scored on the same images) and then the runs with replacement.

    With one run the interval is the image-sampling interval of that run's accuracy: a deterministic baseline gets
    one too. With many images and one image draw per replicate, it covers both seed-to-seed and test-set variation.

    :param outcomes: ``(runs, images)`` per-image correctness (bools or 0/1).
    :param baseline: ``(images,)`` correctness of a baseline on the same images: the statistic becomes each run's
        accuracy minus the baseline's, paired image by image.
    :param aggregate: a function of ``(values, axis)``: :func:`iqm` or :func:`mean`.
    :param reps: bootstrap replicates.
    :param confidence: the interval's coverage.
    :param seed: the bootstrap's seed.
    """
    x = np.atleast_2d(np.asarray(outcomes, dtype=np.float32))
    if baseline is not None:
        x = x - np.asarray(baseline, dtype=np.float32)[None, :]
    runs, images = x.shape
    if runs == 0 or images == 0:
        raise ValueError("two_level_interval needs at least one run and one image")
    rng = np.random.default_rng(seed)
    point = float(aggregate(x.mean(axis=1), axis=None))
    replicates = np.empty(reps)
    for start in range(0, reps, 250):  # 250 replicates of 10,000 image weights: 10 MB at a time
        chunk = min(250, reps - start)
        per_run = x @ _image_weights(images, chunk, rng).T / images  # (runs, chunk)
        pick = rng.integers(0, runs, size=(chunk, runs))
        replicates[start : start + chunk] = aggregate(per_run[pick, np.arange(chunk)[:, None]], axis=1)
    low, high = _percentiles(replicates, confidence)
    return Interval(point, float(low), float(high))


def clustered_interval(
    groups: Sequence[np.ndarray],
    aggregate: Callable[..., np.ndarray | float] = iqm,
    reps: int = REPS,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> Interval:
    """``aggregate`` of runs that come in clusters (a lottery's seeds per hyperparameter setting), with a two-stage
    bootstrap: each replicate draws the clusters with replacement, then the runs within each drawn cluster. Runs of
    one setting are not independent of each other, so resampling runs alone gives too narrow an interval.

    :param groups: one array of run scores per cluster.
    :param aggregate: a function of ``(values, axis)``.
    :param reps: bootstrap replicates.
    :param confidence: the interval's coverage.
    :param seed: the bootstrap's seed.
    """
    clusters = _tasks(groups)
    rng = np.random.default_rng(seed)
    point = float(aggregate(np.concatenate(clusters), axis=None))
    replicates = np.empty(reps)
    for r in range(reps):
        drawn = [clusters[i] for i in rng.integers(0, len(clusters), size=len(clusters))]
        replicates[r] = aggregate(np.concatenate([c[rng.integers(0, c.size, size=c.size)] for c in drawn]), axis=None)
    low, high = _percentiles(replicates, confidence)
    return Interval(point, float(low), float(high))
