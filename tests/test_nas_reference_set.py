"""The from-scratch reference set's plan, its resumable JSON Lines file and its datasheet statistics (no training:
the training step is replaced, the statistics are checked on synthetic rows against scipy directly)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import bootstrap, kendalltau, spearmanr

from hwenvs.lab import nas_reference_set as rs
from hwenvs.nas.architecture import shallowest, uniform


@pytest.fixture(scope="module")
def jobs() -> list[rs.Job]:
    return rs.plan()


def test_plan_is_deterministic_and_seeded(jobs: list[rs.Job]) -> None:
    assert rs.plan() == jobs
    other = rs.plan(rs.PlanConfig(sample_seed=1))
    assert {j.architecture for j in other} != {j.architecture for j in jobs}


def test_plan_spreads_over_depth_expansion_kernel_and_compute(jobs: list[rs.Job]) -> None:
    firsts = [j for j in jobs if j.seed == 0]
    archs = [j.architecture for j in firsts]
    assert len(archs) == len(set(archs)) >= 60
    assert archs[:2] == [shallowest("k3e3"), uniform("k7e6")]  # the fastest and the largest land first
    assert uniform("k3e3") in archs and shallowest("k7e6") in archs
    counts = Counter(rs.stratum(a) for a in archs[len(rs.CORNERS) :])
    assert counts == dict.fromkeys(rs.STRATA, rs.PlanConfig().per_stratum)
    feats = [rs.features(a) for a in archs]
    depths = Counter(f["depth"] for f in feats)
    assert min(depths) == 6 and max(depths) == 21 and len(depths) >= 12
    assert all(sum(n for d, n in depths.items() if lo <= d <= hi) >= 16 for lo, hi in rs.DEPTH_BINS)
    kernels = np.array([f["mean_kernel"] for f in feats])
    assert kernels.min() == 3 and kernels.max() == 7 and np.median(kernels) == pytest.approx(5, abs=0.6)
    e6 = np.array([f["e6_share"] for f in feats])
    assert e6.min() == 0 and e6.max() == 1
    macs = np.array([rs.block_macs(a) for a in archs], dtype=float)
    assert macs.argmin() == 0 and macs.argmax() == 1
    # compute is spread, not clumped: every decile of the MAC range holds some architecture
    hist, _ = np.histogram(macs, bins=8)
    assert (hist > 0).all()


def test_prefix_covers_every_stratum_and_second_seeds_follow_first(jobs: list[rs.Job]) -> None:
    head = jobs[: rs.FIRST_SEED_PREFIX]
    assert all(j.seed == 0 for j in head)
    assert {rs.stratum(j.architecture) for j in head[len(rs.CORNERS) :]} == set(rs.STRATA)
    seconds = [j for j in jobs if j.seed == 1]
    assert len(seconds) >= 20
    first_index = {j.architecture: j.index for j in jobs if j.seed == 0}
    assert all(first_index[j.architecture] < rs.FIRST_SEED_PREFIX <= j.index for j in seconds)
    twice = [j.architecture for j in seconds]
    assert shallowest("k3e3") in twice and uniform("k7e6") in twice
    assert [j.index for j in jobs] == list(range(len(jobs)))


def _row(job: rs.Job, test: float = 0.9, val: float = 0.9, latency: dict | None = None) -> dict[str, Any]:
    return {
        "format": rs.FORMAT,
        "architecture": job.architecture.to_string(),
        "seed": job.seed,
        "job": job.index,
        "stratum": job.stratum,
        **rs.features(job.architecture),
        "params": rs.block_macs(job.architecture) // 1000,
        "test_accuracy": test,
        "val_accuracy": val,
        "train_seconds": 1.0 + rs.block_macs(job.architecture) / 1e8,
        "latency_ms": latency or {},
        "latency_tables": dict.fromkeys(latency or {}, "0" * 16),
        "regime": rs.Regime().record(),
        "plan": rs.PlanConfig().record(),
    }


def test_append_then_a_torn_line_is_flagged_skipped_and_cut(tmp_path: Path, jobs: list[rs.Job]) -> None:
    path = tmp_path / "sub" / "ref.jsonl"
    assert rs.read_rows(path).rows == []
    rs.append_row(path, _row(jobs[0]))
    rs.append_row(path, _row(jobs[1]))
    with open(path, "a") as f:  # a writer killed mid-line
        f.write(json.dumps(_row(jobs[2]))[:40])
    read = rs.read_rows(path)
    assert [r["job"] for r in read.rows] == [0, 1]
    assert read.torn is not None and read.bad_lines == []
    assert [j.index for j in rs.pending(jobs, read.rows)][:2] == [2, 3]
    rs.append_row(path, _row(jobs[2]))
    read = rs.read_rows(path)
    assert [r["job"] for r in read.rows] == [0, 1, 2] and read.torn is None
    assert path.read_text().count("\n") == 3 and path.read_text().endswith("\n")
    with open(path, "a") as f:  # a complete line that is not a row is flagged, never fatal
        f.write("not json\n")
    read = rs.read_rows(path)
    assert len(read.rows) == 3 and read.bad_lines == [4]
    with pytest.raises(ValueError):
        rs.append_row(path, {**_row(jobs[3]), "test_accuracy": float("nan")})


def test_run_resumes_per_architecture(tmp_path: Path, jobs: list[rs.Job], monkeypatch: pytest.MonkeyPatch) -> None:
    trained: list[int] = []

    def fake_train(job: rs.Job, task: Any, regime: rs.Regime) -> dict[str, Any]:
        trained.append(job.index)
        return {"val_accuracy": 0.5, "test_accuracy": 0.5, "train_seconds": 1.0, "params": 1}

    monkeypatch.setattr(rs, "train_job", fake_train)
    monkeypatch.setattr(rs.Regime, "load_task", lambda self: None)
    path = tmp_path / "ref.jsonl"
    seen: list[int] = []
    assert rs.run(path, limit=3, tables={}, on_row=lambda r: seen.append(r["job"]), log=lambda _: None) == 3
    with open(path, "a") as f:
        f.write('{"format": "nas-ref')  # killed while writing the fourth
    assert rs.run(path, limit=2, tables={}, log=lambda _: None) == 2
    rows = rs.read_rows(path).rows
    assert trained == [0, 1, 2, 3, 4] and seen == [0, 1, 2]
    assert [r["job"] for r in rows] == [0, 1, 2, 3, 4]
    assert len({rs.row_key(r) for r in rows}) == 5
    with pytest.raises(rs.RegimeMismatch):
        rs.run(path, rs.Regime(epochs=3), tables={}, limit=1, log=lambda _: None)


def _synthetic(jobs: list[rs.Job]) -> list[dict[str, Any]]:
    """Rows whose accuracy rises with latency plus noise; second seeds differ by a little noise."""
    rng = np.random.default_rng(0)
    rows, base = [], {}
    for job in jobs:
        ms = rs.block_macs(job.architecture) / 1e7
        acc = base.setdefault(job.architecture, 0.85 + 0.0001 * ms + rng.normal(0, 0.004))
        noise = rng.normal(0, 0.002)
        rows.append(_row(job, acc + noise, acc + rng.normal(0, 0.004), {"cpu": ms, "bismo-edge": 2 * ms + 1}))
    return rows


def test_statistics_match_scipy(jobs: list[rs.Job]) -> None:
    rows = _synthetic(jobs[:60])  # 40 first seeds, then 10 second seeds among 20 more
    firsts = rs.first_seed_rows(rows)
    assert len(firsts) == 50 and all(r["seed"] == 0 for r in firsts)
    latency = np.array([r["latency_ms"]["cpu"] for r in firsts])
    test = np.array([r["test_accuracy"] for r in firsts])
    point, low, high = rs.rank_correlation(latency, test, resamples=300, seed=3)
    assert point == pytest.approx(spearmanr(latency, test).statistic)
    direct = bootstrap(
        (latency, test),
        lambda a, b: spearmanr(a, b).statistic,
        paired=True,
        vectorized=False,
        n_resamples=300,
        method="percentile",
        rng=np.random.default_rng(3),
    ).confidence_interval
    assert (low, high) == pytest.approx((direct.low, direct.high))
    assert low < point < high
    tau = rs.rank_correlation(latency, test, "kendall", resamples=100)[0]
    assert tau == pytest.approx(kendalltau(latency, test).statistic)
    assert np.isnan(rs.rank_correlation(latency[:5], test[:5])[1])  # too few pairs for an interval

    first, second, archs = rs.seed_pairs(rows)
    assert len(archs) == 10
    by_key = {rs.row_key(r): r["test_accuracy"] for r in rows}
    assert list(first) == [by_key[(a, 0)] for a in archs] and list(second) == [by_key[(a, 1)] for a in archs]
    assert rs.rank_correlation(first, second, resamples=100)[0] == pytest.approx(spearmanr(first, second).statistic)

    spread = rs.accuracy_range(latency, test)
    assert spread["fastest_accuracy"] == test[np.argmin(latency)] and spread["best_accuracy"] == test.max()
    assert spread["gain"] == pytest.approx(test.max() - test[np.argmin(latency)])


def test_datasheet_renders_the_rows(tmp_path: Path, jobs: list[rs.Job], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rs, "RESAMPLES", 50)
    path = tmp_path / "ref.jsonl"
    rows = _synthetic(jobs[:60])
    for row in rows:
        rs.append_row(path, row)
    with open(path, "a") as f:
        f.write("{torn")
    out = rs.write_datasheet(path, "OMP_NUM_THREADS=1 python benchmarks/nas_reference_set.py run")
    text = out.read_text()
    firsts = rs.first_seed_rows(rows)
    latency = [r["latency_ms"]["bismo-edge"] for r in firsts]
    test = [r["test_accuracy"] for r in firsts]
    assert f"| `bismo-edge` latency | {spearmanr(latency, test).statistic:.3f} [" in text
    first, second, _ = rs.seed_pairs(rows)
    assert f"Spearman {spearmanr(first, second).statistic:.3f} [" in text
    assert "torn last line: yes" in text and "python benchmarks/nas_reference_set.py run" in text
    assert f"{len(rows)} trainings of {len(firsts)} distinct architectures" in text
    assert text.count("\n| ") >= len(rows)
    empty = rs.write_datasheet(tmp_path / "none.jsonl", "cmd")
    assert "No row yet." in empty.read_text()


def test_fashion_mnist_num_train_extends_the_default_split_only() -> None:
    from hwenvs.data import fashion_mnist as fm

    for bad in (0, fm.MAX_TRAIN + 1, 1.5, True):
        with pytest.raises(ValueError, match="num_train"):
            fm.load_fashion_mnist(num_train=bad)
    try:
        default = fm.load_fashion_mnist()
    except FileNotFoundError:
        pytest.skip("Fashion-MNIST's idx files are not installed")
    larger = fm.load_fashion_mnist(num_train=fm.NUM_TRAIN + 500)
    assert len(larger.train) == fm.NUM_TRAIN + 500
    x_default, y_default = default.train.tensors
    x_larger, y_larger = larger.train.tensors
    assert np.array_equal(x_larger[: fm.NUM_TRAIN], x_default) and np.array_equal(y_larger[: fm.NUM_TRAIN], y_default)
    for split in ("val", "test"):
        pairs = zip(default.split(split).tensors, larger.split(split).tensors, strict=True)
        assert all(np.array_equal(a, b) for a, b in pairs)
    assert np.array_equal(default.calibration, larger.calibration)
