"""The weights store (:mod:`hwenvs.weights`): finding, verifying and writing shipped weights with their manifest."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

import pytest
import torch
from test_training import tiny_model, tiny_task

from hwenvs import weights
from hwenvs.lab.train_models import save_weights
from hwenvs.nas.train_supernet import regenerate_command
from hwenvs.training import TrainConfig
from hwenvs.weights import SUPERNET_WEIGHTS, WeightsStore

REGENERATE = "python -m hwenvs.models.train tiny"


def test_write_then_read_round_trips_and_keeps_other_entries(tmp_path: Path) -> None:
    store = WeightsStore(tmp_path / "weights")
    first = store.write("a/mnist", "a.pt", b"first", {"float_accuracy": 0.5})
    assert first == {"file": "a.pt", "sha256": hashlib.sha256(b"first").hexdigest(), "float_accuracy": 0.5}
    store.write("b/mnist", "b.pt", b"second", {})
    assert store.read("a/mnist", REGENERATE) == b"first" and store.read("b/mnist", REGENERATE) == b"second"
    assert store.entry("a/mnist") == first and sorted(store.manifest()) == ["a/mnist", "b/mnist"]
    # the format of the shipped manifests: sorted keys, two-space indent, a final newline; no temporary files left
    text = store.manifest_path.read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    assert sorted(p.name for p in store.directory.iterdir()) == ["a.pt", "b.pt", "manifest.json"]
    # a rewritten manifest is seen at the next read, with no cache to clear
    store.write("a/mnist", "a.pt", b"third", {"float_accuracy": 0.75})
    assert store.read("a/mnist", REGENERATE) == b"third" and store.entry("a/mnist")["float_accuracy"] == 0.75


def test_errors_name_the_file_both_digests_and_how_to_regenerate(tmp_path: Path) -> None:
    store = WeightsStore(tmp_path)
    entry = store.write("a/mnist", "a.pt", b"weights", {})
    (tmp_path / "a.pt").write_bytes(b"damaged")
    with pytest.raises(ValueError, match=r"a\.pt") as error:
        store.read("a/mnist", REGENERATE)
    for part in (entry["sha256"], hashlib.sha256(b"damaged").hexdigest(), REGENERATE):
        assert part in str(error.value)
    (tmp_path / "a.pt").unlink()
    with pytest.raises(FileNotFoundError, match=r"a\.pt is listed in the manifest") as missing:
        store.read("a/mnist", REGENERATE)
    assert REGENERATE in str(missing.value)
    with pytest.raises(FileNotFoundError, match="no shipped weights for b/mnist") as unknown:
        store.read("b/mnist", REGENERATE)
    assert REGENERATE in str(unknown.value)
    assert WeightsStore(tmp_path / "nowhere").manifest() == {}


@pytest.mark.skipif(weights.fcntl is None, reason="no flock on this platform")
def test_a_reader_waits_for_a_writer_between_file_and_manifest(tmp_path: Path) -> None:
    store = WeightsStore(tmp_path)
    store.write("a/mnist", "a.pt", b"old", {})
    result: list[bytes] = []
    with store._lock(shared=False):  # a writer that has replaced the file but not yet the manifest
        (tmp_path / "a.pt").write_bytes(b"new")
        reader = threading.Thread(target=lambda: result.append(store.read("a/mnist", REGENERATE)))
        reader.start()
        time.sleep(0.2)
        assert not result  # the mismatching reader waits on the lock instead of reporting corruption
        manifest = json.loads(store.manifest_path.read_text())
        manifest["a/mnist"]["sha256"] = hashlib.sha256(b"new").hexdigest()
        store.manifest_path.write_text(json.dumps(manifest))
    reader.join(timeout=10)
    assert result == [b"new"]


def test_save_weights_writes_the_file_and_the_shipped_entry_shape(tmp_path: Path) -> None:
    task, store = tiny_task(), WeightsStore(tmp_path)
    torch.manual_seed(0)
    model = tiny_model().eval()
    entry = save_weights("tiny", model, task, TrainConfig(epochs=2), store=store)
    shipped = json.loads((weights.MODEL_WEIGHTS_DIR / "manifest.json").read_text())["mobilenet_v2/mnist"]
    assert set(entry) == set(shipped)
    assert set(entry["train_config"]) == set(shipped["train_config"])
    assert entry["file"] == "tiny_tiny.pt" and store.read("tiny/tiny", REGENERATE)
    assert 0 <= entry["float_accuracy"] <= 1 and 0 <= entry["float_test_accuracy"] <= 1
    # the model now holds the float16 round trip the recorded accuracies were measured on
    assert all(torch.equal(v, v.half().float()) for v in model.state_dict().values() if v.is_floating_point())


def test_shipped_supernet_verifies() -> None:
    entry = SUPERNET_WEIGHTS.entry("mnist/w0.35")
    assert entry is not None and SUPERNET_WEIGHTS.read("mnist/w0.35", regenerate_command(0.35))
    assert set(entry["warmup_config"]) == set(TrainConfig().record())
    assert regenerate_command(0.35) == "python -m hwenvs.nas.train_supernet --width-mult 0.35"
