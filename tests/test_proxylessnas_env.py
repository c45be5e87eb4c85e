"""The ProxylessNAS environment: every registered id, both modes, checkers, short RL runs and bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import hwenvs  # noqa: F401  (registers the ids)
from hwenvs.data import Task
from hwenvs.envs.proxylessnas_env import ProxylessNASEnv
from hwenvs.nas.architecture import Architecture, uniform
from hwenvs.nas.search_space import NUM_BLOCKS, ZERO
from hwenvs.registration import proxylessnas_env_ids

IDS = proxylessnas_env_ids()
CPU_TABLE = {"repeats": 3, "warmup": 1}
"""A quick CPU table for tests (the real default runs each of its six timing networks 40 times)."""
HARDWARE = "bismo-edge"
"""The target of the tests that do not depend on a table's values: computed here, so they run without
../shared/reference-data."""

CHECK_ENV_ALLOWED_WARNINGS: tuple[str, ...] = ()
"""Checker warnings the environments may raise, verbatim (as Gymnasium's own env tests list theirs). None today:
any warning either checker gives fails the test until it is fixed or added here with the reason."""

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def task(mnist_small: Task) -> Task:
    """The embedded task with a 100-image validation batch, for fast episodes."""
    return mnist_small


def make(env_id: str, task: Task, **kwargs: object) -> gym.Env:
    if env_id == "ProxylessNAS-CPU":
        kwargs.setdefault("table_options", CPU_TABLE)
    return gym.make(env_id, dataset=task, **kwargs)


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("mode", ["oneshot", "sequential"])
def test_checkers(env_id: str, mode: str, task: Task, request: pytest.FixtureRequest) -> None:
    if env_id == "ProxylessNAS-Mobile":
        request.getfixturevalue("mobile_table_file")
    if env_id == "ProxylessNAS-GPU" and not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            make(env_id, task, mode=mode)
        return
    env = make(env_id, task, mode=mode)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped, warn=True)
    unexpected = [str(w.message) for w in caught if str(w.message) not in CHECK_ENV_ALLOWED_WARNINGS]
    assert not unexpected, unexpected
    env.reset(seed=0)
    action = env.action_space.sample()
    assert env.unwrapped.steps_per_episode == (1 if mode == "oneshot" else NUM_BLOCKS)
    if mode == "oneshot":
        _, reward, terminated, truncated, info = env.step(action)
    else:
        for _ in range(NUM_BLOCKS):
            mask = env.unwrapped.action_masks()
            _, reward, terminated, truncated, info = env.step(int(np.flatnonzero(mask)[0]))
    # a natural end terminates only: the spec's TimeLimit (max_episode_steps=22) is a horizon past it
    assert terminated and not truncated
    arch = Architecture.from_string(info["architecture"])
    assert info["latency_ms"] == pytest.approx(env.unwrapped.table.latency_ms(arch))
    assert info["cost_ratio"] == pytest.approx(info["latency_ms"] / info["target_ms"])
    assert reward == pytest.approx(info["accuracy"] * info["cost_ratio"] ** -0.1)
    assert 0.0 <= info["accuracy"] <= 1.0


@pytest.mark.usefixtures("mobile_table_file")
def test_mobile_reward_and_target(task: Task) -> None:
    env = gym.make("ProxylessNAS-Mobile", dataset=task, target_ms=60.0, latency_exponent=-0.2)
    env.reset(seed=1)
    _, reward, *_, info = env.step(np.array(uniform("k3e3").choices))
    assert info["target_ms"] == 60.0
    assert info["latency_ms"] == pytest.approx(76.05, abs=0.01)
    assert reward == pytest.approx(info["accuracy"] * (76.048 / 60.0) ** -0.2, rel=1e-4)
    assert gym.make("ProxylessNAS-Mobile", dataset=task).unwrapped.target_ms == 80.0


@pytest.mark.parametrize(("target_ms", "side"), [(0.05, "below the fastest"), (5000.0, "above the slowest")])
def test_unreachable_target_warns_once(task: Task, target_ms: float, side: str) -> None:
    """A target no network of the space meets (or every one does) is most likely a unit slip: said once, and the
    reward still ranks as at any target (the target only scales it)."""
    with pytest.warns(UserWarning, match=f"target_ms={target_ms:g} is {side} network.*is the target in milliseconds"):
        env = ProxylessNASEnv(hardware=HARDWARE, dataset=task, target_ms=target_ms)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ProxylessNASEnv(hardware=HARDWARE, dataset=task, target_ms=target_ms)
        ProxylessNASEnv(hardware=HARDWARE, dataset=task)  # the default target is reachable
    assert env.target_ms == target_ms


def test_same_seed_same_episode(task: Task) -> None:
    results = []
    for _ in range(2):
        env = gym.make("ProxylessNAS-BISMO", dataset=task)
        obs, _ = env.reset(seed=3)
        env.action_space.seed(3)
        action = env.action_space.sample()
        results.append((obs, env.step(action)))
    (obs_a, (o_a, r_a, *_, i_a)), (obs_b, (o_b, r_b, *_, i_b)) = results
    assert np.array_equal(obs_a, obs_b) and np.array_equal(o_a, o_b) and r_a == r_b and i_a == i_b


def test_sequential_invalid_zero_rule(task: Task) -> None:
    env = gym.make("ProxylessNAS-BISMO", dataset=task, mode="sequential")
    env.reset(seed=0)
    assert not env.unwrapped.action_masks()[ZERO]
    for _ in range(NUM_BLOCKS):
        *_, terminated, _, info = env.step(ZERO)
    assert terminated
    # the six first-of-stage blocks cannot be skipped: their zero became k3e3
    assert info["invalid_zero"] == 6
    assert info["architecture"] == "k3e3-zero-zero-zero/" * 5 + "k3e3"


def test_observation_features(task: Task) -> None:
    env = gym.make("ProxylessNAS-BISMO", dataset=task, mode="sequential")
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs.shape == (11,)
    assert obs[0] == 0.0 and obs[4] == 1.0 and obs[6] == 0.0  # first block: stride 2, zero not allowed
    obs, *_ = env.step(5)  # k7e6
    assert obs[0] == pytest.approx(1 / 20) and obs[6] == 1.0
    assert obs[7] == pytest.approx(1.0) and obs[8] == pytest.approx(1.0) and obs[9] == 0.0


@pytest.mark.parametrize(
    ("action", "match"),
    [
        (np.zeros(20, dtype=np.int64), "shape"),
        (np.full(21, 7), "block 0 got 7"),
        (np.array([0] * 20 + [6]), "block 20 got 6"),
        (np.full(21, -1), "valid 0..5"),
        (np.full(21, 0.5), "integers"),
    ],
)
def test_bad_oneshot_actions(action: np.ndarray, match: str, task: Task) -> None:
    env = ProxylessNASEnv(hardware=HARDWARE, dataset=task)
    env.reset(seed=0)
    with pytest.raises((TypeError, ValueError), match=match):  # TypeError for floats, ValueError for the rest
        env.step(action)


def test_bad_sequential_actions_and_arguments(task: Task) -> None:
    env = ProxylessNASEnv(hardware=HARDWARE, dataset=task, mode="sequential")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="out of range"):
        env.step(9)
    with pytest.raises(ValueError, match="one integer"):
        env.step(np.array([1, 2]))
    with pytest.raises(ValueError, match="target_ms must be a positive number"):
        ProxylessNASEnv(hardware=HARDWARE, dataset=task, target_ms=0)
    with pytest.raises(ValueError, match="target_ms must be a positive number"):
        ProxylessNASEnv(hardware=HARDWARE, dataset=task, target_ms=-5.0)
    with pytest.raises(TypeError, match="target_ms must be a positive number"):
        ProxylessNASEnv(hardware=HARDWARE, dataset=task, target_ms="fast")
    with pytest.raises(ValueError, match="unknown hardware"):
        ProxylessNASEnv(dataset=task, hardware="tpu")
    with pytest.raises(ValueError, match="mode must be"):
        ProxylessNASEnv(hardware=HARDWARE, dataset=task, mode="batch")
    with pytest.raises(ValueError, match="latency_exponent"):
        ProxylessNASEnv(hardware=HARDWARE, dataset=task, latency_exponent=0.1)
    done = ProxylessNASEnv(hardware=HARDWARE, dataset=task)
    done.reset(seed=0)
    done.step(np.zeros(21, dtype=np.int64))
    with pytest.raises(RuntimeError, match="reset"):
        done.step(np.zeros(21, dtype=np.int64))


def test_online_weights_move(task: Task) -> None:
    env = ProxylessNASEnv(hardware=HARDWARE, dataset=task, weights="online", online_lr=0.05)
    before = [p.detach().clone() for p in env.supernet.parameters()]
    for seed in range(3):
        env.reset(seed=seed)
        env.step(np.zeros(21, dtype=np.int64))
    moved = sum(not torch.equal(a, b) for a, b in zip(before, env.supernet.parameters(), strict=True))
    assert moved > 0


def test_ppo_smoke_on_oneshot(task: Task) -> None:
    from stable_baselines3 import PPO

    env = gym.make("ProxylessNAS-BISMO", dataset=task)
    model = PPO("MlpPolicy", env, n_steps=16, batch_size=8, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=32)
    action, _ = model.predict(env.reset(seed=0)[0], deterministic=True)
    assert action.shape == (21,)


def test_maskable_ppo_smoke_on_sequential(task: Task) -> None:
    from sb3_contrib import MaskablePPO

    env = gym.make("ProxylessNAS-BISMO", dataset=task, mode="sequential")
    model = MaskablePPO("MlpPolicy", env, n_steps=42, batch_size=21, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=42)
    obs, _ = env.reset(seed=0)
    for _ in range(NUM_BLOCKS):
        action, _ = model.predict(obs, action_masks=env.unwrapped.action_masks(), deterministic=True)
        obs, _, terminated, _, info = env.step(action)
    assert terminated
    assert info["invalid_zero"] == 0


def test_evaluate_matches_step(task: Task) -> None:
    env = ProxylessNASEnv(hardware=HARDWARE, dataset=task)
    arch = uniform("k5e3")
    env.reset(seed=0)
    _, reward, *_, info = env.step(np.array(arch.choices))
    scored = env.evaluate_solution(arch.to_string())
    assert scored.pop("reward") == reward
    assert {k: info[k] for k in scored} == scored


@pytest.mark.parametrize("cache_accuracy", [True, False])
def test_cache_accuracy_decides_whether_a_score_is_computed_again(
    cache_accuracy: bool, task: Task, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hwenvs.envs import proxylessnas_env

    calls: list[str] = []
    real = proxylessnas_env.path_accuracy

    def counted(*args: object) -> float:
        calls.append("scored")
        return real(*args)

    monkeypatch.setattr(proxylessnas_env, "path_accuracy", counted)
    env = ProxylessNASEnv(hardware=HARDWARE, dataset=task, cache_accuracy=cache_accuracy)
    first = env.accuracy_of(uniform("k5e3"))
    assert env.accuracy_of(uniform("k5e3")) == first
    assert len(calls) == (1 if cache_accuracy else 2)


def test_imagefolder_task_warms_up_a_supernet_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    from hwenvs.data import load_imagefolder

    monkeypatch.setenv("HWENVS_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (tmp_path / "images" / label).mkdir(parents=True)
        for i in range(10):
            pixels = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) // (2 if label == "a" else 1)
            Image.fromarray(pixels).save(tmp_path / "images" / label / f"{i}.png")
    folder = load_imagefolder(tmp_path / "images", resolution=32, val_size=6)
    env = ProxylessNASEnv(hardware=HARDWARE, dataset=folder, val_batch_size=6)
    assert env.space.resolution == 32 and env.space.num_classes == 2
    env.reset(seed=0)
    *_, info = env.step(np.zeros(21, dtype=np.int64))
    # BISMO's default target is the all-k3e3 network's latency
    assert 0.0 <= info["accuracy"] <= 1.0 and info["cost_ratio"] == pytest.approx(1.0)
    cached = list((tmp_path / "cache" / "nas" / "supernets").glob("*.pt"))
    assert len(cached) == 1
    # a second environment loads the cached supernet instead of warming up (and rewriting it) again
    written = cached[0].stat().st_mtime_ns
    again = ProxylessNASEnv(hardware=HARDWARE, dataset=folder, val_batch_size=6)
    assert cached[0].stat().st_mtime_ns == written
    assert all(torch.equal(a, b) for a, b in zip(env.supernet.parameters(), again.supernet.parameters(), strict=True))
