"""Benchmark: train the final architectures of ``proxylessnas_search.py`` from scratch and compare with the supernet.

Reads ``benchmarks/results/proxylessnas_search.json``, trains every final architecture from scratch on the embedded
task (``--epochs``, the same schedule for all, one torch thread) and prints its validation accuracy beside the
supernet-path accuracy the search saw, its Mobile latency and the training time, then the mean per agent.

    python benchmarks/proxylessnas_retrain.py [--epochs 10] [--workers 1]

``--workers N`` trains N architectures at a time in separate processes (one torch thread each); the train times are
then measured with N trainings sharing the machine.

Not a test: it measures and prints. Results: ``benchmarks/results/proxylessnas_retrain.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def train_one(architecture: str, epochs: int) -> tuple[float, float]:
    """Trains one architecture from scratch with one torch thread; returns its validation accuracy and train time."""
    torch.set_num_threads(1)
    from hwenvs.data import load_task
    from hwenvs.nas.architecture import Architecture
    from hwenvs.nas.retrain import RetrainConfig, train_from_scratch

    arch = Architecture.from_string(architecture)
    _, acc, seconds = train_from_scratch(arch, load_task("mnist"), config=RetrainConfig(epochs=epochs), progress=False)
    return acc, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1, help="trainings at a time, in separate processes")
    parser.add_argument("--search", type=Path, default=RESULTS / "proxylessnas_search.json")
    parser.add_argument("--out", type=Path, default=RESULTS / "proxylessnas_retrain.md")
    args = parser.parse_args()
    torch.set_num_threads(1)

    rows = json.loads(args.search.read_text())
    lines = [
        f"# Final architectures of the search benchmark, trained from scratch ({args.epochs} epochs, embedded task)",
        "",
        f"{args.workers} training(s) at a time, one torch thread each, shared CPU.",
        "",
        "| agent | seed | supernet accuracy | from-scratch accuracy | Mobile latency (ms) | train time (s) |",
        "| --- " * 6 + "|",
    ]
    scratch: dict[str, list[float]] = {}

    def record(results: Iterator[tuple[float, float]]) -> None:
        for row, (acc, seconds) in zip(rows, results, strict=True):
            scratch.setdefault(row["agent"], []).append(acc)
            line = (
                f"| {row['agent']} | {row['seed']} | {row['accuracy']:.4f} | {acc:.4f} | {row['latency_ms']:.1f} | "
                f"{seconds:.0f} |"
            )
            print(line, flush=True)
            lines.append(line)

    if args.workers > 1:
        with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(train_one, row["architecture"], args.epochs) for row in rows]
            record(future.result() for future in futures)
    else:
        record(train_one(row["architecture"], args.epochs) for row in rows)
    lines += ["", "| agent | mean from-scratch accuracy |", "| --- | --- |"]
    lines += [f"| {agent} | {statistics.mean(accs):.4f} |" for agent, accs in scratch.items()]
    text = "\n".join(lines)
    print("\n" + text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
