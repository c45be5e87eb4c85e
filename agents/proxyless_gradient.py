"""ProxylessNAS-G: gradient-based search with binary gates (Cai, Zhu and Han, ICLR 2019, sections 3.2 and 3.3.1).

Architecture parameters ``alpha`` hold one logit per candidate per block; ``p = softmax(alpha)``. The search
alternates:

* weight steps: SGD on the training data through one path sampled from ``p`` (binary gates, one active path);
* an architecture step on held-out training images, with the paper's two-path trick: each block samples two
  candidates from ``p``, renormalises over them, samples one binary gate from that pair, and runs both candidates
  so that ``dL/dg`` exists for both gates. The gate gradient reaches ``alpha`` as
  ``dL/dalpha_i = sum_j dL/dg_j * q_j * (delta_ij - q_i)`` over the pair (``q`` the renormalised probabilities);
  after the Adam step the two logits are shifted so that the pair keeps its total probability, leaving every other
  candidate's probability unchanged. The loss adds the differentiable expected latency
  ``E[LAT] = fixed + sum_blocks sum_ops p_op * LAT(op)`` (zero costs 0) in one of ProxylessNAS's two forms:
  ``"add#linear"`` (default; the paper's additive regulariser, eq. 6): ``CE + 0.1 * (E[LAT] - T) / T``, or
  ``"mul#log"`` (its code's default): ``0.2 * CE * (log E[LAT] / log T) ** 0.3``. On the embedded task the
  cross-entropy is small (about 0.1-0.5), so the multiplicative form barely moves latency: measured over 60 episodes
  on ProxylessNAS-Mobile, E[LAT] went from 110 to 105 ms with "mul#log" and from 108 to 82 ms with "add#linear".

It searches the environment's own supernet, latency table and target. By default it trains a private copy of the
supernet (the environment's weights, and so its rewards, stay frozen); each episode is ``weight_steps`` weight
steps, one architecture step, and one environment episode that scores the current most probable architecture, so
its history shows the derived architecture improving. Hold-out images for architecture steps are carved from the
training split with the agent's seed.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Subset

from agents.base import Agent, EpisodeCallback, EpisodeResult
from agents.reinforce import candidate_mask, run_architecture
from hwenvs.nas.architecture import Architecture
from hwenvs.nas.search_space import NUM_BLOCKS
from hwenvs.nas.train_supernet import weight_step

LATENCY_LOSSES = ("add#linear", "mul#log")


@dataclass
class GradientConfig:
    """Hyperparameters of ProxylessNAS-G."""

    weight_steps: int = 5
    """Weight steps before each architecture step (the paper updates the architecture every 5 weight steps)."""
    train_weights: bool = True
    """Train a private copy of the supernet; False searches on the environment's frozen weights."""
    weight_lr: float = 0.01
    """SGD learning rate of the weight steps."""
    weight_momentum: float = 0.9
    """SGD momentum of the weight steps."""
    batch_size: int = 128
    """Images per weight step and per architecture step."""
    holdout_fraction: float = 0.2
    """Share of the training split held out for architecture steps."""
    arch_lr: float = 0.05
    """Adam learning rate on alpha (the paper's 1e-3 assumes tens of thousands of steps)."""
    beta1: float = 0.0
    """Adam's first-moment decay (ProxylessNAS uses 0)."""
    beta2: float = 0.999
    """Adam's second-moment decay."""
    latency_loss: str = "add#linear"
    """How expected latency enters the loss: add#linear or mul#log."""
    loss_alpha: float = 0.2
    """Scale of "mul#log"."""
    loss_beta: float = 0.3
    """Exponent of "mul#log"."""
    loss_lambda: float = 0.1
    """Weight of "add#linear"."""


def _cycle(loader: DataLoader) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    while True:
        yield from loader


class GradientSearchAgent(Agent):
    """ProxylessNAS-G on a ProxylessNAS environment.

    :param env: the environment (oneshot or sequential; it scores the derived architecture after each step).
    :param seed: seeds sampling, the hold-out split, batch order and the first reset.
    :param kwargs: fields of :class:`GradientConfig`.
    """

    name = "gradient"

    def __init__(self, env: gym.Env, seed: int = 0, **kwargs: float | bool | str) -> None:
        super().__init__(env, seed)
        unwrapped = env.unwrapped
        if not all(hasattr(unwrapped, a) for a in ("supernet", "table", "target_ms", "task")):
            raise ValueError(f"the gradient search needs a ProxylessNAS environment, got {unwrapped!r}")
        self.config = config = GradientConfig(**kwargs)  # type: ignore[arg-type]
        if config.latency_loss not in LATENCY_LOSSES:
            raise ValueError(f"latency_loss must be one of {LATENCY_LOSSES}, got {config.latency_loss!r}")
        if config.latency_loss == "mul#log" and unwrapped.target_ms <= 1.0:
            raise ValueError(
                f"latency_loss 'mul#log' divides by log(target) and needs target_ms > 1, got {unwrapped.target_ms}; "
                "use latency_loss='add#linear'"
            )
        if not 0 < config.holdout_fraction < 1:
            raise ValueError(f"holdout_fraction must lie in (0, 1), got {config.holdout_fraction}")
        self.generator = torch.Generator().manual_seed(seed)
        self.supernet = copy.deepcopy(unwrapped.supernet) if config.train_weights else unwrapped.supernet
        self.target_ms = float(unwrapped.target_ms)
        table = unwrapped.table
        self.fixed_ms = float(table.fixed_ms)
        self.block_ms = torch.tensor(np.nan_to_num(table.block_ms, nan=0.0), dtype=torch.float32)
        self.mask = candidate_mask()
        self.alpha = torch.zeros(NUM_BLOCKS, self.mask.shape[1], requires_grad=True)
        self.arch_optimizer = torch.optim.Adam([self.alpha], lr=config.arch_lr, betas=(config.beta1, config.beta2))
        self.weight_optimizer = torch.optim.SGD(
            self.supernet.parameters(), lr=config.weight_lr, momentum=config.weight_momentum
        )
        train = unwrapped.task.train
        order = torch.randperm(len(train), generator=self.generator).tolist()
        held = max(1, int(len(order) * config.holdout_fraction))
        self._arch_batches = _cycle(self._loader(Subset(train, order[:held]), seed))
        self._weight_batches = _cycle(self._loader(Subset(train, order[held:]), seed + 1))

    def _loader(self, dataset: Subset, seed: int) -> DataLoader:
        generator = torch.Generator().manual_seed(seed)
        return DataLoader(dataset, batch_size=self.config.batch_size, shuffle=True, generator=generator)

    def probabilities(self) -> torch.Tensor:
        """(21, 7) candidate probabilities (0 for zero where it is not allowed); differentiable in alpha."""
        return torch.softmax(self.alpha.masked_fill(~self.mask, float("-inf")), dim=1)

    def expected_latency(self) -> torch.Tensor:
        """E[LAT] in ms under the current probabilities; differentiable in alpha."""
        return self.fixed_ms + (self.probabilities() * self.block_ms).sum()

    def derived_architecture(self) -> Architecture:
        """The most probable candidate of every block: the search's result."""
        return Architecture.from_indices(self.probabilities().argmax(1).detach().numpy())

    def _loss(self, ce: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
        c = self.config
        if c.latency_loss == "mul#log":
            return c.loss_alpha * ce * (torch.log(expected) / math.log(self.target_ms)) ** c.loss_beta
        return ce + c.loss_lambda * (expected - self.target_ms) / self.target_ms

    def weight_step(self) -> float:
        """One SGD step on a path sampled from the current probabilities; returns the loss."""
        choices = torch.multinomial(self.probabilities().detach(), 1, generator=self.generator).squeeze(1)
        x, y = next(self._weight_batches)
        self.supernet.train()
        return weight_step(
            self.supernet,
            self.weight_optimizer,
            x.contiguous(memory_format=torch.channels_last),
            y,
            Architecture.from_indices(choices.numpy()),
        )

    def arch_step(self) -> tuple[float, float]:
        """One architecture step with two sampled paths per block; returns (cross-entropy, E[LAT] in ms)."""
        x, y = next(self._arch_batches)
        x = x.contiguous(memory_format=torch.channels_last)
        rows = torch.arange(NUM_BLOCKS)
        with torch.no_grad():
            pairs = torch.multinomial(self.probabilities(), 2, replacement=False, generator=self.generator)
            old = self.alpha[rows[:, None], pairs].clone()
            q = torch.softmax(old, dim=1)
            active = torch.multinomial(q, 1, generator=self.generator).squeeze(1)
        gates = F.one_hot(active, 2).float().requires_grad_()
        # Weights are not updated here: freezing them skips their gradients and halves the backward pass.
        self.supernet.requires_grad_(False)
        try:
            h = self.supernet.stem_forward(x)
            for b, block in enumerate(self.supernet.blocks):
                i, j = int(pairs[b, 0]), int(pairs[b, 1])
                h = gates[b, 0] * block(h, i) + gates[b, 1] * block(h, j)
            ce = F.cross_entropy(self.supernet.head_forward(h), y)
            expected = self.expected_latency()
            loss = self._loss(ce, expected)
            self.arch_optimizer.zero_grad()
            loss.backward()
        finally:
            self.supernet.requires_grad_(True)
        with torch.no_grad():
            g = gates.grad
            pair_grad = q * (g - (g * q).sum(1, keepdim=True))
            self.alpha.grad.index_put_((rows[:, None], pairs), pair_grad, accumulate=True)
            self.arch_optimizer.step()
            new = self.alpha[rows[:, None], pairs]
            offset = torch.logsumexp(old, dim=1) - torch.logsumexp(new, dim=1)
            self.alpha[rows[:, None], pairs] = new + offset[:, None]
        return float(ce.detach()), float(expected.detach())

    def learn(self, episodes: int, on_episode: EpisodeCallback | None = None) -> None:
        """Run ``episodes`` rounds of (weight steps, architecture step, scoring the derived architecture).

        :param episodes: rounds, each one environment episode.
        :param on_episode: called after each round; returning False stops the search.
        """
        for episode in range(episodes):
            weight_loss = None
            if self.config.train_weights:
                for _ in range(self.config.weight_steps):
                    weight_loss = self.weight_step()
            ce, expected = self.arch_step()
            derived = self.derived_architecture()
            reward, info = run_architecture(self.env, derived, seed=self.seed if episode == 0 else None)
            if on_episode is not None:
                extra = {"arch_ce": ce, "expected_latency_ms": expected, "weight_loss": weight_loss}
                if on_episode(EpisodeResult(episode, reward, dict(info), extra)) is False:
                    return
