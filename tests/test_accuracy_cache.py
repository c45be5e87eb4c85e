"""The bounded accuracy cache both environments share."""

from __future__ import annotations

import pytest

from hwenvs.envs.accuracy_cache import AccuracyCache


def counting(value: float) -> tuple[list[int], object]:
    calls: list[int] = []

    def compute() -> float:
        calls.append(1)
        return value

    return calls, compute


def test_a_remembered_score_is_not_computed_again() -> None:
    cache = AccuracyCache()
    calls, compute = counting(0.5)
    assert cache.get_or_compute("a", compute) == 0.5
    assert cache.get_or_compute("a", compute) == 0.5
    assert len(calls) == 1


def test_disabled_cache_always_computes_and_stores_nothing() -> None:
    cache = AccuracyCache(enabled=False)
    calls, compute = counting(0.25)
    for _ in range(3):
        cache.get_or_compute("a", compute)
    assert len(calls) == 3
    assert len(cache) == 0


def test_the_least_recently_used_score_is_forgotten_first() -> None:
    cache = AccuracyCache(max_entries=2)
    cache.get_or_compute("a", lambda: 1.0)
    cache.get_or_compute("b", lambda: 2.0)
    cache.get_or_compute("a", lambda: 9.0)  # a is now the most recent
    cache.get_or_compute("c", lambda: 3.0)  # evicts b
    assert len(cache) == 2
    assert cache.get_or_compute("a", lambda: 9.0) == 1.0
    assert cache.get_or_compute("b", lambda: 7.0) == 7.0


def test_a_cache_must_hold_something() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        AccuracyCache(max_entries=0)


@pytest.mark.parametrize("enabled", [True, False])
def test_many_at_once_computes_only_the_missing_in_one_call(enabled: bool) -> None:
    cache = AccuracyCache(enabled=enabled)
    cache.get_or_compute("b", lambda: 2.0)
    batches: list[list[int]] = []

    def compute_many(rows: list[int]) -> list[float]:
        batches.append(rows)
        return [10.0 + i for i in rows]

    assert cache.get_or_compute_many(["a", "b", "c"], compute_many) == [10.0, 2.0 if enabled else 11.0, 12.0]
    assert batches == ([[0, 2]] if enabled else [[0, 1, 2]])
    assert cache.get_or_compute("c", lambda: 99.0) == (12.0 if enabled else 99.0)
