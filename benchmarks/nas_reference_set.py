"""Build the from-scratch reference set of the ProxylessNAS space on Fashion-MNIST
(:mod:`hwenvs.lab.nas_reference_set`).

    OMP_NUM_THREADS=1 python benchmarks/nas_reference_set.py run        # train what is missing, resumable
    python benchmarks/nas_reference_set.py datasheet                   # rewrite the datasheet from the rows
    python benchmarks/nas_reference_set.py plan                        # print the queue and what is done

``run`` trains the plan's trainings in queue order with one torch thread, appending one JSON line per finished
(architecture, seed) to ``results/nas_reference/fashion-mnist.jsonl`` and rewriting its datasheet
(``fashion-mnist.md``) after each; killed, it resumes at the next unfinished training. The Mobile latency table is
read from ``$HWENVS_REFERENCE_DATA`` (default: the shared copy next to the repository, when present) and the CPU
table is measured on first use; targets that cannot load here are left out of the rows and named in the log.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import results_io

from hwenvs.lab.nas_reference_set import PlanConfig, Regime, pending, plan, read_rows, run, write_datasheet

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "nas_reference" / "fashion-mnist.jsonl"
DEFAULTS = Regime(num_train=57872, epochs=1, stem_stride=1, zero_init=True)
"""The reference set's recipe: every training image outside validation and calibration seen once, stem stride 1,
residual blocks starting as the identity (in the pilot, without them the shallowest network beat deeper ones with
stem stride 2 on 12,000 images x 10 epochs and on 57,872 x 6, and with stem stride 1 on 57,872 x 1)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("run", "datasheet", "plan"))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the JSON Lines file (datasheet: .md beside)")
    parser.add_argument("--num-train", type=int, default=DEFAULTS.num_train, help="training images")
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
    parser.add_argument("--width-mult", type=float, default=DEFAULTS.width_mult)
    parser.add_argument("--stem-stride", type=int, default=DEFAULTS.stem_stride, choices=(1, 2))
    parser.add_argument(
        "--zero-init", action=argparse.BooleanOptionalAction, default=DEFAULTS.zero_init, help="residual init"
    )
    parser.add_argument("--limit", type=int, default=None, help="stop after this many trainings")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    return parser


def regenerate_command(args: argparse.Namespace) -> str:
    """The ``run`` command that resumes this file with these options (defaults left out)."""
    words = ["python", "benchmarks/nas_reference_set.py", "run"]
    if args.out.resolve() != DEFAULT_OUT:
        words += ["--out", str(args.out)]
    for flag, value, default in (
        ("--num-train", args.num_train, DEFAULTS.num_train),
        ("--epochs", args.epochs, DEFAULTS.epochs),
        ("--width-mult", args.width_mult, DEFAULTS.width_mult),
        ("--stem-stride", args.stem_stride, DEFAULTS.stem_stride),
    ):
        if value != default:
            words += [flag, str(value)]
    if args.zero_init != DEFAULTS.zero_init:
        words.append("--zero-init" if args.zero_init else "--no-zero-init")
    return "OMP_NUM_THREADS=1 " + shlex.join(words)


def main(argv: list[str] | None = None) -> None:
    """Run one of the commands."""
    args = _parser().parse_args(argv)
    regime = Regime(
        num_train=args.num_train,
        width_mult=args.width_mult,
        epochs=args.epochs,
        stem_stride=args.stem_stride,
        zero_init=args.zero_init,
    )
    config = PlanConfig()
    command = regenerate_command(args)
    if args.command == "datasheet":
        print(write_datasheet(args.out, command))
        return
    if args.command == "plan":
        rows = read_rows(args.out).rows
        todo = {(j.architecture, j.seed) for j in pending(plan(config), rows)}
        for job in plan(config):
            mark = " " if (job.architecture, job.seed) in todo else "x"
            print(f"[{mark}] {job.index:3d} seed {job.seed} {job.stratum:<18} {job.architecture}")
        return
    import torch

    torch.set_num_threads(args.threads)
    used = results_io.use_shared_reference_data()
    print(f"reference data: {used or 'fetched from upstream'}", flush=True)

    def log(line: str) -> None:
        print(line, flush=True)

    run(
        args.out,
        regime,
        config,
        limit=args.limit,
        on_row=lambda _row: write_datasheet(args.out, command),
        log=log,
    )
    print(write_datasheet(args.out, command), flush=True)


if __name__ == "__main__":
    sys.exit(main())
