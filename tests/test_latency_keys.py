"""Latency tables keyed by layer shapes: ProxylessNAS's string keys are parsed once, at the file's edge, and written
back exactly; the targets live above the table and the measuring (nothing is measured here)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from hwenvs.cache import CorruptCacheError
from hwenvs.nas import measure_latency
from hwenvs.nas.architecture import shallowest, uniform
from hwenvs.nas.latency_tables import DEPLOYMENT_SPACE, LatencyTable, LayerKey, block_key, required_keys
from hwenvs.nas.latency_targets import (
    MEASURED_TARGETS,
    TARGETS,
    accelerator_layers,
    hardware_table,
    load_latency_table,
)
from hwenvs.nas.search_space import SearchSpace

SPACES = [
    DEPLOYMENT_SPACE,
    SearchSpace(width_mult=0.35, resolution=32, num_classes=10),
    SearchSpace(resolution=64, stem_stride=1),
    SearchSpace(width_mult=1.4, resolution=192),
]


def fake_entries(space: SearchSpace = DEPLOYMENT_SPACE, seed: int = 0) -> dict[str, dict[str, float]]:
    """A small synthetic table in ProxylessNAS's string-keyed form (what a file holds)."""
    rng = np.random.default_rng(seed)
    return {
        str(key): {"count": int(rng.integers(1, 9)), "mean": float(rng.uniform(0.01, 5.0)), "var": 0.01}
        for key in required_keys(space)
    }


@pytest.mark.parametrize("space", SPACES, ids=str)
def test_keys_convert_both_ways(space: SearchSpace) -> None:
    keys = required_keys(space)
    assert all(LayerKey.parse(str(key)) == key for key in keys)
    assert len({str(key) for key in keys}) == len(keys)  # one string per key


def test_published_keys_convert_both_ways(mobile_table_file: None) -> None:
    from hwenvs.reference_data import reference_path

    data = yaml.safe_load(reference_path("proxylessnas_mobile_trim.yaml").read_text())
    assert len(data) == 72
    assert all(str(LayerKey.parse(text)) == text for text in data)


def test_key_fields() -> None:
    assert LayerKey.parse("Conv-input:224x224x3-output:112x112x32") == LayerKey(
        "stem", 224, 3, 112, 32, kernel=3, stride=2
    )
    assert LayerKey.parse("Logits-input:7x7x1280-output:1000") == LayerKey("logits", 7, 1280, 1, 1000)
    key = LayerKey.parse("expanded_conv-input:56x56x24-output:28x28x40-expand:6-kernel:5-stride:2-idskip:0")
    assert (key.kind, key.expand, key.kernel, key.stride, key.skip) == ("mbconv", 6, 5, 2, False)
    assert block_key(DEPLOYMENT_SPACE.blocks[1], 0).skip  # the second block of a stage has an identity shortcut


@pytest.mark.parametrize(
    "text",
    [
        "Conv-input:224x224x3",  # no output
        "Pool-input:7x7x1280-output:1x1x1280",  # unknown kind
        "Conv-input:224x200x3-output:112x112x32",  # not square
        "Logits-input:7x7x1280-output:1000-expand:1",  # a part its kind has not
        "expanded_conv-input:56x56x24-output:28x28x40-expand:6-kernel:5-stride:2-idskip:2",
        "expanded_conv-input:56x56x24-output:28x28x40-expand:6-kernel:05-stride:2-idskip:0",
        "expanded_conv-input:56x56x24-output:28x28x40-kernel:5-expand:6-stride:2-idskip:0",  # parts out of order
        "expanded_conv-input:56x56x0-output:28x28x40-expand:6-kernel:5-stride:2-idskip:0",
        7,
    ],
)
def test_malformed_keys_are_named(text: object) -> None:
    with pytest.raises(ValueError, match="latency table key"):
        LayerKey.parse(text)


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "head", "in_hw": 7, "in_channels": 320, "out_hw": 7, "out_channels": 1280, "kernel": 3},
        {"kind": "stem", "in_hw": 224, "in_channels": 3, "out_hw": 112, "out_channels": 32},  # kernel 1
        {"kind": "stem", "in_hw": 224, "in_channels": 3, "out_hw": 112, "out_channels": 32, "kernel": 3},  # stride 1
        {"kind": "logits", "in_hw": 7, "in_channels": 1280, "out_hw": 7, "out_channels": 1000},
        {"kind": "mbconv", "in_hw": 7, "in_channels": 0, "out_hw": 7, "out_channels": 8},
        {"kind": "mbconv", "in_hw": True, "in_channels": 8, "out_hw": 7, "out_channels": 8},
        {"kind": "pool", "in_hw": 7, "in_channels": 8, "out_hw": 1, "out_channels": 8},
    ],
)
def test_keys_its_string_cannot_hold_are_refused(fields: dict) -> None:
    with pytest.raises(ValueError):
        LayerKey(**fields)


def test_table_takes_layer_keys_and_reads_strings_at_the_edge(tmp_path: Path) -> None:
    data = fake_entries()
    with pytest.raises(TypeError, match="from_mapping"):
        LatencyTable("strings", data)  # type: ignore[arg-type]
    table = LatencyTable.from_mapping(data, "fake")
    assert table.to_mapping() == data
    stem = "Conv-input:224x224x3-output:112x112x32"
    with pytest.raises(KeyError, match=stem):  # errors name the published string
        LatencyTable.from_mapping({k: v for k, v in data.items() if k != stem}, "broken")
    with pytest.raises(ValueError, match=r"bad\.yaml: latency table key 'nonsense'"):
        (tmp_path / "bad.yaml").write_text(yaml.safe_dump({**data, "nonsense": {"mean": 1.0}}))
        LatencyTable.from_yaml(tmp_path / "bad.yaml", "bad")


def test_yaml_keeps_proxylessnas_format(tmp_path: Path) -> None:
    table = LatencyTable.from_mapping(fake_entries(), "fake", meta={"batch": 1})
    table.to_yaml(tmp_path / "t.yaml")
    written = yaml.safe_load((tmp_path / "t.yaml").read_text())
    assert written.pop("_meta") == {"batch": 1} and written == fake_entries()
    again = load_latency_table(str(tmp_path / "t.yaml"))
    assert again.entries == table.entries and again.name == "t"
    archs = [shallowest(), uniform("k3e3"), uniform("k7e6")]
    assert [again.latency_ms(a) for a in archs] == [table.latency_ms(a) for a in archs]


def test_a_table_cached_before_structured_keys_is_read_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache files keep the string keys they always had, so the cache key did not change: a file written the old
    way (``yaml.safe_dump`` of the string-keyed mapping) is read without measuring, every value as written."""
    monkeypatch.setenv("HWENVS_CACHE", str(tmp_path))
    monkeypatch.setattr(measure_latency, "measure_table", lambda *a, **k: pytest.fail("measured instead of read"))
    data = fake_entries(seed=3)
    path = measure_latency.table_path("cpu", config=measure_latency.MeasureConfig(repeats=2))
    path.write_text(yaml.safe_dump({"_meta": {"target": "cpu"}, **data}, sort_keys=True))
    path.with_name(path.name + ".sha256").write_text(hashlib.sha256(path.read_bytes()).hexdigest())
    table = measure_latency.measured_table("cpu", repeats=2, progress=False)
    assert table.to_mapping() == data and table.meta["source"] == str(path)
    # the layers every network has cost what the file says, in its own strings
    fixed = [
        "Conv-input:224x224x3-output:112x112x32",
        "expanded_conv-input:112x112x32-output:112x112x16-expand:1-kernel:3-stride:1-idskip:0",
        "Conv_1-input:7x7x320-output:7x7x1280",
        "Logits-input:7x7x1280-output:1000",
    ]
    assert table.fixed_ms == sum(data[text]["mean"] for text in fixed)


def test_accelerator_layers() -> None:
    wide = block_key(DEPLOYMENT_SPACE.blocks[1], 5)  # k7e6
    expand, depthwise, project = accelerator_layers(wide)
    assert expand.out_channels == depthwise.groups == project.in_channels == wide.in_channels * 6
    assert depthwise.depthwise and depthwise.kernel_size == 7 and depthwise.padding == 3
    first = required_keys(DEPLOYMENT_SPACE)[1]  # the fixed first block: expand 1, no expansion conv
    assert [layer.kernel_size for layer in accelerator_layers(first)] == [3, 1]
    (linear,) = accelerator_layers(required_keys(DEPLOYMENT_SPACE)[3])
    assert (linear.kind, linear.in_channels, linear.out_channels) == ("linear", 1280, 1000)
    assert hardware_table("bismo-edge").latency_ms(uniform("k3e3")) > 0


def test_targets() -> None:
    assert TARGETS == ("mobile", "cpu", "gpu", "bismo-edge", "bismo-cloud", "bitfusion")
    assert set(MEASURED_TARGETS) == set(measure_latency.BATCH)  # the names above, the batch sizes below
    with pytest.raises(TypeError, match="apply only to targets measured here"):
        load_latency_table("bismo-edge", repeats=3)
    with pytest.raises(FileNotFoundError):
        load_latency_table("missing.yaml")
    with pytest.raises(ValueError, match="unknown latency target 'tpu'"):
        load_latency_table("tpu")


def test_importing_the_targets_loads_no_torch() -> None:
    """Measured targets import their measuring module (and torch) only when a measured table is asked for."""
    code = "import sys, hwenvs.nas, hwenvs.nas.latency_targets; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_edited_cached_table_is_refused_and_one_without_a_checksum_measured_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HWENVS_CACHE", str(tmp_path))
    data = fake_entries(seed=4)
    measured = LatencyTable.from_mapping(data, "cpu", DEPLOYMENT_SPACE)
    monkeypatch.setattr(measure_latency, "measure_table", lambda *a, **k: measured)
    first = measure_latency.measured_table("cpu", repeats=2, progress=False)  # measured (stubbed), cached, checksummed
    path = measure_latency.table_path("cpu", config=measure_latency.MeasureConfig(repeats=2))
    assert first.to_mapping() == data and path.with_name(path.name + ".sha256").is_file()
    monkeypatch.setattr(measure_latency, "measure_table", lambda *a, **k: pytest.fail("measured instead of read"))
    assert measure_latency.measured_table("cpu", repeats=2, progress=False).to_mapping() == data
    key = next(iter(data))
    path.write_text(path.read_text().replace(f"{data[key]['mean']}", "1000000.0", 1))  # five means to 1e6, say
    with pytest.raises(CorruptCacheError, match=r"cached latency table .* is corrupt .* delete it"):
        measure_latency.measured_table("cpu", repeats=2, progress=False)
    path.with_name(path.name + ".sha256").unlink()  # a table cached before checksums: measured again, not trusted
    monkeypatch.setattr(measure_latency, "measure_table", lambda *a, **k: measured)
    assert measure_latency.measured_table("cpu", repeats=2, progress=False).to_mapping() == data
