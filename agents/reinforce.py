"""ProxylessNAS-R: REINFORCE over per-block candidate logits (Cai, Zhu and Han, ICLR 2019, section 3.3).

The policy is one vector of logits per searchable block (6 candidates, 7 where zero is allowed); an architecture
is sampled block by block, independently. Every update samples ``batch_size`` architectures, scores each with one
environment episode, and follows the mean of ``(R - b) * grad log p(architecture)`` with Adam (betas (0, 0.999), as
in the paper). The baseline ``b`` is an exponential moving average of the batch-mean reward with decay
``baseline_decay``: ``b <- decay * b + (1 - decay) * mean(R)``, started at the first batch's mean. (ProxylessNAS's
code writes ``b += 0.99 * (mean R - b)``, i.e. decay 0.01, which barely smooths; 0.9 averages about ten batches.)

The learning rate is the one departure in scale: the paper's 1e-3 is tuned for 36,000 updates (120 epochs x 300);
searches here run hundreds of episodes (tens of updates), so the default is 0.05. The final architecture is the most
probable candidate of each block (:meth:`ReinforceAgent.derived_architecture`); the last episode of a search plays it.

Works on both modes of :class:`~hwenvs.envs.proxylessnas_env.ProxylessNASEnv`: one ``MultiDiscrete`` step in
oneshot mode, one ``Discrete`` step per block in sequential mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

import gymnasium as gym
import numpy as np
import torch

from hwenvs.agents.base import Agent, EpisodeCallback, EpisodeResult, check_config
from hwenvs.envs import checks
from hwenvs.nas.architecture import Architecture
from hwenvs.nas.search_space import NUM_BLOCKS, OPS, ZERO, ZERO_ALLOWED

if TYPE_CHECKING:
    from hwenvs.envs.proxylessnas_env import ProxylessNASEnv


@dataclass
class ReinforceConfig:
    """Hyperparameters of ProxylessNAS-R."""

    batch_size: int = 10
    """Architectures sampled (and episodes run) per policy update (the paper's 10)."""
    lr: float = 0.05
    """Adam learning rate on the logits (the paper's 1e-3 assumes 36,000 updates)."""
    beta1: float = 0.0
    """Adam's first-moment decay (the paper's 0: no momentum)."""
    beta2: float = 0.999
    """Adam's second-moment decay."""
    baseline_decay: float = 0.9
    """Decay of the moving-average reward baseline."""

    def __post_init__(self) -> None:
        """Check every hyperparameter (``batch_size=0`` never updated the policy), normalised: ints as ints, reals as
        finite floats.

        :raises TypeError: a value of the wrong type, named, with what is valid.
        :raises ValueError: a value out of range, named, with what is valid.
        """
        self.batch_size = checks.integer("reinforce batch_size", self.batch_size, low=1)
        self.lr = checks.real("reinforce lr", self.lr, low=0.0, low_open=True)
        for name in ("beta1", "beta2"):  # Adam refuses 1 (no decay at all)
            setattr(
                self, name, checks.real(f"reinforce {name}", getattr(self, name), low=0.0, high=1.0, high_open=True)
            )
        self.baseline_decay = checks.real("reinforce baseline_decay", self.baseline_decay, low=0.0, high=1.0)


def candidate_mask() -> torch.Tensor:
    """(21, 7) True where a block may take a candidate (zero only on the 15 skippable blocks)."""
    mask = torch.ones(NUM_BLOCKS, len(OPS), dtype=torch.bool)
    mask[:, ZERO] = torch.tensor(ZERO_ALLOWED)
    return mask


def run_architecture(env: gym.Env, arch: Architecture, seed: int | None = None) -> tuple[float, dict]:
    """Play one episode choosing ``arch``; returns (return, terminal info).

    :param env: a ProxylessNAS environment (wrapped or not), oneshot or sequential.
    :param arch: the architecture to choose.
    :param seed: passed to ``reset``.
    """
    env.reset(seed=seed)
    if cast("ProxylessNASEnv", env.unwrapped).mode == "oneshot":  # the caller's promise (see env)
        _, reward, _, _, info = env.step(np.asarray(arch.choices, dtype=np.int64))
        return float(reward), info
    total = 0.0
    for choice in arch.choices:
        _, reward, _, _, info = env.step(choice)
        total += float(reward)
    return total, info


class ReinforceAgent(Agent):
    """ProxylessNAS-R on a ProxylessNAS environment.

    :param env: the environment (oneshot or sequential).
    :param seed: seeds architecture sampling and the first reset.
    :param kwargs: fields of :class:`ReinforceConfig`.
    """

    name = "reinforce"
    resumable = True

    SWEEP_SPACE: ClassVar[dict[str, tuple]] = {
        "lr": ("loguniform", 5e-3, 0.2),
        "batch_size": ("choice", [5, 10, 20]),
        "baseline_decay": ("uniform", 0.5, 0.99),
    }
    """The hyperparameter lottery's space (``hwenvs benchmark --sweep K``; format in :mod:`hwenvs.benchmark.sweep`)."""

    def __init__(self, env: gym.Env, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(env, seed)
        if getattr(env.unwrapped, "mode", None) not in ("oneshot", "sequential"):
            raise ValueError(f"reinforce needs a ProxylessNAS environment, got {env.unwrapped!r}")
        self.config = ReinforceConfig(**kwargs)
        self.generator = torch.Generator().manual_seed(seed)
        self.mask = candidate_mask()
        self.logits = torch.zeros(NUM_BLOCKS, len(OPS), requires_grad=True)
        self.optimizer = torch.optim.Adam(
            [self.logits], lr=self.config.lr, betas=(self.config.beta1, self.config.beta2)
        )
        self.baseline: float | None = None
        self._batch: list[tuple[np.ndarray, float, torch.Tensor]] = []  # (choices, reward, log-prob) since the update

    def probabilities(self) -> torch.Tensor:
        """(21, 7) candidate probabilities (0 for zero where it is not allowed)."""
        return torch.softmax(self.logits.masked_fill(~self.mask, float("-inf")), dim=1)

    def sample(self) -> tuple[Architecture, torch.Tensor]:
        """One architecture drawn from the policy and its log-probability (differentiable)."""
        probs = self.probabilities()
        choices = torch.multinomial(probs.detach(), 1, generator=self.generator).squeeze(1)
        return Architecture.from_indices(choices.numpy()), self._log_prob(probs, choices)

    @staticmethod
    def _log_prob(probs: torch.Tensor, choices: torch.Tensor) -> torch.Tensor:
        return torch.log(probs[torch.arange(NUM_BLOCKS), choices]).sum()

    def derived_architecture(self) -> Architecture:
        """The most probable candidate of every block: the search's result."""
        return Architecture.from_indices(self.probabilities().argmax(1).numpy())

    def update(self, rewards: list[float], log_probs: list[torch.Tensor]) -> float:
        """One policy-gradient step on a batch; returns the baseline it used.

        :param rewards: the batch's returns.
        :param log_probs: their architectures' log-probabilities.
        """
        mean_reward = float(np.mean(rewards))
        if self.baseline is None:
            self.baseline = mean_reward
        advantages = torch.tensor(rewards) - self.baseline
        loss = -(advantages * torch.stack(log_probs)).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        used = self.baseline
        decay = self.config.baseline_decay
        self.baseline = decay * self.baseline + (1 - decay) * mean_reward
        return used

    def learn(self, episodes: int, on_episode: EpisodeCallback | None = None) -> None:
        """Run ``episodes`` more episodes, updating the policy after every ``batch_size`` sampled architectures.

        The last episode plays the derived architecture instead of a sample (after updating on any partial batch),
        so that the search's result is in its history; it is not learned from.

        :param episodes: number of architectures to score.
        :param on_episode: called after each episode; returning False stops the search (after an update).
        """
        end = self.episodes_done + episodes
        for episode in range(self.episodes_done, end):
            final = episode == end - 1
            if final and self._batch:
                self._update_batch()
            arch, log_prob = (self.derived_architecture(), None) if final else self.sample()
            reward, info = run_architecture(self.env, arch, seed=self.seed if episode == 0 else None)
            extra = {"baseline": self.baseline, "derived": final}
            if log_prob is not None:
                self._batch.append((np.asarray(arch.choices, dtype=np.int64), reward, log_prob))
                if len(self._batch) == self.config.batch_size:
                    self._update_batch()
            self.episodes_done = episode + 1
            if on_episode is not None and on_episode(EpisodeResult(episode, reward, dict(info), extra)) is False:
                if self._batch:
                    self._update_batch()
                return

    def _update_batch(self) -> None:
        self.update([reward for _, reward, _ in self._batch], [log_prob for _, _, log_prob in self._batch])
        self._batch = []

    def state_dict(self) -> dict[str, Any]:
        """Logits, optimizer, baseline, sampling generator, the batch not yet learned from, episode count and config."""
        return {
            **super().state_dict(),
            "config": asdict(self.config),
            "logits": self.logits.detach().clone(),
            "optimizer": self.optimizer.state_dict(),
            "baseline": self.baseline,
            "generator": self.generator.get_state(),
            "batch": [(choices, reward) for choices, reward, _ in self._batch],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved; the pending batch's log-probabilities are recomputed (the logits
        have not changed since they were sampled).

        :param state: a dict from :meth:`state_dict`.
        :raises ResumeError: if the state was made with other hyperparameters.
        """
        check_config(state["config"], asdict(self.config), self.name)
        super().load_state_dict(state)
        with torch.no_grad():
            self.logits.copy_(state["logits"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.baseline = state["baseline"]
        self.generator.set_state(state["generator"])
        self._batch = [
            (choices, reward, self._log_prob(self.probabilities(), torch.as_tensor(choices)))
            for choices, reward in state["batch"]
        ]
