"""The bounded accuracy cache both environments keep: a solution scored once is not scored again."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence

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
        self._remember(key, score)
        return score

    def get_or_compute_many(
        self, keys: Sequence[Hashable], compute_many: Callable[[list[int]], Sequence[float]]
    ) -> list[float]:
        """The scores of ``keys`` in order: the remembered ones looked up, the rest computed by one
        ``compute_many(indices)`` call (indices into ``keys``), so a batched scorer sees them together."""
        scores: list[float] = [0.0] * len(keys)
        missing = []
        for i, key in enumerate(keys):
            if self.enabled and key in self._scores:
                self._scores.move_to_end(key)
                scores[i] = self._scores[key]
            else:
                missing.append(i)
        if missing:
            for i, score in zip(missing, compute_many(missing), strict=True):
                scores[i] = score
                self._remember(keys[i], score)
        return scores

    def _remember(self, key: Hashable, score: float) -> None:
        if self.enabled:
            self._scores[key] = score
            if len(self._scores) > self.max_entries:
                self._scores.popitem(last=False)

    def clear(self) -> None:
        """Forget every score (the model behind them changed, or a caller wants fresh evaluations)."""
        self._scores.clear()
