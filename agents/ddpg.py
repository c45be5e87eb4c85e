"""DDPG as HAQ uses it (Wang et al., CVPR 2019; github.com/mit-han-lab/haq), in one file, readable top to bottom.

What is HAQ's and kept: 300-300 actor and critic (the critic sums a state branch and an action branch), Adam 1e-4 /
1e-3, soft target updates with tau 0.01, discount 1, batches of 64, a replay buffer of 128 transitions per layer,
20 warm-up episodes of uniform random actions without updates, truncated-normal exploration whose sigma decays as
``0.99 ** (episode - warmup)``, every transition of an episode stored with the episode's terminal reward, one gradient
step per stored transition after each episode, and a moving average of the reward subtracted before the critic
target.

What differs, and why: actions live in [-1, 1] (the environments' Box, what Stable-Baselines3 expects), so the actor
ends in tanh instead of a sigmoid and the noise sigma is given as a fraction of the action range's width (HAQ's 0.5
on [0, 1] is 0.5 here too: a standard deviation of 1.0 on [-1, 1]). Any Box action space works; HAQ's is 1-d.

Determinism: the networks, the noise and the replay sampling are seeded from ``seed``; on CPU with the same thread
count a search repeats exactly. On GPU, cuDNN/cuBLAS kernels may make the updates (and hence the search) differ.
:meth:`DDPGAgent.state_dict` holds the networks, their optimizers, the replay buffer, the reward baseline, the
generator's state and the episode count (the noise schedule's clock), so a restored agent continues a search exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from scipy.stats import truncnorm
from torch import nn

from hwenvs.agents.base import Agent, EpisodeCallback, EpisodeResult, check_config
from hwenvs.agents.start import start_bits
from hwenvs.envs.contract import BitAllocationEnv, SearchEnv, require


@dataclass
class DDPGConfig:
    """DDPG hyperparameters; the defaults are HAQ's."""

    hidden: int = 300
    """Units of each of the two hidden layers of actor and critic."""
    actor_lr: float = 1e-4
    """Adam learning rate of the actor."""
    critic_lr: float = 1e-3
    """Adam learning rate of the critic."""
    tau: float = 0.01
    """Soft target-network update rate."""
    discount: float = 1.0
    """Discount of the critic target (1: the episode's terminal reward is all that matters)."""
    batch_size: int = 64
    """Transitions per gradient step."""
    replay_per_layer: int = 128
    """Replay buffer capacity, in transitions per layer of the network (per step of an episode for non-HAQ envs)."""
    warmup_episodes: int = 20
    """Episodes of uniform random actions, stored but not learned from, before the actor takes over."""
    noise_sigma: float = 0.5
    """Initial exploration standard deviation, as a fraction of the action range's width."""
    noise_decay: float = 0.99
    """Per-episode multiplicative decay of the exploration sigma after warm-up."""
    baseline_alpha: float = 0.5
    """Step size of the moving-average reward baseline subtracted before the critic target."""
    init_w: float = 3e-3
    """Half-width of the uniform initialisation of both networks' output layers (HAQ's init_w)."""
    warm_start: bool = False
    """Start from the best uniform policy within the budget (HAQ environments; not part of HAQ's schedule): the
    first episode plays it exactly, the actor is then fitted to play it, and the warm-up episodes explore around the
    actor with ``noise_sigma`` instead of uniformly at random."""
    warm_start_steps: int = 300
    """Adam steps (learning rate ``critic_lr``) fitting the actor to the warm-start episode's actions."""
    device: str = "cpu"
    """Torch device of the networks."""

    def __post_init__(self) -> None:
        """Check every hyperparameter (``batch_size=0`` or ``warmup_episodes=-5`` broke the agent far from here, or
        never learned), normalised as the environments' arguments are: ints as ints, reals as finite floats.

        :raises TypeError: a value of the wrong type, named, with what is valid.
        :raises ValueError: a value out of range, named, with what is valid.
        """
        from hwenvs.envs import checks

        for name, low in (("hidden", 1), ("batch_size", 1), ("replay_per_layer", 1), ("warmup_episodes", 0),
                          ("warm_start_steps", 0)):  # fmt: skip
            setattr(self, name, checks.integer(f"ddpg {name}", getattr(self, name), low=low))
        for name in ("actor_lr", "critic_lr", "init_w"):
            setattr(self, name, checks.real(f"ddpg {name}", getattr(self, name), low=0.0, low_open=True))
        for name, low_open in (("tau", True), ("noise_decay", True), ("discount", False), ("baseline_alpha", False)):
            setattr(self, name, checks.real(f"ddpg {name}", getattr(self, name), low=0.0, high=1.0, low_open=low_open))
        self.noise_sigma = checks.real(
            "ddpg noise_sigma", self.noise_sigma, low=0.0, valid="a real number >= 0 (a fraction of the action range)"
        )
        self.warm_start = checks.boolean("ddpg warm_start", self.warm_start)
        self.device = checks.torch_device("ddpg device", self.device)


WARM_START = DDPGConfig(warm_start=True, noise_sigma=0.1)
"""The ``ddpg-warm`` preset: HAQ's DDPG started from the best uniform policy, exploring around it (a standard
deviation of 0.2 in [-1, 1] action units, under one bit bin of 2..8 bits' 0.29) before HAQ's 0.99 decay."""


def fanin_init(layer: nn.Linear) -> nn.Linear:
    """HAQ's initialisation of hidden layers: uniform in +-1/sqrt(fan-in)."""
    bound = 1.0 / np.sqrt(layer.weight.shape[1])
    nn.init.uniform_(layer.weight, -bound, bound)
    return layer


def output_init(layer: nn.Linear, init_w: float) -> nn.Linear:
    """Small output weights, so that the first Q values and actions are near 0 (the middle of the action range)."""
    nn.init.uniform_(layer.weight, -init_w, init_w)
    return layer


class Actor(nn.Module):
    """state -> 300 -> 300 -> action in [-1, 1]^action_dim."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: int, init_w: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            fanin_init(nn.Linear(obs_dim, hidden)),
            nn.ReLU(),
            fanin_init(nn.Linear(hidden, hidden)),
            nn.ReLU(),
            output_init(nn.Linear(hidden, action_dim), init_w),
            nn.Tanh(),
        )

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)


class Critic(nn.Module):
    """Q(state, action): a state branch and an action branch of 300 units each, summed, then 300 -> 1 (HAQ's)."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: int, init_w: float) -> None:
        super().__init__()
        self.state_branch = fanin_init(nn.Linear(obs_dim, hidden))
        self.action_branch = fanin_init(nn.Linear(action_dim, hidden))
        self.head = nn.Sequential(
            nn.ReLU(),
            fanin_init(nn.Linear(hidden, hidden)),
            nn.ReLU(),
            output_init(nn.Linear(hidden, 1), init_w),
        )

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.head(self.state_branch(obs) + self.action_branch(action)).squeeze(-1)


class ReplayBuffer:
    """A fixed-capacity ring buffer of (obs, action, reward, next_obs, done), sampled uniformly.

    :param capacity: transitions kept; the oldest are overwritten.
    :param obs_dim: observation size.
    :param action_dim: action size.
    :param rng: the generator batches are drawn with.
    """

    def __init__(self, capacity: int, obs_dim: int, action_dim: int, rng: np.random.Generator) -> None:
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.actions = np.zeros((capacity, action_dim), np.float32)
        self.rewards = np.zeros(capacity, np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.dones = np.zeros(capacity, np.float32)
        self.capacity, self.size, self.pos, self.rng = capacity, 0, 0, rng

    def add(self, obs: np.ndarray, action: np.ndarray, reward: float, next_obs: np.ndarray, done: bool) -> None:
        """Store one transition."""
        i = self.pos
        self.obs[i], self.actions[i], self.rewards[i], self.next_obs[i], self.dones[i] = (
            obs,
            action,
            reward,
            next_obs,
            done,
        )
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, device: str) -> tuple[torch.Tensor, ...]:
        """A batch of ``batch_size`` transitions drawn with replacement, as tensors on ``device``."""
        idx = self.rng.integers(0, self.size, size=batch_size)
        arrays = (self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx], self.dones[idx])
        return tuple(torch.as_tensor(a, device=device) for a in arrays)

    def state_dict(self) -> dict[str, Any]:
        """The stored transitions (as tensors sharing the arrays' memory), size and write position; the generator is
        the agent's and saved with it."""
        arrays = {name: getattr(self, name)[: self.size] for name in self._ARRAYS}
        return {"size": self.size, "pos": self.pos, **{k: torch.from_numpy(v) for k, v in arrays.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved.

        :param state: a dict from :meth:`state_dict` of a buffer of the same capacity and sizes.
        """
        size = int(state["size"])
        if size > self.capacity:
            raise ValueError(
                f"the saved replay buffer holds {size} transitions, more than the capacity {self.capacity}"
            )
        for name in self._ARRAYS:
            getattr(self, name)[:size] = np.asarray(state[name])
        self.size, self.pos = size, int(state["pos"])

    _ARRAYS = ("obs", "actions", "rewards", "next_obs", "dones")


def _layers_or_steps(env: gym.Env) -> int:
    """What the replay capacity scales with: HAQ's layer count, else the episode length, else 1000."""
    unwrapped = env.unwrapped
    if isinstance(unwrapped, BitAllocationEnv):
        return unwrapped.steps_per_episode // unwrapped.steps_per_layer
    if isinstance(unwrapped, SearchEnv):
        return unwrapped.steps_per_episode
    return int(env.spec.max_episode_steps) if env.spec is not None and env.spec.max_episode_steps else 1000


class DDPGAgent(Agent):
    """HAQ's DDPG search agent.

    :param env: an environment with a Box observation and a Box action space (HAQ's: 10 features, one action).
    :param seed: seeds the networks, the exploration noise, the replay sampling and the environment's first reset.
    :param config: hyperparameters (HAQ's by default); keyword arguments override single fields instead.
    :param overrides: fields of :class:`DDPGConfig` to change, e.g. ``warmup_episodes=2``.
    """

    name = "ddpg"
    resumable = True

    SWEEP_SPACE: ClassVar[dict[str, tuple]] = {
        "actor_lr": ("loguniform", 1e-5, 1e-3),
        "critic_lr": ("loguniform", 1e-4, 1e-2),
        "noise_sigma": ("uniform", 0.1, 0.8),
        "noise_decay": ("uniform", 0.95, 0.995),
        "batch_size": ("choice", [32, 64, 128]),
    }
    """The hyperparameter lottery's space (``hwenvs benchmark --sweep K``; format in :mod:`hwenvs.benchmark.sweep`)."""

    def __init__(self, env: gym.Env, seed: int = 0, config: DDPGConfig | None = None, **overrides: Any) -> None:
        super().__init__(env, seed)
        if not isinstance(env.action_space, gym.spaces.Box) or not isinstance(env.observation_space, gym.spaces.Box):
            raise ValueError(
                f"DDPG needs Box observation and action spaces, got {env.observation_space} and {env.action_space}"
            )
        unknown = set(overrides) - set(DDPGConfig.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown DDPG hyperparameters {sorted(unknown)}; valid: {sorted(asdict(DDPGConfig()))}")
        self.config = DDPGConfig(**{**asdict(config or DDPGConfig()), **overrides})
        cfg = self.config

        self.low = env.action_space.low.astype(np.float64)
        self.high = env.action_space.high.astype(np.float64)
        obs_dim = int(np.prod(env.observation_space.shape))
        self.action_dim = int(np.prod(env.action_space.shape))
        layers = _layers_or_steps(env)
        self.rng = np.random.default_rng(seed)

        torch.manual_seed(seed)
        self.actor = Actor(obs_dim, self.action_dim, cfg.hidden, cfg.init_w).to(cfg.device)
        self.actor_target = Actor(obs_dim, self.action_dim, cfg.hidden, cfg.init_w).to(cfg.device)
        self.critic = Critic(obs_dim, self.action_dim, cfg.hidden, cfg.init_w).to(cfg.device)
        self.critic_target = Critic(obs_dim, self.action_dim, cfg.hidden, cfg.init_w).to(cfg.device)
        self.actor_target.load_state_dict(self.actor.state_dict())
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=cfg.actor_lr)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=cfg.critic_lr)
        self.buffer = ReplayBuffer(cfg.replay_per_layer * layers, obs_dim, self.action_dim, self.rng)
        self.reward_baseline: float | None = None

    # -- acting -------------------------------------------------------------------------------------------------------

    def sigma(self, episode: int) -> float:
        """Exploration standard deviation (in [-1, 1] action units) at ``episode``; HAQ's schedule."""
        width = 2.0  # the actor's [-1, 1] range; ``noise_sigma`` is a fraction of it
        return self.config.noise_sigma * width * self.config.noise_decay ** (episode - self.config.warmup_episodes)

    def act(self, obs: np.ndarray, episode: int) -> np.ndarray:
        """The normalised action in [-1, 1]: uniform during warm-up (around the warm-start actor with ``noise_sigma``
        if ``warm_start``), then the actor's plus truncated-normal noise."""
        warming = episode < self.config.warmup_episodes
        if warming and not self.config.warm_start:
            return self.rng.uniform(-1.0, 1.0, self.action_dim)
        with torch.no_grad():
            mu = self.actor(torch.as_tensor(obs, dtype=torch.float32, device=self.config.device)).cpu().numpy()
        sigma = self.sigma(max(episode, self.config.warmup_episodes))
        # truncnorm's bounds are in standard deviations from the mean: the noise never leaves [-1, 1]
        return truncnorm.rvs((-1.0 - mu) / sigma, (1.0 - mu) / sigma, loc=mu, scale=sigma, random_state=self.rng)

    def to_env_action(self, action: np.ndarray) -> np.ndarray:
        """Map a normalised action in [-1, 1] onto the environment's Box (the identity for HAQ's)."""
        scaled = self.low + (np.asarray(action, np.float64) + 1.0) * 0.5 * (self.high - self.low)
        return np.clip(scaled, self.low, self.high).astype(self.env.action_space.dtype)

    # -- learning -----------------------------------------------------------------------------------------------------

    def update(self) -> tuple[float, float]:
        """One gradient step of critic and actor on a replay batch, then the soft target update; the two losses."""
        cfg = self.config
        obs, actions, rewards, next_obs, dones = self.buffer.sample(cfg.batch_size, cfg.device)

        # HAQ's baseline: a moving average of the batch's mean reward, so the critic learns an advantage-like value
        # whose scale does not drift as the search improves.
        batch_mean = float(rewards.mean())
        if self.reward_baseline is None:
            self.reward_baseline = batch_mean
        else:
            self.reward_baseline += cfg.baseline_alpha * (batch_mean - self.reward_baseline)
        with torch.no_grad():
            next_q = self.critic_target(next_obs, self.actor_target(next_obs))
            target_q = rewards - self.reward_baseline + cfg.discount * (1.0 - dones) * next_q

        critic_loss = nn.functional.mse_loss(self.critic(obs, actions), target_q)
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()

        actor_loss = -self.critic(obs, self.actor(obs)).mean()
        self.actor_optimizer.zero_grad()
        actor_loss.backward()
        self.actor_optimizer.step()

        with torch.no_grad():
            for net, target in ((self.actor, self.actor_target), (self.critic, self.critic_target)):
                for p, tp in zip(net.parameters(), target.parameters(), strict=True):
                    tp.mul_(1.0 - cfg.tau).add_(p, alpha=cfg.tau)
        return critic_loss.item(), actor_loss.item()

    def warm_start_actions(self) -> list[np.ndarray]:
        """The normalised actions, step by step, that play the search's start (:mod:`hwenvs.agents.start`).

        :raises ValueError: for an environment without HAQ's ``best_uniform_policy`` or where no uniform policy fits.
        """
        haq = require(self.env, BitAllocationEnv, "warm_start")
        return [np.full(self.action_dim, haq.bits_to_action(b), np.float64) for b in start_bits(self.env)]

    def fit_actor(self, observations: list[np.ndarray], actions: list[np.ndarray]) -> float:
        """Fit the actor (and its target) to play ``actions`` at ``observations``; returns the final MSE."""
        obs = torch.as_tensor(np.asarray(observations), dtype=torch.float32, device=self.config.device)
        target = torch.as_tensor(np.asarray(actions), dtype=torch.float32, device=self.config.device)
        optimizer = torch.optim.Adam(self.actor.parameters(), lr=self.config.critic_lr)
        for _ in range(self.config.warm_start_steps):
            loss = nn.functional.mse_loss(self.actor(obs), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        self.actor_target.load_state_dict(self.actor.state_dict())
        return loss.item()

    def learn(self, episodes: int, on_episode: EpisodeCallback | None = None) -> None:
        """Run ``episodes`` more episodes of search (numbered from :attr:`episodes_done`), learning after each one
        past warm-up."""
        start = self.episodes_done
        scripted = self.warm_start_actions() if self.config.warm_start and start == 0 else None
        for episode in range(start, start + episodes):
            obs, _ = self.env.reset(seed=self.seed if episode == 0 else None)
            done, episode_return = False, 0.0
            transitions: list[tuple[np.ndarray, np.ndarray, np.ndarray, bool]] = []  # obs, action, next obs, terminated
            info: dict[str, Any] = {}
            while not done:
                action = scripted[len(transitions)] if scripted and episode == 0 else self.act(obs, episode)
                next_obs, reward, terminated, truncated, info = self.env.step(self.to_env_action(action))
                transitions.append((obs, action, next_obs, terminated))
                episode_return += float(reward)
                obs, done = next_obs, terminated or truncated

            # HAQ stores every transition with the terminal reward: the only reward an episode has is its last.
            losses = []
            for t_obs, t_action, t_next_obs, t_terminated in transitions:
                self.buffer.add(t_obs, t_action, float(reward), t_next_obs, t_terminated)
                if episode >= self.config.warmup_episodes:
                    losses.append(self.update())

            if scripted and episode == 0:
                self.fit_actor([t[0] for t in transitions], [t[1] for t in transitions])
            extra: dict[str, Any] = {"sigma": self.sigma(episode) if episode >= self.config.warmup_episodes else None}
            if losses:
                extra["critic_loss"] = float(np.mean([c for c, _ in losses]))
                extra["actor_loss"] = float(np.mean([a for _, a in losses]))
            self.episodes_done = episode + 1
            if on_episode is not None and on_episode(EpisodeResult(episode, episode_return, info, extra)) is False:
                return

    # -- saving and restoring -----------------------------------------------------------------------------------------

    _MODULES = ("actor", "actor_target", "critic", "critic_target", "actor_optimizer", "critic_optimizer")

    def state_dict(self) -> dict[str, Any]:
        """Networks, optimizers, replay buffer, reward baseline, generator state, episode count and config."""
        state = super().state_dict()
        state.update({name: getattr(self, name).state_dict() for name in self._MODULES})
        state.update(
            config=asdict(self.config),
            buffer=self.buffer.state_dict(),
            reward_baseline=self.reward_baseline,
            rng=self.rng.bit_generator.state,
        )
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved, on an agent built with the same environment and hyperparameters.

        :param state: a dict from :meth:`state_dict`.
        :raises ResumeError: if the state was made with other hyperparameters (the device may differ).
        """
        ignore = {"device"}
        saved = {k: v for k, v in state["config"].items() if k not in ignore}
        check_config(saved, {k: v for k, v in asdict(self.config).items() if k not in ignore}, self.name)
        super().load_state_dict(state)
        for name in self._MODULES:
            getattr(self, name).load_state_dict(state[name])
        self.buffer.load_state_dict(state["buffer"])
        self.reward_baseline = state["reward_baseline"]
        self.rng.bit_generator.state = state["rng"]  # the buffer samples with the same generator


class WarmStartDDPGAgent(DDPGAgent):
    """HAQ's DDPG with the :data:`WARM_START` preset (``--agent ddpg-warm``); keyword arguments override it."""

    name = "ddpg-warm"

    def __init__(self, env: gym.Env, seed: int = 0, config: DDPGConfig | None = None, **overrides: Any) -> None:
        super().__init__(env, seed, config or WARM_START, **overrides)
