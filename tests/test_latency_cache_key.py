"""The measured latency table's cache key covers every setting that changes the table (nothing is measured here).

A cached CPU table is reused whenever its key matches, so a setting left out of the key silently serves a table
measured differently (before this test, changing ``keep``, ``rounds``, ``warmup`` or ``repeats`` did).
"""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path

import pytest
import torch

from hwenvs.nas import measure_latency
from hwenvs.nas.measure_latency import MeasureConfig, cache_key, cpu_model, machine_id, table_path


@pytest.fixture(autouse=True)
def _tmp_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HWENVS_CACHE", str(tmp_path))  # table_path creates its folder


def changed(value: object) -> object:
    """A different valid value of a MeasureConfig field (counts grow by one, the share kept halves)."""
    return value / 2 if isinstance(value, float) else value + 1  # type: ignore[operator]


@pytest.mark.parametrize("option", [f.name for f in dataclasses.fields(MeasureConfig)])
def test_every_measure_option_changes_the_key(option: str) -> None:
    default = MeasureConfig()
    other = dataclasses.replace(default, **{option: changed(getattr(default, option))})
    assert cache_key("cpu", other)[option] != cache_key("cpu", default)[option]
    assert machine_id("cpu", other) != machine_id("cpu", default)
    assert table_path("cpu", config=other) != table_path("cpu", config=default)


def test_the_key_names_the_listed_options() -> None:
    """The options the table is known to depend on, named explicitly (the parametrised test follows the dataclass)."""
    key = cache_key("cpu", MeasureConfig())
    assert {"keep", "rounds", "warmup", "repeats", "threads", "torch", "device", "host", "batch", "method"} <= set(key)


@pytest.mark.parametrize(
    ("target", "name", "value"),
    [
        (torch, "__version__", "0.0.0-other"),
        (measure_latency, "cpu_model", lambda: "Some Other CPU @ 1.00GHz"),
        (platform, "node", lambda: "another-host"),
    ],
    ids=["torch-version", "cpu-model", "host"],
)
def test_machine_changes_the_key(monkeypatch: pytest.MonkeyPatch, target: object, name: str, value: object) -> None:
    before = machine_id("cpu", MeasureConfig())
    monkeypatch.setattr(target, name, value)
    assert machine_id("cpu", MeasureConfig()) != before


def test_same_setup_same_key() -> None:
    assert machine_id("cpu", MeasureConfig()) == machine_id("cpu", MeasureConfig(keep=0.5, threads=1))
    assert table_path("cpu") == table_path("cpu", config=MeasureConfig())


def test_cpu_model_is_the_processor_name() -> None:
    """On Linux the key holds /proc/cpuinfo's model name, not platform's bare architecture ("x86_64")."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    if not names:
        pytest.skip("no /proc/cpuinfo model name on this machine")
    assert cpu_model() == names[0] and cache_key("cpu", MeasureConfig())["device"] == names[0]
