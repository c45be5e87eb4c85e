"""Statistics over test images (paired tests, two-level and clustered bootstraps), per-image outcomes, and a row's
paired summary, checked on synthetic data against direct computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from hwenvs.benchmark import outcomes, paired, stats


def _pair(images: int, only_a: int, only_b: int, both: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.zeros(images, bool), np.zeros(images, bool)
    a[:both] = b[:both] = True
    a[both : both + only_a] = True
    b[both + only_a : both + only_a + only_b] = True
    return a, b


@pytest.mark.parametrize(("only_a", "only_b"), [(0, 0), (3, 9), (20, 5), (40, 41), (0, 7)])
def test_mcnemar_is_the_exact_binomial_test_of_the_discordant_images(only_a: int, only_b: int) -> None:
    a, b = _pair(1000, only_a, only_b, 800)
    expected = 1.0 if only_a + only_b == 0 else binomtest(only_a, only_a + only_b, 0.5).pvalue
    assert stats.mcnemar(a, b) == pytest.approx(expected)
    assert stats.mcnemar(a, b) == pytest.approx(stats.mcnemar(b, a))  # two-sided


def test_paired_verdict_counts_a_few_images_as_a_tie_and_many_as_a_win_or_loss() -> None:
    base, run = _pair(10_000, 3, 6, 8000)  # run gets 3 more images right: well within the noise
    assert stats.paired_verdict(run, base) == "tie"
    base, run = _pair(10_000, 10, 60, 8000)
    assert stats.paired_verdict(run, base) == "win"
    assert stats.paired_verdict(base, run) == "loss"
    with pytest.raises(ValueError, match="different lengths"):
        stats.mcnemar(base, run[:-1])


def _direct_two_level(x: np.ndarray, aggregate, reps: int, seed: int) -> np.ndarray:
    """The replicates drawn one at a time, with the generator used in the same order (chunks of 250)."""
    rng = np.random.default_rng(seed)
    runs, images = x.shape
    out = []
    for start in range(0, reps, 250):
        chunk = min(250, reps - start)
        weights = rng.multinomial(images, np.full(images, 1.0 / images), size=chunk)
        pick = rng.integers(0, runs, size=(chunk, runs))
        for r in range(chunk):
            accuracies = [float((x[i] * weights[r]).sum()) / images for i in pick[r]]
            out.append(aggregate(np.array(accuracies), axis=None))
    return np.array(out)


def test_two_level_interval_matches_a_replicate_by_replicate_computation() -> None:
    rng = np.random.default_rng(3)
    x = rng.random((5, 400)) < np.linspace(0.6, 0.8, 5)[:, None]
    interval = stats.two_level_interval(x, reps=300, seed=7)
    direct = _direct_two_level(x.astype(np.float64), stats.iqm, 300, 7)
    low, high = np.percentile(direct, [2.5, 97.5])
    assert interval.point == pytest.approx(stats.iqm(x.mean(axis=1)))
    assert interval.low == pytest.approx(low, abs=1e-6) and interval.high == pytest.approx(high, abs=1e-6)


def test_one_deterministic_run_gets_the_binomial_width_over_test_images() -> None:
    p, images = 0.83, 10_000
    x = np.zeros(images, bool)
    x[: int(p * images)] = True
    interval = stats.two_level_interval(x[None], seed=0)
    half = 1.96 * np.sqrt(p * (1 - p) / images)
    assert interval.point == pytest.approx(p)
    assert (interval.high - interval.low) / 2 == pytest.approx(half, rel=0.15)
    seeds_only = stats.interval([np.array([p])])
    assert seeds_only.low == seeds_only.high == pytest.approx(p)  # what the seed-only interval cannot see


def test_a_gain_over_a_baseline_is_paired_image_by_image() -> None:
    base, run = _pair(10_000, 0, 50, 8000)  # run = base plus 50 images: the gain is certain, whatever the images
    gain = stats.two_level_interval(run[None], base, stats.mean, seed=1)
    assert gain.point == pytest.approx(0.005)
    assert gain.low > 0.003  # unpaired, accuracies of 0.80 and 0.805 would overlap


def test_clustered_interval_matches_a_direct_two_stage_bootstrap_and_is_wider_than_runs_alone() -> None:
    groups = [np.array([0.1, 0.12, 0.11]), np.array([0.5, 0.52, 0.49]), np.array([0.9, 0.88, 0.91, 0.9])]
    interval = stats.clustered_interval(groups, stats.mean, reps=500, seed=4)
    rng, direct = np.random.default_rng(4), []
    for _ in range(500):
        drawn = [groups[i] for i in rng.integers(0, 3, size=3)]
        direct.append(np.mean(np.concatenate([g[rng.integers(0, g.size, size=g.size)] for g in drawn])))
    low, high = np.percentile(direct, [2.5, 97.5])
    assert interval.low == pytest.approx(low) and interval.high == pytest.approx(high)
    naive = stats.interval([np.concatenate(groups)], stats.mean, reps=500, seed=4)
    assert interval.high - interval.low > 1.5 * (naive.high - naive.low)


def test_outcomes_round_trip_and_refuse_corruption() -> None:
    bits = np.random.default_rng(0).random(10_001) < 0.8
    record = outcomes.pack(bits)
    assert record["images"] == 10_001 and record["correct"] == int(bits.sum())
    assert np.array_equal(outcomes.unpack(record), bits)
    assert len(record["bits"]) < 1800  # about 1.7 kB of JSON for 10,000 images
    with pytest.raises(ValueError, match="record says"):
        outcomes.unpack({**record, "correct": record["correct"] + 1})
    with pytest.raises(ValueError, match="bytes for"):
        outcomes.unpack({**record, "images": 20_000})
    with pytest.raises(ValueError, match="format"):
        outcomes.unpack({**record, "format": "json-list"})


def _row(base: np.ndarray, runs: list[np.ndarray], start: list | None = None) -> tuple[dict, list[dict]]:
    solution = [[8, None], [4, 4], [8, 8]]
    env = {
        "references": [{"name": "float", "test_accuracy": 0.9}, {"name": "best uniform 4/4"}],
        "best_uniform": {"name": "best uniform 4/4", "test_accuracy": float(base.mean()), "solution": solution},
        "test_outcomes": {"best uniform 4/4": outcomes.pack(base)},
    }
    trials = [
        {"test_outcomes": outcomes.pack(r), "solution": solution if start and start[i] else [[8, None], [5, 3]]}
        for i, r in enumerate(runs)
    ]
    return env, trials


def test_agent_entry_counts_paired_wins_losses_starts_and_the_gain() -> None:
    base, better = _pair(10_000, 0, 100, 8000)
    worse = base.copy()
    worse[7900:8000] = False
    env, trials = _row(base, [better, worse, base.copy()], start=[False, False, True])
    entry = paired.agent_entry(trials, env)
    assert entry is not None
    assert (entry["paired"]["wins"], entry["paired"]["losses"], entry["paired"]["ties"]) == (1, 1, 1)
    assert entry["start_runs"] == 1
    assert entry["gain_mean"][0] == pytest.approx(0.0)
    row = paired.env_entry(env)
    assert row is not None
    assert row["headroom_images"] == round((0.9 - base.mean()) * 10_000)
    assert row["best_uniform_test_accuracy_images"][1] < base.mean() < row["best_uniform_test_accuracy_images"][2]


def test_rows_without_outcomes_get_no_paired_entry() -> None:
    base, better = _pair(100, 0, 5, 80)
    env, trials = _row(base, [better])
    assert paired.agent_entry([{**trials[0], "test_outcomes": None}], env) is None
    assert paired.agent_entry(trials, {**env, "test_outcomes": {}}) is None
    assert paired.env_entry({**env, "test_outcomes": {}}) is None


def test_a_search_verdict_counts_a_win_only_when_the_paired_test_is_significant() -> None:
    from hwenvs.agents.report import PairedTest, verdict
    from hwenvs.envs.contract import ReferencePoint

    base = ReferencePoint("best uniform 6/4", 0.94, 0.931, 1.0, 0.48, -0.002, -0.0022, [[8, None]], to_beat=True)
    found = ReferencePoint("found", 0.955, 0.941, 1.0, 0.47, -0.0005, -0.0012, [[8, None]])
    raw = verdict([base], found)
    assert raw is not None and raw["beat"] and raw["p_value"] is None
    noisy = verdict([base], found, PairedTest(0.21, 1000))
    assert noisy is not None and not noisy["beat"]
    assert "within the noise of the test images" in noisy["text"] and "p = 0.21, not significant" in noisy["text"]
    clear = verdict([base], found, PairedTest(0.004, 1000))
    assert clear is not None and clear["beat"] and "The search beat best uniform 6/4" in clear["text"]
