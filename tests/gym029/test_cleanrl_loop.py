"""hwenvs under Gymnasium 0.29.1, the version CleanRL pins: a DDPG loop written the way CleanRL's
``ddpg_continuous_action.py`` is (``SyncVectorEnv`` of ``gym.make`` + ``RecordEpisodeStatistics``, returns read from
``final_info``, final observations replayed on truncation) runs a few HAQ episodes (issue 31, section 3).

Only the Gymnasium 0.29 CI job runs this file (``.ci/run`` makes a venv with ``gymnasium==0.29.1``); under 1.x it is
skipped, since 1.x's ``SyncVectorEnv`` resets on the next step and has no ``final_observation``, which is exactly what
CleanRL's 0.29 scripts read. Surrogate accuracy keeps an episode to milliseconds.
"""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

if gym.__version__.split(".")[0] != "0":
    pytest.skip("the Gymnasium 0.29 job's test (run by .ci/run in its own venv)", allow_module_level=True)

import hwenvs  # noqa: F401  (registers the ids under 0.29 too)

ENV_ID = "HAQ-MobileNetV2-BISMO"
EPISODES = 5
LEARNING_STARTS_EPISODES = 2
BATCH_SIZE = 64


def make_env(env_id: str, seed: int):
    """CleanRL's ``make_env``: a thunk building the environment with episode statistics, its action space seeded."""

    def thunk() -> gym.Env:
        env = gym.make(env_id, accuracy="surrogate")
        env = gym.wrappers.RecordEpisodeStatistics(env)
        env.action_space.seed(seed)
        return env

    return thunk


class QNetwork(nn.Module):
    def __init__(self, envs: gym.vector.VectorEnv) -> None:
        super().__init__()
        inputs = int(np.prod(envs.single_observation_space.shape) + np.prod(envs.single_action_space.shape))
        self.net = nn.Sequential(nn.Linear(inputs, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, a], 1))


class Actor(nn.Module):
    def __init__(self, envs: gym.vector.VectorEnv) -> None:
        super().__init__()
        space = envs.single_action_space
        self.net = nn.Sequential(
            nn.Linear(int(np.prod(envs.single_observation_space.shape)), 64), nn.ReLU(),
            nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, int(np.prod(space.shape))), nn.Tanh(),
        )  # fmt: skip
        self.register_buffer("action_scale", torch.tensor((space.high - space.low) / 2.0, dtype=torch.float32))
        self.register_buffer("action_bias", torch.tensor((space.high + space.low) / 2.0, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * self.action_scale + self.action_bias


class ReplayBuffer:
    """The fields CleanRL's (SB3's) buffer keeps, in numpy: obs, next obs, action, reward, done."""

    def __init__(self, size: int, obs_dim: int, action_dim: int, rng: np.random.Generator) -> None:
        self.obs = np.zeros((size, obs_dim), np.float32)
        self.next_obs = np.zeros((size, obs_dim), np.float32)
        self.actions = np.zeros((size, action_dim), np.float32)
        self.rewards = np.zeros(size, np.float32)
        self.dones = np.zeros(size, np.float32)
        self.size, self.pos, self.full, self.rng = size, 0, False, rng

    def add(self, obs, next_obs, actions, rewards, dones) -> None:
        for i in range(len(obs)):
            self.obs[self.pos], self.next_obs[self.pos], self.actions[self.pos] = obs[i], next_obs[i], actions[i]
            self.rewards[self.pos], self.dones[self.pos] = rewards[i], dones[i]
            self.pos = (self.pos + 1) % self.size
            self.full = self.full or self.pos == 0

    def sample(self, n: int) -> tuple[torch.Tensor, ...]:
        index = self.rng.integers(0, self.size if self.full else self.pos, n)
        fields = (self.obs, self.actions, self.next_obs, self.rewards, self.dones)
        return tuple(torch.as_tensor(f[index]) for f in fields)


def test_cleanrl_ddpg_loop_runs_hwenvs_under_gymnasium_029() -> None:
    assert gym.__version__ == "0.29.1", gym.__version__  # the venv's gymnasium shadows the system's
    torch.manual_seed(0)
    envs = gym.vector.SyncVectorEnv([make_env(ENV_ID, 0)])
    assert isinstance(envs.single_action_space, gym.spaces.Box), "only continuous action space is supported"
    steps_per_episode = envs.envs[0].unwrapped.steps_per_episode
    actor, qf1 = Actor(envs), QNetwork(envs)
    target_actor, qf1_target = copy.deepcopy(actor), copy.deepcopy(qf1)
    q_optimizer = torch.optim.Adam(qf1.parameters(), lr=3e-4)
    actor_optimizer = torch.optim.Adam(actor.parameters(), lr=3e-4)
    rb = ReplayBuffer(10_000, envs.single_observation_space.shape[0], envs.single_action_space.shape[0],
                      np.random.default_rng(0))  # fmt: skip
    learning_starts = LEARNING_STARTS_EPISODES * steps_per_episode

    returns, truncations_seen = [], 0
    obs, _ = envs.reset(seed=0)
    for global_step in range(EPISODES * steps_per_episode):
        if global_step < learning_starts:
            actions = np.array([envs.single_action_space.sample() for _ in range(envs.num_envs)])
        else:
            with torch.no_grad():
                actions = actor(torch.Tensor(obs))
                actions += torch.normal(0, actor.action_scale * 0.1)
                actions = actions.numpy().clip(envs.single_action_space.low, envs.single_action_space.high)
        next_obs, rewards, terminations, truncations, infos = envs.step(actions)
        if "final_info" in infos:
            for info in infos["final_info"]:
                if info is not None and "episode" in info:
                    # 0.29's RecordEpisodeStatistics keeps one-element arrays
                    returns.append(np.asarray(info["episode"]["r"]).item())
                    assert np.asarray(info["episode"]["l"]).item() == steps_per_episode
                    break
        # CleanRL replays the final observation where an episode was cut short; a natural end is not cut short
        real_next_obs = next_obs.copy()
        for idx, trunc in enumerate(truncations):
            if trunc:
                truncations_seen += 1
                real_next_obs[idx] = infos["final_observation"][idx]
        rb.add(obs, real_next_obs, actions, rewards, terminations)
        obs = next_obs

        if global_step > learning_starts:
            b_obs, b_actions, b_next_obs, b_rewards, b_dones = rb.sample(BATCH_SIZE)
            with torch.no_grad():
                next_q = qf1_target(b_next_obs, target_actor(b_next_obs)).view(-1)
                target = b_rewards + (1 - b_dones) * 0.99 * next_q
            qf1_loss = F.mse_loss(qf1(b_obs, b_actions).view(-1), target)
            q_optimizer.zero_grad()
            qf1_loss.backward()
            q_optimizer.step()
            if global_step % 2 == 0:
                actor_loss = -qf1(b_obs, actor(b_obs)).mean()
                actor_optimizer.zero_grad()
                actor_loss.backward()
                actor_optimizer.step()
                for net, target_net in ((actor, target_actor), (qf1, qf1_target)):
                    for param, target_param in zip(net.parameters(), target_net.parameters(), strict=True):
                        target_param.data.copy_(0.005 * param.data + 0.995 * target_param.data)
    envs.close()

    assert len(returns) == EPISODES and all(np.isfinite(returns)), returns
    assert truncations_seen == 0  # every episode ended naturally: terminated, never truncated
    assert rb.dones.sum() == EPISODES  # one terminal transition per episode, stored as CleanRL stores it


def test_vector_entry_point_needs_gymnasium_1() -> None:
    """What needs Gymnasium 1.x says so, with what works instead."""
    with pytest.raises(ImportError, match=r"needs Gymnasium >= 1\.0 \(installed: 0\.29\.1\).*SyncVectorEnv"):
        import hwenvs.envs.haq_vector_env  # noqa: F401
