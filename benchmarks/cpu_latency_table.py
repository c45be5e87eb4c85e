"""Benchmark: how well this machine's measured CPU latency table predicts whole networks.

Measures (``--rebuild``) or loads the ProxylessNAS CPU table (:func:`hwenvs.nas.measure_latency.measured_table`,
what ``hwenvs nas latency-table --target cpu`` does), then times ``--networks`` whole deployed networks end to end
(the all-k3e3 one and sampled ones) ``--validations`` times, back to back, and compares
each with the table's prediction: signed error, mean and max |error|, Spearman rank correlation. Repeating the same
validation shows the machine's own run-to-run noise beside the table's error.

    python benchmarks/cpu_latency_table.py [--rebuild] [--networks 10] [--validations 2]

Not a test: it measures and prints. Results: ``benchmarks/results/cpu_latency_table.json`` and ``.txt``, rendered
from the JSON by :func:`render`.
"""

from __future__ import annotations

import argparse
import datetime
import os
from pathlib import Path
from typing import Any

import numpy as np
import results_io
import torch
from scipy.stats import spearmanr

RESULTS = Path(__file__).resolve().parent / "results"


def validate(table: Any, networks: int, seed: int) -> dict[str, Any]:
    """One end-to-end validation of ``networks`` networks (the all-k3e3 one first)."""
    from hwenvs.lab.latency_validation import validate_table
    from hwenvs.nas.architecture import uniform
    from hwenvs.nas.measure_latency import MeasureConfig
    from hwenvs.nas.train_supernet import sample_architecture

    rng = np.random.default_rng(seed)
    archs = [uniform("k3e3")] + [sample_architecture(rng) for _ in range(networks - 1)]
    load = os.getloadavg()[0]
    rows = validate_table(table, archs, MeasureConfig(), progress=False)
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
        "load_before": load,
        "rows": [{k: row[k] for k in ("architecture", "table_ms", "measured_ms")} for row in rows],
    }


def render(data: dict[str, Any]) -> str:
    """The results text, from the benchmark's JSON alone."""
    results_io.require(data, ("table", "validations", "command"), "cpu_latency_table.json", "see its docstring")
    t = data["table"]
    lines = [
        f"$ {data['command']}",
        f"cpu table: {t['source']}",
        f"measured {t['measured']} on {t['device']}, batch {t['batch']}, {t['threads']} thread(s); fixed part "
        f"{t['fixed_ms']:.2f} ms",
    ]
    for i, v in enumerate(data["validations"]):
        lines += ["", f"validation {i + 1} of the same table ({v['date']}, load average {v['load_before']:.2f}):"]
        lines.append(f"{'table ms':>9} {'measured ms':>12} {'error':>7}  architecture")
        errors = []
        for r in v["rows"]:
            error = r["table_ms"] / r["measured_ms"] - 1
            errors.append(abs(error))
            lines.append(f"{r['table_ms']:9.2f} {r['measured_ms']:12.2f} {error:+7.1%}  {r['architecture']}")
        rho = spearmanr([r["table_ms"] for r in v["rows"]], [r["measured_ms"] for r in v["rows"]]).statistic
        lines.append(
            f"mean |error| {np.mean(errors):.1%}, max {max(errors):.1%}; rank correlation (Spearman) {rho:.2f}"
        )
    lines += ["", *render_noise(data["validations"])]
    return "\n".join(lines) + "\n"


def render_noise(validations: list[dict[str, Any]]) -> list[str]:
    """The machine's own noise: how much the same network's end-to-end time moved between validations."""
    if len(validations) < 2:
        return []
    first, last = validations[0]["rows"], validations[-1]["rows"]
    moves = [b["measured_ms"] / a["measured_ms"] - 1 for a, b in zip(first, last, strict=True)]
    worst = int(np.argmax(np.abs(moves)))
    return [
        f"run-to-run: the same networks timed end to end in validation 1 and {len(validations)} moved by "
        f"{np.mean(np.abs(moves)):.1%} on average, at most {moves[worst]:+.1%} ({first[worst]['measured_ms']:.2f} -> "
        f"{last[worst]['measured_ms']:.2f} ms, {first[worst]['architecture']})"
    ]


def main() -> None:
    """Measure or load the table, validate it, write the JSON and render the text from it."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rebuild", action="store_true", help="measure the table again even if cached")
    parser.add_argument("--networks", type=int, default=10, help="networks timed end to end per validation")
    parser.add_argument("--validations", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for cpu_latency_table.json / .txt")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from hwenvs.nas.measure_latency import measured_table, table_path

    table = measured_table("cpu", rebuild=args.rebuild)
    meta = table.meta
    data = {
        "command": "python benchmarks/cpu_latency_table.py"
        + (" --rebuild" if args.rebuild else "")
        + f" --networks {args.networks} --validations {args.validations} --seed {args.seed}",
        "table": {
            "source": str(table_path("cpu")),
            "measured": str(meta.get("measured")),
            "device": str(meta.get("device")),
            "batch": meta.get("batch"),
            "threads": meta.get("threads"),
            "fixed_ms": float(table.fixed_ms),
        },
        "validations": [validate(table, args.networks, args.seed) for _ in range(args.validations)],
    }
    text = render(data)
    print(text)
    results_io.write(args.out / "cpu_latency_table.json", data, args.out / "cpu_latency_table.txt", text)


if __name__ == "__main__":
    main()
