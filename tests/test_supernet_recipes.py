"""Supernet recipes (:mod:`hwenvs.lab.supernet_recipes`, ``benchmarks/supernet_recipes.py``): the sandwich step on
a tiny space and synthetic images, resuming a training from its checkpoint, the rank statistics against scipy, the
goal, the report page and shipping (to a temporary store)."""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from scipy.stats import bootstrap, kendalltau, spearmanr
from torch.nn import functional as F

from hwenvs.data import Task
from hwenvs.data.task import tensor_dataset
from hwenvs.lab import supernet_recipes as sr
from hwenvs.nas import train_supernet
from hwenvs.nas.architecture import Architecture
from hwenvs.nas.supernet import SuperNet
from hwenvs.nas.train_supernet import sample_architecture
from hwenvs.weights import WeightsStore

pytestmark = pytest.mark.usefixtures("one_thread")

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def tiny_task(images: int = 384, resolution: int = 8, classes: int = 3) -> Task:
    """Synthetic images, three training batches of 128: a supernet step takes milliseconds."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(images, 3, resolution, resolution, generator=g)
    y = torch.randint(0, classes, (images,), generator=g)
    val, test = tensor_dataset(x[:64], y[:64]), tensor_dataset(x[64:128], y[64:128])
    return Task("tiny", classes, resolution, tensor_dataset(x, y), x[:4], val, test, in_memory=True)


def tiny_recipe(rule: str = "sandwich", epochs: int = 2) -> sr.Recipe:
    return sr.Recipe(rule, epochs, dataset="tiny", num_train=384, width_mult=0.1)


@pytest.fixture(scope="module")
def task() -> Task:
    return tiny_task()


def _batch(task: Task) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = next(iter(task.batches("val", 16)))
    return x.contiguous(memory_format=torch.channels_last), y


def _grads(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: p.grad.clone() if p.grad is not None else torch.zeros_like(p) for k, p in net.named_parameters()}


# ------------------------------------------------------------------------------------------------ the sandwich step


def test_distillation_loss_is_soft_cross_entropy_against_a_detached_teacher() -> None:
    student = torch.randn(5, 4, requires_grad=True)
    teacher = torch.randn(5, 4, requires_grad=True)
    loss = sr.distillation_loss(student, teacher)
    target = F.softmax(teacher.detach(), 1)
    want = -(target * F.log_softmax(student.detach(), 1)).sum(1).mean()
    assert float(loss.detach()) == pytest.approx(float(want), rel=1e-6)
    loss.backward()
    assert teacher.grad is None  # no gradient reaches the largest path through its students' losses
    expected = (F.softmax(student.detach(), 1) - target) / len(student)
    torch.testing.assert_close(student.grad, expected)


def _manual_grads(net: SuperNet, x: torch.Tensor, y: torch.Tensor, students: list, detach: bool) -> dict:
    """The sandwich rule's gradients written out: the largest path's label loss plus each student's soft
    cross-entropy against the largest path's probabilities (detached or not)."""
    net.zero_grad(set_to_none=True)
    teacher = net(x, sr.LARGEST)
    total = F.cross_entropy(teacher, y)
    target = F.softmax(teacher.detach() if detach else teacher, 1)
    for arch in students:
        total = total - (target * F.log_softmax(net(x, arch), 1)).sum(1).mean()
    total.backward()
    return _grads(net)


def test_sandwich_gradients_are_the_labels_on_the_largest_path_plus_distillation_of_the_students(task: Task) -> None:
    torch.manual_seed(0)
    net = SuperNet(tiny_recipe().space(task)).train()
    x, y = _batch(task)
    students = [sr.SMALLEST, sample_architecture(np.random.default_rng(1))]
    net.zero_grad(set_to_none=True)
    losses = sr.sandwich_backward(net, x, y, students)
    got = _grads(net)
    want = _manual_grads(net, x, y, students, detach=True)
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-4, atol=1e-6)
    undetached = _manual_grads(net, x, y, students, detach=False)
    assert any(not torch.allclose(got[k], undetached[k], rtol=1e-4, atol=1e-6) for k in got)  # the test can fail
    assert losses["loss"] > 0 and losses["distill"] > 0


class _Recorder:
    """Counts the optimizer's steps and records the path of every forward pass."""

    def __init__(self, training: sr.Training, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paths: list[Architecture] = []
        self.steps = 0
        forward = training.supernet.forward

        def record_forward(x: torch.Tensor, arch: Architecture) -> torch.Tensor:
            self.paths.append(arch)
            return forward(x, arch)

        def count_step(*_: Any) -> None:
            self.steps += 1

        monkeypatch.setattr(training.supernet, "forward", record_forward)
        training.optimizer.register_step_post_hook(count_step)


def test_a_sandwich_epoch_steps_once_per_batch_over_largest_smallest_and_random_paths(
    task: Task, monkeypatch: pytest.MonkeyPatch
) -> None:
    training = sr.start_training(tiny_recipe(), task)
    recorder = _Recorder(training, monkeypatch)
    losses = sr.run_epoch(training)
    batches = len(training.loader)
    assert batches == 3 and recorder.steps == batches
    per_step = 2 + sr.RANDOM_PATHS
    assert len(recorder.paths) == per_step * batches
    for i in range(batches):
        largest, smallest, *sampled = recorder.paths[i * per_step : (i + 1) * per_step]
        assert (largest, smallest) == (sr.LARGEST, sr.SMALLEST) and len(sampled) == sr.RANDOM_PATHS
    assert set(losses) == {"loss", "distill"}


def test_a_uniform_epoch_trains_one_sampled_path_per_batch(task: Task, monkeypatch: pytest.MonkeyPatch) -> None:
    training = sr.start_training(tiny_recipe("uniform"), task)
    recorder = _Recorder(training, monkeypatch)
    assert set(sr.run_epoch(training)) == {"loss"}
    assert recorder.steps == len(recorder.paths) == 3
    assert recorder.paths[0] == sample_architecture(np.random.default_rng(0))  # paths drawn from the recipe's seed


# ------------------------------------------------------------------------------------------------ resuming


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    return bool(a == b)


def _checkpoint(folder: Path) -> dict[str, Any]:
    state = torch.load(folder / sr.CHECKPOINT, weights_only=True)
    state["paths"] = json.loads(state.pop("meta"))["paths"]  # the sampler's state (the rest: timings)
    return state


@pytest.mark.parametrize("rule", ["sandwich", "uniform"])
def test_a_resumed_training_ends_where_an_uninterrupted_one_does(task: Task, tmp_path: Path, rule: str) -> None:
    recipe = tiny_recipe(rule, epochs=2)
    whole = sr.train_recipe(recipe, task, tmp_path / "whole", log=lambda _: None)
    first = sr.train_recipe(recipe, task, tmp_path / "cut", stop_after=1, log=lambda _: None)
    assert (first["epochs_done"], first["finished"]) == (1, False)
    torch.manual_seed(123)  # a resumed run restores the global generator too: what ran before must not matter
    resumed = sr.train_recipe(recipe, task, tmp_path / "cut", log=lambda _: None)
    assert resumed["finished"] and whole["finished"]
    assert [e["loss"] for e in resumed["epochs"]] == [e["loss"] for e in whole["epochs"]]
    cut, full = _checkpoint(tmp_path / "cut"), _checkpoint(tmp_path / "whole")
    for part in ("supernet", "optimizer", "scheduler", "loader_rng", "shift_rng", "torch_rng", "paths"):
        assert _same(cut[part], full[part]), part  # bit for bit, generators included
    assert sr.train_recipe(recipe, task, tmp_path / "cut", log=lambda _: None)["epochs_done"] == 2  # nothing to do


def test_a_checkpoint_of_another_recipe_is_refused(task: Task, tmp_path: Path) -> None:
    sr.train_recipe(tiny_recipe("uniform", 1), task, tmp_path, log=lambda _: None)
    with pytest.raises(ValueError, match="checkpoint is of recipe"):
        sr.train_recipe(tiny_recipe("uniform", 2), task, tmp_path, log=lambda _: None)


def test_recipe_names_and_the_reference_regime() -> None:
    assert sr.Recipe.parse("sandwich") == sr.Recipe("sandwich", sr.DEFAULT_EPOCHS["sandwich"])
    assert sr.Recipe.parse("uniform-e7").name == "uniform-e7" and sr.Recipe("uniform", 7).epochs == 7
    with pytest.raises(ValueError, match="unknown recipe"):
        sr.Recipe.parse("greedy")
    reference = {
        "dataset": "fashion-mnist",
        "num_train": 57872,
        "width_mult": 0.35,
        "stem_stride": 1,
        "zero_init": True,
    }
    assert sr.regime_differences(sr.Recipe(), reference) == []
    assert sr.regime_differences(sr.Recipe(num_train=512), reference) == ["num_train: 512 vs 57872"]


# ------------------------------------------------------------------------------------------------ statistics


def _rows(rng: np.random.Generator, archs: int = 24, twice: int = 12) -> list[dict[str, Any]]:
    names = [sample_architecture(rng).to_string() for _ in range(archs)]
    rows = [{"architecture": a, "seed": 0, "depth": 21, "test_accuracy": float(rng.uniform(0.8, 0.9))} for a in names]
    rows += [{**r, "seed": 1, "test_accuracy": r["test_accuracy"] + float(rng.normal(0, 0.01))} for r in rows[:twice]]
    return rows


def test_correlations_and_ceiling_are_scipys() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=30), rng.normal(size=30)
    y = y + x
    got = sr.correlations(x, y, seed=3)
    for name, function in (("spearman", spearmanr), ("kendall", kendalltau)):
        interval = bootstrap(
            (x, y), lambda a, b, f=function: f(a, b).statistic, paired=True, vectorized=False, n_resamples=2000,
            method="percentile", rng=np.random.default_rng(3),
        ).confidence_interval  # fmt: skip
        assert got[name] == pytest.approx([function(x, y).statistic, interval.low, interval.high])
    rows = _rows(rng)
    first = [r["test_accuracy"] for r in rows[:12]]
    second = [r["test_accuracy"] for r in rows[24:]]
    top = sr.ceiling(rows)
    assert top["architectures"] == 12
    assert top["spearman"][0] == pytest.approx(spearmanr(first, second).statistic)
    assert top["kendall"][0] == pytest.approx(kendalltau(first, second).statistic)


def test_scratch_accuracy_is_the_mean_over_seeds() -> None:
    rows = _rows(np.random.default_rng(1))
    scratch = sr.scratch_accuracy(rows)
    assert len(scratch) == 24 and list(scratch) == [r["architecture"] for r in rows[:24]]
    first = rows[0]["architecture"]
    assert scratch[first]["seeds"] == 2
    assert scratch[first]["test_accuracy"] == pytest.approx((rows[0]["test_accuracy"] + rows[24]["test_accuracy"]) / 2)
    assert scratch[rows[20]["architecture"]] == {"test_accuracy": rows[20]["test_accuracy"], "seeds": 1, "depth": 21}


def _proxy_rows(rng: np.random.Generator) -> list[dict[str, Any]]:
    rows = _rows(rng)
    for r in rows[:24]:
        arch = r["architecture"]
        r |= {"params": float(rng.integers(1000, 9000)), "mean_expand": float(rng.choice([3.0, 4.5, 6.0])),
              "mean_kernel": float(rng.uniform(3, 7)), "depth": int(rng.integers(6, 22)),
              "latency_ms": {"cpu": float(rng.uniform(5, 40)), "mobile": float(rng.uniform(30, 190))}}  # fmt: skip
        for second in rows[24:]:
            if second["architecture"] == arch:  # a second seed's row carries the same features
                second |= {k: r[k] for k in ("params", "mean_expand", "mean_kernel", "depth", "latency_ms")}
    del rows[1]["latency_ms"]["mobile"]  # a target some row lacks is no predictor
    return rows


def test_proxy_correlations_rank_each_feature_against_the_mean_over_seeds() -> None:
    rows = _proxy_rows(np.random.default_rng(4))
    got = sr.proxy_correlations(rows, seed=1)
    assert set(got) == {"mean_expand", "params", "mean_kernel", "depth", "cpu latency"}
    scratch = sr.scratch_accuracy(rows)
    firsts = {r["architecture"]: r for r in reversed(rows)}
    measured = [scratch[a]["test_accuracy"] for a in scratch]
    params = [firsts[a]["params"] for a in scratch]
    assert got["params"] == sr.correlations(params, measured, seed=1)
    cpu = [firsts[a]["latency_ms"]["cpu"] for a in scratch]
    assert got["cpu latency"]["kendall"][0] == pytest.approx(kendalltau(cpu, measured).statistic)


def test_spearman_difference_is_a_paired_bootstrap_of_the_two_correlations() -> None:
    rng = np.random.default_rng(5)
    measured = rng.normal(size=40)
    good, poor = measured + rng.normal(0, 0.3, 40), measured + rng.normal(0, 3.0, 40)
    point, low, high = sr.spearman_difference(good, poor, measured, seed=2)
    assert point == pytest.approx(spearmanr(good, measured).statistic - spearmanr(poor, measured).statistic)
    indices = np.random.default_rng(9).integers(0, 40, (500, 40))
    direct = [spearmanr(good[i], measured[i]).statistic - spearmanr(poor[i], measured[i]).statistic for i in indices]
    assert low == pytest.approx(np.percentile(direct, 2.5), abs=0.05)
    assert high == pytest.approx(np.percentile(direct, 97.5), abs=0.05)
    assert 0 < low < point < high
    assert sr.spearman_difference(good[:5], poor[:5], measured[:5])[1:] == [pytest.approx(np.nan, nan_ok=True)] * 2


@pytest.mark.parametrize(
    ("spearman", "top", "met"),
    [(0.6, float("nan"), True), (0.59, float("nan"), False), (0.5, 0.6, True), (0.45, 0.6, False),
     (0.7, 0.95, True), (float("nan"), 0.5, False), (0.35, 0.45, True)],
)  # fmt: skip
def test_goal_is_spearman_0_6_or_within_0_1_of_the_ceiling(spearman: float, top: float, met: bool) -> None:
    assert sr.goal_met(spearman, top) is met


def test_compare_scores_each_architectures_path_as_the_reward_does(task: Task) -> None:
    torch.manual_seed(0)
    net = SuperNet(tiny_recipe().space(task)).eval()
    rows = _rows(np.random.default_rng(2), archs=12, twice=3)
    batch = sr.validation_batch(task, 32)
    result = sr.compare(net, rows, batch, ceiling_spearman=float("nan"))
    scratch = sr.scratch_accuracy(rows)
    paths = result["path_val_accuracy"]
    assert list(paths) == list(scratch) and result["architectures"] == 12
    arch = Architecture.from_string(rows[0]["architecture"])
    with torch.inference_mode():
        assert paths[rows[0]["architecture"]] == float((net(batch[0], arch).argmax(1) == batch[1]).float().mean())
    want = spearmanr(list(paths.values()), [s["test_accuracy"] for s in scratch.values()]).statistic
    assert result["spearman"][0] == pytest.approx(want, nan_ok=True)
    assert result["goal_met"] == sr.goal_met(result["spearman"][0], float("nan"))


# ------------------------------------------------------------------------------------------------ report and ship


@pytest.fixture(scope="module")
def script() -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))  # the scripts import their shared helper as a top-level module
    import supernet_recipes

    return supernet_recipes


def report_data(script: ModuleType) -> dict[str, Any]:
    """A report as ``report`` writes it: two recipes, one unfinished, a ceiling of 0.8."""
    scratch = {
        "a": {"test_accuracy": 0.85, "seeds": 2, "depth": 6},
        "b": {"test_accuracy": 0.87, "seeds": 1, "depth": 21},
    }
    recipe = script.recipe("uniform").record()
    row = {"name": "uniform", "recipe": recipe, "train_seconds": 3600.0, "core_seconds": 3600.0, "threads": [1],
           "epochs_done": 20, "checkpoint_sha256": "0" * 64, "torch_version": "2", "host": "h", "architectures": 2,
           "spearman": [0.65, 0.5, 0.8], "kendall": [0.5, None, None], "goal_met": True,
           "path_val_accuracy": {"a": 0.81, "b": 0.83}}  # fmt: skip
    sandwich = {**row, "name": "sandwich", "recipe": script.recipe("sandwich").record(), "spearman": [0.72, 0.6, 0.85],
                "core_seconds": 7200.0, "goal_met": False}  # fmt: skip
    return {
        "reference": {"file": "nas_reference/fashion-mnist.jsonl", "sha256": "1" * 64, "trainings": 3,
                      "architectures": 2, "two_seeds": 1, "train_core_seconds": 360.0,
                      "regime": {"dataset": "fashion-mnist", "num_train": 57872, "width_mult": 0.35, "stem_stride": 1,
                                 "zero_init": True}},
        "ceiling": {"architectures": 1, "spearman": [0.8, None, None], "kendall": [0.7, None, None]},
        "goal": {"spearman": 0.6, "margin": 0.1},
        "scoring": {"split": "val", "images": 1000, "weights": "float16", "resamples": 2000, "seed": 0},
        "scratch": scratch, "recipes": [row, sandwich], "best": script._best([row, sandwich]),
        "unscored": [{"name": "sandwich-e15", "why": "3 of 15 epochs trained"}], "commands": script.commands(),
        "proxies": {"params": {"spearman": [0.3, 0.1, 0.5], "kendall": [0.2, 0.05, 0.4]},
                    "mean_expand": {"spearman": [0.75, 0.62, 0.86], "kendall": [0.55, 0.4, 0.7]}},
        "best_against_proxy": {"recipe": "sandwich", "proxy": "mean_expand", "candidates": 2,
                               "difference": [0.03, -0.1, 0.16]},
        "host": "h", "threads": 1,
    }  # fmt: skip


def test_the_page_is_rendered_from_the_json_alone(script: ModuleType) -> None:
    import results_io

    data = report_data(script)
    text = script.render(json.loads(json.dumps(data)))
    assert text == script.render(copy.deepcopy(data))
    assert data["best"] == "sandwich"
    assert (
        "| `uniform` | uniform | 20 | 1 | 0.650 [0.500, 0.800] | 0.500 | 0.150 | 0.8100-0.8300 | 1.00 | yes |" in text
    )
    assert "| `sandwich` | sandwich | 5 | 4 | 0.720 [0.600, 0.850] |" in text
    assert "Best recipe: `sandwich` (Spearman 0.720 [0.600, 0.850]), which does not meet the goal." in text
    assert "* `sandwich-e15`: 3 of 15 epochs trained" in text
    assert "Spearman 0.800, Kendall tau 0.700" in text
    proxies = text.index("| `mean_expand` | 0.750 [0.620, 0.860] | 0.550 [0.400, 0.700] | 0.050 |")
    assert proxies < text.index("| `params` | 0.300 [0.100, 0.500] |")  # ranked by Spearman
    assert "`mean_expand`: Spearman of the predictor minus the recipe's, 0.030 [-0.100, 0.160]" in text
    assert "inconclusive: the interval holds 0" in text
    better = copy.deepcopy(data)
    better["best_against_proxy"]["difference"] = [0.3, 0.1, 0.5]
    assert "`mean_expand` orders them better" in script.render(better)
    assert results_io.missing_numbers(text) == []
    with pytest.raises(results_io.StaleResults):
        script.render({"reference": {}})


def test_ship_refuses_smoke_runs_and_retrained_checkpoints(script: ModuleType, tmp_path: Path) -> None:
    data = report_data(script)
    (tmp_path / "uniform").mkdir()
    (tmp_path / "uniform" / "summary.json").write_text(json.dumps({"checkpoint_sha256": "0" * 64}))
    assert script.shippable(data, "uniform", tmp_path)["name"] == "uniform"
    with pytest.raises(SystemExit, match="not in"):
        script.shippable(data, "uniform-e3", tmp_path)
    smoke = copy.deepcopy(data)
    smoke["recipes"][0]["recipe"] = script.recipe("uniform", num_train=512).record()
    with pytest.raises(SystemExit, match="smoke run never ships"):
        script.shippable(smoke, "uniform", tmp_path)
    (tmp_path / "uniform" / "summary.json").write_text(json.dumps({"checkpoint_sha256": "2" * 64}))
    with pytest.raises(SystemExit, match="not the checkpoint the report scored"):
        script.shippable(data, "uniform", tmp_path)


def test_a_report_without_the_checkpoint_keeps_the_previous_reports_scores(script: ModuleType, tmp_path: Path) -> None:
    """git keeps a recipe's summary, not its checkpoint: a report on a fresh clone keeps what the previous report
    scored for that same checkpoint, reference and image count, and otherwise says why it cannot score it."""
    data = report_data(script)
    reference = tmp_path / "reference.jsonl"
    reference.write_text("{}\n")
    data["reference"]["sha256"] = hashlib.sha256(reference.read_bytes()).hexdigest()
    out = tmp_path / "supernet_recipes.json"
    out.write_text(json.dumps(data))
    folder = tmp_path / "uniform"
    folder.mkdir()
    args = argparse.Namespace(out=out, reference=reference, val_images=1000)
    summary = {"checkpoint_sha256": "0" * 64}
    assert script._previous_score(folder, summary, args) == data["recipes"][0]
    for changed in ({"checkpoint_sha256": "2" * 64}, None):
        assert "not on this machine" in script._previous_score(folder, changed, args)["why"]
    assert "why" in script._previous_score(folder, summary, argparse.Namespace(**{**vars(args), "val_images": 2000}))
    reference.write_text("{}\n{}\n")
    assert "why" in script._previous_score(folder, summary, args)


def test_a_shipped_recipe_loads_with_its_stem_stride_and_names_its_command(
    task: Task, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = tiny_recipe("uniform", 1)
    sr.train_recipe(recipe, task, tmp_path / "run", log=lambda _: None)
    store = WeightsStore(tmp_path / "store")
    entry = sr.ship(tmp_path / "run", {"regenerate": "python ship-me"}, store=store, paths=2, task=task)
    assert (
        entry["stem_stride"] == 1 and entry["recipe"]["name"] == "uniform-e1" and entry["warmup_config"]["epochs"] == 1
    )
    monkeypatch.setattr(train_supernet, "SUPERNET_WEIGHTS", store)
    loaded = train_supernet.load_supernet(task, 0.1)
    assert loaded.space.stem_stride == 1
    trained, _ = sr.load_trained(tmp_path / "run", task)
    x, _ = _batch(task)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x, sr.LARGEST), trained(x, sr.LARGEST))
    (tmp_path / "store" / entry["file"]).write_bytes(b"corrupt")
    with pytest.raises(ValueError, match="python ship-me"):
        train_supernet.load_supernet(task, 0.1)


def test_supernets_shipped_before_recipes_keep_stride_2_and_their_command() -> None:
    space = train_supernet.embedded_space(tiny_task(), 0.35)
    assert train_supernet.shipped_space(space, {"width_mult": 0.35}).stem_stride == 2
    assert train_supernet.shipped_space(space, {"stem_stride": 1}).stem_stride == 1
    assert train_supernet.shipped_command({}, 0.35, "fashion-mnist") == train_supernet.regenerate_command(
        0.35, "fashion-mnist"
    )


def test_the_supernet_is_built_as_the_reference_networks_are() -> None:
    """Stem stride 1, and every block with an identity shortcut starting as the identity (the reference set's
    ``zero_init``: the last batch norm's scale of each such block at zero)."""
    from hwenvs.lab.retrain import zero_init_residual
    from hwenvs.nas.export import build_network
    from hwenvs.nas.ops import Residual

    space = sr.Recipe().space(tiny_task(resolution=32, classes=10))
    assert (space.stem_stride, space.width_mult, space.resolution) == (1, 0.35, 32)
    net = SuperNet(space)
    assert net.stem[0].stride == (1, 1)
    reference = zero_init_residual(build_network(sr.LARGEST, space))
    zeroed = [m.op.layers[-1].weight for m in reference.modules() if isinstance(m, Residual)]
    assert len(zeroed) == sum(space.zero_allowed) > 0
    for block in net.blocks:
        assert bool((block.project_bn.weight == 0).all()) == block.spec.zero_allowed
    assert all(bool((w == 0).all()) for w in zeroed)
