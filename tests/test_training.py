"""The one training loop (:mod:`hwenvs.training`): the recipe it runs, fine-tuning's variant, and its config."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from hwenvs.data import Task
from hwenvs.data.augment import random_shift
from hwenvs.data.task import tensor_dataset
from hwenvs.lab.retrain import RetrainConfig
from hwenvs.nas.train_supernet import WarmupConfig
from hwenvs.training import RECORDED_FIELDS, TrainConfig, train

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_task(images: int = 40) -> Task:
    """Random 3-class 8x8 images, in memory (so the trainer shifts them)."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(images, 3, 8, 8, generator=g), torch.randint(0, 3, (images,), generator=g)
    held_out = tensor_dataset(x[:10], y[:10])
    return Task("tiny", 3, 8, tensor_dataset(x, y), x[:4], held_out, held_out, in_memory=True)


def tiny_model() -> nn.Module:
    """Convolution, batch norm and dropout: every source of state and randomness a real model has."""
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Dropout(0.3), nn.Linear(4, 3),
    )  # fmt: skip


def reference_recipe(task: Task, config: TrainConfig) -> nn.Module:
    """The recipe the reference models, the supernet warm-up and retraining each spelled out before there was one
    trainer: seed, build, SGD-Nesterov, one-cycle, one random shift per batch."""
    torch.manual_seed(config.seed)
    model = tiny_model()
    loader = task.train_loader(config.batch_size, seed=config.seed)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, nesterov=True
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=int(config.epochs) * len(loader), pct_start=0.15
    )
    generator = torch.Generator().manual_seed(config.seed)
    model.train()
    for _ in range(int(config.epochs)):
        for x, y in loader:
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(random_shift(x, config.max_shift, generator)), y).backward()
            optimizer.step()
            scheduler.step()
    return model.eval()


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa), [k for k in sa if not torch.equal(sa[k], sb[k])]


@pytest.mark.parametrize("seed", [0, 3])
def test_trainer_runs_the_one_cycle_recipe_bit_for_bit(seed: int) -> None:
    task, config = tiny_task(), TrainConfig(epochs=3, batch_size=16, lr=0.1, seed=seed)
    epochs: list[tuple[int, float]] = []
    model = train(tiny_model, task, config, on_epoch=lambda m, epoch, loss, s: epochs.append((epoch, loss)))
    assert not model.training
    assert_same_weights(model, reference_recipe(task, config))
    assert [e for e, _ in epochs] == [1, 2, 3] and all(loss > 0 for _, loss in epochs)


def test_finetuning_variant_freezes_batchnorm_and_counts_steps() -> None:
    task = tiny_task()
    torch.manual_seed(1)
    model = tiny_model()
    model[0].bias.requires_grad_(False)
    before = copy.deepcopy(model.state_dict())
    # 5 steps of 16 images cycle past the 3-batch training split; constant rate, plain momentum, no shift
    config = TrainConfig(steps=5, batch_size=16, lr=0.01, max_shift=0, nesterov=False, schedule="constant")
    passes: list[int] = []
    tuned = train(model, task, config, freeze_batchnorm=True, on_epoch=lambda m, e, loss, s: passes.append(e))
    assert tuned is model and not model.training
    state = model.state_dict()
    assert torch.equal(state["1.running_mean"], before["1.running_mean"])  # statistics frozen
    assert int(state["1.num_batches_tracked"]) == 0
    assert torch.equal(state["0.bias"], before["0.bias"])  # not trainable, not touched
    assert not torch.equal(state["0.weight"], before["0.weight"])
    assert passes == [1]  # one full pass of 3 batches, then 2 steps of the next


def test_config_validation_and_step_count() -> None:
    assert TrainConfig(epochs=1.5).total_steps(4) == 6
    assert TrainConfig(steps=7).total_steps(4) == 7
    assert TrainConfig(epochs=0.01).total_steps(4) == 1
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="cosine")  # type: ignore[arg-type]
    empty = tiny_task()
    empty.train = tensor_dataset(torch.zeros(0, 3, 8, 8), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="empty training split"):
        train(tiny_model, empty, TrainConfig(epochs=1))


def test_record_keeps_the_shape_shipped_manifests_have() -> None:
    # the fields the manifests' train_config / warmup_config hold, in the order cached supernets were keyed by
    assert list(TrainConfig().record()) == list(RECORDED_FIELDS)
    assert TrainConfig().record() == {
        "epochs": 12, "batch_size": 128, "lr": 0.05, "momentum": 0.9, "weight_decay": 4e-5, "max_shift": 2, "seed": 0,
    }  # fmt: skip
    assert WarmupConfig().record()["epochs"] == 30 and RetrainConfig(lr=0.1).record()["epochs"] == 10
    finetuning = TrainConfig(steps=5, nesterov=False, schedule="constant").record()
    assert finetuning["steps"] == 5 and finetuning["schedule"] == "constant" and finetuning["nesterov"] is False
