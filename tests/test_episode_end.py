"""How episodes end through ``gym.make`` (terminated only, with a horizon in the spec), and ids that refuse keywords
contradicting what they name (issue 31, sections 1 and 3). Surrogate accuracy keeps whole episodes fast."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import hwenvs  # noqa: F401  (registers the ids)
from hwenvs.nas.search_space import NUM_BLOCKS
from hwenvs.registration import HAQ_LAYERS, haq_env_ids, proxylessnas_env_ids

pytestmark = pytest.mark.usefixtures("one_thread")


def run_to_the_end(env: gym.Env, action: object) -> tuple[int, bool, bool]:
    """Steps until the episode ends; returns how many, and the last step's flags."""
    env.reset(seed=0)
    steps, terminated, truncated = 0, False, False
    while not (terminated or truncated):
        _, _, terminated, truncated, _ = env.step(action)
        steps += 1
    return steps, terminated, truncated


@pytest.mark.parametrize(
    ("env_id", "kwargs", "action"),
    [
        ("HAQ-MobileNetV2-BISMO", {}, np.array([0.0], np.float32)),
        ("HAQ-MobileNetV2-BitFusion", {"constraint": "energy"}, np.array([0.5], np.float32)),
        ("ProxylessNAS-BISMO", {"mode": "sequential"}, np.int64(0)),
        ("ProxylessNAS-BISMO", {}, np.zeros(NUM_BLOCKS, np.int64)),
    ],
    ids=["haq-latency", "haq-energy", "nas-sequential", "nas-oneshot"],
)
def test_a_natural_end_terminates_only(env_id: str, kwargs: dict, action: object) -> None:
    """Through gym.make's TimeLimit: the last step is terminated and not truncated (it was both for HAQ and
    sequential ProxylessNAS, whose registered limit equalled the episode length)."""
    env = gym.make(env_id, accuracy="surrogate", **kwargs)
    steps, terminated, truncated = run_to_the_end(env, action)
    assert (terminated, truncated) == (True, False)
    assert steps == env.unwrapped.steps_per_episode < env.spec.max_episode_steps


@pytest.mark.parametrize("env_id", haq_env_ids() + proxylessnas_env_ids())
def test_the_spec_keeps_a_horizon(env_id: str) -> None:
    """Tools that size buffers or schedules from ``spec.max_episode_steps`` still find it: one past the longest
    episode (HAQ's latency budget: two steps per layer; ProxylessNAS's sequential mode: one per block)."""
    spec = gym.spec(env_id)
    longest = 2 * HAQ_LAYERS[spec.kwargs["model"]] if env_id.startswith("HAQ-") else NUM_BLOCKS
    assert spec.max_episode_steps == longest + 1


def test_a_limit_the_caller_sets_still_truncates() -> None:
    """The horizon is the registered default only: ``max_episode_steps=`` truncates as Gymnasium documents."""
    env = gym.make("HAQ-MobileNetV2-BISMO", accuracy="surrogate", max_episode_steps=5)
    assert run_to_the_end(env, np.array([0.0], np.float32)) == (5, False, True)


# -- keywords that contradict the id ----------------------------------------------------------------------------------

CONTRADICTIONS = {
    "haq model": ("HAQ-MobileNetV2-BISMO", {"model": "resnet18"}, ["model='mobilenet_v2'", "'HAQ-ResNet18-BISMO'"]),
    "haq hardware": ("HAQ-MobileNetV2-BISMO", {"hardware": "bitfusion"}, ["'HAQ-MobileNetV2-BitFusion'"]),
    "haq hardware without an id": ("HAQ-ResNet18-BISMO", {"hardware": "haq-table"}, ["no id names it", "HAQEnv("]),
    "nas hardware": ("ProxylessNAS-BISMO", {"hardware": "mobile"}, ["hardware='bismo-edge'", "'ProxylessNAS-Mobile'"]),
}


@pytest.mark.parametrize("case", list(CONTRADICTIONS))
def test_a_keyword_contradicting_the_id_is_refused(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from hwenvs.envs import haq_env, proxylessnas_env

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("data was loaded: the contradiction was not found first")

    monkeypatch.setattr(haq_env, "load_task", refuse)
    monkeypatch.setattr(proxylessnas_env, "load_task", refuse)
    env_id, kwargs, needles = CONTRADICTIONS[case]
    with pytest.raises(ValueError, match="its id names it") as caught:
        gym.make(env_id, **kwargs)
    for needle in needles:
        assert needle in str(caught.value), (needle, str(caught.value))


def test_what_no_id_names_is_accepted(tmp_path: object) -> None:
    """Custom hardware (an object, a YAML table) goes through any id: no id names it, so nothing is contradicted;
    the id's own name and an invalid name (left to the class's message) are not contradictions either."""
    from gymnasium.envs.registration import load_env_creator

    haq = load_env_creator(gym.spec("HAQ-MobileNetV2-BISMO").entry_point)
    table = np.ones((53, 8, 8))
    assert haq.check_arguments(model="mobilenet_v2", hardware=table)["hardware"] is table
    assert haq.check_arguments(model="mobilenet_v2", hardware="bismo-edge")["hardware"] == "bismo-edge"
    with pytest.raises(ValueError, match=r"^model must be one of"):
        haq.check_arguments(model="vgg", hardware="bismo-edge")
    nas = load_env_creator(gym.spec("ProxylessNAS-BISMO").entry_point)
    with pytest.raises(ValueError, match="is not an existing YAML table"):  # the class's check, not the id's
        nas.check_arguments(hardware="mine.yaml")


def test_search_refuses_the_contradiction_before_any_work(tmp_path: object, capsys: pytest.CaptureFixture) -> None:
    """``hwenvs search`` checks --env-kwarg through the same entry point as gym.make."""
    from hwenvs.cli.main import main

    out = tmp_path / "out"  # type: ignore[operator]
    assert main(["search", "HAQ-MobileNetV2-BISMO", "--env-kwarg", "model=resnet18", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "use the id 'HAQ-ResNet18-BISMO'" in err and "Traceback" not in err and not out.exists()
