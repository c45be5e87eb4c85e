"""The black-box agents (Optuna's TPE and CMA-ES, one trial per episode) on small real environments: HAQ-MobileNetV2
and ProxylessNAS-BISMO on 100-image validation and test splits."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import gymnasium as gym
import pytest

pytest.importorskip("optuna")
pytest.importorskip("cmaes")

import hwenvs  # noqa: F401  (registers the environments)
from hwenvs.agents.base import EpisodeResult
from hwenvs.agents.blackbox import ArchitectureSpace, BitSpace, CmaEsAgent, TPEAgent
from hwenvs.agents.pipeline import build_agent, run_search
from hwenvs.agents.registry import make_agent
from hwenvs.data import Task
from hwenvs.nas.architecture import Architecture
from hwenvs.nas.search_space import NUM_BLOCKS, OPS, ZERO, ZERO_ALLOWED

pytestmark = pytest.mark.usefixtures("one_thread")

AGENTS = ("tpe", "cmaes")


@pytest.fixture(scope="module")
def haq(mnist_small: Task) -> gym.Env:
    """HAQ-MobileNetV2-BISMO at half the 8-bit latency, 3..6 bits, on 100 images (its cache makes repeats free)."""
    env = gym.make("HAQ-MobileNetV2-BISMO", dataset=mnist_small, min_bits=3, max_bits=6)
    yield env
    env.close()


@pytest.fixture(scope="module")
def nas(mnist_small: Task) -> gym.Env:
    env = gym.make("ProxylessNAS-BISMO", dataset=mnist_small)
    yield env
    env.close()


def run(name: str, env: gym.Env, episodes: int, seed: int = 0, **kwargs: object) -> list[EpisodeResult]:
    results: list[EpisodeResult] = []
    make_agent(name, env, seed=seed, **kwargs).learn(episodes, results.append)
    return results


def test_bit_space_has_one_parameter_per_free_layer_side(haq: gym.Env) -> None:
    space = BitSpace(haq)
    unwrapped = haq.unwrapped
    assert len(space.steps) == unwrapped.steps_per_episode
    # the first layer (8-bit weights, unquantized input) and the last (8/8) are fixed by the layer rules
    assert space.steps[:2] == [None, None] and space.steps[-2:] == [None, None]
    assert len(space.distributions) == unwrapped.steps_per_episode - 4
    assert {(d.low, d.high) for d in space.distributions.values()} == {(3, 6)}


@pytest.mark.parametrize("name", AGENTS)
def test_haq_trials_are_played_through_the_environment(haq: gym.Env, name: str) -> None:
    unwrapped = haq.unwrapped
    results = run(name, haq, 3)
    assert [r.episode for r in results] == [0, 1, 2]
    for r in results:
        assert r.info["cost"] <= unwrapped.budget * (1 + 1e-9)  # the environment's own rollback applied
        assert r.reward == pytest.approx(0.1 * (r.info["accuracy"] - unwrapped.float_accuracy))
        assert r.extra == {"trial": r.episode}
        free_bits = {bits for w, a in r.info["policy"][1:-1] for bits in (w, a)}
        assert free_bits <= set(range(3, 7))


@pytest.mark.parametrize("name", AGENTS)
def test_same_seed_same_search_and_another_seed_differs(nas: gym.Env, name: str) -> None:
    first, again = run(name, nas, 6, seed=3), run(name, nas, 6, seed=3)
    other = run(name, nas, 6, seed=4)
    assert [r.info["architecture"] for r in first] == [r.info["architecture"] for r in again]
    assert [r.reward for r in first] == [r.reward for r in again]
    assert [r.info["architecture"] for r in first] != [r.info["architecture"] for r in other]


def test_categorical_and_ordinal_encodings_give_valid_architectures(nas: gym.Env) -> None:
    for encoding, expected in (("categorical", NUM_BLOCKS), ("ordinal", 2 * NUM_BLOCKS + sum(ZERO_ALLOWED))):
        space = ArchitectureSpace(encoding)
        assert len(space.distributions) == expected
    ordinal = ArchitectureSpace("ordinal")
    params = {f"b{b}_kernel": 2 for b in range(NUM_BLOCKS)} | {f"b{b}_expand": 0 for b in range(NUM_BLOCKS)}
    params |= {f"b{b}_skip": int(b % 2 == 0) for b in range(NUM_BLOCKS) if ZERO_ALLOWED[b]}
    choices = ordinal.choices(params)
    for block, choice in enumerate(choices):
        skipped = ZERO_ALLOWED[block] and block % 2 == 0
        assert (choice == ZERO) if skipped else (OPS[choice].name == "k7e3")
    Architecture.from_indices(choices)  # a valid architecture (zero only where allowed)
    results = run("tpe", nas, 2) + run("cmaes", nas, 2)
    assert all(Architecture.from_string(r.info["architecture"]) for r in results)


def test_hyperparameters_are_checked(nas: gym.Env) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no experimental or deprecated Optuna argument with the defaults
        TPEAgent(nas)
        CmaEsAgent(nas)
    with pytest.raises(ValueError, match="unknown tpe hyperparameters"):
        TPEAgent(nas, learning_rate=0.1)
    with pytest.raises(ValueError, match="nas_encoding"):
        CmaEsAgent(nas, nas_encoding="onehot")
    with pytest.raises(ValueError, match="HAQ and ProxylessNAS"):
        TPEAgent(gym.make("CartPole-v1"))


def _history(out: Path) -> list[dict[str, str]]:
    with open(out / "history.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k != "time_s"} for row in csv.DictReader(f)]


@pytest.mark.parametrize("name", AGENTS)
def test_a_search_resumes_exactly_through_the_pipeline(nas: gym.Env, tmp_path: Path, name: str) -> None:
    options = {"meta": {"env_kwargs": {}}, "progress": False, "plot": False, "references": False}
    run_search(nas, build_agent(name, nas, seed=1), 6, tmp_path / "full", **options)
    run_search(nas, build_agent(name, nas, seed=1), 3, tmp_path / "cut", **options)
    resumed = run_search(nas, build_agent(name, nas, seed=1), 6, tmp_path / "cut", resume=True, **options)
    assert resumed.episodes == 6
    assert _history(tmp_path / "cut") == _history(tmp_path / "full")
