"""Reference models and data paths: the shipped weights and their manifest, the topologies, torchvision's and a
user's weights, and real ImageFolder data in both layouts the loader understands."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Subset
from torchvision import models as tv_models

import hwenvs  # noqa: F401  (registers the environments)
import hwenvs.models.pretrained as pretrained
from hwenvs.data import Task, load_task
from hwenvs.models.evaluate import accuracy
from hwenvs.models.pretrained import load_reference_model, shipped_manifest
from hwenvs.models.shapes import layer_shapes
from hwenvs.models.zoo import ARCHITECTURES, build_architecture

MANIFEST = json.loads((pretrained.WEIGHTS_DIR / "manifest.json").read_text())
CLASSES = ("ant", "bee", "cat")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def mnist() -> Task:
    return load_task("mnist")


def _write_images(folder: Path, classes: tuple[str, ...], per_class: int, seed: int) -> None:
    """``per_class`` seeded random 40x40 PNGs in ``folder/<class>/``; each class has its own mean brightness."""
    rng = np.random.default_rng(seed)
    for k, name in enumerate(classes):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256 // (k + 1), (40, 40, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{name}_{i}.png")


def _labels(dataset) -> list[int]:
    return [int(dataset[i][1]) for i in range(len(dataset))]


def _indices(subset: Subset) -> list[int]:
    return list(subset.indices)


# -- shipped weights ------------------------------------------------------------------------------------------------


SHIPPED_FLOOR = {"mnist": 0.9, "fashion-mnist": 0.8}
"""Lowest float accuracy a shipped model of each task may have (a broken training run scores about 0.1)."""


def test_manifest_lists_every_model_with_matching_files() -> None:
    shipped = [f"{name}/{task}" for name in ARCHITECTURES for task in ("mnist", "fashion-mnist")]
    assert sorted(MANIFEST) == sorted(shipped)
    assert shipped_manifest() == MANIFEST
    for key, entry in MANIFEST.items():
        path = pretrained.WEIGHTS_DIR / entry["file"]
        assert path.is_file(), key
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], key
        assert key.endswith(f"/{entry['task']}"), key
        for split in ("float_accuracy", "float_test_accuracy"):
            assert SHIPPED_FLOOR[entry["task"]] < entry[split] <= 1.0, (key, split)


def test_corrupted_or_missing_weights_name_the_file_and_the_expected_sha(
    tmp_path: Path, mnist: Task, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = MANIFEST["mobilenet_v2/mnist"]
    shutil.copy(pretrained.WEIGHTS_DIR / "manifest.json", tmp_path / "manifest.json")
    shutil.copy(pretrained.WEIGHTS_DIR / entry["file"], tmp_path / entry["file"])
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path)
    # an intact copy loads from the folder pointed at
    model = load_reference_model("mobilenet_v2", mnist)
    assert isinstance(model, tv_models.MobileNetV2)

    data = bytearray((tmp_path / entry["file"]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / entry["file"]).write_bytes(bytes(data))
    with pytest.raises(ValueError, match=entry["file"]) as error:
        load_reference_model("mobilenet_v2", mnist)
    assert entry["sha256"] in str(error.value)
    assert hashlib.sha256(data).hexdigest() in str(error.value)

    (tmp_path / entry["file"]).unlink()
    with pytest.raises(FileNotFoundError, match=entry["file"]):
        load_reference_model("mobilenet_v2", mnist)
    (tmp_path / "manifest.json").write_text(json.dumps({"mobilenet_v2/mnist": entry}))
    shipped_manifest.cache_clear()
    with pytest.raises(FileNotFoundError, match="no shipped weights for mobilenet_v1/mnist"):
        load_reference_model("mobilenet_v1", mnist)


# the Fashion-MNIST entry is checked on its own task in test_fashion_mnist.py (it needs the installed data)
@pytest.mark.parametrize("key", sorted(k for k in MANIFEST if k.endswith("/mnist")))
def test_manifest_float_accuracy_reproduces(key: str, mnist: Task) -> None:
    name = key.split("/")[0]
    model = load_reference_model(name, mnist)
    assert not model.training
    assert mnist.num_val == 1000
    assert accuracy(model, mnist) == pytest.approx(MANIFEST[key]["float_accuracy"], abs=0.002)
    assert mnist.num_test == 1000
    test = accuracy(model, mnist, split="test")
    assert test == pytest.approx(MANIFEST[key]["float_test_accuracy"], abs=0.002)


# -- topologies -----------------------------------------------------------------------------------------------------


def test_mobilenet_v2_topology() -> None:
    layers = layer_shapes(build_architecture("mobilenet_v2", 1000), 224)
    # stem + 17 inverted-residual blocks (the first without expansion: 2 convs, the others 3) + 1x1 head + fc
    assert len(layers) == 1 + 2 + 16 * 3 + 1 + 1 == 53
    depthwise = [layer for layer in layers if layer.depthwise]
    assert len(depthwise) == 17 and all(layer.kernel_size == 3 for layer in depthwise)
    assert [layer.stride for layer in depthwise if layer.stride == 2] == [2, 2, 2, 2]
    assert (layers[0].in_channels, layers[0].out_channels, layers[0].stride) == (3, 32, 2)
    assert (layers[-2].out_channels, layers[-2].in_hw) == (1280, (7, 7))
    assert (layers[-1].kind, layers[-1].in_channels, layers[-1].out_channels) == ("linear", 1280, 1000)


def test_resnet18_topology() -> None:
    layers = layer_shapes(build_architecture("resnet18", 1000), 224)
    # stem + 8 basic blocks x 2 convs + 3 downsample 1x1 shortcuts + fc
    assert len(layers) == 1 + 16 + 3 + 1 == 21
    assert not any(layer.depthwise for layer in layers)
    shortcuts = [layer for layer in layers if layer.kind == "conv" and layer.kernel_size == 1]
    downsample = [(s.in_channels, s.out_channels, s.stride) for s in shortcuts]
    assert downsample == [(64, 128, 2), (128, 256, 2), (256, 512, 2)]
    assert (layers[0].kernel_size, layers[0].stride, layers[-1].in_channels) == (7, 2, 512)


def test_mobilenet_v1_topology() -> None:
    layers = layer_shapes(build_architecture("mobilenet_v1", 1000), 224)
    # the paper's Table 1: a 3x3 stem, 13 depthwise 3x3 + pointwise 1x1 pairs, and the classifier
    assert len(layers) == 1 + 13 + 13 + 1 == 28
    stem, *pairs, fc = layers
    assert (stem.kernel_size, stem.stride, stem.in_channels, stem.out_channels) == (3, 2, 3, 32)
    dw, pw = pairs[0::2], pairs[1::2]
    assert all(layer.depthwise and layer.kernel_size == 3 for layer in dw)
    assert all(not layer.depthwise and layer.kernel_size == 1 and layer.stride == 1 for layer in pw)
    assert [layer.stride for layer in dw] == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
    widths = [64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024]
    assert [layer.out_channels for layer in pw] == widths
    assert pw[-1].out_hw == (7, 7)
    assert (fc.kind, fc.in_channels, fc.out_channels) == ("linear", 1024, 1000)


# -- names and bad inputs -------------------------------------------------------------------------------------------


def test_unknown_model_and_dataset_list_the_valid_names(mnist: Task) -> None:
    for call in (lambda: load_reference_model("vgg16", mnist), lambda: build_architecture("vgg16", 10)):
        with pytest.raises(ValueError, match="vgg16") as error:
            call()
        assert all(name in str(error.value) for name in ARCHITECTURES)
    with pytest.raises(ValueError, match=r"cifar10.*\['fashion-mnist', 'mnist'\]"):
        load_task("cifar10")
    with pytest.raises(ValueError, match=r"\['fashion-mnist', 'mnist'\]"):
        gym.make("HAQ-MobileNetV2-BISMO", dataset="cifar10")
    with pytest.raises(TypeError, match="resolution"):  # options would be silently ignored on a loaded task
        load_task(mnist, resolution=64)


def test_user_state_dict_path(tmp_path: Path, mnist: Task) -> None:
    torch.manual_seed(0)
    mine = tv_models.mobilenet_v2(num_classes=10)
    state = mine.state_dict()
    torch.save(state, tmp_path / "mine.pt")
    # training checkpoints: wrapped in {"state_dict": ...}, keys prefixed by DataParallel's "module."
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "ckpt.pth")
    for path in (tmp_path / "mine.pt", str(tmp_path / "ckpt.pth")):
        model = load_reference_model("mobilenet_v2", mnist, path)
        assert not model.training
        loaded = model.state_dict()
        assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], state[k]) for k in state)
    # the shipped float16 file is a state dict too: by path it gives the shipped model
    by_path = load_reference_model("resnet18", mnist, pretrained.WEIGHTS_DIR / MANIFEST["resnet18/mnist"]["file"])
    shipped = load_reference_model("resnet18", mnist)
    assert all(
        torch.equal(a, b) for a, b in zip(by_path.state_dict().values(), shipped.state_dict().values(), strict=True)
    )


def test_bad_weights_give_clear_errors(tmp_path: Path, mnist: Task) -> None:
    torch.save(tv_models.resnet18(num_classes=10).state_dict(), tmp_path / "resnet.pt")
    with pytest.raises(ValueError, match=r"resnet\.pt is not a mobilenet_v2 state dict.*missing keys"):
        load_reference_model("mobilenet_v2", mnist, tmp_path / "resnet.pt")
    torch.save(tv_models.mobilenet_v2(num_classes=10, width_mult=0.5).state_dict(), tmp_path / "narrow.pt")
    with pytest.raises(ValueError, match=r"narrow\.pt does not fit mobilenet_v2.*size mismatch"):
        load_reference_model("mobilenet_v2", mnist, tmp_path / "narrow.pt")
    torch.save(tv_models.mobilenet_v2(num_classes=4).state_dict(), tmp_path / "four.pt")
    with pytest.raises(ValueError, match=r"4 outputs but task 'mnist' has 10 classes"):
        load_reference_model("mobilenet_v2", mnist, tmp_path / "four.pt")
    (tmp_path / "garbage.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match=r"garbage\.pt is not a loadable state dict"):
        load_reference_model("mobilenet_v2", mnist, tmp_path / "garbage.pt")
    with pytest.raises(FileNotFoundError, match=r"absent\.pt does not exist"):
        load_reference_model("mobilenet_v2", mnist, tmp_path / "absent.pt")
    with pytest.raises(ValueError, match=r"IMAGENET1K_V9.*\['DEFAULT', 'IMAGENET1K_V1', 'IMAGENET1K_V2'\]"):
        load_reference_model("mobilenet_v2", mnist, "IMAGENET1K_V9")
    with pytest.raises(ValueError, match="torchvision has no ImageNet weights for 'mobilenet_v1'"):
        load_reference_model("mobilenet_v1", mnist, "IMAGENET1K_V1")


# -- ImageFolder data -----------------------------------------------------------------------------------------------


def test_imagefolder_with_train_and_val_folders(tmp_path: Path) -> None:
    _write_images(tmp_path / "train", CLASSES, per_class=6, seed=0)
    _write_images(tmp_path / "val", CLASSES, per_class=2, seed=1)
    task = load_task(tmp_path, resolution=32)
    assert (task.num_classes, len(task.train), task.num_val, task.num_test, task.in_memory) == (3, 18, 3, 3, False)
    assert task.meta["carved_val"] is False and task.meta["classes"] == list(CLASSES)
    assert not set(_indices(task.val)) & set(_indices(task.test))  # val/ split in two disjoint halves
    assert sorted(_labels(task.val) + _labels(task.test)) == [0, 0, 1, 1, 2, 2]
    assert task.calibration.shape == (18, 3, 32, 32)  # fewer than 128 spare images: the training ones
    x, y = next(iter(task.train_loader(4, seed=0)))
    assert x.shape == (4, 3, 32, 32) and y.dtype == torch.int64
    two = load_task(tmp_path, resolution=32, num_classes=2, val_size=3)
    assert (two.num_classes, len(two.train), two.num_val, two.num_test) == (2, 12, 3, 1)
    assert set(_labels(two.val) + _labels(two.test)) <= {0, 1} and set(_labels(two.train)) == {0, 1}
    with pytest.raises(ValueError, match=r"val_size=3 and test_size=9 do not fit the 6 val/ images"):
        load_task(tmp_path, resolution=32, val_size=3, test_size=9)


def test_val_folder_missing_a_class_keeps_train_labels(tmp_path: Path) -> None:
    _write_images(tmp_path / "train", CLASSES, per_class=3, seed=0)
    _write_images(tmp_path / "val", CLASSES[1:], per_class=2, seed=1)  # no "ant" images in val/
    task = load_task(tmp_path, resolution=32)
    assert sorted(_labels(task.val) + _labels(task.test)) == [1, 1, 2, 2]  # "bee" is class 1 in train/, not 0
    _write_images(tmp_path / "val", ("dog",), per_class=1, seed=2)
    with pytest.raises(ValueError, match="dog"):
        load_task(tmp_path, resolution=32)


@pytest.mark.parametrize("layout", ["train", "flat"])
def test_imagefolder_carved_splits(tmp_path: Path, layout: str) -> None:
    _write_images(tmp_path / "train" if layout == "train" else tmp_path, CLASSES, per_class=6, seed=0)
    options = {"resolution": 32, "val_size": 4, "test_size": 2, "train_size": 8, "calibration_size": 4}
    task = load_task(tmp_path, seed=1, **options)
    assert task.meta["carved_val"] is True
    sizes = (task.num_classes, len(task.train), task.num_val, task.num_test, task.calibration.shape[0])
    assert sizes == (3, 8, 4, 2, 4)
    val, train, test = _indices(task.val), _indices(task.train), _indices(task.test)
    assert not set(val) & set(train) and not set(test) & (set(val) | set(train))
    again = load_task(tmp_path, seed=1, **options)
    assert (_indices(again.val), _indices(again.train)) == (val, train)
    assert torch.equal(again.calibration, task.calibration)
    other = load_task(tmp_path, seed=2, **options)
    assert (_indices(other.val), _indices(other.train)) != (val, train)
    # the calibration batch comes from the 4 images in no split: none of it is a validation or test image
    held_out = [task.val[i][0] for i in range(task.num_val)] + [task.test[i][0] for i in range(task.num_test)]
    assert not any(torch.equal(c, v) for c in task.calibration for v in held_out)
    # imagenet100-style: only the first classes (sorted folder order), carved out of train/
    first_two = load_task(tmp_path, seed=1, resolution=32, num_classes=2, val_size=3)
    assert first_two.num_classes == 2 and first_two.meta["classes"] == list(CLASSES[:2])
    assert (len(first_two.train), first_two.num_val, first_two.num_test) == (6, 3, 3)  # test: as many as val
    assert set(_labels(first_two.val)) | set(_labels(first_two.train)) <= {0, 1}


def _populate_torch_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, torch.Tensor]]:
    """Random-init torchvision MobileNetV2 checkpoints under ``TORCH_HOME``, named as their download URLs name them;
    any download attempt fails the test. Returns the state dicts by weights name."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # nothing may override TORCH_HOME

    def no_download(url: str, *args, **kwargs) -> None:
        raise AssertionError(f"tried to download {url}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    states = {}
    weights_v2 = tv_models.MobileNet_V2_Weights
    for seed, weights in enumerate((weights_v2.IMAGENET1K_V1, weights_v2.DEFAULT)):
        torch.manual_seed(seed)
        states[weights.name] = tv_models.mobilenet_v2().state_dict()
        # torchvision checks the sha256 prefix in the file name only when it downloads, not for a cached file
        torch.save(states[weights.name], checkpoints / os.path.basename(weights.url))
    return states


def test_haq_env_on_an_imagefolder_with_torchvision_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    states = _populate_torch_hub(tmp_path, monkeypatch)
    assert set(states) == {"IMAGENET1K_V1", "IMAGENET1K_V2"}
    root = tmp_path / "images"
    _write_images(root / "train", CLASSES, per_class=6, seed=0)
    task = load_task(root, resolution=32, val_size=6)

    v1 = load_reference_model("mobilenet_v2", task, "IMAGENET1K_V1")
    assert torch.equal(v1.features[0][0].weight, states["IMAGENET1K_V1"]["features.0.0.weight"])
    default = load_reference_model("mobilenet_v2", task)  # an ImageFolder task: torchvision's default weights
    assert torch.equal(default.classifier[1].weight, states["IMAGENET1K_V2"]["classifier.1.weight"])

    env = gym.make(
        "HAQ-MobileNetV2-BISMO", dataset=root, dataset_kwargs={"resolution": 32, "val_size": 6}, preserve_ratio=0.6
    )
    haq = env.unwrapped
    assert haq.num_layers == 53 and haq.task.num_classes == 3 and haq.task.num_val == 6
    first = haq.quantized.layers[0].layer.weight
    assert torch.equal(first, states["IMAGENET1K_V2"]["features.0.0.weight"])
    assert haq.float_accuracy == accuracy(default, task)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(haq.steps_per_episode - 1):
        _, reward, terminated, truncated, info = env.step(rng.uniform(-1, 1, 1).astype(np.float32))
        assert (reward, terminated, truncated, info) == (0.0, False, False, {})
    _, reward, terminated, truncated, info = env.step(np.array([0.0], dtype=np.float32))
    assert terminated and not truncated  # the spec's TimeLimit (max_episode_steps=107) is a horizon past the end
    expected = {"policy", "cost", "budget", "reference_cost", "cost_ratio", "within_budget", "accuracy", "reward"}
    assert expected | {"float_accuracy", "split", "accuracy_source", "constraint", "unit"} == set(info)
    assert info["within_budget"] and len(info["policy"]) == 53
    assert 0.0 <= info["accuracy"] <= 1.0 and reward == pytest.approx(0.1 * (info["accuracy"] - haq.float_accuracy))


def test_haq_env_with_a_user_state_dict_on_an_imagefolder(tmp_path: Path) -> None:
    _write_images(tmp_path / "train", CLASSES, per_class=4, seed=0)
    _write_images(tmp_path / "val", CLASSES, per_class=2, seed=1)  # 6 images: 3 validation, 3 test
    torch.manual_seed(0)
    state = build_architecture("mobilenet_v1", 3).state_dict()
    torch.save(state, tmp_path / "mobilenet_v1_3.pt")
    env = gym.make(
        "HAQ-MobileNetV1-BitFusion",
        dataset=tmp_path,
        dataset_kwargs={"resolution": 32},
        weights=tmp_path / "mobilenet_v1_3.pt",
    )
    haq = env.unwrapped
    assert haq.num_layers == 28 and haq.task.num_val == haq.task.num_test == 3
    head = haq.quantized.layers[-1].layer
    assert head.out_features == 3 and torch.equal(head.weight, state["classifier.1.weight"])
    info = haq.evaluate_solution(haq.uniform_policy(8))
    assert isinstance(info["accuracy"], float)


def test_classifier_smaller_than_the_task_is_rejected_for_imagefolders(tmp_path: Path) -> None:
    _write_images(tmp_path, CLASSES, per_class=3, seed=0)
    task = load_task(tmp_path, resolution=32)
    torch.save(build_architecture("resnet18", 2).state_dict(), tmp_path / "two.pt")
    with pytest.raises(ValueError, match=r"2 outputs but task .* has 3 classes"):
        load_reference_model("resnet18", task, tmp_path / "two.pt")
    with pytest.raises(ValueError, match="torchvision has no ImageNet weights for 'mobilenet_v1'"):
        load_reference_model("mobilenet_v1", task)  # "default" on an ImageFolder task
