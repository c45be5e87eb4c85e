"""The reproduction page's analysis: the collected JSON in, each claim's figures and verdicts out.

Pure functions of the JSON that ``benchmarks/reproduction.py`` writes (no model, no file, no torch), so that every
rule can be checked on synthetic data (``tests/test_reproduction.py``); ``reproduction_render.py`` turns what they
return into the page.

**Verdicts.** Each row's test is made on *units* (seeds, searches, or points of an accuracy grid), each of which
ends ``held``, ``failed`` or ``noise`` (within the noise of the test images: the paired test, exact McNemar on the
per-image test outcomes at :data:`~hwenvs.benchmark.stats.SIGNIFICANCE`, is not significant; in claim 5, which
compares networks trained from scratch, the noise is the training seed's instead). Then (:func:`verdict`)
*yes*: held in every unit; *partly*: held in at least half; *no*: failed in more than half; *inconclusive*: the rest
(too many units within the noise to say either).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from hwenvs.benchmark import outcomes as outcome_records
from hwenvs.benchmark.stats import paired_verdict

HELD, FAILED, NOISE = "held", "failed", "noise"
"""What one unit of a row's test ends as."""

VERDICTS = ("no", "inconclusive", "partly", "yes")
"""From weakest to strongest (a row made of several comparisons takes its weakest)."""

FORMAT = "reproduction/2"
"""The JSON format this analysis reads."""

HAQ_HARDWARE = ("BISMO", "BISMO-Cloud", "BitFusion")
"""Claim 1's hardware, in the order we set against haq.md's HW1, HW2, HW3."""

PAPER_LATENCY_REDUCTION = (1.4, 1.95)
PAPER_ENERGY_REDUCTION = 1.9
START = "best uniform"
"""The reference point every warm-started search starts from (its name starts so)."""


def verdict(units: Sequence[str]) -> str:
    """The page's rule on a row's units (``held``, ``failed``, ``noise``): *yes* if every unit held, *partly* if at
    least half held, *no* if more than half failed, else *inconclusive*.

    :param units: one outcome per unit.
    :raises ValueError: no unit, or an unknown outcome.
    """
    if not units or any(u not in (HELD, FAILED, NOISE) for u in units):
        raise ValueError(f"a verdict needs units that are each {HELD}, {FAILED} or {NOISE}, got {list(units)}")
    n, held, failed = len(units), units.count(HELD), units.count(FAILED)
    if held == n:
        return "yes"
    if 2 * held >= n:
        return "partly"
    if 2 * failed > n:
        return "no"
    return "inconclusive"


def weakest(verdicts: Sequence[str]) -> str:
    """The weakest of several verdicts (order :data:`VERDICTS`).

    :param verdicts: *yes*, *partly*, *no* or *inconclusive* each.
    """
    return min(verdicts, key=VERDICTS.index)


def counts(units: Sequence[str]) -> dict[str, int]:
    """How many units held, failed and were within the noise.

    :param units: one outcome per unit.
    """
    return {k: sum(u == k for u in units) for k in (HELD, FAILED, NOISE)}


class Outcomes:
    """The per-image test outcomes of the JSON (``data["outcomes"]``: id -> packed record), unpacked once each.

    :param data: the collected JSON.
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.records = data.get("outcomes", {})
        self.cache: dict[str, np.ndarray] = {}

    def __call__(self, ref: str) -> np.ndarray:
        """The bools of the record ``ref`` names."""
        if ref not in self.cache:
            self.cache[ref] = outcome_records.unpack(self.records[ref])
        return self.cache[ref]

    def compare(self, run: str, baseline: str, level: float) -> str:
        """``win``, ``loss`` or ``tie`` of ``run`` against ``baseline`` (exact McNemar at ``level``)."""
        if run == baseline:  # the same record: the same images right
            return "tie"
        return paired_verdict(self(run), self(baseline), level)


def mean(values: Sequence[float]) -> float:
    """The plain mean.

    :param values: at least one number.
    """
    return statistics.fmean(values)


def done(runs: Sequence[Mapping[str, Any]]) -> bool:
    """Whether every run of ``runs`` has its summary.

    :param runs: a claim's runs (``summary`` None until the job has finished).
    """
    return all(r["summary"] is not None for r in runs)


def reference(summary: Mapping[str, Any], prefix: str) -> dict[str, Any] | None:
    """The summary's reference point whose name starts with ``prefix``, or None.

    :param summary: a HAQ job's summary.
    :param prefix: ``"fixed 8-bit"`` or :data:`START`.
    """
    return next((r for r in summary["references"] if r["name"].startswith(prefix)), None)


# ===================================================================== claim 1: specialisation at matched accuracy


def cheapest_reaching(points: Sequence[Mapping[str, Any]], accuracy: float) -> Mapping[str, Any] | None:
    """The lowest-latency point whose test accuracy is at least ``accuracy`` (the front's latency there; within
    float rounding of a grid point, far below one image in a million)."""
    reaching = [p for p in points if p["accuracy"] >= accuracy - 1e-9]
    return min(reaching, key=lambda p: (p["ms"], -p["accuracy"])) if reaching else None


def best_within(points: Sequence[Mapping[str, Any]], ms: float) -> Mapping[str, Any] | None:
    """The most accurate point whose latency is at most ``ms`` (the front's accuracy at that latency)."""
    within = [p for p in points if p["ms"] <= ms]
    return max(within, key=lambda p: (p["accuracy"], -p["ms"])) if within else None


def compare_fronts(
    own: Sequence[Mapping[str, Any]],
    other: Sequence[Mapping[str, Any]],
    grid_points: int,
    compare: Callable[[Any, Any], str],
    key: str = "outcomes",
) -> dict[str, Any]:
    """Own against other accuracy-latency front on one hardware, at matched test accuracy.

    A front's latency at accuracy ``a`` is its cheapest point whose test accuracy is at least ``a``. On a grid of
    ``grid_points`` accuracies spanning the range both fronts reach (from the higher of their lowest accuracies to
    the lower of their highest), each grid point is a unit: where the own front is cheaper, it *held* if the other
    front's most accurate point at no more than the own point's latency is significantly less accurate (paired
    test; or the other front has no point that cheap), else it is *noise*; where the other front is cheaper, the
    same test the other way round gives *failed* or *noise*; equal latency (the same cost: often the same policy)
    *failed* (the own front is not lower).

    :param own: points ``{"accuracy", "ms", "outcomes"}`` of the policies searched for this hardware.
    :param other: the same for another hardware's policies, with their latency on this hardware.
    :param grid_points: accuracies on the grid.
    :param compare: ``(run, baseline) -> "win" | "loss" | "tie"`` on two points' ``key`` values.
    :param key: what ``compare`` reads of a point (claim 1: the per-image outcome ids; claim 5: the from-scratch
        accuracy, whose noise is the training seed's).
    :returns: ``{"range": [low, high] or None, "grid": [...], "units": [...], "own_ms": [...], "other_ms": [...]}``.
    """
    if not own or not other:  # every budget of one side below the floor: nothing to compare
        return {"range": None, "grid": [], "units": [], "own_ms": [], "other_ms": []}
    low = max(min(p["accuracy"] for p in own), min(p["accuracy"] for p in other))
    high = min(max(p["accuracy"] for p in own), max(p["accuracy"] for p in other))
    if low > high:
        return {"range": None, "grid": [], "units": [], "own_ms": [], "other_ms": []}
    grid = [float(a) for a in np.linspace(low, high, grid_points)] if high > low else [low]
    units, own_ms, other_ms = [], [], []
    for a in grid:
        p, q = cheapest_reaching(own, a), cheapest_reaching(other, a)
        assert p is not None and q is not None  # a is within both fronts' range
        own_ms.append(p["ms"])
        other_ms.append(q["ms"])
        if p["ms"] == q["ms"]:
            units.append(FAILED)
        elif p["ms"] < q["ms"]:
            rival = best_within(other, p["ms"])
            units.append(HELD if rival is None or compare(p[key], rival[key]) == "win" else NOISE)
        else:
            rival = best_within(own, q["ms"])
            units.append(FAILED if rival is None or compare(q[key], rival[key]) == "win" else NOISE)
    return {"range": [low, high], "grid": grid, "units": units, "own_ms": own_ms, "other_ms": other_ms}


def claim1_points(runs: Sequence[Mapping[str, Any]], searched_for: str, run_on: str) -> list[dict[str, Any]]:
    """The (test accuracy, latency on ``run_on``) points of every policy searched for ``searched_for``.

    :param runs: claim 1's runs (all finished).
    :param searched_for: the hardware the policies were searched for.
    :param run_on: the hardware whose latency is read.
    """
    return [
        {
            "accuracy": r["summary"]["test_accuracy"],
            "ms": r["summary"]["costs_on"][run_on]["ms"],
            "outcomes": r["summary"]["outcomes"],
            "seed": r["seed"],
            "ratio": r["ratio"],
        }
        for r in runs
        if r["target"] == searched_for and "skipped" not in r["summary"]
    ]


def analyse_claim1(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """Per hardware: its own front against each other hardware's (:func:`compare_fronts`), the pair verdicts and
    the row's (the weakest); None until every claim-1 search has finished.

    :param data: the collected JSON.
    """
    c = data["claims"]["1"]
    if not done(c["runs"]):
        return None
    s, level = c["settings"], data["significance"]
    outcomes = Outcomes(data)
    rows = {}
    for hw in s["hardware"]:
        own = claim1_points(c["runs"], hw, hw)
        pairs = {}
        for other_hw in (h for h in s["hardware"] if h != hw):
            other = claim1_points(c["runs"], other_hw, hw)
            cmp = compare_fronts(own, other, s["grid_points"], lambda x, y: outcomes.compare(x, y, level))
            cmp["verdict"] = verdict(cmp["units"]) if cmp["units"] else "inconclusive"
            cmp["counts"] = counts(cmp["units"])
            pairs[other_hw] = cmp
        rows[hw] = {
            "pairs": pairs,
            "verdict": weakest([p["verdict"] for p in pairs.values()]),
            "points": own,
            "ends_on_start": sum(r["summary"]["ends_on_start"] for r in c["runs"] if r["target"] == hw),
            "searches": sum(r["target"] == hw for r in c["runs"]),
        }
    return rows


# ============================================================================ claim 2: iso-accuracy, on validation


def iso_ratio(points: Mapping[float, Mapping[str, Any] | None], tolerance: float) -> float | None:
    """The lowest grid ratio from which every higher grid ratio's point keeps its *validation* accuracy within
    ``tolerance`` of fixed 8-bit's validation accuracy (a point that is None, below the budget floor, does not);
    None if even the highest does not.

    :param points: ratio -> ``{"val_accuracy", "fixed8_val"}`` (the found policy or the best uniform one), or None.
    :param tolerance: the accuracy (a fraction) a point may lose against fixed 8-bit.
    """
    lowest = None
    for ratio in sorted(points, reverse=True):
        p = points[ratio]
        if p is None or p["val_accuracy"] < p["fixed8_val"] - tolerance:
            break
        lowest = ratio
    return lowest


def claim2_points(summary: Mapping[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(found policy, best uniform policy) of one claim-2 search, each with its fixed 8-bit validation accuracy;
    (None, None) for a budget below the floor, and a None uniform where no uniform policy fits.

    :param summary: a claim-2 job's summary.
    """
    if "skipped" in summary:
        return None, None
    fixed8 = reference(summary, "fixed 8-bit")
    uniform = reference(summary, START)
    found = {k: summary[k] for k in ("val_accuracy", "test_accuracy", "cost_ratio", "outcomes")}
    found["fixed8_val"], found["fixed8_test"] = fixed8["val_accuracy"], fixed8["test_accuracy"]
    found["policy"], found["ends_on_start"] = summary["policy"], summary["ends_on_start"]
    if uniform is None:
        return found, None
    base = {k: uniform[k] for k in ("name", "val_accuracy", "test_accuracy", "cost_ratio", "outcomes")}
    return found, {**base, "fixed8_val": fixed8["val_accuracy"], "fixed8_test": fixed8["test_accuracy"]}


def claim2_unit(seed: Mapping[str, Any], paper_low: float, compare: Callable[[str, str], str]) -> dict[str, str]:
    """The two tests of one seed: ``reduction`` (the found policy's reduction at its iso ratio reaches the paper's
    lower figure: held or failed; costs have no image noise) and ``mixed`` (mixed precision credited: the found
    policy's iso reduction exceeds the best uniform policy's, and at the found iso ratio it is significantly more
    accurate on test than the best uniform policy within that budget: held; the reduction exceeds but the paired
    test is not significant: noise; otherwise, or where the search returned that uniform policy: failed).

    :param seed: one seed of :func:`analyse_claim2` (``found``, ``uniform``, ``uniform_at_found``).
    :param paper_low: the paper's lower reduction figure.
    :param compare: ``(run, baseline) -> "win" | "loss" | "tie"`` on two outcome ids.
    """
    found, uniform = seed["found"], seed["uniform"]
    reduction = HELD if found is not None and found["reduction"] >= paper_low else FAILED
    if found is None or seed["uniform_at_found"] is None:
        mixed = FAILED if found is None else HELD  # no uniform policy fits the found iso budget at all
    elif uniform is not None and found["reduction"] <= uniform["reduction"]:
        mixed = FAILED
    elif found["ends_on_start"]:
        mixed = FAILED
    else:
        result = compare(found["outcomes"], seed["uniform_at_found"]["outcomes"])
        mixed = HELD if result == "win" else FAILED if result == "loss" else NOISE
    return {"reduction": reduction, "mixed": mixed}


def analyse_claim2(data: Mapping[str, Any], hw: str, constraint: str) -> dict[str, Any] | None:
    """Per seed, for one hardware and constraint: the found policy's and the best uniform policy's iso ratios
    (:func:`iso_ratio`, on validation), their reductions (1 / cost ratio) and test accuracies, and the two tests of
    :func:`claim2_unit`; the rows' verdicts. None until every search of the pair has finished.

    :param data: the collected JSON.
    :param hw: the hardware.
    :param constraint: ``latency`` or ``energy``.
    """
    c = data["claims"]["2"]
    s = c["settings"]
    runs = [r for r in c["runs"] if r["target"] == hw and r["constraint"] == constraint]
    if not runs or not done(runs):
        return None
    outcomes = Outcomes(data)
    paper_low = PAPER_LATENCY_REDUCTION[0] if constraint == "latency" else PAPER_ENERGY_REDUCTION
    seeds = {}
    for seed in data["seeds"]:
        by_ratio = {r["ratio"]: claim2_points(r["summary"]) for r in runs if r["seed"] == seed}
        found_pts = {g: by_ratio[g][0] for g in s["grid"]}
        uniform_pts = {g: by_ratio[g][1] for g in s["grid"]}
        out: dict[str, Any] = {"points": found_pts, "uniform_points": uniform_pts}
        for name, pts in (("found", found_pts), ("uniform", uniform_pts)):
            ratio = iso_ratio(pts, s["tolerance"])
            p = pts[ratio] if ratio is not None else None
            out[f"{name}_ratio"] = ratio
            out[name] = None if p is None else {**p, "reduction": 1 / p["cost_ratio"]}
        out["uniform_at_found"] = uniform_pts[out["found_ratio"]] if out["found_ratio"] is not None else None
        out["tests"] = claim2_unit(out, paper_low, lambda x, y: outcomes.compare(x, y, data["significance"]))
        seeds[seed] = out
    tests = {k: [v["tests"][k] for v in seeds.values()] for k in ("reduction", "mixed")}
    return {
        "seeds": seeds,
        "paper_low": paper_low,
        "verdicts": {k: verdict(v) for k, v in tests.items()},
        "counts": {k: counts(v) for k, v in tests.items()},
    }


# ========================================================================== claim 3: the bits the agent chose


def bit_means(
    kinds: Sequence[str], policy: Sequence[Sequence[int | None]], last_only: bool = False
) -> dict[str, float]:
    """Mean weight and activation bits of the depthwise and the pointwise layers of ``policy`` (``last_only``: from
    the first of the last third of the depthwise layers on).

    :param kinds: each layer's kind (``depthwise``, ``pointwise``, ``other``).
    :param policy: ``[w_bits, a_bits]`` per layer.
    """
    start = 0
    if last_only:
        depthwise = [i for i, k in enumerate(kinds) if k == "depthwise"]
        start = depthwise[len(depthwise) - math.ceil(len(depthwise) / 3)]
    out = {}
    for kind in ("depthwise", "pointwise"):
        chosen = [policy[i] for i in range(start, len(kinds)) if kinds[i] == kind]
        out[f"{kind}_w"] = mean([p[0] for p in chosen])
        out[f"{kind}_a"] = mean([p[1] for p in chosen if p[1] is not None])
    return out


CLAIM3_TESTS = {
    "edge": ("BISMO", "all", lambda m: m["depthwise_a"] < m["pointwise_a"]),
    "cloud": ("BISMO-Cloud", "last", lambda m: m["depthwise_a"] > m["pointwise_a"]),
}
"""Claim 3's two tests: (hardware, layers, what must hold of the bit means)."""


def analyse_claim3(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """Per claim-1 search of BISMO edge and cloud (every budget and seed): the bit means of the bits the agent chose
    (before the rollback) and of the final policy (after it), how many layers the rollback changed, and each test's
    unit (held or failed: the bits are chosen on validation, so no test image enters them). None until every
    claim-1 search of those two has finished.

    :param data: the collected JSON.
    """
    runs = [r for r in data["claims"]["1"]["runs"] if r["target"] in ("BISMO", "BISMO-Cloud")]
    if not runs or not done(runs):
        return None
    out: dict[str, Any] = {}
    for key, (hw, part, holds) in CLAIM3_TESTS.items():
        searches = []
        for r in (r for r in runs if r["target"] == hw and "skipped" not in r["summary"]):
            s = r["summary"]
            kinds = [layer["kind"] for layer in s["layers"]]
            chosen = bit_means(kinds, s["chosen_policy"], last_only=part == "last")
            final = bit_means(kinds, s["policy"], last_only=part == "last")
            searches.append(
                {
                    "seed": r["seed"],
                    "ratio": r["ratio"],
                    "chosen": chosen,
                    "final": final,
                    "rollback_changed": s["rollback_changed_layers"],
                    "layers": len(kinds),
                    "ends_on_start": s["ends_on_start"],
                    "unit": HELD if holds(chosen) else FAILED,
                    "final_holds": bool(holds(final)),
                }
            )
        units = [x["unit"] for x in searches]
        out[key] = {"hardware": hw, "part": part, "searches": searches, "verdict": verdict(units),
                    "counts": counts(units)}  # fmt: skip
    return out


# =================================================================================== claim 4: model size


def admits_others(bits: int, min_bits: int) -> bool:
    """Whether the size of uniform ``bits`` admits any policy but uniform ``bits`` itself when a layer may take
    ``min_bits`` to 8 bits: only if ``bits`` is above ``min_bits`` (lowering one layer frees room for another;
    at ``min_bits`` every free layer is already at its floor).

    :param bits: the uniform bit width whose size is the budget.
    :param min_bits: the lowest bit width a layer may take.
    """
    return bits > min_bits


def claim4_unit(summary: Mapping[str, Any], compare: Callable[[str, str], str]) -> str:
    """One search of claim 4: *failed* if it ended on its start (Deep Compression's policy, which the warm start
    plays) or is significantly worse than it on the test images, *held* if significantly better, else *noise*.

    :param summary: a claim-4 job's summary.
    :param compare: ``(run, baseline) -> "win" | "loss" | "tie"`` on two outcome ids.
    """
    if summary["ends_on_start"]:
        return FAILED
    result = compare(summary["outcomes"], summary["uniform"]["outcomes"])
    return HELD if result == "win" else FAILED if result == "loss" else NOISE


def analyse_claim4(data: Mapping[str, Any], bits: int, steps: int, min_bits: int) -> dict[str, Any] | None:
    """One setting of claim 4: per seed HAQ (k-means) and Deep Compression (uniform k-means) at the size of uniform
    ``bits``, the unit of :func:`claim4_unit`, how many searches ended on the start; None until every search has
    finished. A bit range that admits only Deep Compression's policy (:func:`admits_others`) runs no search: its
    row is *no* (the search can only return the start).

    :param data: the collected JSON.
    :param bits: the uniform bit width whose size is the budget.
    :param steps: fine-tune steps before each reward.
    :param min_bits: the lowest bit width a layer may take.
    """
    if not admits_others(bits, min_bits):
        return {"admits_others": False, "verdict": "no", "seeds": {}, "counts": {}, "ends_on_start": None,
                "start_is_uniform": None}  # fmt: skip
    runs = [
        r for r in data["claims"]["4"]["runs"] if (r["bits"], r["finetune"], r["min_bits"]) == (bits, steps, min_bits)
    ]
    if not runs or not done(runs):
        return None
    outcomes = Outcomes(data)
    seeds = {}
    for r in runs:
        unit = claim4_unit(r["summary"], lambda x, y: outcomes.compare(x, y, data["significance"]))
        seeds[r["seed"]] = {**r["summary"], "unit": unit}
    units = [v["unit"] for v in seeds.values()]
    return {
        "admits_others": True,
        "seeds": seeds,
        "verdict": verdict(units),
        "counts": counts(units),
        "ends_on_start": sum(v["ends_on_start"] for v in seeds.values()),
        "start_is_uniform": sum(v["start_is_uniform"] for v in seeds.values()),
    }


# ========================================================== claim 5: ProxylessNAS at matched from-scratch accuracy


def kept_ops(architecture: str) -> list[str]:
    """The operations of the kept (non-``zero``) blocks of an architecture string.

    :param architecture: stages separated by ``/``, blocks by ``-``.
    """
    return [op for stage in architecture.split("/") for op in stage.split("-") if op != "zero"]


def arch_shape(architecture: str) -> dict[str, Any]:
    """Depth (blocks kept, in all and per stage), mean kernel and mean expansion ratio of the kept blocks.

    :param architecture: stages separated by ``/``, blocks by ``-``.
    """
    ops = kept_ops(architecture)
    stages = [sum(op != "zero" for op in stage.split("-")) for stage in architecture.split("/")]
    return {
        "depth": len(ops),
        "stages": stages,
        "kernel": mean([int(op[1]) for op in ops]),
        "expand": mean([int(op[3]) for op in ops]),
    }


def accuracy_compare(tolerance: float) -> Callable[[float, float], str]:
    """``(run, baseline) -> "win" | "loss" | "tie"`` on two from-scratch test accuracies: a win or loss only where
    they differ by more than ``tolerance`` (the training seed's noise: one training's accuracy moves that much by
    its seed alone).

    :param tolerance: the noise threshold (a fraction of the test images).
    """

    def compare(run: float, baseline: float) -> str:
        if run - baseline > tolerance:
            return "win"
        return "loss" if baseline - run > tolerance else "tie"

    return compare


def scratch_accuracies(retrains: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per finalist architecture: its from-scratch test and validation accuracy (mean over its training seeds), the
    seeds, and how many of those trainings were reference-set rows rather than trained for this page.

    :param retrains: claim 5's retrain runs (``architecture``, ``seed``, finished ``summary``).
    """
    by_arch: dict[str, list[Mapping[str, Any]]] = {}
    for r in retrains:
        by_arch.setdefault(r["architecture"], []).append(r["summary"])
    return {
        arch: {
            "test": mean([x["test_accuracy"] for x in summaries]),
            "val": mean([x["val_accuracy"] for x in summaries]),
            "seeds": len(summaries),
            "reused": sum(x["source"] == "reference set" for x in summaries),
        }
        for arch, summaries in by_arch.items()
    }


def claim5_ready(c: Mapping[str, Any]) -> bool:
    """Whether claim 5 can be judged: every search has finished and every finalist's from-scratch trainings too.

    :param c: the JSON's claim 5 (``runs``, ``retrains``).
    """
    retrains = c.get("retrains") or []
    if not done(c["runs"]) or not retrains or not done(retrains):
        return False
    trained = {r["architecture"] for r in retrains}
    return all(r["summary"]["architecture"] in trained for r in c["runs"])


def claim5_points(
    runs: Sequence[Mapping[str, Any]], searched_for: str, run_on: str, scratch: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The (from-scratch test accuracy, latency on ``run_on``) points of the finalists searched for ``searched_for``,
    one per search (a finalist found by two seeds is two points at the same place).

    :param runs: claim 5's search runs (all finished).
    :param searched_for: the target the architectures were searched for.
    :param run_on: the target whose latency is read.
    :param scratch: :func:`scratch_accuracies`.
    """
    return [
        {
            "accuracy": scratch[r["summary"]["architecture"]]["test"],
            "ms": r["summary"]["latency_ms"][run_on],
            "supernet_accuracy": r["summary"]["test_accuracy"],
            "architecture": r["summary"]["architecture"],
            "seed": r["seed"],
        }
        for r in runs
        if r["target"] == searched_for
    ]


def claim5_pair(
    own: Sequence[Mapping[str, Any]], other: Sequence[Mapping[str, Any]], grid_points: int, tolerance: float | None
) -> dict[str, Any]:
    """Own against another target's finalists on one target's latency, at matched from-scratch test accuracy: claim
    1's front comparison (:func:`compare_fronts`) with the training seed's noise in place of the paired test;
    *inconclusive* without a shared accuracy range or while the noise is unmeasured (``tolerance`` None).

    :param own: :func:`claim5_points` of the target's own finalists.
    :param other: the same for another target's finalists, with their latency on this target.
    :param grid_points: accuracies on the grid.
    :param tolerance: the noise threshold, or None.
    """
    if tolerance is None:
        out: dict[str, Any] = {"range": None, "grid": [], "units": [], "own_ms": [], "other_ms": []}
    else:
        out = compare_fronts(own, other, grid_points, accuracy_compare(tolerance), key="accuracy")
    return {**out, "verdict": verdict(out["units"]) if out["units"] else "inconclusive", "counts": counts(out["units"])}


def claim5_seeds(c: Mapping[str, Any], scratch: Mapping[str, Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
    """Per seed, each target's finalist: its architecture and shape, its latency on every target, its supernet and
    from-scratch test accuracy.

    :param c: the JSON's claim 5 (ready: :func:`claim5_ready`).
    :param scratch: :func:`scratch_accuracies`.
    """
    targets = c["settings"]["targets"]
    found = {(r["seed"], r["target"]): r["summary"] for r in c["runs"]}
    out = {}
    for seed in sorted({r["seed"] for r in c["runs"]}):
        f = {t: found[(seed, t)] for t in targets}
        out[seed] = {
            "architecture": {t: f[t]["architecture"] for t in targets},
            "shape": {t: arch_shape(f[t]["architecture"]) for t in targets},
            "ms": {t: {col: f[t]["latency_ms"][col] for col in targets} for t in targets},
            "supernet": {t: f[t]["test_accuracy"] for t in targets},
            "scratch": {t: scratch[f[t]["architecture"]]["test"] for t in targets},
        }
    return out


def analyse_claim5(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """Per target: its own finalists against each other target's on its latency at matched from-scratch test
    accuracy (:func:`claim5_pair`), the pair verdicts and the row's (the weakest), how many distinct finalists it got
    and how many of them a search for another target found too; the per-seed figures; None until every search and
    every finalist's training has finished.

    :param data: the collected JSON.
    """
    c = data["claims"]["5"]
    if not claim5_ready(c):
        return None
    s, targets = c["settings"], c["settings"]["targets"]
    scratch = scratch_accuracies(c["retrains"])
    sd = c["noise"]["sd"]
    tolerance = None if sd is None else s["retrain"]["noise_sds"] * sd
    rows = {}
    for t in targets:
        own = claim5_points(c["runs"], t, t, scratch)
        pairs = {
            o: claim5_pair(own, claim5_points(c["runs"], o, t, scratch), s["grid_points"], tolerance)
            for o in targets
            if o != t
        }
        mine = {p["architecture"] for p in own}
        elsewhere = {r["summary"]["architecture"] for r in c["runs"] if r["target"] != t}
        rows[t] = {
            "pairs": pairs,
            "verdict": weakest([p["verdict"] for p in pairs.values()]) if pairs else "inconclusive",
            "points": own,
            "distinct": len(mine),
            "shared": len(mine & elsewhere),
        }
    return {
        "targets": rows,
        "tolerance": tolerance,
        "noise": c["noise"],
        "scratch": scratch,
        "seeds": claim5_seeds(c, scratch),
    }
