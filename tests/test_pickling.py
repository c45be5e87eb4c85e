"""Environments pickle as their arguments and the episode in progress, and rebuild themselves when unpickled: cheap
to send to vector-env, Ray or Tune workers, and the episode continues exactly."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
import torch

import hwenvs  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")
SMALL = 1_000_000
"""Bytes: the arguments and an episode, against the 93-166 MB of whole environments."""


def finish(env: gym.Env, actions: list) -> dict:
    for action in actions:
        _, _, terminated, _, info = env.step(action)
    assert terminated
    return info


def test_haq_env_pickles_small_and_continues_its_episode() -> None:
    env = gym.make("HAQ-MobileNetV2-BISMO", preserve_ratio=0.6)
    env.reset(seed=0)
    actions = [np.array([a], np.float32) for a in np.linspace(-1, 1, env.unwrapped.steps_per_episode)]
    for action in actions[:30]:
        env.step(action)
    data = pickle.dumps(env)
    assert len(data) < SMALL
    clone = pickle.loads(data)
    assert clone.unwrapped._step == 30 and clone.unwrapped.budget == env.unwrapped.budget
    assert finish(clone, actions[30:]) == finish(env, actions[30:])


def test_nas_env_pickles_small_mid_episode() -> None:
    env = gym.make("ProxylessNAS-BISMO", mode="sequential")
    env.reset(seed=0)
    actions = [np.int64(i % 6) for i in range(21)]
    for action in actions[:5]:
        env.step(action)
    data = pickle.dumps(env)
    assert len(data) < SMALL
    assert finish(pickle.loads(data), actions[5:]) == finish(env, actions[5:])


def test_online_supernet_weights_travel_with_the_environment() -> None:
    env = gym.make("ProxylessNAS-BISMO", weights="online", val_batch_size=50, online_batch_size=16)
    env.reset(seed=0)
    env.step(np.zeros(21, dtype=np.int64))  # one online weight step changes the supernet
    clone = pickle.loads(pickle.dumps(env)).unwrapped
    for (name, before), after in zip(
        env.unwrapped.supernet.state_dict().items(), clone.supernet.state_dict().values(), strict=True
    ):
        assert torch.equal(before, after), name
    assert clone._optimizer is not None
