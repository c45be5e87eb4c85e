"""The reproduction page (``benchmarks/reproduction.py``) rendered from a small hand-made JSON: its rows, the
"reproduced?" rule, and the rows whose searches have not finished. Nothing is evaluated: this only formats."""

from __future__ import annotations

import copy
import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the scripts import their shared helper as a top-level module

import results_io  # noqa: E402

reproduction = importlib.import_module("reproduction")

HWS = ["BISMO", "BISMO-Cloud", "BitFusion"]
LAYERS = [
    {"name": "stem", "kind": "other"},
    {"name": "dw1", "kind": "depthwise"},
    {"name": "pw1", "kind": "pointwise"},
    {"name": "dw2", "kind": "depthwise"},
    {"name": "pw2", "kind": "pointwise"},
    {"name": "fc", "kind": "other"},
]


def refs(fixed8_test: float) -> list[dict[str, Any]]:
    return [
        {"name": "float", "val_accuracy": 0.97, "test_accuracy": 0.96, "cost_ratio": None},
        {"name": "fixed 8-bit", "val_accuracy": 0.96, "test_accuracy": fixed8_test, "cost_ratio": 1.0},
    ]


def haq_summary(**fields: Any) -> dict[str, Any]:
    base = {"episodes": 10, "search_time_s": 20.0, "job_time_s": 50.0, "val_accuracy": 0.95, "references": refs(0.95)}
    return {**base, **fields}


def claim1_runs() -> list[dict[str, Any]]:
    """Seed 0: every hardware's own policy fastest on it. Seed 1: BISMO edge's policy is beaten on BISMO edge."""
    ms = {
        0: {"BISMO": [10, 30, 30], "BISMO-Cloud": [12, 20, 31], "BitFusion": [12, 31, 25]},
        1: {"BISMO": [13, 30, 30], "BISMO-Cloud": [12, 20, 31], "BitFusion": [12, 31, 25]},
    }
    policies = {  # [w, a] per layer: edge gives depthwise fewer activation bits, cloud more in the last layers
        "BISMO": [[8, None], [4, 3], [4, 6], [4, 3], [4, 6], [8, 8]],
        "BISMO-Cloud": [[8, None], [4, 5], [4, 5], [4, 7], [4, 4], [8, 8]],
        "BitFusion": [[8, None], [3, 3], [3, 3], [3, 3], [3, 3], [8, 8]],
    }
    runs = []
    for seed in (0, 1):
        for hw in HWS:
            costs = {col: {"ms": float(v), "ratio": v / 40, "fixed8_ms": 40.0, "batch": 1} for col, v in
                     zip(HWS, ms[seed][hw], strict=True)}  # fmt: skip
            summary = haq_summary(
                test_accuracy=0.93 + 0.01 * seed, costs_on=costs, layers=LAYERS, policy=policies[hw], cost_ratio=0.5
            )
            runs.append(
                {"key": f"c1-{hw}-s{seed}", "target": hw, "setting": "pr0.50", "seed": seed, "summary": summary}
            )
    return runs


def claim2_runs() -> list[dict[str, Any]]:
    """BISMO edge: seed 0 stays within a point down to 0.5 (2.08x), seed 1 only at 0.8 (1.28x). BitFusion: one
    search missing."""
    points = {  # (seed, ratio) -> (test accuracy, cost ratio)
        (0, 0.5): (0.945, 0.48),
        (0, 0.8): (0.95, 0.79),
        (1, 0.5): (0.90, 0.49),
        (1, 0.8): (0.95, 0.78),
    }
    runs = []
    for (seed, ratio), (acc, cost) in points.items():
        summary = haq_summary(test_accuracy=acc, cost_ratio=cost, policy=[])
        runs.append({"key": f"c2-BISMO-{ratio}-s{seed}", "target": "BISMO", "setting": f"latency-pr{ratio}",
                     "seed": seed, "ratio": ratio, "constraint": "latency", "summary": summary})  # fmt: skip
    for seed, ratio in ((0, 0.5), (0, 0.8), (1, 0.5), (1, 0.8)):
        summary = None if (seed, ratio) == (1, 0.5) else haq_summary(test_accuracy=0.95, cost_ratio=ratio, policy=[])
        runs.append({"key": f"c2-BitFusion-{ratio}-s{seed}", "target": "BitFusion", "setting": f"energy-pr{ratio}",
                     "seed": seed, "ratio": ratio, "constraint": "energy", "summary": summary})  # fmt: skip
    return runs


def claim4_runs() -> list[dict[str, Any]]:
    """2 bits without fine-tune: HAQ above Deep Compression in both seeds; with fine-tune: not run."""
    runs = []
    for seed in (0, 1):
        uniform = {"bits": 2, "val_accuracy": 0.80, "test_accuracy": 0.79, "cost_ratio": 0.3, "size_mb": 0.7}
        summary = haq_summary(test_accuracy=0.85 + 0.01 * seed, cost_ratio=0.29, uniform=uniform, policy=[])
        runs.append({"key": f"c4-b2-ft0-s{seed}", "target": "size", "setting": "b2-ft0", "seed": seed, "bits": 2,
                     "finetune": 0, "summary": summary})  # fmt: skip
        runs.append({"key": f"c4-b2-ft20-s{seed}", "target": "size", "setting": "b2-ft20", "seed": seed, "bits": 2,
                     "finetune": 20, "summary": None})  # fmt: skip
    return runs


def claim5_runs() -> list[dict[str, Any]]:
    """Mobile's architecture wins on Mobile in both seeds; CPU's never wins on CPU (Mobile's is faster there too)."""
    archs = {  # Mobile's keeps one block per stage, CPU's all 21
        "Mobile": "/".join(["k3e3-zero-zero-zero"] * 5 + ["k3e3"]),
        "CPU": "/".join(["k7e6-k7e6-k7e6-k7e6"] * 5 + ["k7e6"]),
    }
    latency = {"Mobile": {"Mobile": 40.0, "CPU": 20.0}, "CPU": {"Mobile": 150.0, "CPU": 60.0}}
    runs = []
    for seed in (0, 1):
        for t in ("Mobile", "CPU"):
            summary = {
                "episodes": 100, "search_time_s": 50.0, "job_time_s": 60.0, "test_accuracy": 0.9,
                "val_accuracy": 0.91, "architecture": archs[t], "latency_ms": latency[t],
                "targets_ms": {"Mobile": 80.0, "CPU": 30.0},
            }  # fmt: skip
            runs.append({"key": f"c5-{t}-s{seed}", "target": t, "setting": "oneshot", "seed": seed, "summary": summary})
    return runs


def synthetic() -> dict[str, Any]:
    haq = {"agent": "ddpg-warm", "episodes": 10}
    return {
        "format": reproduction.FORMAT,
        "dataset": "mnist",
        "seeds": [0, 1],
        "date": "2026-11-29",
        "machine": "x86_64, 2 cores, 2 workers",
        "claims": {
            "1": {
                "settings": {**haq, "model": "MobileNetV2", "preserve_ratio": 0.5, "hardware": HWS},
                "runs": claim1_runs(),
            },
            "2": {
                "settings": {
                    **haq,
                    "finetune_steps": 5,
                    "grid": [0.5, 0.8],
                    "tolerance": 0.01,
                    "targets": [["BISMO", "latency"], ["BitFusion", "energy"]],
                },
                "runs": claim2_runs(),
            },
            "4": {
                "settings": {**haq, "bits": [2], "finetune_steps": [0, 20], "quantizer": "kmeans", "min_bits": 1},
                "runs": claim4_runs(),
            },
            "5": {
                "settings": {
                    "agent": "reinforce",
                    "episodes": 100,
                    "targets": ["Mobile", "CPU"],
                    "latency_exponent": -0.1,
                },
                "runs": claim5_runs(),
            },
        },
    }


def row(text: str, claim: str, starts: str) -> list[str]:
    """The cells of the summary row of ``claim`` whose "what is tested" starts with ``starts``."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        if len(cells) == 5 and cells[0] == claim and cells[1].startswith(starts):
            return cells
    raise AssertionError(f"no row {claim} {starts!r} in:\n{text}")


def test_the_rule() -> None:
    assert reproduction.verdict([True, True, True]) == "yes"
    assert reproduction.verdict([True, False]) == "partly"
    assert reproduction.verdict([True, True, False]) == "partly"
    assert reproduction.verdict([True, False, False]) == "no"
    assert reproduction.verdict([False, False, False]) == "no"


def test_rows_and_verdicts() -> None:
    data = synthetic()
    before = copy.deepcopy(data)
    text = reproduction.render(data)
    assert data == before  # render only reads
    assert text == reproduction.render(json.loads(json.dumps(data)))  # what the JSON file gives back renders the same
    assert "2 seed(s) only: a smoke run" in text

    edge = row(text, "1", "the policy searched for BISMO edge")
    assert edge[2] == "HW1's policy on HW1: 16.29 ms vs 19.95 (HW2's), 19.94 (HW3's)"
    assert edge[3].startswith("fastest in 1 of 2 seeds; on BISMO edge: own 0.287x (11.50 ms)")
    assert edge[4] == "partly"
    assert row(text, "1", "the policy searched for BISMO cloud")[4] == "yes"
    assert row(text, "1", "the policy searched for BitFusion")[4] == "yes"

    assert row(text, "3", "BISMO edge: depthwise")[4] == "yes"
    assert "activation bits depthwise 3.00 vs pointwise 6.00" in row(text, "3", "BISMO edge")[3]
    cloud = row(text, "3", "BISMO cloud, last layers")
    assert cloud[3].startswith("activation bits depthwise 7.00 vs pointwise 4.00") and cloud[4] == "yes"

    bismo = row(text, "2", "BISMO edge latency")
    assert bismo[3].startswith("lowest ratio within 1 pt per seed: 0.5, 0.8; reduction 1.68 (1.28..2.08)x")
    assert bismo[4] == "partly"  # 2.08x reaches the paper's 1.4x, 1.28x does not

    size = row(text, "4", "2-bit size, no fine-tune")
    assert size[2] == "MobileNetV2 top-1 Deep Compression 58.07 vs HAQ 66.75 (+8.68 pts; unverified in haq.md)"
    assert size[3].startswith("Deep Compression 0.7900 vs HAQ 0.8550 (0.8500..0.8600) (+6.50 (+6.00..+7.00) pts)")
    assert size[4] == "yes"

    assert row(text, "5", "the architecture searched for Mobile")[4] == "yes"
    cpu = row(text, "5", "the architecture searched for CPU")
    assert cpu[2] == "CPU model fastest on CPU: 138.7 ms vs 204.9 (GPU model), 164.1 (Mobile model)"
    assert cpu[3].startswith("best reward on CPU in 0 of 2 seeds (fastest there in 0 of 2 seeds)") and cpu[4] == "no"
    shapes = row(text, "5", "preferences")
    assert "Mobile depth 6.0, kernel 3.00, expand 3.00; CPU depth 21.0, kernel 7.00, expand 6.00" in shapes[3]
    assert shapes[4].startswith("not run yet (needs the GPU target") and "--nas-targets Mobile CPU GPU" in shapes[4]


def test_unfinished_rows_say_how_to_run_them_and_invent_nothing() -> None:
    text = reproduction.render(synthetic())
    bitfusion = row(text, "2", "BitFusion energy")
    assert bitfusion[3] == ""  # no figure until every seed's searches are done
    assert bitfusion[4].startswith("not run yet (3 of 4 searches done: `python benchmarks/reproduction.py --claims 2 ")
    assert (
        "--dataset mnist --seeds 0 1 --episodes 2=10 --agent ddpg-warm --finetune-steps 5 --grid 0.5 0.8"
        in bitfusion[4]
    )
    tuned = row(text, "4", "2-bit size, 20 fine-tune steps")
    assert tuned[3] == "" and tuned[4].startswith("not run yet (0 of 2 searches done: ")


def test_a_missing_claim1_search_blocks_claims_1_and_3() -> None:
    data = synthetic()
    data["claims"]["1"]["runs"][3]["summary"] = None  # BISMO edge, seed 1
    text = reproduction.render(data)
    for claim, starts, done in (
        ("1", "the policy searched for BitFusion", "5 of 6"),
        ("3", "BISMO edge", "3 of 4"),  # claim 3 reads the edge and cloud searches only
        ("3", "BISMO cloud", "3 of 4"),
    ):
        cells = row(text, claim, starts)
        assert cells[3] == "" and cells[4].startswith(f"not run yet ({done} searches done: ")
        assert "--claims 1 " in cells[4]
    assert "bits per layer" not in text  # the plot is only shown (and drawn) once claim 1 is complete


def test_iso_point_needs_every_higher_ratio() -> None:
    ok = {"test_accuracy": 0.95, "references": refs(0.95)}
    low = {"test_accuracy": 0.90, "references": refs(0.95)}
    assert reproduction.iso_point({0.3: ok, 0.5: low, 0.8: ok}, 0.01) == (0.8, ok)  # 0.3 passes, but 0.5 does not
    assert reproduction.iso_point({0.3: {"skipped": "below the floor"}, 0.5: ok}, 0.01) == (0.5, ok)
    assert reproduction.iso_point({0.5: ok, 0.8: low}, 0.01) == (None, None)


def test_plot_is_drawn_from_the_json(tmp_path: Path) -> None:
    data = synthetic()
    assert reproduction.plot_bits(data, tmp_path / "bits.png")
    assert (tmp_path / "bits.png").read_bytes().startswith(b"\x89PNG")
    data["claims"]["1"]["runs"][0]["summary"] = None
    assert not reproduction.plot_bits(data, tmp_path / "none.png") and not (tmp_path / "none.png").exists()


def test_stale_json_is_refused() -> None:
    data = synthetic()
    del data["claims"]
    with pytest.raises(results_io.StaleResults, match="claims"):
        reproduction.render(data)


def test_episodes_option() -> None:
    assert reproduction.parse_episodes(["7"], ["1", "3"]) == {**reproduction.DEFAULT_EPISODES, "1": 7}
    assert reproduction.parse_episodes(["7"], ["3"]) == {**reproduction.DEFAULT_EPISODES, "1": 7}
    assert reproduction.parse_episodes(["2=5", "5=9"], ["2"])["5"] == 9
    with pytest.raises(Exception, match="CLAIM=N"):
        reproduction.parse_episodes(["3=5"], ["3"])


def test_the_seeds_of_a_setting_share_one_worker() -> None:
    settings = {"agent": "ddpg-warm", "episodes": 3, "targets": [["BISMO", "latency"]], "grid": [0.5, 0.8],
                "finetune_steps": 2}  # fmt: skip
    jobs = reproduction.claim_jobs("2", settings, "mnist", [0, 1, 2])
    groups = reproduction.job_groups(jobs[1:])  # seed 0 of the first setting already done
    assert [[(j["ratio"], j["seed"]) for j in g] for g in groups] == [
        [(0.5, 1), (0.5, 2)],
        [(0.8, 0), (0.8, 1), (0.8, 2)],
    ]


def test_report_only_runs_nothing_and_counts_what_finished(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    key = reproduction.job_key("1", "BISMO", "pr0.50", "mnist", "ddpg-warm", 150, 0)
    (runs / key).mkdir(parents=True)
    (runs / key / "summary.json").write_text(json.dumps(haq_summary(key=key)))
    argv = ["--report-only", "--dataset", "mnist", "--seeds", "0", "1", "--out", str(tmp_path), "--runs", str(runs)]
    reproduction.main(argv)
    assert [p.name for p in runs.iterdir()] == [key]  # no search started
    text = (tmp_path / "reproduction.md").read_text()
    assert "1 of 6 searches done" in row(text, "1", "the policy searched for BISMO edge")[4]
    assert "0 of 12 searches done" in text
    assert json.loads((tmp_path / "reproduction.json").read_text())["machine"].endswith("cores")  # no worker count
