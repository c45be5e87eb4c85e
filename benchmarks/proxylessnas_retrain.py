"""Benchmark: train the final architectures of ``proxylessnas_search.py`` from scratch and compare with the supernet.

Reads ``benchmarks/results/proxylessnas_search.json``, trains every final architecture from scratch on the embedded
task (``--epochs``, the same schedule for all, one torch thread) and reports its validation accuracy beside the
supernet-path accuracy the search saw, its latency and the training time, then the mean per agent.

    python benchmarks/proxylessnas_retrain.py [--epochs 10] [--workers 1]

``--workers N`` trains N architectures at a time in separate processes (one torch thread each); the train times are
then measured with N trainings sharing the machine.

Not a test: it measures and prints. Results: ``benchmarks/results/proxylessnas_retrain.json`` and ``.md``, rendered
from the JSON by :func:`render`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import results_io
import torch

RESULTS = Path(__file__).resolve().parent / "results"
RERUN = "python benchmarks/proxylessnas_retrain.py --workers 2"


def train_one(architecture: str, epochs: int) -> tuple[float, float, float]:
    """Trains one architecture from scratch with one torch thread; returns its test and validation accuracy and its
    training time."""
    torch.set_num_threads(1)
    from hwenvs.data import load_task
    from hwenvs.lab.retrain import RetrainConfig, train_from_scratch
    from hwenvs.nas.architecture import Architecture

    arch = Architecture.from_string(architecture)
    trained = train_from_scratch(arch, load_task("mnist"), config=RetrainConfig(epochs=epochs), progress=False)
    return trained.test_accuracy, trained.val_accuracy, trained.seconds


def search_rows(path: Path) -> list[dict[str, Any]]:
    """The search benchmark's runs; a clear error for its older format (a bare list without test figures)."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or "rows" not in data:
        raise results_io.StaleResults(f"{path} predates the current search benchmark; rerun proxylessnas_search.py")
    return data["rows"]


def render(data: dict[str, Any]) -> str:
    """The results markdown, from the benchmark's JSON alone."""
    results_io.require(data, ("epochs", "workers", "rows", "date"), "proxylessnas_retrain.json", RERUN)
    if data["rows"] and "scratch_test_accuracy" not in data["rows"][0]:
        raise results_io.StaleResults(f"proxylessnas_retrain.json has no test accuracy; rerun `{RERUN}`")
    lines = [
        f"# Final architectures of the search benchmark, trained from scratch ({data['epochs']} epochs, embedded task)",
        "",
        f"{data['workers']} training(s) at a time, one torch thread each, shared CPU; run of {data['date']}.",
        "",
    ]
    columns = ["agent", "seed", "supernet accuracy (validation)", "from-scratch test accuracy",
               "from-scratch validation accuracy", "latency (ms)", "train time (s)"]  # fmt: skip
    rows = [
        [r["agent"], r["seed"], f"{r['val_accuracy']:.4f}", f"{r['scratch_test_accuracy']:.4f}",
         f"{r['scratch_val_accuracy']:.4f}", f"{r['latency_ms']:.1f}", f"{r['train_time_s']:.0f}"]
        for r in data["rows"]
    ]  # fmt: skip
    lines += results_io.table(columns, rows, spaced=True)
    means = []
    for agent in dict.fromkeys(r["agent"] for r in data["rows"]):
        accs = [r["scratch_test_accuracy"] for r in data["rows"] if r["agent"] == agent]
        means.append([agent, f"{statistics.mean(accs):.4f}"])
    lines += ["", *results_io.table(["agent", "mean from-scratch test accuracy"], means, spaced=True)]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Train, write the JSON and render the markdown from it."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1, help="trainings at a time, in separate processes")
    parser.add_argument("--search", type=Path, default=RESULTS / "proxylessnas_search.json")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for proxylessnas_retrain.json / .md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = search_rows(args.search)
    archs = [row["architecture"] for row in rows]
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
            outcomes = list(pool.map(train_one, archs, [args.epochs] * len(archs)))
    else:
        outcomes = [train_one(a, args.epochs) for a in archs]
    keep = ("agent", "seed", "architecture", "val_accuracy", "latency_ms")
    data = {
        "epochs": args.epochs,
        "workers": args.workers,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "rows": [
            {
                **{k: row[k] for k in keep},
                "scratch_test_accuracy": test,
                "scratch_val_accuracy": val,
                "train_time_s": seconds,
            }
            for row, (test, val, seconds) in zip(rows, outcomes, strict=True)
        ],
    }
    text = render(data)
    print(text)
    results_io.write(args.out / "proxylessnas_retrain.json", data, args.out / "proxylessnas_retrain.md", text)


if __name__ == "__main__":
    main()
