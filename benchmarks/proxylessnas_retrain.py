"""Benchmark: train the final architectures of ``proxylessnas_search.py`` from scratch and compare with the supernet.

Reads ``benchmarks/results/proxylessnas_search.json``, trains every final architecture from scratch on the embedded
task (``--epochs``, the same schedule for all, one torch thread) and prints its validation accuracy beside the
supernet-path accuracy the search saw, its Mobile latency and the training time, then the mean per agent.

    python benchmarks/proxylessnas_retrain.py [--epochs 10]

Not a test: it measures and prints. Results: ``benchmarks/results/proxylessnas_retrain.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--search", type=Path, default=RESULTS / "proxylessnas_search.json")
    parser.add_argument("--out", type=Path, default=RESULTS / "proxylessnas_retrain.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from hwenvs.data import load_task
    from hwenvs.nas.architecture import Architecture
    from hwenvs.nas.retrain import RetrainConfig, train_from_scratch

    rows = json.loads(args.search.read_text())
    task = load_task("mnist")
    lines = [
        f"# Final architectures of the search benchmark, trained from scratch ({args.epochs} epochs, embedded task)",
        "",
        "| agent | seed | supernet accuracy | from-scratch accuracy | Mobile latency (ms) | train time (s) |",
        "| --- " * 6 + "|",
    ]
    scratch: dict[str, list[float]] = {}
    for row in rows:
        arch = Architecture.from_string(row["architecture"])
        _, acc, seconds = train_from_scratch(arch, task, config=RetrainConfig(epochs=args.epochs), progress=False)
        scratch.setdefault(row["agent"], []).append(acc)
        line = (
            f"| {row['agent']} | {row['seed']} | {row['accuracy']:.4f} | {acc:.4f} | {row['latency_ms']:.1f} | "
            f"{seconds:.0f} |"
        )
        print(line, flush=True)
        lines.append(line)
    lines += ["", "| agent | mean from-scratch accuracy |", "| --- | --- |"]
    lines += [f"| {agent} | {statistics.mean(accs):.4f} |" for agent, accs in scratch.items()]
    text = "\n".join(lines)
    print("\n" + text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
