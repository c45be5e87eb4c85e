"""One accuracy source (issue 30, item 1): both environments score through :class:`AccuracySource`, the cache sits in
front of either implementation, a :class:`BitAllocation` owns HAQ's policy encoding, and HAQEnv stays a Gymnasium
environment of CartPole's shape (no surrogate checks of its own, at most 350 lines)."""

from __future__ import annotations

import ast
import inspect
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from test_surrogate_mode import needs_haq

from hwenvs.data import Task
from hwenvs.envs import haq_env
from hwenvs.envs.accuracy_source import (
    BATCHES,
    PER_IMAGE,
    TRAINING,
    AccuracySource,
    CachedAccuracy,
    Capabilities,
    checked_source,
    env_kwargs,
)
from hwenvs.envs.bit_allocation import BitAllocation, to_policy
from hwenvs.envs.haq_accuracy import HAQ_SOURCES, SURROGATE_FIXED, PredictedHAQAccuracy, QuantizedAccuracy
from hwenvs.envs.haq_env import HAQEnv
from hwenvs.envs.nas_accuracy import NAS_SOURCES
from hwenvs.envs.paired_test import measurable

ENVS = Path(haq_env.__file__).parent
MAX_CLASS_LINES = 350


class Counting(Capabilities):
    """A source that counts its calls: accuracy is the sum of the solution's numbers over 100."""

    name = "real"
    supports = frozenset({BATCHES})
    needs: ClassVar[dict[str, str]] = {PER_IMAGE: "images (a test source has none)"}
    task = None

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def accuracy(self, solution: tuple[int, ...], split: str) -> float:
        self.calls.append(("one", 1))
        return sum(solution) / 100

    def accuracies(self, solutions: Sequence[tuple[int, ...]], split: str) -> list[float]:
        self.calls.append(("many", len(solutions)))
        return [sum(s) / 100 for s in solutions]

    def float_accuracy(self, split: str) -> float:
        return 0.5

    def correct_on(self, solution: tuple[int, ...], split: str) -> np.ndarray:
        self.require(PER_IMAGE, "correct_on()")
        raise AssertionError


def test_the_cache_scores_a_solution_once_per_split_and_batches_the_rest() -> None:
    source = Counting()
    cached = CachedAccuracy(source, lambda s: s, enabled=True)
    assert isinstance(source, AccuracySource)
    assert cached.accuracy((1, 2), "val") == cached.accuracy((1, 2), "val") == 0.03
    assert cached.accuracy((1, 2), "test") == 0.03
    assert cached.accuracies([(1, 2), (3, 4), (5, 6)], "val") == [0.03, 0.07, 0.11]
    assert source.calls == [("one", 1), ("one", 1), ("many", 2)]  # only what was not remembered, in one call
    assert cached.name == "real" and cached.float_accuracy("val") == 0.5 and len(cached.cache) == 4
    with pytest.raises(RuntimeError, match=r"^correct_on\(\) needs images"):
        cached.correct_on((1, 2), "test")


def test_a_disabled_cache_scores_every_time() -> None:
    source = Counting()
    cached = CachedAccuracy(source, lambda s: s, enabled=False)
    cached.accuracy((1,), "val")
    cached.accuracy((1,), "val")
    assert source.calls == [("one", 1), ("one", 1)] and len(cached.cache) == 0


def test_the_accuracy_argument_is_checked_once_against_the_sources() -> None:
    assert tuple(HAQ_SOURCES) == tuple(NAS_SOURCES) == ("real", "surrogate")
    assert checked_source({"accuracy": "real"}, HAQ_SOURCES) == "real"
    with pytest.raises(ValueError, match=r"accuracy must be one of 'real', 'surrogate'.*did you mean 'surrogate'"):
        checked_source({"accuracy": "surrogat"}, HAQ_SOURCES)
    arguments = HAQEnv.check_arguments()
    with pytest.raises(ValueError, match="finetune_steps=0 only"):
        PredictedHAQAccuracy.check_arguments({**arguments, "finetune_steps": 3})
    with pytest.raises(ValueError, match="finetune_steps=0 only"):
        HAQEnv.check_arguments(accuracy="surrogate", finetune_steps=3)


def test_env_kwargs_translate_the_accuracy_source_in_one_place() -> None:
    assert env_kwargs("real") == {}
    assert env_kwargs("surrogate") == {"accuracy": "surrogate"}


def test_bit_allocation_round_trips_its_json_form() -> None:
    policy = [[8, None], [4, 3], [2, 8]]
    allocation = BitAllocation.from_policy(policy, 3, "tiny")
    w, a = allocation
    assert w.tolist() == [8, 4, 2] and a.tolist() == [0, 3, 8]
    assert allocation.to_policy() == to_policy(w, a) == policy
    assert allocation.key == bytes([8, 4, 2, 0, 3, 8])
    for bad, message in (
        ([[8, None]], "policy has 1 layers, tiny has 3"),
        ([[8, None], [4], [2, 8]], r"policy layer 1: expected \[w_bits, a_bits\]"),
        ([[8, None], [4, 9], [2, 8]], "bits must be integers in 1..8"),
        ([[8, None], [None, 3], [2, 8]], "every layer needs integer weight bits"),
    ):
        with pytest.raises(ValueError, match=message):
            BitAllocation.from_policy(bad, 3, "tiny")


def test_the_moved_constant_still_imports_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match="hwenvs.envs.haq_accuracy.SURROGATE_FIXED"):
        assert haq_env.SURROGATE_FIXED is SURROGATE_FIXED
    with pytest.raises(AttributeError):
        haq_env.NO_SUCH_NAME  # noqa: B018


def test_haq_real_source_offers_its_capabilities(mnist_small: Task) -> None:
    env = HAQEnv(dataset=mnist_small, preserve_ratio=1.0)
    source = env.scorer.source
    assert isinstance(source, QuantizedAccuracy) and isinstance(source, AccuracySource)
    assert source.supports == {TRAINING, PER_IMAGE} and env.task is source.task and env.quantized is source.quantized
    policy = env.uniform_policy(4)
    assert env.correct_on(policy, "val").mean() == pytest.approx(env.evaluate_solution(policy, "val")["accuracy"])
    tuned = HAQEnv(dataset=mnist_small, preserve_ratio=1.0, finetune_steps=1)
    assert tuned.scorer.source.supports == {TRAINING}
    with pytest.raises(RuntimeError, match="without fine-tuning"):
        tuned.correct_on(policy)
    assert measurable(env) and not measurable(tuned)  # the paired tests ask the source, not the arguments
    assert not measurable(object())


@needs_haq
def test_a_surrogate_has_no_per_image_outcomes() -> None:
    env = HAQEnv(accuracy="surrogate")
    assert isinstance(env.scorer.source, PredictedHAQAccuracy) and env.scorer.supports == {BATCHES}
    assert env.task is None and not measurable(env)
    with pytest.raises(RuntimeError, match=r"^quantized_model\(\) needs the trained network"):
        env.quantized_model(env.uniform_policy(8))


@pytest.mark.parametrize("module", ["haq_env.py", "proxylessnas_env.py"])
def test_the_environments_never_ask_whether_they_predict(module: str) -> None:
    text = (ENVS / module).read_text()
    for probe in ("surrogate is None", "surrogate is not None", "self.surrogate."):
        assert probe not in text, probe


def test_haq_env_class_stays_small() -> None:
    tree = ast.parse(inspect.getsource(haq_env))
    (cls,) = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "HAQEnv"]
    assert cls.end_lineno - cls.lineno + 1 <= MAX_CLASS_LINES
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing moved is reached from the class
        assert HAQEnv.check_arguments()["accuracy"] == "real"
