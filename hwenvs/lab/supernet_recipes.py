"""Supernet training recipes, compared by how well each supernet orders the from-scratch reference set
(:mod:`hwenvs.lab.nas_reference_set`).

Two rules train the weight-sharing supernet (:class:`~hwenvs.nas.supernet.SuperNet`) on the reference set's images
and schedule (SGD-Nesterov, one-cycle, random shifts, batch 128; stem stride 1, residual candidates starting as the
identity):

* ``uniform``: ProxylessNAS's warm-up (:func:`hwenvs.nas.train_supernet.warm_up`): one uniformly sampled path per
  batch, trained on the labels.
* ``sandwich``: BigNAS's and Once-for-All's sandwich rule with in-place distillation: per batch, the largest path
  (every block k7e6) learns from the labels, the smallest path (every skippable block skipped, k3e3 elsewhere) and
  ``random_paths`` uniformly sampled ones learn from the largest path's softened outputs (a soft cross-entropy
  against its detached probabilities); their gradients are summed and the optimizer steps once.

:func:`train_recipe` trains one recipe into a folder, checkpointing after every epoch (weights, optimizer,
schedule and every random generator), so a killed run resumes where it stopped and ends where an uninterrupted run
would. :func:`compare` scores each reference architecture's supernet path as the reward does and reports its rank
correlation with the from-scratch test accuracy, beside the seed-to-seed ceiling; :func:`ship` writes a recipe's
supernet as the shipped one of its task.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from hwenvs.cache import atomic_write_bytes
from hwenvs.data import Task, load_task
from hwenvs.data.augment import random_shift
from hwenvs.data.fashion_mnist import MAX_TRAIN
from hwenvs.lab.nas_reference_set import MIN_INTERVAL_ROWS, RESAMPLES, rank_correlation, seed_pairs
from hwenvs.lab.train_supernet import save_supernet
from hwenvs.nas.architecture import Architecture, shallowest, uniform
from hwenvs.nas.search_space import SearchSpace
from hwenvs.nas.supernet import SuperNet
from hwenvs.nas.train_supernet import _load_state, _state_bytes, embedded_space, path_accuracy, sample_architecture
from hwenvs.training import TrainConfig, sgd_step
from hwenvs.weights import SUPERNET_WEIGHTS, WeightsStore

RULES = ("uniform", "sandwich")
"""The training rules a recipe can use."""
DEFAULT_EPOCHS = {"uniform": 20, "sandwich": 5}
"""Each rule's default schedule (the recipe named by the rule alone), at equal path passes: a sandwich step trains
four paths (the largest, the smallest and two sampled), a uniform step one."""
RANDOM_PATHS = 2
"""Uniformly sampled paths per sandwich step, besides the largest and the smallest (BigNAS's two)."""
LARGEST = uniform("k7e6")
"""The sandwich's teacher: every block at its largest candidate."""
SMALLEST = shallowest("k3e3")
"""The sandwich's smallest student: every skippable block skipped, the smallest candidate elsewhere."""
GOAL_SPEARMAN = 0.6
"""Issue 29's goal: Spearman of path validation accuracy with from-scratch test accuracy at least this..."""
GOAL_MARGIN = 0.1
"""...or at most this far below the seed-to-seed ceiling."""
CHECKPOINT = "checkpoint.pt"
SUMMARY = "summary.json"


# ----------------------------------------------------------------------------------------------------------------
# Recipes


@dataclass(frozen=True)
class Recipe:
    """One way of training the supernet (recorded in its checkpoint and summary).

    :param rule: ``"uniform"`` or ``"sandwich"``.
    :param epochs: passes over the training images (the one-cycle schedule spans them all).
    :param random_paths: sandwich only: uniformly sampled students per step besides the smallest.
    :param dataset: the named task.
    :param num_train: training images (the reference set's; fewer only for smoke runs).
    :param width_mult: the supernet's width multiplier.
    :param stem_stride: stride of the stem convolution (the reference set's 1).
    :param seed: seeds initialisation, batch order, shifts and sampled paths.
    """

    rule: str = "uniform"
    epochs: int = DEFAULT_EPOCHS["uniform"]
    random_paths: int = RANDOM_PATHS
    dataset: str = "fashion-mnist"
    num_train: int = MAX_TRAIN
    width_mult: float = 0.35
    stem_stride: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {self.rule!r}")
        if self.epochs < 1 or self.random_paths < 0:
            raise ValueError(f"epochs must be >= 1 and random_paths >= 0, got {self.epochs}, {self.random_paths}")

    @property
    def name(self) -> str:
        """The rule, with ``-eN`` where the schedule is not the rule's default (``"sandwich-e6"``)."""
        return self.rule if self.epochs == DEFAULT_EPOCHS[self.rule] else f"{self.rule}-e{self.epochs}"

    @classmethod
    def parse(cls, name: str, **regime: Any) -> Recipe:
        """The recipe a :attr:`name` stands for.

        :param name: ``"uniform"``, ``"sandwich"``, or either with ``-eN`` (N epochs).
        :param regime: the other fields (data, width, stem stride, seed).
        :raises ValueError: a name of another form.
        """
        rule, _, epochs = name.partition("-e")
        if rule not in RULES or (epochs and not epochs.isdigit()):
            raise ValueError(f"unknown recipe {name!r}: valid are {', '.join(RULES)}, each optionally with -eEPOCHS")
        return cls(rule, int(epochs) if epochs else DEFAULT_EPOCHS[rule], **regime)

    def train_config(self) -> TrainConfig:
        """The schedule: the reference set's (TrainConfig's defaults) over :attr:`epochs`."""
        return TrainConfig(epochs=self.epochs, seed=self.seed)

    def space(self, task: Task) -> SearchSpace:
        """The supernet's space on ``task``.

        :param task: the task (resolution, classes).
        """
        return replace(embedded_space(task, self.width_mult), stem_stride=self.stem_stride)

    def record(self) -> dict[str, Any]:
        """The recipe as stored: its fields, its name and the training config."""
        return {**asdict(self), "name": self.name, "train": self.train_config().record()}


def regime_differences(recipe: Recipe, regime: dict[str, Any]) -> list[str]:
    """Where ``recipe`` trains on other images or another network than a reference row's ``regime``.

    :param recipe: the recipe.
    :param regime: a reference row's ``"regime"`` field.
    :return: one ``"field: recipe value vs reference value"`` per difference (empty: comparable).
    """
    wanted = {"dataset": recipe.dataset, "num_train": recipe.num_train, "width_mult": recipe.width_mult,
              "stem_stride": recipe.stem_stride, "zero_init": True}  # fmt: skip
    return [f"{k}: {v!r} vs {regime.get(k)!r}" for k, v in wanted.items() if regime.get(k) != v]


# ----------------------------------------------------------------------------------------------------------------
# One training step


def uniform_step(
    supernet: SuperNet, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, paths: np.random.Generator
) -> dict[str, float]:
    """One step of the uniform rule: a sampled path on the labels.

    :param supernet: the supernet, in train mode.
    :param optimizer: its optimizer.
    :param x: images (channels-last).
    :param y: labels.
    :param paths: draws the path.
    :return: ``{"loss": the path's cross-entropy}``.
    """
    arch = sample_architecture(paths)
    loss = sgd_step(optimizer, lambda: F.cross_entropy(supernet(x, arch), y))
    return {"loss": float(loss.detach())}


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Soft cross-entropy of the student against the teacher's probabilities, the teacher detached (its gradient
    would pull the largest path towards its students). Equal to the KL divergence up to the teacher's entropy, a
    constant here.

    :param student_logits: the student path's logits.
    :param teacher_logits: the largest path's logits on the same images.
    """
    target = F.softmax(teacher_logits.detach(), dim=1)
    return -(target * F.log_softmax(student_logits, dim=1)).sum(1).mean()


def sandwich_backward(
    supernet: SuperNet, x: torch.Tensor, y: torch.Tensor, students: Sequence[Architecture]
) -> dict[str, float]:
    """Accumulate the sandwich rule's gradients of one batch (no optimizer step): the largest path on the labels,
    then each student on the largest path's outputs. One backward per path, so only one path's activations are held.

    :param supernet: the supernet, in train mode.
    :param x: images (channels-last).
    :param y: labels.
    :param students: the paths distilled from the largest one.
    :return: ``{"loss": the largest path's cross-entropy, "distill": the students' mean distillation loss}``.
    """
    teacher = supernet(x, LARGEST)
    label_loss = F.cross_entropy(teacher, y)
    label_loss.backward()
    distill = []
    for arch in students:
        loss = distillation_loss(supernet(x, arch), teacher)
        loss.backward()
        distill.append(float(loss.detach()))
    return {"loss": float(label_loss.detach()), "distill": float(np.mean(distill)) if distill else 0.0}


def sandwich_step(
    supernet: SuperNet,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    paths: np.random.Generator,
    random_paths: int = RANDOM_PATHS,
) -> dict[str, float]:
    """One step of the sandwich rule: :func:`sandwich_backward` with the smallest path and ``random_paths`` sampled
    ones as students, then one optimizer step on the summed gradients.

    :param supernet: the supernet, in train mode.
    :param optimizer: its optimizer.
    :param x: images (channels-last).
    :param y: labels.
    :param paths: draws the random students.
    :param random_paths: sampled students besides the smallest.
    """
    optimizer.zero_grad(set_to_none=True)
    students = [SMALLEST, *(sample_architecture(paths) for _ in range(random_paths))]
    losses = sandwich_backward(supernet, x, y, students)
    optimizer.step()
    return losses


# ----------------------------------------------------------------------------------------------------------------
# Resumable training


@dataclass
class Training:
    """Everything a recipe's training carries from step to step, and what a checkpoint saves.

    :param recipe: the recipe.
    :param supernet: the supernet being trained.
    :param optimizer: SGD over its weights.
    :param scheduler: the one-cycle schedule over every epoch's steps.
    :param loader: the shuffled training batches (its generator fixes the order of every epoch).
    :param shifts: draws each batch's random shift.
    :param paths: draws the sampled paths.
    :param epochs: one record per finished epoch (seconds, threads, mean losses).
    :param in_memory: whether the task's batches are shifted here (in-memory tasks).
    """

    recipe: Recipe
    supernet: SuperNet
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    loader: torch.utils.data.DataLoader
    shifts: torch.Generator
    paths: np.random.Generator
    epochs: list[dict[str, Any]] = field(default_factory=list)
    in_memory: bool = True

    def step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """One training step of the recipe's rule on a batch, then the schedule's step; returns its losses.

        :param x: training images (shifted here on in-memory tasks).
        :param y: their labels.
        """
        config = self.recipe.train_config()
        if self.in_memory and config.max_shift:
            x = random_shift(x, config.max_shift, self.shifts)
        x = x.contiguous(memory_format=torch.channels_last)
        if self.recipe.rule == "sandwich":
            losses = sandwich_step(self.supernet, self.optimizer, x, y, self.paths, self.recipe.random_paths)
        else:
            losses = uniform_step(self.supernet, self.optimizer, x, y, self.paths)
        self.scheduler.step()
        return losses


def start_training(recipe: Recipe, task: Task) -> Training:
    """A fresh training of ``recipe`` on ``task``, seeded as :func:`hwenvs.training.train` seeds its runs.

    :param recipe: the recipe.
    :param task: the task (its training split).
    """
    config = recipe.train_config()
    torch.manual_seed(config.seed)
    supernet = SuperNet(recipe.space(task)).to(memory_format=torch.channels_last)
    loader = task.train_loader(config.batch_size, seed=config.seed)
    optimizer = torch.optim.SGD(
        supernet.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
        nesterov=config.nesterov,
    )  # fmt: skip
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=config.total_steps(len(loader)), pct_start=0.15
    )
    shifts = torch.Generator().manual_seed(config.seed)
    return Training(recipe, supernet, optimizer, scheduler, loader, shifts, np.random.default_rng(config.seed),
                    in_memory=task.in_memory)  # fmt: skip


def run_epoch(training: Training) -> dict[str, float]:
    """One pass over the training split; returns the mean of each loss over its steps.

    :param training: the training (advanced in place).
    :raises FloatingPointError: a loss became NaN or infinite (the epoch is not checkpointed).
    """
    training.supernet.train()
    totals: dict[str, float] = {}
    steps = 0
    for x, y in training.loader:
        for name, value in training.step(x, y).items():
            if not np.isfinite(value):  # stop before a diverged supernet is checkpointed over a sound one
                raise FloatingPointError(f"{training.recipe.name}: {name} is {value} at step {steps + 1} of the epoch")
            totals[name] = totals.get(name, 0.0) + value
        steps += 1
    return {name: total / steps for name, total in totals.items()}


def checkpoint_bytes(training: Training) -> bytes:
    """The training's complete state after a whole epoch: enough to continue it exactly.

    :param training: the training.
    """
    meta = {"recipe": training.recipe.record(), "epochs": training.epochs,
            "paths": training.paths.bit_generator.state}  # fmt: skip
    state = {
        "supernet": training.supernet.state_dict(),
        "optimizer": training.optimizer.state_dict(),
        "scheduler": training.scheduler.state_dict(),
        "loader_rng": _loader_generator(training.loader).get_state(),
        "shift_rng": training.shifts.get_state(),
        "torch_rng": torch.get_rng_state(),
        "meta": json.dumps(meta),
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def _loader_generator(loader: torch.utils.data.DataLoader) -> torch.Generator:
    generator = loader.generator
    if generator is None:  # Task.train_loader always seeds one: the batch order could not be resumed without it
        raise ValueError("the training loader has no generator")
    return generator


def restore(training: Training, data: bytes) -> None:
    """Continue ``training`` from a checkpoint of the same recipe.

    :param training: a fresh training (:func:`start_training`), changed in place.
    :param data: what :func:`checkpoint_bytes` wrote.
    :raises ValueError: the checkpoint is of another recipe.
    """
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    meta = json.loads(state["meta"])
    if meta["recipe"] != training.recipe.record():
        raise ValueError(f"the checkpoint is of recipe {meta['recipe']}, not {training.recipe.record()}")
    training.supernet.load_state_dict(state["supernet"])
    training.optimizer.load_state_dict(state["optimizer"])
    training.scheduler.load_state_dict(state["scheduler"])
    _loader_generator(training.loader).set_state(state["loader_rng"])
    training.shifts.set_state(state["shift_rng"])
    torch.set_rng_state(state["torch_rng"])
    training.paths.bit_generator.state = meta["paths"]
    training.epochs = meta["epochs"]


def train_recipe(
    recipe: Recipe,
    task: Task,
    folder: str | Path,
    *,
    stop_after: int | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train ``recipe`` into ``folder``, resuming from its checkpoint; returns the summary.

    After every epoch the checkpoint (``checkpoint.pt``) and the summary (``summary.json``: the recipe, seconds and
    threads per epoch, mean losses) are replaced atomically, so a killed run loses at most the epoch it was in.

    :param recipe: the recipe.
    :param task: the task with the recipe's training images.
    :param folder: the recipe's folder.
    :param stop_after: train at most this many epochs in this call (None: to the end).
    :param log: where a line per epoch goes.
    """
    folder = Path(folder)
    training = start_training(recipe, task)
    if (folder / CHECKPOINT).is_file():
        restore(training, (folder / CHECKPOINT).read_bytes())
    todo = recipe.epochs - len(training.epochs)
    for _ in range(todo if stop_after is None else min(todo, stop_after)):
        start = time.perf_counter()
        losses = run_epoch(training)
        seconds = time.perf_counter() - start
        training.epochs.append({"epoch": len(training.epochs) + 1, "seconds": round(seconds, 2),
                                "threads": torch.get_num_threads(), **losses})  # fmt: skip
        write_checkpoint(folder, training)
        shown = ", ".join(f"{k} {v:.4f}" for k, v in losses.items())
        log(f"{recipe.name}: epoch {len(training.epochs)}/{recipe.epochs} in {seconds:.0f} s ({shown})")
    return read_summary(folder) or summary(training, None)


def write_checkpoint(folder: Path, training: Training) -> None:
    """Replace the checkpoint, then the summary that names its sha256 (each atomically).

    :param folder: the recipe's folder (created).
    :param training: the training after a whole epoch.
    """
    data = checkpoint_bytes(training)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(folder / CHECKPOINT, data)
    text = json.dumps(summary(training, hashlib.sha256(data).hexdigest()), indent=1, sort_keys=True) + "\n"
    atomic_write_bytes(folder / SUMMARY, text.encode())


def summary(training: Training, sha256: str | None) -> dict[str, Any]:
    """What the summary file records of a training.

    :param training: the training.
    :param sha256: the checkpoint's sha256 (None: none written yet).
    """
    epochs = training.epochs
    return {
        "recipe": training.recipe.record(),
        "epochs_done": len(epochs),
        "finished": len(epochs) == training.recipe.epochs,
        "train_seconds": round(sum(e["seconds"] for e in epochs), 2),
        "core_seconds": round(sum(e["seconds"] * e["threads"] for e in epochs), 2),
        "threads": sorted({e["threads"] for e in epochs}),
        "epochs": epochs,
        "checkpoint_sha256": sha256,
        "torch_version": torch.__version__,
        "host": platform.node(),
        "written": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def read_summary(folder: str | Path) -> dict[str, Any] | None:
    """The summary of the recipe trained in ``folder`` (None: nothing trained there yet).

    :param folder: the recipe's folder.
    """
    path = Path(folder) / SUMMARY
    return json.loads(path.read_text()) if path.is_file() else None


def load_trained(folder: str | Path, task: Task) -> tuple[SuperNet, dict[str, Any]]:
    """The supernet of ``folder``'s checkpoint rounded to float16 as :func:`ship` would write it, in eval mode, and
    the checkpoint's summary.

    :param folder: the recipe's folder.
    :param task: the task (resolution and classes of the space).
    :raises FileNotFoundError: no checkpoint, or no summary naming it.
    :raises ValueError: the checkpoint is not the one the summary names (overwritten since).
    """
    folder = Path(folder)
    info = read_summary(folder)
    if info is None or not (folder / CHECKPOINT).is_file():
        raise FileNotFoundError(f"{folder}: no trained supernet (no {CHECKPOINT} and {SUMMARY})")
    data = (folder / CHECKPOINT).read_bytes()
    if hashlib.sha256(data).hexdigest() != info["checkpoint_sha256"]:
        raise ValueError(f"{folder / CHECKPOINT} is not the checkpoint {folder / SUMMARY} names")
    recipe = Recipe(**{k: v for k, v in info["recipe"].items() if k not in ("name", "train")})
    supernet = SuperNet(recipe.space(task))
    supernet.load_state_dict(torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)["supernet"])
    return _load_state(supernet.space, _state_bytes(supernet)), info


# ----------------------------------------------------------------------------------------------------------------
# Comparing a supernet with the reference set


def scratch_accuracy(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each reference architecture's from-scratch test accuracy, the mean over its seeds, in order of first row.

    :param rows: the reference set's rows.
    :return: architecture string -> ``{"test_accuracy": mean, "seeds": how many, "depth": blocks kept}``.
    """
    seen: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        seen.setdefault(row["architecture"], []).append(row)
    return {
        arch: {
            "test_accuracy": float(np.mean([r["test_accuracy"] for r in g])),
            "seeds": len(g),
            "depth": g[0]["depth"],
        }
        for arch, g in seen.items()
    }


def validation_batch(task: Task, images: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The reward's batch: the first ``images`` validation images in one batch, channels-last (as
    :class:`~hwenvs.envs.nas_accuracy.SupernetAccuracy` scores a path).

    :param task: the task.
    :param images: the batch size (the environment's ``val_batch_size``).
    """
    x, y = next(iter(task.batches("val", images)))
    return x.contiguous(memory_format=torch.channels_last), y


def path_scores(supernet: SuperNet, archs: Sequence[str], batch: tuple[torch.Tensor, torch.Tensor]) -> list[float]:
    """The reward's accuracy of each architecture's path: one forward over the batch, batch norms normalising with
    the path's own statistics on that batch (the supernet's per-path recalibration).

    :param supernet: the supernet, in eval mode.
    :param archs: architecture strings.
    :param batch: the validation batch (:func:`validation_batch`).
    """
    return [path_accuracy(supernet, *batch, Architecture.from_string(a)) for a in archs]


def correlations(
    predicted: Sequence[float] | np.ndarray, measured: Sequence[float] | np.ndarray, seed: int = 0
) -> dict[str, list[float]]:
    """Spearman and Kendall tau of ``predicted`` against ``measured``, each ``[point, low, high]`` with its 95%
    percentile-bootstrap interval over the pairs (:func:`~hwenvs.lab.nas_reference_set.rank_correlation`).

    :param predicted: one value per architecture (the path's validation accuracy).
    :param measured: the paired values (from-scratch test accuracy).
    :param seed: the resampling seed.
    """
    return {s: list(rank_correlation(predicted, measured, s, seed=seed)) for s in ("spearman", "kendall")}


def ceiling(rows: Sequence[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    """The seed-to-seed ceiling: rank correlations of the test accuracies of the architectures trained with two
    seeds, one seed against the other.

    :param rows: the reference set's rows.
    :param seed: the resampling seed.
    """
    first, second, archs = seed_pairs(rows)
    return {"architectures": len(archs), **correlations(first, second, seed)}


def goal_met(spearman: float, ceiling_spearman: float) -> bool:
    """Whether a supernet's Spearman meets issue 29's goal: at least :data:`GOAL_SPEARMAN`, or within
    :data:`GOAL_MARGIN` of the ceiling (only where the ceiling is known).

    :param spearman: the supernet's Spearman (point estimate).
    :param ceiling_spearman: the seed-to-seed Spearman (NaN: not measured yet).
    """
    if np.isnan(spearman):
        return False
    near = not np.isnan(ceiling_spearman) and spearman >= ceiling_spearman - GOAL_MARGIN
    return bool(spearman >= GOAL_SPEARMAN or near)


def compare(
    supernet: SuperNet,
    rows: Sequence[dict[str, Any]],
    batch: tuple[torch.Tensor, torch.Tensor],
    ceiling_spearman: float,
    seed: int = 0,
) -> dict[str, Any]:
    """How well ``supernet`` orders the reference set.

    :param supernet: the supernet, in eval mode.
    :param rows: the reference set's rows.
    :param batch: the validation batch that scores each path.
    :param ceiling_spearman: the seed-to-seed Spearman, for the goal.
    :param seed: the resampling seed.
    :return: the correlations, whether the goal is met, and each architecture's path score.
    """
    scratch = scratch_accuracy(rows)
    archs = list(scratch)
    scores = path_scores(supernet, archs, batch)
    stats = correlations(scores, [scratch[a]["test_accuracy"] for a in archs], seed)
    return {
        **stats,
        "architectures": len(archs),
        "goal_met": goal_met(stats["spearman"][0], ceiling_spearman),
        "path_val_accuracy": dict(zip(archs, scores, strict=True)),
    }


PROXIES = ("mean_expand", "params", "mean_kernel", "depth")
"""Zero-cost predictors the reference rows hold for every architecture (its size and shape): a supernet's ordering
is worth its training only where it beats them."""


def proxy_values(rows: Sequence[dict[str, Any]]) -> dict[str, list[float]]:
    """Each zero-cost predictor's value for every reference architecture, in :func:`scratch_accuracy`'s order:
    :data:`PROXIES` and the latency on every target all rows have (``"cpu latency"``...).

    :param rows: the reference set's rows (an architecture's features are those of its first row).
    """
    first: dict[str, dict[str, Any]] = {}
    for row in rows:
        first.setdefault(row["architecture"], row)
    archs = list(first)
    values = {name: [first[a][name] for a in archs] for name in PROXIES}
    targets = sorted(set.intersection(*(set(first[a]["latency_ms"]) for a in archs)))
    return values | {f"{t} latency": [first[a]["latency_ms"][t] for a in archs] for t in targets}


def proxy_correlations(rows: Sequence[dict[str, Any]], seed: int = 0) -> dict[str, dict[str, list[float]]]:
    """How well each zero-cost predictor (:func:`proxy_values`) orders the reference set: Spearman and Kendall tau
    (with intervals, as :func:`correlations`) against the from-scratch test accuracy that :func:`compare` scores
    supernets against (the mean over seeds).

    :param rows: the reference set's rows.
    :param seed: the resampling seed.
    :return: predictor name (``"mean_expand"``, ``"cpu latency"``...) -> its correlations.
    """
    measured = [s["test_accuracy"] for s in scratch_accuracy(rows).values()]
    return {name: correlations(v, measured, seed) for name, v in proxy_values(rows).items()}


def spearman_difference(
    a: Sequence[float], b: Sequence[float], measured: Sequence[float], seed: int = 0
) -> list[float]:
    """How much better predictor ``a`` orders ``measured`` than predictor ``b`` does: the difference of their
    Spearman correlations with it, with a 95% percentile-bootstrap interval that resamples the architectures once
    for both (paired), so the two correlations' shared noise cancels (NaN bounds under
    :data:`~hwenvs.lab.nas_reference_set.MIN_INTERVAL_ROWS` architectures).

    :param a: one predictor's values, one per architecture.
    :param b: the other's, paired.
    :param measured: the from-scratch accuracies, paired.
    :param seed: the resampling seed.
    :return: ``[point, low, high]``.
    """
    import warnings

    from scipy.stats import bootstrap, spearmanr

    def difference(x: np.ndarray, y: np.ndarray, m: np.ndarray) -> float:
        return float(spearmanr(x, m).statistic - spearmanr(y, m).statistic)

    arrays = tuple(np.asarray(v, dtype=np.float64) for v in (a, b, measured))
    point = difference(*arrays)
    if len(arrays[0]) < MIN_INTERVAL_ROWS:
        return [point, float("nan"), float("nan")]
    with warnings.catch_warnings():  # a resample can hold a constant predictor: its NaN drops out of the interval
        warnings.simplefilter("ignore")
        interval = bootstrap(
            arrays, difference, paired=True, vectorized=False, n_resamples=RESAMPLES, method="percentile",
            rng=np.random.default_rng(seed),
        ).confidence_interval  # fmt: skip
    return [point, float(interval.low), float(interval.high)]


# ----------------------------------------------------------------------------------------------------------------
# Shipping


def ship(
    folder: str | Path,
    record: dict[str, Any],
    store: WeightsStore = SUPERNET_WEIGHTS,
    paths: int = 50,
    task: Task | None = None,
) -> dict[str, Any]:
    """Write the supernet trained in ``folder`` as the shipped one of its task (float16, with its manifest entry:
    sha256, recipe, stem stride, training cost, sampled-path accuracies and what ``record`` adds); returns the entry.

    :param folder: the recipe's folder (a finished training).
    :param record: more fields for the entry (the regeneration command, the rank correlation).
    :param store: where to write (default: the shipped supernets).
    :param paths: sampled paths scored for the entry's accuracy ranges.
    :param task: the task the paths are scored on (default: the recipe's named task; only its validation and test
        splits are read).
    :raises FileNotFoundError: nothing trained in ``folder``.
    :raises ValueError: the training is not finished.
    """
    info = read_summary(folder)
    if info is None:
        raise FileNotFoundError(f"{folder}: nothing trained")
    task = task or load_task(info["recipe"]["dataset"])
    supernet, info = load_trained(folder, task)
    if not info["finished"]:
        raise ValueError(f"{folder}: {info['epochs_done']} of {info['recipe']['epochs']} epochs trained")
    recipe = info["recipe"]
    extra = {
        "stem_stride": recipe["stem_stride"],
        "recipe": recipe,
        "warmup_seconds": info["train_seconds"],
        "core_seconds": info["core_seconds"],
        "threads": max(info["threads"]),
        **record,
    }
    config = TrainConfig(**recipe["train"])
    return save_supernet(supernet, task, config, extra, store, paths)
