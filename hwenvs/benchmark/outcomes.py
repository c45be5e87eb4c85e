"""Per-image outcomes: which test images a solution classifies right, stored compactly in a trial's result.

Two solutions scored on the same test images differ by less than their accuracies' own standard errors suggest:
most images are right (or wrong) for both. A paired test (:func:`hwenvs.benchmark.stats.mcnemar`) and a bootstrap
over images (:func:`hwenvs.benchmark.stats.two_level_interval`) need the images one by one, so every real-accuracy
benchmark trial records its final solution's outcomes, and each environment's reference job those of its reference
points: 10,000 test images are 1,250 bytes, about 1.7 kB of base64 in the JSON.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import numpy as np

from hwenvs.envs.paired_test import measurable

FORMAT = "packbits-base64"
"""How outcomes are encoded: numpy's ``packbits`` of the bools (big-endian bit order), then base64."""


def pack(correct: np.ndarray) -> dict[str, Any]:
    """Per-image correctness as a JSON-ready record.

    :param correct: bools (or 0/1), one per image in the split's order.
    """
    bits = np.asarray(correct, dtype=bool).reshape(-1)
    return {
        "format": FORMAT,
        "images": int(bits.size),
        "correct": int(bits.sum()),
        "bits": base64.b64encode(np.packbits(bits).tobytes()).decode("ascii"),
    }


def unpack(record: Mapping[str, Any]) -> np.ndarray:
    """The bools :func:`pack` stored.

    :raises ValueError: another format, or bits that do not match the stored image and correct counts (a corrupted
        or hand-edited record).
    """
    if record.get("format") != FORMAT:
        raise ValueError(f"per-image outcomes in format {record.get('format')!r}; this version reads {FORMAT!r}")
    images = int(record["images"])
    raw = np.frombuffer(base64.b64decode(record["bits"], validate=True), dtype=np.uint8)
    if raw.size != (images + 7) // 8:
        raise ValueError(f"per-image outcomes: {raw.size} bytes for {images} images")
    bits = np.unpackbits(raw)[:images].astype(bool)
    if int(bits.sum()) != int(record["correct"]):
        raise ValueError(f"per-image outcomes: {int(bits.sum())} images right, the record says {record['correct']}")
    return bits


def measure(evaluator: Any, solution: Any, split: str = "test") -> dict[str, Any] | None:
    """``solution``'s per-image outcomes on ``split`` as a :func:`pack` record, or None where the environment cannot
    give them (:func:`hwenvs.envs.paired_test.measurable`).

    :param evaluator: the unwrapped environment.
    :param solution: a bit allocation or an architecture, as ``evaluate_solution`` takes it.
    :param split: the split (``"test"`` for reports).
    """
    if solution is None or not measurable(evaluator):
        return None
    return pack(evaluator.correct_on(solution, split))
