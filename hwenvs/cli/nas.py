"""``hwenvs nas``: ProxylessNAS tools: latency tables, an architecture's latency, export, training from scratch.

* ``hwenvs nas latency-table --target cpu [--rebuild] [--validate 5]``: measure (or load) this machine's table, and
  time whole sampled networks end to end to print the table's error against them.
* ``hwenvs nas latency ARCH [--target mobile cpu ...]``: the deployed latency of an architecture on targets.
* ``hwenvs nas export ARCH --out net.pt [--weights supernet]``: a standalone torch module (fresh or supernet weights).
* ``hwenvs nas train ARCH [--dataset mnist] [--epochs 10] [--out net.pt]``: train from scratch, report accuracy and
  latency.

ARCH is the canonical string (``k3e3-zero-.../...``), JSON text, or a JSON file (an architecture's JSON form, or a
search's ``policy.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hwenvs.cli import values
from hwenvs.nas import latency_targets  # its function looked up when called: tests stub it there
from hwenvs.nas.architecture import Architecture, uniform


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``hwenvs nas`` and its sub-commands."""
    parser = subparsers.add_parser(
        "nas",
        help="ProxylessNAS tools: latency tables, export, training from scratch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="nas_command", metavar="NAS_COMMAND")
    sub.required = True

    table = sub.add_parser("latency-table", help="measure (or load) this machine's CPU / GPU latency table")
    table.add_argument("--target", choices=("cpu", "gpu"), default="cpu")
    table.add_argument("--rebuild", action="store_true", help="measure again even if cached")
    # the timing counts are checked by MeasureConfig when the table is asked for (one line, exit code 2)
    table.add_argument("--repeats", type=int, help="timed runs of each timing network (default: 40)")
    table.add_argument("--rounds", type=int, help="interleaved passes sharing the runs (default: 4)")
    table.add_argument("--warmup", type=int, help="untimed runs of each timing network (default: 3)")
    table.add_argument("--threads", type=int, help="CPU threads while timing (default: 1)")
    table.add_argument(
        "--validate",
        type=values.integer(0),
        default=5,
        metavar="N",
        help="time N sampled networks end to end (0: none)",
    )
    table.add_argument("--seed", type=values.integer(0), default=0, help="seed of the sampled networks (numpy's: >= 0)")
    table.set_defaults(func=run_latency_table)

    latency = sub.add_parser("latency", help="deployed latency of an architecture on latency targets")
    latency.add_argument("arch", metavar="ARCH")
    latency.add_argument("--target", nargs="+", default=["mobile", "bismo-edge", "bitfusion"])
    latency.set_defaults(func=run_latency)

    export = sub.add_parser("export", help="write an architecture as a standalone torch module")
    export.add_argument("arch", metavar="ARCH")
    export.add_argument("--out", type=Path, required=True, help="the .pt file to write")
    export.add_argument(
        "--weights",
        choices=("fresh", "supernet"),
        default="fresh",
        help="fresh initialisation, or the path's supernet weights (default: fresh)",
    )
    export.add_argument("--dataset", default="mnist", help="task of the supernet and of the network (default: mnist)")
    export.set_defaults(func=run_export)

    train = sub.add_parser("train", help="train an architecture from scratch; report accuracy and latency")
    train.add_argument("arch", metavar="ARCH")
    train.add_argument("--dataset", default="mnist", help="embedded task name or ImageFolder root (default: mnist)")
    train.add_argument("--epochs", type=values.integer(1), default=10)
    train.add_argument("--lr", type=values.real(0.0, low_open=True), default=0.05)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--target", nargs="+", default=["mobile"], help="latency targets to report")
    train.add_argument("--out", type=Path, default=None, help="also write the trained network here")
    train.add_argument("--no-progress", action="store_true")
    train.set_defaults(func=run_train)


def run_latency_table(args: argparse.Namespace) -> int:
    """Measure or load the table, then validate it end to end."""
    import numpy as np

    from hwenvs.lab.latency_validation import validate_table
    from hwenvs.nas.measure_latency import MeasureConfig, measured_table, table_path
    from hwenvs.nas.train_supernet import sample_architecture

    try:
        options = ("repeats", "warmup", "rounds", "threads")
        given = {k: getattr(args, k) for k in options if getattr(args, k) is not None}
        table = measured_table(args.target, rebuild=args.rebuild, **given)
        config = MeasureConfig(**given)
    except (RuntimeError, ValueError) as exc:  # no CUDA device for the GPU table, or bad counts
        print(f"hwenvs nas latency-table: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.target} table: {table_path(args.target, config=config)}")
    print(
        f"measured {table.meta.get('measured')} on {table.meta.get('device')}, batch {table.meta.get('batch')}, "
        f"{table.meta.get('threads')} thread(s); fixed part {table.fixed_ms:.2f} ms"
    )
    if args.validate > 0:
        rng = np.random.default_rng(args.seed)
        archs = [uniform("k3e3")] + [sample_architecture(rng) for _ in range(args.validate - 1)]
        rows = validate_table(table, archs, config)
        print(f"{'table ms':>9} {'measured ms':>12} {'error':>7}  architecture")
        for row in rows:
            print(f"{row['table_ms']:9.2f} {row['measured_ms']:12.2f} {row['error']:+7.1%}  {row['architecture']}")
        errors = np.abs([row["error"] for row in rows])
        print(f"mean |error| {errors.mean():.1%}, max {errors.max():.1%}", end="")
        if len(rows) > 2:
            # the search only needs the table to order networks as the machine does; load drift moves every
            # network alike and shows in the errors, not in the ranking
            from scipy.stats import spearmanr

            rho = spearmanr([row["table_ms"] for row in rows], [row["measured_ms"] for row in rows]).statistic
            print(f"; rank correlation (Spearman) {rho:.2f}", end="")
        print()
    return 0


def run_latency(args: argparse.Namespace) -> int:
    """Print the architecture's latency on each target."""

    arch = Architecture.parse(args.arch)
    for target in args.target:  # every name first: not a table printed, then a misspelt name's error
        latency_targets.check_target(target)
    print(arch)
    for target in args.target:
        print(f"{target:>12}: {latency_targets.load_latency_table(target).latency_ms(arch):9.3f} ms")
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Write the standalone module."""
    from hwenvs.data import load_task
    from hwenvs.nas.export import build_network, extract_subnet, save_network
    from hwenvs.nas.train_supernet import embedded_space, load_supernet

    values.check_output_file(args.out)
    arch = Architecture.parse(args.arch)
    task = load_task(args.dataset)
    if args.weights == "supernet":
        supernet = load_supernet(task)
        x = next(iter(task.val_batches(1000)))[0] if task.in_memory else task.calibration
        net = extract_subnet(supernet, arch, calibration=x)
    else:
        net = build_network(arch, embedded_space(task))
    save_network(net, args.out, {"weights": args.weights, "dataset": str(args.dataset)})
    params = sum(p.numel() for p in net.parameters())
    print(f"wrote {args.out}: {arch} ({params:,} parameters, {args.weights} weights)")
    return 0


def run_train(args: argparse.Namespace) -> int:
    """Train from scratch and report accuracy and latency."""
    from hwenvs.data import load_task
    from hwenvs.lab.retrain import RetrainConfig, train_from_scratch
    from hwenvs.nas.export import save_network

    if args.out is not None:
        values.check_output_file(args.out)  # before the training, not after it
    for target in args.target:  # their tables are read after the training: a misspelt one is refused first
        latency_targets.check_target(target)
    arch = Architecture.parse(args.arch)
    task = load_task(args.dataset)
    config = RetrainConfig(epochs=args.epochs, lr=args.lr, seed=args.seed)
    trained = train_from_scratch(arch, task, config=config, progress=not args.no_progress)
    latencies = {t: latency_targets.load_latency_table(t).latency_ms(arch) for t in args.target}
    print(
        f"{arch}\ntest accuracy {trained.test_accuracy:.4f} ({task.num_test} images; validation "
        f"{trained.val_accuracy:.4f}) after {args.epochs} epochs ({trained.seconds:.0f} s)"
    )
    for target, ms in latencies.items():
        print(f"{target:>12}: {ms:9.3f} ms (deployed: width 1, 224x224)")
    if args.out is not None:
        record = {
            "test_accuracy": trained.test_accuracy,
            "val_accuracy": trained.val_accuracy,
            "latency_ms": latencies,
            "train_config": json.dumps(vars(config)),
        }
        save_network(trained.net, args.out, record)
        print(f"wrote {args.out}")
    return 0
