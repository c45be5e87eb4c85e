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

:meth:`GradientSearchAgent.state_dict` holds alpha and its optimizer, the private supernet and its optimizer, the
sampling generator and where both batch streams are, so a restored agent continues a search exactly.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Subset

from hwenvs.agents.base import Agent, EpisodeCallback, EpisodeResult, check_config
from hwenvs.agents.reinforce import candidate_mask, run_architecture
from hwenvs.envs.contract import SupernetEnv, require
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


class BatchStream(Iterator[tuple[torch.Tensor, torch.Tensor]]):
    """A shuffling data loader's batches, epoch after epoch, with a state to continue from.

    The state is the loader's generator at the start of the current epoch and the batches drawn since: restoring it
    replays the epoch's shuffle and skips those batches, so the stream continues exactly.

    :param loader: a loader whose shuffle draws only from its ``generator``.
    """

    def __init__(self, loader: DataLoader) -> None:
        self.loader = loader
        self._epoch: Iterator[tuple[torch.Tensor, torch.Tensor]] | None = None
        self._epoch_generator = loader.generator.get_state()
        self._drawn = 0

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._epoch is None:
            self._epoch_generator, self._drawn = self.loader.generator.get_state(), 0
            self._epoch = iter(self.loader)
        batch = next(self._epoch, None)
        if batch is None:
            self._epoch = None
            return next(self)
        self._drawn += 1
        return batch

    def state_dict(self) -> dict[str, Any]:
        """Where the stream is: the epoch's starting generator state and the batches drawn in it."""
        return {"generator": self._epoch_generator, "drawn": self._drawn, "started": self._epoch is not None}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`state_dict`'s point (replaying the epoch's shuffle and skipping its drawn batches).

        :param state: a dict from :meth:`state_dict` of a stream over the same loader.
        """
        self.loader.generator.set_state(state["generator"])
        self._epoch_generator, self._drawn, self._epoch = state["generator"], 0, None
        if state["started"]:
            self._epoch = iter(self.loader)
            for _ in range(state["drawn"]):
                next(self._epoch)
            self._drawn = state["drawn"]


class GradientSearchAgent(Agent):
    """ProxylessNAS-G on a ProxylessNAS environment.

    :param env: the environment (oneshot or sequential; it scores the derived architecture after each step).
    :param seed: seeds sampling, the hold-out split, batch order and the first reset.
    :param kwargs: fields of :class:`GradientConfig`.
    """

    name = "gradient"
    resumable = True

    SWEEP_SPACE: ClassVar[dict[str, tuple]] = {
        "arch_lr": ("loguniform", 5e-3, 0.2),
        "weight_lr": ("loguniform", 1e-3, 5e-2),
        "weight_steps": ("choice", [2, 5, 10]),
    }
    """The hyperparameter lottery's space (``hwenvs benchmark --sweep K``; format in :mod:`hwenvs.benchmark.sweep`)."""

    def __init__(self, env: gym.Env, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(env, seed)
        unwrapped = require(env, SupernetEnv, "the gradient search")
        self.config = config = GradientConfig(**kwargs)
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
        self._arch_batches = BatchStream(self._loader(Subset(train, order[:held]), seed))
        self._weight_batches = BatchStream(self._loader(Subset(train, order[held:]), seed + 1))

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
            g, alpha_grad = gates.grad, self.alpha.grad
            # the backward pass just set both: the loss depends on the gates and, through E[LAT], on alpha
            assert g is not None and alpha_grad is not None
            pair_grad = q * (g - (g * q).sum(1, keepdim=True))
            alpha_grad.index_put_((rows[:, None], pairs), pair_grad, accumulate=True)
            self.arch_optimizer.step()
            new = self.alpha[rows[:, None], pairs]
            offset = torch.logsumexp(old, dim=1) - torch.logsumexp(new, dim=1)
            self.alpha[rows[:, None], pairs] = new + offset[:, None]
        return float(ce.detach()), float(expected.detach())

    def learn(self, episodes: int, on_episode: EpisodeCallback | None = None) -> None:
        """Run ``episodes`` more rounds of (weight steps, architecture step, scoring the derived architecture).

        :param episodes: rounds, each one environment episode.
        :param on_episode: called after each round; returning False stops the search.
        """
        start = self.episodes_done
        for episode in range(start, start + episodes):
            weight_loss = None
            if self.config.train_weights:
                for _ in range(self.config.weight_steps):
                    weight_loss = self.weight_step()
            ce, expected = self.arch_step()
            derived = self.derived_architecture()
            reward, info = run_architecture(self.env, derived, seed=self.seed if episode == 0 else None)
            self.episodes_done = episode + 1
            if on_episode is not None:
                extra = {"arch_ce": ce, "expected_latency_ms": expected, "weight_loss": weight_loss}
                if on_episode(EpisodeResult(episode, reward, dict(info), extra)) is False:
                    return

    def state_dict(self) -> dict[str, Any]:
        """Alpha and its optimizer, the private supernet and its optimizer (when ``train_weights``), the sampling
        generator, both batch streams, the episode count and the config."""
        state = {
            **super().state_dict(),
            "config": asdict(self.config),
            "alpha": self.alpha.detach().clone(),
            "arch_optimizer": self.arch_optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "arch_batches": self._arch_batches.state_dict(),
            "weight_batches": self._weight_batches.state_dict(),
        }
        if self.config.train_weights:
            state["supernet"] = self.supernet.state_dict()
            state["weight_optimizer"] = self.weight_optimizer.state_dict()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved, on an agent built on the same environment and hyperparameters.

        :param state: a dict from :meth:`state_dict`.
        :raises ResumeError: if the state was made with other hyperparameters.
        """
        check_config(state["config"], asdict(self.config), self.name)
        super().load_state_dict(state)
        with torch.no_grad():
            self.alpha.copy_(state["alpha"])
        self.arch_optimizer.load_state_dict(state["arch_optimizer"])
        self.generator.set_state(state["generator"])
        self._arch_batches.load_state_dict(state["arch_batches"])
        self._weight_batches.load_state_dict(state["weight_batches"])
        if self.config.train_weights:
            self.supernet.load_state_dict(state["supernet"])
            self.weight_optimizer.load_state_dict(state["weight_optimizer"])
