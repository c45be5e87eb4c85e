"""The Pareto-front comparison of the NAS reference set (benchmarks/nas_pareto.py): the front against brute force,
the overlap and penalty rules on a hand-made case whose answers are worked out below, the noise rule, and the
"same networks on every front" statement. Synthetic rows only: nothing is trained."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # the scripts import results_io bare

import nas_pareto as npf

from hwenvs.lab.nas_reference_set import FORMAT


def brute_front(lat: np.ndarray, acc: np.ndarray) -> set[int]:
    """The definition, pair by pair."""
    n = len(lat)
    dominated = {
        i
        for i, j in itertools.product(range(n), range(n))
        if lat[j] <= lat[i] and acc[j] >= acc[i] and (lat[j] < lat[i] or acc[j] > acc[i])
    }
    return set(range(n)) - dominated


@pytest.mark.parametrize("seed", range(30))
def test_front_matches_brute_force_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    lat = rng.integers(1, 12, size=n).astype(float)  # few values: ties in latency, accuracy and both
    acc = rng.integers(0, 8, size=n) / 10
    front = npf.pareto_front(lat, acc)
    assert set(front) == brute_front(lat, acc)
    assert len(front) == len(set(front))
    assert [lat[i] for i in front] == sorted(lat[i] for i in front)  # sorted by latency
    assert acc[front[-1]] == acc.max()  # the most accurate is always on it


def test_front_keeps_identical_points_and_drops_equal_accuracy_at_higher_latency() -> None:
    assert npf.pareto_front([1, 1, 2, 3], [0.5, 0.5, 0.5, 0.7]) == [0, 1, 3]


def test_within_noise_is_the_staircase_minus_the_tolerance() -> None:
    lat = np.array([1.0, 2.0, 3.0, 4.0])
    acc = np.array([0.80, 0.90, 0.88, 0.95])
    assert npf.within_noise(lat, acc, 0.0) == [0, 1, 3]
    assert npf.within_noise(lat, acc, 0.019) == [0, 1, 3]  # 0.88 is 0.02 under 0.90, reached at less latency
    assert npf.within_noise(lat, acc, 0.021) == [0, 1, 2, 3]
    assert set(npf.pareto_front(lat, acc)) <= set(npf.within_noise(lat, acc, 0.0))


# A hand-made pair of targets A and B (networks n0..n4):
#   n0: acc 0.80, A 10, B 10   on both fronts
#   n1: acc 0.85, A 20, B 40   A's network (n2 is as accurate and slower on A)
#   n2: acc 0.85, A 40, B 20   B's network
#   n3: acc 0.90, A 50, B 50   on both fronts (the most accurate)
#   n4: acc 0.87, A 25, B 30   on both fronts
# A's front n0 n1 n4 n3, B's n0 n2 n4 n3: Jaccard 3/5.
ACC = np.array([0.80, 0.85, 0.85, 0.90, 0.87])
LAT_A = np.array([10.0, 20.0, 40.0, 50.0, 25.0])
LAT_B = np.array([10.0, 40.0, 20.0, 50.0, 30.0])


def test_hand_made_fronts_and_overlap() -> None:
    front_a, front_b = npf.pareto_front(LAT_A, ACC), npf.pareto_front(LAT_B, ACC)
    assert front_a == [0, 1, 4, 3] and front_b == [0, 2, 4, 3]
    assert npf.jaccard(front_a, front_b) == pytest.approx(3 / 5)
    assert npf.jaccard([], []) == 1.0 and npf.jaccard([1], [2]) == 0.0


def test_hand_made_penalty_both_ways() -> None:
    front_a, front_b = [0, 1, 4, 3], [0, 2, 4, 3]
    # A's level 0.85 (n1, 20 ms on A): B deploys n2 (fastest on B reaching 0.85) at 40 ms on A, +100%; the best of
    # B's front on A is n4 at 25 ms, +25%; every other level is served by A's own network
    a_from_b = npf.penalty(LAT_A, LAT_B, ACC, front_a, front_b)
    assert a_from_b["pick_max"] == pytest.approx(1.0) and a_from_b["pick_mean"] == pytest.approx(1.0 / 4)
    assert a_from_b["best_max"] == pytest.approx(0.25) and a_from_b["best_mean"] == pytest.approx(0.25 / 4)
    assert (a_from_b["levels"], a_from_b["covered"], a_from_b["differs"], a_from_b["worst"]) == (4, 4, 1, [1, 2])
    # B's level 0.85 (n2, 20 ms on B): A deploys n1 at 40 ms on B, +100%; the best of A's front on B is n4, +50%
    b_from_a = npf.penalty(LAT_B, LAT_A, ACC, front_b, front_a)
    assert b_from_a["pick_max"] == pytest.approx(1.0) and b_from_a["pick_mean"] == pytest.approx(1.0 / 4)
    assert b_from_a["best_max"] == pytest.approx(0.5) and b_from_a["best_mean"] == pytest.approx(0.5 / 4)
    # a front taken by its own target costs nothing
    own = npf.penalty(LAT_A, LAT_A, ACC, front_a, front_a)
    assert (own["pick_max"], own["best_max"], own["differs"]) == (0.0, 0.0, 0)


def test_penalty_with_a_tolerance_merges_levels_on_both_sides() -> None:
    # 0.025 merges 0.85 and 0.87: at A's level n4 (0.87) A itself may now take n1 (20 ms), and B takes n2 (40 ms on
    # A), +100% at two levels of four
    merged = npf.penalty(LAT_A, LAT_B, ACC, [0, 1, 4, 3], [0, 2, 4, 3], tolerance=0.025)
    assert merged["pick_mean"] == pytest.approx(2.0 / 4) and merged["pick_max"] == pytest.approx(1.0)
    # a tolerance that lets n0 serve every level: both sides deploy it, nothing to pay
    flat = npf.penalty(LAT_A, LAT_B, ACC, [0, 1, 4, 3], [0, 2, 4, 3], tolerance=0.5)
    assert flat["pick_max"] == 0.0


def test_same_everywhere() -> None:
    assert npf.same_everywhere({"a": [0, 2, 3], "b": [3, 0, 2]})
    assert not npf.same_everywhere({"a": [0, 2, 3], "b": [0, 2, 3], "c": [0, 3]})


# ------------------------------------------------------------------------------------- rows to results


def make_rows(acc: np.ndarray, lat_a: np.ndarray, lat_b: np.ndarray, half_diff: dict[int, float]) -> list[dict]:
    """Rows of a reference file: Mobile costs on ``lat_a``, every other target on ``lat_b``; the networks in
    ``half_diff`` are trained twice, at their accuracy minus and plus the value (their mean is their accuracy)."""
    rows = []
    for i, (a, la, lb) in enumerate(zip(acc, lat_a, lat_b, strict=True)):
        latency = {key: float(lb) for key in npf.TARGETS.values()}
        latency["mobile"] = float(la)
        seeds = {0: a - half_diff[i], 1: a + half_diff[i]} if i in half_diff else {0: a}
        for seed, value in seeds.items():
            rows.append(
                {"format": FORMAT, "architecture": f"net{i}", "seed": seed, "job": i, "depth": 6 + i,
                 "test_accuracy": float(value), "val_accuracy": float(value), "latency_ms": latency,
                 "latency_tables": dict.fromkeys(latency, "x"), "regime": {"dataset": "toy"}}
            )  # fmt: skip
    return rows


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_seed_noise_is_the_single_training_sd() -> None:
    archs = npf.architectures(make_rows(ACC, LAT_A, LAT_B, {0: 0.01, 3: 0.02, 4: 0.03}))
    noise = npf.seed_noise(archs, "test_by_seed")
    diffs = np.array([0.02, 0.04, 0.06])
    assert noise["pairs"] == 3 and noise["sd"] == pytest.approx(np.sqrt(np.mean(diffs**2) / 2))
    assert noise["max_abs_diff"] == pytest.approx(0.06)
    assert npf.seed_noise(archs[:2], "test_by_seed") == {"pairs": 1, "sd": None, "mean_abs_diff": None,
                                                          "max_abs_diff": None}  # fmt: skip
    assert archs[3]["test_accuracy"] == pytest.approx(0.90) and archs[3]["seeds"] == [0, 1]


@pytest.mark.parametrize(("half", "within"), [(0.005, False), (0.03, True)])
def test_memberships_say_which_differences_are_within_noise(half: float, within: bool) -> None:
    # n2 is on every front but Mobile's; on Mobile, the best accuracy at no more latency than its 40 ms is n4's
    # 0.87, 0.02 above it: beyond noise for a seed sd of 0.005 * sqrt(2), within it for 0.03 * sqrt(2)
    data = npf.analyse(make_rows(ACC, LAT_A, LAT_B, dict.fromkeys((0, 3, 4), half)))
    assert data["noise"]["test"]["sd"] == pytest.approx(half * np.sqrt(2))
    by_index = {m["index"]: m for m in data["memberships"]}
    assert set(by_index) == {1, 2}
    assert by_index[2]["on"] == ["CPU", "BISMO edge", "BISMO cloud", "BitFusion"]
    assert by_index[2]["off_within_noise" if within else "off_beyond_noise"] == ["Mobile"]
    assert not data["same_everywhere"] and data["core"] == [0, 3, 4]
    source = {"path": "x", "sha256": "0", "rows": 8, "regime": None}
    settings = {"targets": npf.TARGETS, "noise_sds": 1.0, "min_pairs": 3}
    text = npf.render({**data, "source": source, "settings": settings, "date": "d"})
    assert "The fronts differ: 5 networks are on at least one target's front, 3 on all 5 (#0, #3, #4)" in text
    assert "specialisation cannot be shown" not in text
    assert ("the others' differences are within noise" in text) and (f"{0 if within else 2} are off some" in text)


def test_same_fronts_everywhere_are_reported_as_no_specialisation(tmp_path: Path) -> None:
    rows = make_rows(ACC, LAT_A, 3 * LAT_A, {})  # every target orders the networks as Mobile does
    data = npf.measure(write_rows(tmp_path / "ref.jsonl", rows))
    assert data["same_everywhere"] and data["memberships"] == []
    text = npf.render(json.loads(json.dumps(data)))  # what the JSON holds is enough
    assert "**Every target's front holds the same 4 networks** (#0, #1, #4, #3)" in text
    assert "specialisation cannot be shown" in text and "largest penalty +0.0%" in text
    assert "Seed noise is not measured yet (0 architecture(s) trained twice, 3 needed)" in text
    # one target ranking two networks the other way round breaks it
    rows = make_rows(ACC, LAT_A, LAT_B, {})
    assert not npf.measure(write_rows(tmp_path / "ref.jsonl", rows))["same_everywhere"]


def test_main_writes_the_json_the_markdown_and_the_figure(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "ref.jsonl", make_rows(ACC, LAT_A, LAT_B, dict.fromkeys((0, 3, 4), 0.01)))
    npf.main(["--source", str(source), "--out", str(tmp_path)])
    data = json.loads((tmp_path / "nas_pareto.json").read_text())
    assert (tmp_path / "nas_pareto.md").read_text() == npf.render(data)
    assert (tmp_path / "nas_pareto.png").stat().st_size > 0
    assert data["pairs"]["penalty_noise"]["Mobile"]["CPU"]["levels"] == 4
    with pytest.raises(SystemExit, match="too few architectures"):
        npf.main(["--source", str(write_rows(tmp_path / "one.jsonl", make_rows(ACC[:1], LAT_A[:1], LAT_B[:1], {})))])


def test_the_header_says_whether_the_set_is_complete() -> None:
    assert "complete" in npf._completeness(0)
    assert "3 trainings of its plan to go" in npf._completeness(3)
    assert "unknown" in npf._completeness(None)
