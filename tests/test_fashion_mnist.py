"""The Fashion-MNIST task: where its files are looked for, its splits, its pipeline, and the errors a user meets
before its weights ship (missing data, missing weights)."""

from __future__ import annotations

import gzip
import hashlib
import os
import shlex
import struct
from pathlib import Path

import gymnasium as gym
import pytest
import torch

import hwenvs  # noqa: F401  (registers the environments)
from hwenvs.data import Task, fashion_mnist, load_task
from hwenvs.data.fashion_mnist import (
    APT_COMMAND,
    ENV_VAR,
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    FILES,
    NUM_CALIBRATION,
    NUM_TRAIN,
    NUM_VAL,
    find_fashion_mnist,
    load_fashion_mnist,
    read_idx,
)
from hwenvs.envs.haq_env import HAQEnv
from hwenvs.models import pretrained
from hwenvs.nas import train_supernet
from hwenvs.nas.train_supernet import regenerate_command

REQUIRE = "HWENVS_REQUIRE_FASHION_MNIST"
"""Set by .ci/run, which installs the data: its tests then fail instead of skipping if it is missing."""


@pytest.fixture(scope="module")
def data_files() -> dict[str, Path]:
    """The installed idx files; skips (with the reason) only when they are absent, and never under CI."""
    try:
        return find_fashion_mnist()
    except FileNotFoundError as exc:
        if os.environ.get(REQUIRE):
            raise
        pytest.skip(f"Fashion-MNIST is not installed here ({APT_COMMAND}): {str(exc).splitlines()[0]}")


@pytest.fixture(scope="module")
def task(data_files: dict[str, Path]) -> Task:
    """The task with its default splits."""
    return load_task("fashion-mnist")


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every place searched made empty: ``$HWENVS_FASHION_MNIST`` unset, Debian's folder an absent one; returns an
    empty folder to use as a root."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "debian-absent")
    (tmp_path / "root").mkdir()
    return tmp_path / "root"


def _row_hashes(x: torch.Tensor) -> set[bytes]:
    return {hashlib.sha256(row.numpy().tobytes()).digest() for row in x}


def _linked_copy(files: dict[str, Path], folder: Path) -> Path:
    """``folder`` holding symbolic links to the installed files (their names kept)."""
    folder.mkdir(parents=True)
    for path in files.values():
        (folder / path.name).symlink_to(path)
    return folder


def test_split_sizes_are_fixed_and_disjoint(task: Task) -> None:
    assert task.name == "fashion-mnist"  # the shipped weights' manifests are keyed "model/task"
    assert task.in_memory and task.num_classes == 10 and task.resolution == 32
    assert (len(task.train), len(task.calibration), task.num_val, task.num_test) == (
        NUM_TRAIN, NUM_CALIBRATION, NUM_VAL, 10000,
    )  # fmt: skip
    assert task.train.tensors[0].shape[1:] == task.calibration.shape[1:] == (3, 32, 32)
    splits = {
        "train": _row_hashes(task.train.tensors[0]),
        "calibration": _row_hashes(task.calibration),
        "val": _row_hashes(task.val.tensors[0]),
        "test": _row_hashes(task.test.tensors[0]),
    }
    # Fashion-MNIST has no duplicate image within or across its official sets, so a shared hash is a shared image
    assert [len(h) for h in splits.values()] == [NUM_TRAIN, NUM_CALIBRATION, NUM_VAL, 10000]
    names = list(splits)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not splits[a] & splits[b], f"{a} and {b} share images"


def test_labels_cover_the_ten_classes_in_every_split(task: Task) -> None:
    for split in (task.train, task.val, task.test):
        labels = split.tensors[1]
        assert labels.dtype == torch.int64 and int(labels.min()) == 0 and int(labels.max()) == 9
        assert torch.bincount(labels, minlength=10).min() > 0
    assert torch.equal(torch.bincount(task.test.tensors[1]), torch.full((10,), 1000))  # the official test set


def test_splits_are_fixed_by_seed(task: Task) -> None:
    again = load_fashion_mnist()
    for a, b in ((task.train, again.train), (task.val, again.val), (task.test, again.test)):
        assert all(torch.equal(x, y) for x, y in zip(a.tensors, b.tensors, strict=True))
    assert torch.equal(task.calibration, again.calibration)
    other = load_fashion_mnist(split_seed=1)
    assert not torch.equal(task.val.tensors[0], other.val.tensors[0])
    assert torch.equal(task.test.tensors[0], other.test.tensors[0])  # the test split is the official set, unseeded


def test_pipeline_is_mnists_with_fashion_mnists_statistics(task: Task, data_files: dict[str, Path]) -> None:
    x = task.train.tensors[0]
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])  # grey repeated over 3 channels
    background = (0.0 - FASHION_MNIST_MEAN) / FASHION_MNIST_STD
    border = torch.cat([x[:, :, :2].flatten(), x[:, :, -2:].flatten(), x[:, :, :, :2].flatten()])
    assert torch.allclose(border, torch.tensor(background))  # zero-padded from 28x28 before normalising
    centre = x[:, 0, 2:30, 2:30]
    assert abs(float(centre.mean())) < 0.02 and abs(float(centre.std()) - 1) < 0.02
    # the constants are those of all 60,000 official training images, as their comment says
    images = read_idx(data_files["train_images"], 3) / 255.0
    assert round(float(images.mean()), 4) == FASHION_MNIST_MEAN
    assert round(float(images.std()), 4) == FASHION_MNIST_STD


def test_the_environment_variable_wins(
    data_files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = _linked_copy(data_files, tmp_path / "mine")
    monkeypatch.setenv(ENV_VAR, str(mine))
    root = tmp_path / "root"
    _linked_copy(data_files, root / "FashionMNIST" / "raw")
    assert {path.parent for path in find_fashion_mnist(root).values()} == {mine}
    assert load_fashion_mnist().meta["source"] == str(mine)
    # an incomplete folder is passed over for the next place
    (mine / data_files["test_labels"].name).unlink()
    assert find_fashion_mnist()["test_labels"] == data_files["test_labels"]


def test_a_torchvision_root_is_found_last(data_files: dict[str, Path], nowhere: Path, task: Task) -> None:
    raw = nowhere / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for role, path in data_files.items():  # decompressed, as torchvision's download leaves them beside the .gz
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as f:
            (raw / FILES[role]).write_bytes(f.read())
    found = find_fashion_mnist(nowhere)
    assert all(path.parent == raw and path.suffix != ".gz" for path in found.values())
    from_root = load_task("fashion-mnist", root=str(nowhere))
    assert from_root.meta["source"] == str(raw)
    assert torch.equal(from_root.val.tensors[0], task.val.tensors[0])  # same data through either file format
    assert torch.equal(from_root.test.tensors[1], task.test.tensors[1])


def test_root_is_a_dataset_kwarg_of_the_environments() -> None:
    checked = HAQEnv.check_arguments(dataset="fashion-mnist", dataset_kwargs={"root": "/data"})
    assert checked["dataset_kwargs"] == {"root": "/data"}
    with pytest.raises(TypeError, match="did you mean 'root'"):
        HAQEnv.check_arguments(dataset="fashion-mnist", dataset_kwargs={"roots": "/data"})


def test_absent_everywhere_says_the_three_ways_to_get_it(nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FileNotFoundError) as absent:
        load_task("fashion-mnist")
    message = str(absent.value)
    assert f"${ENV_VAR}: not set" in message and "debian-absent does not exist" in message
    assert APT_COMMAND in message and ENV_VAR in message and "FashionMNIST(root, download=True)" in message
    assert "root/FashionMNIST/raw (torchvision's layout): not set" in message

    partial = nowhere.parent / "partial"
    partial.mkdir()
    (partial / "train-images-idx3-ubyte.gz").touch()
    monkeypatch.setenv(ENV_VAR, str(partial))
    with pytest.raises(FileNotFoundError) as incomplete:
        load_fashion_mnist(root=nowhere)
    message = str(incomplete.value)
    assert f"{partial} lacks train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz]" in message
    assert f"{nowhere / 'FashionMNIST' / 'raw'} does not exist" in message


def test_corrupt_idx_files_are_named(tmp_path: Path) -> None:
    good = struct.pack(">IIII", 0x0803, 2, 28, 28) + bytes(2 * 28 * 28)
    (tmp_path / "ok").write_bytes(good)
    assert read_idx(tmp_path / "ok", 3).shape == (2, 28, 28)
    (tmp_path / "truncated.gz").write_bytes(gzip.compress(good[:-1]))
    with pytest.raises(ValueError, match=r"truncated\.gz holds 1567 values but its header says \[2, 28, 28\]"):
        read_idx(tmp_path / "truncated.gz", 3)
    with pytest.raises(ValueError, match="not an idx file of 1-dimensional unsigned bytes"):
        read_idx(tmp_path / "ok", 1)
    compressed = gzip.compress(good)
    (tmp_path / "broken.gz").write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(ValueError, match=r"broken\.gz cannot be read \(EOFError"):
        read_idx(tmp_path / "broken.gz", 3)


def test_missing_weights_name_the_command_with_the_dataset(
    data_files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Until its weights ship (and with an empty store after), the environment says how to train them."""
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path)
    command = "python -m hwenvs.models.train mobilenet_v2 --dataset fashion-mnist"
    with pytest.raises(FileNotFoundError, match="no shipped weights for mobilenet_v2/fashion-mnist") as missing:
        gym.make("HAQ-MobileNetV2-BISMO", dataset="fashion-mnist")
    assert f"`{command}`" in str(missing.value)
    assert pretrained.regenerate_command("mobilenet_v2") == "python -m hwenvs.models.train mobilenet_v2"
    assert regenerate_command(0.35, "fashion-mnist") == (
        "python -m hwenvs.nas.train_supernet --dataset fashion-mnist --width-mult 0.35"
    )


def test_regeneration_commands_train_on_their_dataset(
    data_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both scripts, run with the commands the errors name, load the named task (training and writing stubbed out)."""
    from hwenvs.lab import train_models
    from hwenvs.lab import train_supernet as supernet_training

    trained: list[tuple[str, str]] = []

    def save_weights(name: str, model: torch.nn.Module, task: Task, config: object) -> dict[str, object]:
        trained.append((name, task.name))
        return {"float_test_accuracy": 0.0, "float_accuracy": 0.0, "sha256": "0" * 64}

    def warm_up(task: Task, space: object, config: object) -> None:
        trained.append(("supernet", task.name))

    monkeypatch.setattr(train_models, "train_model", lambda name, task, config: torch.nn.Identity())
    monkeypatch.setattr(train_models, "save_weights", save_weights)
    train_models.main(shlex.split(pretrained.regenerate_command("mobilenet_v2", "fashion-mnist"))[3:])
    monkeypatch.setattr(supernet_training, "warm_up", warm_up)
    monkeypatch.setattr(supernet_training, "save_supernet", lambda *args, **kwargs: {})
    monkeypatch.setattr(torch, "set_num_threads", lambda threads: None)  # the script's --threads 1 would outlive it
    supernet_training.main(shlex.split(regenerate_command(0.35, "fashion-mnist"))[3:])
    assert trained == [("mobilenet_v2", "fashion-mnist"), ("supernet", "fashion-mnist")]


def test_the_shipped_mobilenet_v2_is_the_one_its_manifest_describes(task: Task) -> None:
    """``gym.make`` loads the shipped weights (no training) and they score what the manifest says, on both splits."""
    entry = pretrained.weights_store().entry("mobilenet_v2/fashion-mnist")
    env = gym.make("HAQ-MobileNetV2-BISMO", dataset=task).unwrapped
    assert env.float_accuracy_on("val") == pytest.approx(entry["float_accuracy"], abs=5e-4)
    assert env.float_accuracy_on("test") == pytest.approx(entry["float_test_accuracy"], abs=5e-4)


def test_the_shipped_supernet_loads_without_warming_up(task: Task, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_warm_up(*args: object, **kwargs: object) -> None:
        raise AssertionError("ProxylessNAS-BISMO warmed up a supernet instead of loading the shipped one")

    monkeypatch.setattr(train_supernet, "warm_up", no_warm_up)
    env = gym.make("ProxylessNAS-BISMO", dataset=task, val_batch_size=200)  # a hardware model: no table to fetch
    env.reset(seed=0)
    *_, terminated, _, info = env.step(env.action_space.sample())
    assert terminated
    assert 0.5 < info["accuracy"] <= 1.0  # a trained supernet on ten classes, not chance (0.1)
