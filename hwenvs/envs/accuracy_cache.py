"""The bounded accuracy cache both environments keep: a solution scored once is not scored again."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable

MAX_ENTRIES = 100_000
"""Scores kept at most; the least recently used is forgotten first. An entry is a key of a few hundred bytes and a
float, so a full cache stays in the tens of megabytes however long a search runs."""


class AccuracyCache:
    """A least-recently-used map from a solution's key to its accuracy, or a pass-through when disabled.

    :param enabled: remember scores (False: :meth:`get_or_compute` always computes, nothing is stored).
    :param max_entries: scores kept at most, a positive integer.
    """

    def __init__(self, enabled: bool = True, max_entries: int = MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be a positive integer, got {max_entries!r}")
        self.enabled = enabled
        self.max_entries = max_entries
        self._scores: OrderedDict[Hashable, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._scores)

    def get_or_compute(self, key: Hashable, compute: Callable[[], float]) -> float:
        """The remembered score of ``key``, else ``compute()``, remembered when enabled."""
        if self.enabled and key in self._scores:
            self._scores.move_to_end(key)
            return self._scores[key]
        score = compute()
        if self.enabled:
            self._scores[key] = score
            if len(self._scores) > self.max_entries:
                self._scores.popitem(last=False)
        return score

    def clear(self) -> None:
        """Forget every score (the model behind them changed, or a caller wants fresh evaluations)."""
        self._scores.clear()
