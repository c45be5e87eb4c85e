"""``gym.make_vec`` on HAQ ids: the vectorised HAQVectorEnv gives what a SyncVectorEnv of single environments gives,
step for step, including autoreset, masked resets, truncation and infos; bad actions are refused clearly."""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import hwenvs  # noqa: F401
from hwenvs.envs.haq_env import HAQEnv
from hwenvs.envs.haq_vector_env import HAQVectorEnv, action_thresholds
from hwenvs.registration import haq_env_ids
from hwenvs.surrogate.dataset import available_datasets

pytestmark = pytest.mark.usefixtures("one_thread")
HAQ_ID = "HAQ-MobileNetV2-BISMO"


def assert_same(a: Any, b: Any, where: str) -> None:
    """Equal values, types and dtypes, through the nested dicts and object arrays of vector infos."""
    if isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape, where
        if a.dtype == object:
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                assert_same(x, y, f"{where}[{i}]")
        else:
            np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert type(a) is type(b) and a == b, f"{where}: {a!r} != {b!r}"


def run_both(vector: gym.vector.VectorEnv, sync: gym.vector.VectorEnv, steps: int, seed: int, mask_at: int = -1):
    """Step both with the same random actions (some outside [-1, 1]); at ``mask_at``, reset every other
    sub-environment of both. Returns how many episodes ended."""
    rng = np.random.default_rng(seed)
    assert_same(vector.reset(seed=seed), sync.reset(seed=seed), "reset")
    ended = 0
    for t in range(steps):
        if t == mask_at:
            mask = np.arange(vector.num_envs) % 2 == 0
            assert_same(
                vector.reset(options={"reset_mask": mask.copy()}), sync.reset(options={"reset_mask": mask.copy()}), t
            )
        actions = rng.uniform(-1.3, 1.3, size=(vector.num_envs, 1)).astype(np.float32)
        out = vector.step(actions)
        assert_same(out, sync.step(actions), f"step {t}")
        ended += int(out[2].sum())
    return ended


def make_both(num_envs: int, **kwargs: Any) -> tuple[gym.vector.VectorEnv, gym.vector.VectorEnv]:
    vector = gym.make_vec(HAQ_ID, num_envs=num_envs, **kwargs)
    sync = gym.make_vec(HAQ_ID, num_envs=num_envs, vectorization_mode="sync", **kwargs)
    assert isinstance(vector, HAQVectorEnv) and isinstance(sync, gym.vector.SyncVectorEnv)
    return vector, sync


def test_real_accuracy_matches_sync_vector_env_through_autoreset_and_masked_reset(mnist_small) -> None:
    vector, sync = make_both(3, dataset=mnist_small, cache_accuracy=False)
    assert vector.observation_space == sync.observation_space and vector.action_space == sync.action_space
    steps = vector.env.steps_per_episode
    assert run_both(vector, sync, 2 * steps + 30, seed=0, mask_at=steps + 10) >= 6  # two whole rounds, then apart
    vector.close()
    sync.close()


def test_truncation_follows_max_episode_steps_as_time_limit_does(mnist_small) -> None:
    vector, sync = make_both(2, dataset=mnist_small, max_episode_steps=7)
    assert run_both(vector, sync, 20, seed=1) == 0  # truncated every 7 steps, never terminated
    vector.reset()
    truncated = [vector.step(np.zeros((2, 1), np.float32))[3] for _ in range(7)]
    assert truncated[-1].all() and not any(t.any() for t in truncated[:-1])


@pytest.mark.skipif(
    "haq-mobilenet_v2-mnist" not in available_datasets(), reason="the HAQ surrogate dataset is not shipped yet"
)
def test_surrogate_matches_sync_vector_env_with_one_batched_prediction() -> None:
    vector, sync = make_both(16, accuracy="surrogate", cache_accuracy=False)
    steps = vector.env.steps_per_episode
    assert run_both(vector, sync, 3 * steps + 5, seed=2, mask_at=2 * steps + 1) >= 40


def test_thresholds_give_action_to_bits_exactly(mnist_small) -> None:
    for min_bits, max_bits in ((2, 8), (3, 6), (4, 4)):
        env = HAQEnv(dataset=mnist_small, min_bits=min_bits, max_bits=max_bits)
        thresholds = action_thresholds(env)
        assert len(thresholds) == max_bits - min_bits
        probes = [-2.0, -1.0, 0.0, 1.0, 2.0, *np.linspace(-1, 1, 101)]
        for t in thresholds:
            probes += [t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf)]
        got = min_bits + np.searchsorted(thresholds, np.array(probes), side="right")
        assert got.tolist() == [env.action_to_bits(p) for p in probes]


@pytest.fixture(scope="module")
def vector(mnist_small) -> HAQVectorEnv:
    env = gym.make_vec(HAQ_ID, num_envs=2, dataset=mnist_small)
    yield env
    env.close()


@pytest.mark.parametrize(
    ("actions", "error", "match"),
    [
        (np.zeros((2, 1), dtype=np.int64), TypeError, "integers are refused"),
        (np.zeros((3, 1), dtype=np.float32), ValueError, r"shape \(3, 1\)"),
        (np.array([[0.1], [np.nan]], dtype=np.float32), ValueError, "sub-environment 1 is nan"),
        ("up", TypeError, "not real floats"),
    ],
)
def test_bad_actions_are_refused_before_anything_moves(vector, actions, error, match) -> None:
    vector.reset()
    with pytest.raises(error, match=match):
        vector.step(actions)
    assert (vector._steps == 0).all()


def test_bad_arguments_and_step_before_reset_are_clear(mnist_small, vector) -> None:
    with pytest.raises(ValueError, match="num_envs"):
        HAQVectorEnv(num_envs=0, dataset=mnist_small)
    with pytest.raises(RuntimeError, match="before reset"):
        HAQVectorEnv(num_envs=1, dataset=mnist_small).step(np.zeros((1, 1), np.float32))
    with pytest.raises(ValueError, match="2 entries"):
        vector.reset(seed=[1, 2, 3])
    with pytest.raises(ValueError, match="reset_mask"):
        vector.reset(options={"reset_mask": [True, False]})
    with pytest.raises(ValueError, match="no_such_option"):
        vector.reset(options={"no_such_option": 1})


def test_render_gives_each_sub_environments_table(mnist_small) -> None:
    vector, sync = make_both(2, dataset=mnist_small, render_mode="ansi")
    run_both(vector, sync, 5, seed=3)
    assert vector.render() == sync.render()
    run_both(vector, sync, vector.env.steps_per_episode, seed=4)  # ends on its last step: the tables show costs
    rendered = vector.render()
    assert rendered == sync.render() and "accuracy" in rendered[0]


@pytest.mark.parametrize("env_id", haq_env_ids())
def test_every_haq_id_makes_a_vector_without_warnings(env_id: str, mnist_small) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        envs = gym.make_vec(env_id, num_envs=2, dataset=mnist_small)
        envs.reset(seed=0)
        envs.step(np.zeros((2, 1), np.float32))
    assert isinstance(envs, HAQVectorEnv) and envs.spec.id == env_id
    envs.close()


@pytest.mark.skipif(
    "haq-mobilenet_v2-mnist" not in available_datasets(), reason="the HAQ surrogate dataset is not shipped yet"
)
def test_gymnasium_vector_wrappers_wrap_it() -> None:
    from gymnasium.wrappers.vector import RecordEpisodeStatistics

    envs = RecordEpisodeStatistics(gym.make_vec(HAQ_ID, num_envs=3, accuracy="surrogate"))
    envs.reset(seed=0)
    for _ in range(envs.unwrapped.env.steps_per_episode):
        *_, terminated, _, info = envs.step(np.full((3, 1), 0.2, np.float32))
    assert terminated.all() and (info["episode"]["l"] == envs.unwrapped.env.steps_per_episode).all()
    np.testing.assert_allclose(info["episode"]["r"], info["reward"], rtol=1e-6)
