"""Two solutions on the same test images: whether an environment can say which images a solution gets right, and the
exact McNemar test between two solutions' per-image outcomes.

A few images more on a test split of a thousand is within its noise: a search "beats" a baseline only when the images
that one of the two alone gets right lean far enough one way. The search command's verdict and the benchmark reports
(:mod:`hwenvs.benchmark.paired`) use this test; it lives beside the environments so that both can.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwenvs.envs.accuracy_source import PER_IMAGE, CachedAccuracy
from hwenvs.envs.contract import PerImageEnv


def measurable(env: Any) -> bool:
    """Whether ``env`` (unwrapped) gives per-image outcomes: a :class:`~hwenvs.envs.contract.PerImageEnv` whose
    accuracy source offers them (:data:`~hwenvs.envs.accuracy_source.PER_IMAGE`: real accuracy without fine-tuning,
    since a fine-tuned solution's images are those of a copy trained for that evaluation)."""
    scorer = getattr(env, "scorer", None)  # an hwenvs environment's CachedAccuracy; another environment has none
    return isinstance(env, PerImageEnv) and isinstance(scorer, CachedAccuracy) and PER_IMAGE in scorer.supports


def mcnemar(a: np.ndarray, b: np.ndarray) -> float:
    """Exact two-sided McNemar test of two classifiers on the same images: the binomial test of the images only one
    gets right (b01 of them only ``b`` does, b10 only ``a`` does; under the null, each is ``a``'s with chance 1/2).

    :param a: per-image correctness of the first classifier (bools, one per image).
    :param b: the second's, on the same images in the same order.
    :returns: the p-value (1.0 when no image is discordant).
    """
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes of different lengths: {a.shape} and {b.shape}")
    only_b, only_a = int((~a & b).sum()), int((a & ~b).sum())
    discordant = only_a + only_b
    if discordant == 0:
        return 1.0
    from scipy.stats import binom  # scipy.stats takes seconds to import on a busy machine: only when a test runs

    return float(min(1.0, 2.0 * binom.cdf(min(only_a, only_b), discordant, 0.5)))
