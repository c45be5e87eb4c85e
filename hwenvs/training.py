"""The one training loop: reference models, supernet warm-up, from-scratch retraining and quantization-aware
fine-tuning all run :func:`train` with a :class:`TrainConfig`.

The recipe is SGD (Nesterov momentum by default) with a one-cycle schedule and, on in-memory tasks, a random shift
of each batch. What differs between the uses is passed in: the loss of one step (the supernet samples a path per
step), how progress is shown (a progress bar or a per-epoch callback), the schedule and step count (fine-tuning runs
a fixed number of plain-SGD steps at a constant rate) and whether batch norms are frozen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from functools import partial
from typing import Any, Literal, TypeVar, cast

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from hwenvs.data import Task
from hwenvs.data.augment import random_shift
from hwenvs.data.task import dataset_size

ModelT = TypeVar("ModelT", bound=nn.Module)

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
"""``loss(model, images, labels)``: the loss of one training step."""

EpochCallback = Callable[[nn.Module, int, float, float], None]
"""``on_epoch(model, epoch, loss, seconds)``: called after each full pass with the model, the 1-based epoch, the
last step's loss and the pass's duration."""

RECORDED_FIELDS = ("epochs", "batch_size", "lr", "momentum", "weight_decay", "max_shift", "seed")
"""The fields every recipe sets and every record keeps, in the order the shipped manifests and the supernet cache
keys were written with."""


@dataclass
class TrainConfig:
    """How a network is trained: the defaults are the reference models' recipe (12 epochs of SGD-Nesterov with a
    one-cycle schedule and random shifts); the supernet warm-up, retraining and fine-tuning change a few fields."""

    epochs: float = 12
    """Passes over the training split (a fraction rounds to whole steps); ignored when ``steps`` is set."""
    batch_size: int = 128
    """Images per SGD step."""
    lr: float = 0.05
    """Peak learning rate of the one-cycle schedule, or the constant rate."""
    momentum: float = 0.9
    """SGD momentum."""
    weight_decay: float = 4e-5
    """L2 penalty (MobileNet's value)."""
    max_shift: int = 2
    """Random translation in pixels, the only augmentation (in-memory tasks only: ImageFolder tasks bring their own)."""
    seed: int = 0
    """Seeds initialisation, batch order, shifts and dropout."""
    steps: int | None = None
    """Exact number of SGD steps, cycling over the training split as often as needed (None: ``epochs`` decide)."""
    nesterov: bool = True
    """Nesterov momentum (HAQ's fine-tuning uses plain momentum)."""
    schedule: Literal["one-cycle", "constant"] = "one-cycle"
    """Learning-rate schedule: one-cycle (15% warm-up, then cosine annealing) or a constant ``lr``."""

    def __post_init__(self) -> None:
        if self.steps is None and not self.epochs > 0:
            raise ValueError(f"epochs must be positive, got {self.epochs!r}")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be positive or None, got {self.steps!r}")
        if self.schedule not in ("one-cycle", "constant"):
            raise ValueError(f"schedule must be 'one-cycle' or 'constant', got {self.schedule!r}")

    def total_steps(self, batches_per_epoch: int) -> int:
        """SGD steps of the whole run.

        :param batches_per_epoch: length of the training loader.
        """
        if self.steps is not None:
            return self.steps
        return max(1, round(self.epochs * batches_per_epoch))

    def record(self) -> dict[str, Any]:
        """The config as written to manifests and cache keys: the :data:`RECORDED_FIELDS` always, the other fields
        only where they differ from their defaults, so records of the one-cycle recipe keep the shape they had
        before there were other fields (shipped manifests stay comparable, cached supernets stay found)."""
        defaults = TrainConfig()
        values = asdict(self)
        return {
            f.name: values[f.name]
            for f in fields(self)
            if f.name in RECORDED_FIELDS or values[f.name] != getattr(defaults, f.name)
        }


def cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The default :data:`LossFn`: cross-entropy of ``model(x)`` against ``y``.

    :param model: the network being trained.
    :param x: images.
    :param y: labels.
    """
    return F.cross_entropy(model(x), y)


def sgd_step(optimizer: torch.optim.Optimizer, compute_loss: Callable[[], torch.Tensor]) -> torch.Tensor:
    """One optimizer step on the loss ``compute_loss()`` returns; returns that loss (still on its device).

    :param optimizer: the optimizer.
    :param compute_loss: runs the forward pass.
    """
    optimizer.zero_grad(set_to_none=True)
    loss = compute_loss()
    loss.backward()
    optimizer.step()
    return loss


def _train_mode(model: nn.Module, freeze_batchnorm: bool) -> None:
    model.train()
    if freeze_batchnorm:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


@dataclass
class _Run:
    """What one training run carries from step to step."""

    net: nn.Module
    config: TrainConfig
    loss: LossFn
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    shifts: torch.Generator | None
    device: str | torch.device
    channels_last: bool
    bar: tqdm

    def step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One SGD step on a training batch; returns its loss."""
        if self.shifts is not None:
            x = random_shift(x, self.config.max_shift, self.shifts)
        x, y = x.to(self.device), y.to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        loss = sgd_step(self.optimizer, partial(self.loss, self.net, x, y))
        if self.scheduler is not None:
            self.scheduler.step()
        if not self.bar.disable:  # reading the loss waits for the device: only when it is shown
            self.bar.update()
            self.bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        return loss

    def epoch(self, loader: DataLoader, steps: int) -> tuple[int, torch.Tensor]:
        """One pass over ``loader``, stopping after ``steps`` steps; returns the steps taken and the last loss."""
        taken = 0
        for x, y in loader:
            loss = self.step(x, y)
            taken += 1
            if taken == steps:
                break
        return taken, loss


def train(
    model: ModelT | Callable[[], ModelT],
    task: Task,
    config: TrainConfig,
    *,
    loss: LossFn = cross_entropy,
    device: str | torch.device = "cpu",
    channels_last: bool = False,
    freeze_batchnorm: bool = False,
    progress: bool = False,
    desc: str = "training",
    on_epoch: EpochCallback | None = None,
) -> ModelT:
    """Train ``model`` on ``task``'s training split; returns it in eval mode.

    The global torch seed is set to ``config.seed`` first, so a model given as a builder is initialised under it,
    and dropout draws from it.

    :param model: the network (trained in place), or a function that builds it.
    :param task: gives the training split.
    :param config: the recipe.
    :param loss: the loss of one step (the supernet warm-up's samples a path per call).
    :param device: where to train (the model is moved there).
    :param channels_last: feed batches in channels-last memory format (for models stored that way).
    :param freeze_batchnorm: keep batch norms in eval mode (fine-tuning: a few hundred steps would only make their
        statistics drift).
    :param progress: show a progress bar with the loss.
    :param desc: the progress bar's label.
    :param on_epoch: called after each full pass over the training split (see :data:`EpochCallback`).
    """
    torch.manual_seed(config.seed)
    # cast: isinstance narrows ModelT | Callable[[], ModelT] to nn.Module (a module is callable too), not to ModelT
    net = cast(ModelT, model) if isinstance(model, nn.Module) else model()
    net.to(device)
    if dataset_size(task.train) == 0:
        raise ValueError(f"task {task.name!r} has an empty training split")
    loader = task.train_loader(config.batch_size, seed=config.seed)
    total = config.total_steps(len(loader))
    optimizer = torch.optim.SGD(
        [p for p in net.parameters() if p.requires_grad],
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        nesterov=config.nesterov,
    )
    scheduler = None
    if config.schedule == "one-cycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total, pct_start=0.15)
    shifts = torch.Generator().manual_seed(config.seed) if task.in_memory and config.max_shift else None
    bar = tqdm(total=total, desc=desc, unit="step", disable=not progress)
    run = _Run(net, config, loss, optimizer, scheduler, shifts, device, channels_last, bar)
    done = epoch = 0
    while done < total:
        _train_mode(net, freeze_batchnorm)  # again each pass: an evaluating callback may have changed modes
        start = time.perf_counter()
        taken, last = run.epoch(loader, total - done)
        done += taken
        if taken == len(loader):
            epoch += 1
            if on_epoch is not None:
                on_epoch(net, epoch, float(last.detach()), time.perf_counter() - start)
    bar.close()
    return net.eval()
