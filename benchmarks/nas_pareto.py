"""Benchmark: does each hardware want a different network? The accuracy-latency Pareto fronts of the ProxylessNAS
reference set (issue 29, section 3).

Reads the from-scratch reference set (``results/nas_reference/fashion-mnist.jsonl``, through
:func:`hwenvs.lab.nas_reference_set.read_rows`) and, on each latency target (Mobile, CPU, BISMO edge, BISMO cloud,
BitFusion), finds the architectures no other architecture beats on both accuracy and latency. Then it measures how
much the fronts differ: the Jaccard overlap of the front sets, the Spearman correlation of the latencies between
targets, and the latency a target pays for taking another target's front; and, with the seed-to-seed differences of
the architectures trained twice, which front memberships are within noise.

    OMP_NUM_THREADS=1 python benchmarks/nas_pareto.py [--source PATH] [--out benchmarks/results]

Nothing is trained: it reads rows and computes (seconds). Rerun it as the reference set grows; the results say how
many architectures and seeds they cover. Results: ``benchmarks/results/nas_pareto.json``, ``nas_pareto.md``
(rendered from the JSON alone by :func:`render`) and ``nas_pareto.png`` (one panel per target, from the JSON).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import itertools
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import results_io

from hwenvs.lab.nas_reference_set import ReadResult, pending, read_rows, row_plan

RESULTS = Path(__file__).resolve().parent / "results"
SOURCE = RESULTS / "nas_reference" / "fashion-mnist.jsonl"
NAME = "nas_pareto"
RERUN = "OMP_NUM_THREADS=1 python benchmarks/nas_pareto.py"

TARGETS: dict[str, str] = {
    "Mobile": "mobile",
    "CPU": "cpu",
    "BISMO edge": "bismo-edge",
    "BISMO cloud": "bismo-cloud",
    "BitFusion": "bitfusion",
}
"""Display name -> the ``latency_ms`` key of the reference rows."""

NOISE_SDS = 1.0
"""How many seed standard deviations below a front still count as "on the front within noise"."""
MIN_PAIRS = 3
"""Fewer twice-trained architectures leave the seed noise unmeasured (a handful of differences is no estimate)."""


# ----------------------------------------------------------------------------------------------------------------
# Fronts


def pareto_front(latency: Sequence[float] | np.ndarray, accuracy: Sequence[float] | np.ndarray) -> list[int]:
    """Indices of the points no other point dominates (at most as slow and at least as accurate, strictly better
    in one), sorted by latency. Identical points are all kept: neither beats the other.

    :param latency: latency per point (lower is better).
    :param accuracy: accuracy per point (higher is better).
    """
    lat, acc = np.asarray(latency, dtype=np.float64), np.asarray(accuracy, dtype=np.float64)
    order = sorted(range(len(lat)), key=lambda i: (lat[i], -acc[i], i))
    front: list[int] = []
    best = -np.inf  # the best accuracy among strictly faster points
    for _, group in itertools.groupby(order, key=lambda i: lat[i]):
        members = list(group)
        top = acc[members[0]]  # equal latency: only the most accurate of the group can survive
        if top > best:
            front += [i for i in members if acc[i] == top]
            best = top
    return front


def within_noise(
    latency: Sequence[float] | np.ndarray, accuracy: Sequence[float] | np.ndarray, tolerance: float
) -> list[int]:
    """Indices of the points whose accuracy is within ``tolerance`` of the best accuracy any point reaches at no
    more latency (the front's staircase at their latency), sorted by latency; every front point is among them.

    :param latency: latency per point.
    :param accuracy: accuracy per point.
    :param tolerance: how far below the staircase still counts (0: the front, plus exact ties at higher latency).
    """
    lat, acc = np.asarray(latency, dtype=np.float64), np.asarray(accuracy, dtype=np.float64)
    kept = [i for i in range(len(lat)) if acc[i] >= acc[lat <= lat[i]].max() - tolerance]
    return sorted(kept, key=lambda i: (lat[i], i))


def jaccard(a: Sequence[Any], b: Sequence[Any]) -> float:
    """``|a & b| / |a | b|`` of two sets (1.0 for two empty ones).

    :param a: one set's members.
    :param b: the other's.
    """
    union = set(a) | set(b)
    return len(set(a) & set(b)) / len(union) if union else 1.0


def penalty(
    lat_a: Sequence[float] | np.ndarray,
    lat_b: Sequence[float] | np.ndarray,
    accuracy: Sequence[float] | np.ndarray,
    front_a: Sequence[int],
    front_b: Sequence[int],
    tolerance: float = 0.0,
) -> dict[str, Any]:
    """What target A pays in latency for taking target B's front instead of its own.

    For every network ``p`` on A's front (an accuracy level A can have), the networks of B's front that reach at
    least ``p``'s accuracy minus ``tolerance`` are candidates. *B's pick* is the one B would deploy at that level (the
    fastest of them on B); *the best of B's front* is the fastest of them on A (the least A can pay while keeping to
    B's front). Each is costed on A relative to A's own network at that level: the fastest on A of A's front reaching
    the same accuracy (``p`` itself when ``tolerance`` is 0), so both fronts get the same slack. A ratio of 1 means A
    loses nothing at that level.

    :param lat_a: latency on A per network.
    :param lat_b: latency on B per network.
    :param accuracy: accuracy per network (the one both fronts were chosen on).
    :param front_a: A's front (indices).
    :param front_b: B's front (indices).
    :param tolerance: how far below each level a network still counts as reaching it (0: strictly; a seed sd:
        levels that noise cannot separate are one level).
    :return: ``levels`` (A's front size), ``covered`` (levels B's front reaches), ``differs`` (levels where B's pick
        is another network than A's), the mean and maximum relative extra latency of B's pick (``pick_mean``,
        ``pick_max``) and of the best of B's front (``best_mean``, ``best_max``), and ``worst`` (the level of the
        largest pick penalty: A's network and B's pick, indices).
    """
    lat_a, lat_b, acc = (np.asarray(v, dtype=np.float64) for v in (lat_a, lat_b, accuracy))
    picks, bests, levels = [], [], []
    for p in front_a:
        need = acc[p] - tolerance
        reach = [j for j in front_b if acc[j] >= need]
        if not reach:  # only when B's front tops out lower, which a shared accuracy column rules out
            continue
        own = min((j for j in front_a if acc[j] >= need), key=lambda j: (lat_a[j], j))
        pick = min(reach, key=lambda j: (lat_b[j], j))
        best = min(reach, key=lambda j: (lat_a[j], j))
        picks.append(lat_a[pick] / lat_a[own] - 1.0)
        bests.append(lat_a[best] / lat_a[own] - 1.0)
        levels.append((own, pick))
    worst = levels[int(np.argmax(picks))] if picks else None
    return {
        "levels": len(front_a),
        "covered": len(picks),
        "differs": sum(own != pick for own, pick in levels),
        "pick_mean": float(np.mean(picks)) if picks else None,
        "pick_max": float(np.max(picks)) if picks else None,
        "best_mean": float(np.mean(bests)) if bests else None,
        "best_max": float(np.max(bests)) if bests else None,
        "worst": list(worst) if worst else None,
    }


def same_everywhere(fronts: dict[str, Sequence[int]]) -> bool:
    """Whether every target's front holds the same networks (order aside).

    :param fronts: target -> front indices.
    """
    sets = [frozenset(f) for f in fronts.values()]
    return all(s == sets[0] for s in sets)


# ----------------------------------------------------------------------------------------------------------------
# Rows -> architectures and noise


def architectures(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per architecture, in order of its first-seed job: accuracies averaged over its seeds, latencies
    of its first-seed row (every row of an architecture is costed on the same tables).

    :param rows: the reference rows.
    :return: ``id`` (``#`` and the first-seed job), ``architecture``, ``depth``, ``seeds``, ``test_by_seed``,
        ``val_by_seed``, ``test_accuracy``, ``val_accuracy`` (means) and ``latency_ms`` (target key -> ms).
    """
    by_arch: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_arch.setdefault(row["architecture"], []).append(row)
    records = []
    for arch, group in by_arch.items():
        group = sorted(group, key=lambda r: int(r["seed"]))
        records.append(
            {
                "id": f"#{group[0]['job']}",
                "job": int(group[0]["job"]),
                "architecture": arch,
                "depth": int(group[0]["depth"]),
                "seeds": [int(r["seed"]) for r in group],
                "test_by_seed": [float(r["test_accuracy"]) for r in group],
                "val_by_seed": [float(r["val_accuracy"]) for r in group],
                "test_accuracy": float(np.mean([r["test_accuracy"] for r in group])),
                "val_accuracy": float(np.mean([r["val_accuracy"] for r in group])),
                "latency_ms": {key: float(group[0]["latency_ms"][key]) for key in TARGETS.values()},
            }
        )
    return sorted(records, key=lambda r: r["job"])


def seed_noise(archs: Sequence[dict[str, Any]], key: str) -> dict[str, Any]:
    """The seed-to-seed standard deviation of one training's accuracy, from the architectures trained twice:
    ``sqrt(mean(d^2) / 2)`` over their first-minus-second differences ``d`` (each ``d`` has twice one training's
    variance); ``sd`` is None under :data:`MIN_PAIRS` pairs.

    :param archs: the records of :func:`architectures`.
    :param key: ``"test_by_seed"`` or ``"val_by_seed"``.
    :return: ``pairs``, ``sd``, ``mean_abs_diff`` and ``max_abs_diff``.
    """
    diffs = np.array([a[key][0] - a[key][1] for a in archs if len(a[key]) >= 2])
    if len(diffs) < MIN_PAIRS:
        return {"pairs": len(diffs), "sd": None, "mean_abs_diff": None, "max_abs_diff": None}
    return {
        "pairs": len(diffs),
        "sd": float(np.sqrt(np.mean(diffs**2) / 2)),
        "mean_abs_diff": float(np.mean(np.abs(diffs))),
        "max_abs_diff": float(np.max(np.abs(diffs))),
    }


# ----------------------------------------------------------------------------------------------------------------
# Analysis


def latency_column(archs: Sequence[dict[str, Any]], target: str) -> np.ndarray:
    """Latency of every architecture on ``target`` (a display name of :data:`TARGETS`)."""
    return np.array([a["latency_ms"][TARGETS[target]] for a in archs])


def accuracy_column(archs: Sequence[dict[str, Any]], split: str) -> np.ndarray:
    """Seed-averaged ``"test"`` or ``"val"`` accuracy of every architecture."""
    return np.array([a[f"{split}_accuracy"] for a in archs])


def target_fronts(archs: Sequence[dict[str, Any]], target: str, test_sd: float | None) -> dict[str, Any]:
    """One target's fronts on test and validation accuracy, and the test front within noise (None unmeasured)."""
    lat = latency_column(archs, target)
    test, val = pareto_front(lat, accuracy_column(archs, "test")), pareto_front(lat, accuracy_column(archs, "val"))
    noisy = None if test_sd is None else within_noise(lat, accuracy_column(archs, "test"), NOISE_SDS * test_sd)
    return {
        "test": test,
        "val": val,
        "val_same": set(test) == set(val),
        "val_jaccard": jaccard(test, val),
        "test_within_noise": noisy,
    }


def pair_matrices(
    archs: Sequence[dict[str, Any]], fronts: dict[str, dict[str, Any]], test_sd: float | None
) -> dict[str, Any]:
    """Target x target: Jaccard of the test fronts, Spearman of the latencies over all architectures, and the
    latency penalty of taking the column's front on the row's target, strictly and (once the seed sd is measured)
    with accuracy levels one seed sd apart counted as one (``penalty_noise``, None until then)."""
    from scipy.stats import spearmanr

    acc = accuracy_column(archs, "test")
    lat = {t: latency_column(archs, t) for t in TARGETS}
    names = list(TARGETS)

    def penalties(tolerance: float) -> dict[str, dict[str, Any]]:
        return {
            a: {b: penalty(lat[a], lat[b], acc, fronts[a]["test"], fronts[b]["test"], tolerance)
                for b in names if b != a}
            for a in names
        }  # fmt: skip

    return {
        "jaccard": {a: {b: jaccard(fronts[a]["test"], fronts[b]["test"]) for b in names} for a in names},
        "latency_spearman": {a: {b: float(spearmanr(lat[a], lat[b]).statistic) for b in names} for a in names},
        "penalty": penalties(0.0),
        "penalty_noise": None if test_sd is None else penalties(NOISE_SDS * test_sd),
    }


def memberships(fronts: dict[str, dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """Every network on at least one test front but not on all: where it is on the front, where it is off it but
    within noise, and where it is off by more than noise (None everywhere while noise is unmeasured).

    :param fronts: target -> :func:`target_fronts`.
    :param count: number of architectures.
    """
    out = []
    for i in range(count):
        on = [t for t, f in fronts.items() if i in f["test"]]
        if not on or len(on) == len(fronts):
            continue
        off = [t for t in fronts if t not in on]
        measured = all(f["test_within_noise"] is not None for f in fronts.values())
        near = [t for t in off if measured and i in fronts[t]["test_within_noise"]]
        out.append(
            {"index": i, "on": on, "off_within_noise": near if measured else None,
             "off_beyond_noise": [t for t in off if t not in near] if measured else None}
        )  # fmt: skip
    return out


def analyse(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Everything the results report, from the reference rows.

    :param rows: the reference rows (complete ones, as :func:`read_rows` returns them).
    """
    archs = architectures(rows)
    noise = {"test": seed_noise(archs, "test_by_seed"), "val": seed_noise(archs, "val_by_seed")}
    fronts = {t: target_fronts(archs, t, noise["test"]["sd"]) for t in TARGETS}
    test_fronts = {t: f["test"] for t, f in fronts.items()}
    union = sorted(set().union(*test_fronts.values()))
    core = sorted(set.intersection(*(set(f) for f in test_fronts.values())))
    return {
        "architectures": archs,
        "noise": noise,
        "fronts": fronts,
        "pairs": pair_matrices(archs, fronts, noise["test"]["sd"]),
        "same_everywhere": same_everywhere(test_fronts),
        "val_same_everywhere": same_everywhere({t: f["val"] for t, f in fronts.items()}),
        "union": union,
        "core": core,
        "memberships": memberships(fronts, len(archs)),
    }


def snapshot(path: Path) -> tuple[ReadResult, str | None]:
    """The rows of ``path`` and the sha256 of the very bytes they were read from: the reference run appends to the
    file while this reads it, so rows and hash come from one read (a line cut mid-write is flagged torn, skipped).

    :param path: the JSON Lines file.
    """
    if not path.is_file():
        return read_rows(path), None
    data = path.read_bytes()
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / path.name
        copy.write_bytes(data)
        return read_rows(copy), hashlib.sha256(data).hexdigest()


def source_record(path: Path, read: ReadResult, sha256: str | None) -> dict[str, Any]:
    """Which file the run read, its hash, and what was wrong with it.

    :param path: the JSON Lines file.
    :param read: its rows, as :func:`snapshot` read them.
    :param sha256: the hash of the bytes they were read from.
    """
    return {
        "path": _shown(path),
        "sha256": sha256,
        "rows": len(read.rows),
        "torn_last_line": read.torn is not None,
        "bad_lines": read.bad_lines,
        "latency_tables": sorted(
            {f"{t}:{sha}" for row in read.rows for t, sha in row.get("latency_tables", {}).items()}
        ),
        "regime": read.rows[0]["regime"] if read.rows else None,
        "pending": len(pending(row_plan(read.rows[0]), read.rows)) if read.rows and "plan" in read.rows[0] else None,
    }


def _shown(path: Path) -> str:
    """``path`` relative to the repository when inside it (the results do not name this machine's folders)."""
    root = RESULTS.parents[1]
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return path.name


def measure(path: Path) -> dict[str, Any]:
    """The results JSON of the reference file ``path``.

    :param path: the JSON Lines file.
    :raises SystemExit: fewer than two architectures (no front to compare).
    """
    read, sha256 = snapshot(path)
    if len({r["architecture"] for r in read.rows}) < 2:
        raise SystemExit(f"{path}: {len(read.rows)} row(s): too few architectures for a front")
    return {
        "source": source_record(path, read, sha256),
        "settings": {"targets": TARGETS, "noise_sds": NOISE_SDS, "min_pairs": MIN_PAIRS},
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        **analyse(read.rows),
    }


# ----------------------------------------------------------------------------------------------------------------
# Rendering


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.1f}%"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _ids(archs: list[dict[str, Any]], indices: Sequence[int] | None) -> str:
    if indices is None:
        return "n/a"
    return ", ".join(archs[i]["id"] for i in indices) or "none"


def render(data: dict[str, Any]) -> str:
    """The results markdown, from the benchmark's JSON alone.

    :param data: what :func:`measure` returned.
    """
    keys = ("source", "settings", "architectures", "noise", "fronts", "pairs", "same_everywhere", "memberships")
    results_io.require(data, keys, f"{NAME}.json", RERUN)
    lines = render_header(data) + render_verdict(data)
    for target in data["settings"]["targets"]:
        lines += render_target(data, target)
    lines += render_pairs(data) + render_memberships(data) + render_legend(data)
    return "\n".join(lines).rstrip() + "\n"


def _completeness(pending_jobs: int | None) -> str:
    """Whether the set's plan is finished (the fronts may still move while it is not)."""
    if pending_jobs == 0:
        return "The set is complete: every training of its plan is in."
    if pending_jobs is None:
        return "Its rows record no plan, so whether the set is complete is unknown; the fronts may move."
    return f"The set is still growing ({pending_jobs} trainings of its plan to go); the fronts may move."


def render_header(data: dict[str, Any]) -> list[str]:
    """Title, what the run covers, and the rules."""
    src, archs, noise = data["source"], data["architectures"], data["noise"]["test"]
    twice = sum(len(a["seeds"]) >= 2 for a in archs)
    regime = src["regime"] or {}
    return [
        "# Does each hardware want a different network? Accuracy-latency Pareto fronts of the NAS reference set",
        "",
        f"Computed by `benchmarks/{NAME}.py` on {data['date']} from `{src['path']}` "
        f"(sha256 `{src['sha256']}`): {src['rows']} trainings of {len(archs)} architectures, {twice} of them "
        f"trained with two seeds (recipe: `{regime.get('dataset')}`, {regime.get('num_train')} training images, "
        f"{regime.get('epochs')} epoch(s), width {regime.get('width_mult')}; see the set's datasheet). "
        f"{_completeness(src.get('pending'))} Regenerate with:",
        "",
        f"```bash\n{RERUN}\n```",
        "",
        "Rules:",
        "",
        "* Accuracy is the from-scratch accuracy averaged over an architecture's seeds (one or two); latency is the "
        "deployed network's (width 1, 224x224) on each target's table. A network is on a target's front when no "
        "other network is at most as slow there and at least as accurate, and strictly better in one.",
        "* Fronts are chosen on **test** accuracy: the reference set is a measurement of the space (every network "
        "trained and scored once, nothing selected and then reported as an estimate of unseen data), so the larger, "
        "10,000-image test split is the better measurement. The front on **validation** accuracy (2,000 images) is "
        "given beside it.",
        "* Penalty of taking B's front on A: for each network p on A's front, B's pick is the network of B's front "
        "that B would deploy at p's accuracy (the fastest on B of those reaching at least p's test accuracy); its "
        "latency on A relative to p's, minus 1, averaged (and maximised) over A's front. The best of B's front is "
        "the fastest on A of the same candidates: the least A can pay while keeping to B's front.",
        f"* Noise: the seed sd is `sqrt(mean(d^2)/2)` over the first-minus-second-seed differences d of the "
        f"architectures trained twice ({noise['pairs']}; measured from {data['settings']['min_pairs']} on). A "
        f"network is on a front within noise when its accuracy is within {data['settings']['noise_sds']:g} seed sd "
        "of the best accuracy any network reaches at no more latency on that target. A network on one front and "
        "off another is a difference beyond noise only when it is not within noise of the other.",
        "",
    ]


def render_verdict(data: dict[str, Any]) -> list[str]:
    """The answer: same fronts or not, by how much, and whether the differences exceed noise."""
    archs, pairs, fronts = data["architectures"], data["pairs"], data["fronts"]
    names = list(data["settings"]["targets"])
    jac = [pairs["jaccard"][a][b] for a, b in itertools.combinations(names, 2)]
    rho = [pairs["latency_spearman"][a][b] for a, b in itertools.combinations(names, 2)]
    pens = [(pairs["penalty"][a][b]["pick_max"] or 0.0, a, b) for a in names for b in names if b != a]
    worst = max(pens)
    lines = ["## Answer", ""]
    if data["same_everywhere"]:
        front = fronts[names[0]]["test"]
        lines.append(
            f"**Every target's front holds the same {len(front)} networks** ({_ids(archs, front)}): pairwise "
            f"Jaccard {min(jac):.3f}, and taking another target's front costs nothing (largest penalty "
            f"{_pct(worst[0])}). On this task and set, specialisation cannot be shown."
        )
    else:
        lines.append(
            f"The fronts differ: {len(data['union'])} networks are on at least one target's front, "
            f"{len(data['core'])} on all {len(names)} ({_ids(archs, data['core'])}); pairwise Jaccard of the front "
            f"sets {min(jac):.3f}-{max(jac):.3f}. Taking another target's front costs at most {_pct(worst[0])} "
            f"latency at one accuracy level ({worst[1]} taking {worst[2]}'s front)."
        )
    lines += ["", *render_noise_verdict(data), ""]
    lines.append(
        f"Spearman of the latencies between targets over all {len(archs)} architectures: {min(rho):.3f}-"
        f"{max(rho):.3f} (the pair matrices below)."
    )
    same_val = sum(f["val_same"] for f in fronts.values())
    lines += [
        "",
        f"On validation accuracy, {same_val} of {len(names)} targets' fronts hold the same networks as on test "
        f"accuracy; every target's validation front the same networks: {_yes(data['val_same_everywhere'])}.",
        "",
    ]
    return lines


def render_noise_verdict(data: dict[str, Any]) -> list[str]:
    """Whether the front differences exceed the seed noise."""
    noise, members, archs = data["noise"]["test"], data["memberships"], data["architectures"]
    if noise["sd"] is None:
        return [
            f"Seed noise is not measured yet ({noise['pairs']} architecture(s) trained twice, "
            f"{data['settings']['min_pairs']} needed): whether these differences exceed noise is open."
        ]
    firm = [m for m in members if m["off_beyond_noise"]]
    names = list(data["settings"]["targets"])
    worst = max((data["pairs"]["penalty_noise"][a][b]["pick_max"] or 0.0, a, b) for a in names for b in names if b != a)
    text = (
        f"Seed sd of one training's test accuracy: {noise['sd']:.4f} ({noise['pairs']} architectures trained "
        f"twice; mean |difference| {noise['mean_abs_diff']:.4f}, max {noise['max_abs_diff']:.4f}; validation "
        f"accuracy's {_num(data['noise']['val']['sd'])}). With accuracy "
        f"levels one seed sd apart counted as one, taking another target's front costs at most {_pct(worst[0])} "
        f"({worst[1]} taking {worst[2]}'s). "
    )
    if not members:
        return [text + "No network is on some fronts and off others."]
    return [
        text + f"Of the {len(members)} networks on some fronts but not all, {len(firm)} are off some front by more "
        f"than noise ({_ids(archs, [m['index'] for m in firm])}); the others' differences are within noise."
    ]


def render_target(data: dict[str, Any], target: str) -> list[str]:
    """One target's front: its networks, their latencies and accuracies, and the validation front beside it."""
    archs, f = data["architectures"], data["fronts"][target]
    key = data["settings"]["targets"][target]
    fronts = data["fronts"]
    rows = []
    for i in f["test"]:
        a = archs[i]
        also = [t for t in fronts if t != target and i in fronts[t]["test"]]
        rows.append(
            [a["id"], a["depth"], f"{a['latency_ms'][key]:.2f}", f"{a['test_accuracy']:.4f}",
             f"{a['val_accuracy']:.4f}", len(a["seeds"]), "yes" if i in f["val"] else "no", ", ".join(also) or "none"]
        )  # fmt: skip
    headers = ["network", "depth", f"{key} ms", "test acc.", "val acc.", "seeds", "on val front", "on the front of"]
    noisy = f["test_within_noise"]
    extra = [i for i in noisy if i not in f["test"]] if noisy is not None else None
    return [
        f"## {target} (`{key}`): {len(f['test'])} networks on the test-accuracy front",
        "",
        *results_io.table(headers, rows, "lrrrrrll"),
        "",
        f"Front on validation accuracy: {_ids(archs, f['val'])} (same networks: {'yes' if f['val_same'] else 'no'}, "
        f"Jaccard with the test front {f['val_jaccard']:.3f}). Off the test front but within noise of it: "
        f"{_ids(archs, extra) if extra is not None else 'noise not measured yet'}.",
        "",
    ]


Cell = Callable[[str, str], str]
"""A matrix cell: (row target, column target) -> its text."""


def _matrix(names: list[str], cell: Cell) -> list[str]:
    """A target x target table."""
    rows = [[f"**{a}**", *(cell(a, b) for b in names)] for a in names]
    return results_io.table(["", *names], rows, "l" + "r" * len(names))


def _penalty_cell(penalties: dict[str, dict[str, Any]], kind: str) -> Cell:
    """Mean / max penalty of ``kind`` (``"pick"`` or ``"best"``) of the column's front on the row's target."""

    def cell(a: str, b: str) -> str:
        if a == b:
            return "-"
        p = penalties[a][b]
        return f"{_pct(p[f'{kind}_mean'])} / {_pct(p[f'{kind}_max'])}"

    return cell


def render_pairs(data: dict[str, Any]) -> list[str]:
    """The target x target matrices."""
    pairs, names = data["pairs"], list(data["settings"]["targets"])
    strict = pairs["penalty"]

    def differs(a: str, b: str) -> str:
        return "-" if a == b else f"{strict[a][b]['differs']}/{strict[a][b]['levels']}"

    lines = [
        "## How much the fronts differ",
        "",
        "Jaccard overlap of the test-accuracy front sets (1: the same networks):",
        "",
        *_matrix(names, lambda a, b: f"{pairs['jaccard'][a][b]:.3f}"),
        "",
        "Spearman correlation of the latencies on the two targets, over all architectures:",
        "",
        *_matrix(names, lambda a, b: f"{pairs['latency_spearman'][a][b]:.3f}"),
        "",
        "Penalty on the row's target of taking the column's front, B's pick (mean / max over the row's front). A "
        "level the column's front has no network near is served by its next, more accurate network, so gaps of a "
        "sparse front count here too:",
        "",
        *_matrix(names, _penalty_cell(strict, "pick")),
        "",
    ]
    same_best = all(
        (p["pick_mean"], p["pick_max"]) == (p["best_mean"], p["best_max"])
        for row in strict.values()
        for p in row.values()
    )
    if same_best:
        lines += ["The best of the column's front on the row's target gives the same penalties in every cell.", ""]
    else:
        lines += ["The same with the best of the column's front on the row's target (the least it can pay):", ""]
        lines += [*_matrix(names, _penalty_cell(strict, "best")), ""]
    lines += ["Accuracy levels of the row's front at which the column's pick is another network (of the row's front "
              "size):", "", *_matrix(names, differs), ""]  # fmt: skip
    if pairs["penalty_noise"] is None:
        return [*lines, "The penalty with levels one seed sd apart counted as one awaits the seed noise.", ""]
    return [
        *lines,
        "Penalty of B's pick with accuracy levels one seed sd apart counted as one (candidates reaching the level "
        "minus one sd, against the row's own fastest network that does), mean / max:",
        "",
        *_matrix(names, _penalty_cell(pairs["penalty_noise"], "pick")),
        "",
    ]


def render_memberships(data: dict[str, Any]) -> list[str]:
    """The networks on some fronts but not all."""
    archs, members = data["architectures"], data["memberships"]
    lines = ["## Networks on some fronts but not all", ""]
    if not members:
        return [*lines, "None: every network on a front is on every front.", ""]

    def names(targets: list[str] | None) -> str:
        return "n/a" if targets is None else ", ".join(targets) or "none"

    rows = [
        [archs[m["index"]]["id"], f"{archs[m['index']]['test_accuracy']:.4f}", names(m["on"]),
         names(m["off_within_noise"]), names(m["off_beyond_noise"])]
        for m in members
    ]  # fmt: skip
    headers = ["network", "test acc.", "on the front of", "off, within noise", "off, beyond noise"]
    return [*lines, *results_io.table(headers, rows, "lrlll"), ""]


def render_legend(data: dict[str, Any]) -> list[str]:
    """The networks on any front (test or validation), spelled out."""
    archs, fronts = data["architectures"], data["fronts"]
    shown = sorted({i for f in fronts.values() for i in (*f["test"], *f["val"])})
    rows = [
        [archs[i]["id"], f"`{archs[i]['architecture']}`", " / ".join(f"{v:.4f}" for v in archs[i]["test_by_seed"]),
         " / ".join(f"{v:.4f}" for v in archs[i]["val_by_seed"])]
        for i in shown
    ]  # fmt: skip
    return [
        "## The networks on any front",
        "",
        "Named by the reference set's job of their first seed (`#job` in the datasheet's rows); accuracies per seed.",
        "",
        *results_io.table(["network", "architecture", "test acc. per seed", "val acc. per seed"], rows, "llll"),
        "",
    ]


# ----------------------------------------------------------------------------------------------------------------
# Figure


def plot(data: dict[str, Any], path: Path) -> None:
    """One panel per target: every architecture, the test-accuracy front (networks not on every front ringed) and,
    once noise is measured, the band one seed sd below the front's staircase; drawn from the JSON alone.

    :param data: what :func:`measure` returned.
    :param path: the PNG to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = data["settings"]["targets"]
    columns = 3
    rows = -(-len(targets) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.8 * rows), sharey=True, squeeze=False)
    for ax, (name, key) in zip(axes.flat, targets.items(), strict=False):
        _panel(ax, data, name, key)
    for ax in list(axes.flat)[len(targets) :]:
        ax.axis("off")
    axes[0, 0].legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _panel(ax: Any, data: dict[str, Any], name: str, key: str) -> None:
    """One target's panel of :func:`plot`."""
    from matplotlib.ticker import FixedLocator, NullLocator

    archs = data["architectures"]
    acc = np.array([a["test_accuracy"] for a in archs])
    lat = np.array([a["latency_ms"][key] for a in archs])
    front, core, sd = data["fronts"][name]["test"], set(data["core"]), data["noise"]["test"]["sd"]
    ax.scatter(lat, acc, s=14, color="0.6", label="architectures")
    ax.step(lat[front], acc[front], where="post", color="C3", lw=1.2)
    ax.scatter(lat[front], acc[front], s=30, color="C3", zorder=3, label="on this front")
    ringed = [i for i in front if i not in core]
    ax.scatter(lat[ringed], acc[ringed], s=70, facecolors="none", edgecolors="k", zorder=4, label="not on every front")
    if sd is not None:
        ax.fill_between(lat[front], acc[front] - sd, acc[front], step="post", color="C3", alpha=0.15, lw=0,
                        label="one seed sd below the front")  # fmt: skip
    for i in front:
        ax.annotate(archs[i]["id"], (lat[i], acc[i]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    # a log axis spanning less than a decade labels its minor ticks on top of each other: a few round ticks instead
    ticks = [float(f"{t:.2g}") for t in np.geomspace(lat.min(), lat.max(), 5)]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.set_xlabel(f"{key} latency (ms, log scale)")
    ax.set_ylabel("test accuracy (seed mean)")
    ax.set_title(f"{name}: {len(front)} on the front", fontsize=10)


# ----------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Read the reference set, write the JSON, the markdown and the figure, and print the markdown."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=SOURCE, help="the reference set's JSON Lines file")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"where {NAME}.json / .md / .png go")
    args = parser.parse_args(argv)
    data = measure(args.source)
    text = render(data)
    results_io.write(args.out / f"{NAME}.json", data, args.out / f"{NAME}.md", text)
    plot(data, args.out / f"{NAME}.png")
    print(text)


if __name__ == "__main__":
    main()
