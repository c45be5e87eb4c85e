"""``hwenvs hardware``: per-layer table and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hwenvs.cli.main import main

REFERENCE_DATA = Path(__file__).resolve().parents[2] / "shared" / "reference-data"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["hardware", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_per_layer_fields_and_totals(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "mobilenet_v1", "bitfusion", "--bits", "4/2", "--resolution", "64", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["hardware"] == "bitfusion" and data["batch"] == 16 and data["resolution"] == 64
    layers = data["layers"]
    assert len(layers) == 28
    for row in layers:
        assert {"latency_cycles", "latency_s", "energy_j", "bound"} <= row.keys()
        assert row["bound"] in ("compute", "memory")
        assert row["latency_s"] == pytest.approx(row["latency_cycles"] / data["clock_hz"])
    # The image is charged at 8 bits, every other layer at the requested bits.
    assert (layers[0]["w_bits"], layers[0]["a_bits"]) == (4, 8)
    assert {(row["w_bits"], row["a_bits"]) for row in layers[1:]} == {(4, 2)}
    total = data["total"]
    assert total["latency_s"] == pytest.approx(sum(row["latency_s"] for row in layers))
    assert total["energy_j"] == pytest.approx(sum(row["energy_j"] for row in layers))
    assert total["latency_s_per_image"] == pytest.approx(total["latency_s"] / 16)
    assert total["memory_bound_layers"] == sum(row["bound"] == "memory" for row in layers)


def test_table_output_and_id_style_names(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "MobileNetV1", "BISMO", "--bits", "8", "--resolution", "32", "--batch", "2")
    assert code == 0
    lines = out.splitlines()
    assert "bismo-edge" in lines[0] and "batch 2" in lines[0]
    assert lines[1].split()[:3] == ["#", "layer", "type"]
    assert len(lines) == 2 + 28 + 1
    assert lines[-1].startswith("total:") and "mJ" in lines[-1]


def test_bad_bits_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "mobilenet_v1", "bismo-edge", "--bits", "9/8", "--resolution", "32")
    assert code == 2 and "1..8" in err
    with pytest.raises(SystemExit):
        main(["hardware", "mobilenet_v1", "bismo-edge", "--bits", "four"])


def test_unknown_hardware_lists_valid_names(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "mobilenet_v1", "tpu", "--bits", "8/8")
    assert code == 2 and "bitfusion" in err


def test_haq_table_on_the_wrong_model(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    if not REFERENCE_DATA.is_dir():
        pytest.skip(f"no local reference data at {REFERENCE_DATA}")
    monkeypatch.setenv("HWENVS_REFERENCE_DATA", str(REFERENCE_DATA))
    code, _, err = run(capsys, "mobilenet_v1", "haq-table", "--bits", "8/8")
    assert code == 2 and "53 layers" in err and "28" in err
