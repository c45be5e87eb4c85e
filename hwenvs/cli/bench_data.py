"""``hwenvs bench-data``: generate (or resume) a surrogate dataset: real environment evaluations of many bit
allocations (``haq``) or architectures (``nas``), with their costs, a manifest entry and a datasheet.

* ``hwenvs bench-data haq [--model mobilenet_v2] [--dataset mnist] [--count 10000] [--workers 2]``
* ``hwenvs bench-data nas [--dataset mnist] [--width-mult 0.35] [--count 10000] [--scratch 300]``

Work is cut into chunks (``--chunk-size`` rows) kept under ``--cache``: a killed run started again with the same
arguments resumes where it stopped, and a run asking for more rows reuses every row already computed. The same
arguments and seed give the same rows. The file goes to ``--out`` (default: the package's own data folder, where
``hwenvs.surrogate.dataset.load_haq_dataset`` / ``load_nas_dataset`` read it).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hwenvs.cli import values

KIND_OPTIONS: dict[str, dict[str, Any]] = {
    "haq": {"model": "mobilenet_v2", "min_bits": 2, "max_bits": 8},
    "nas": {"width_mult": 0.35, "val_batch_size": 1000, "scratch": 0, "scratch_epochs": None},
}
"""Each kind's own options and their defaults: given to the other kind, an option would do nothing."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``hwenvs bench-data``."""
    parser = subparsers.add_parser(
        "bench-data",
        help="generate (or resume) a surrogate dataset of real evaluations",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=("haq", "nas"), help="HAQ bit allocations or ProxylessNAS architectures")
    parser.add_argument("--dataset", default="mnist", help="task name: mnist or fashion-mnist (default: mnist)")
    parser.add_argument(
        "--count", type=values.integer(1), default=10_000, help="distinct rows wanted, at least (default: 10000)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="processes, one torch thread each (default: 1; checked in run())"
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: the package's data folder)")
    parser.add_argument("--cache", type=Path, default=None, help="chunk cache root (default: $HWENVS_CACHE/surrogate)")
    parser.add_argument("--seed", type=values.integer(0), default=0, help="generation seed, >= 0 (default: 0)")
    parser.add_argument(
        "--chunk-size", type=values.integer(1), default=100, help="rows per chunk and episodes per search"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    haq = parser.add_argument_group("haq")
    # defaults None: run() tells an option given to the other kind (refused) from one left out (its default)
    haq = parser.add_argument_group("haq (only with KIND haq)")
    haq.add_argument("--model", default=None, help="mobilenet_v2 (default), resnet18 or mobilenet_v1")
    # 2..8: the range HAQConfig takes (1 passed here and was refused there, in other words)
    haq.add_argument("--min-bits", type=values.integer(2, 8), default=None, help="2..8, default 2")
    haq.add_argument("--max-bits", type=values.integer(2, 8), default=None, help="2..8, default 8")
    nas = parser.add_argument_group("nas (only with KIND nas)")
    nas.add_argument(
        "--width-mult", type=values.real(0.0, 2.0, low_open=True), default=None, help="the supernet's width (0.35)"
    )
    nas.add_argument(
        "--val-batch-size", type=values.integer(2), default=None, help="images scoring each architecture (1000)"
    )
    nas.add_argument(
        "--scratch", type=values.integer(0), default=None, metavar="N", help="train N architectures from scratch"
    )
    nas.add_argument(
        "--scratch-epochs",
        type=values.integer(1),
        default=None,
        help="epochs of each (default: 10, as `hwenvs nas train`)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate the dataset; print where it went."""
    from hwenvs.cli.main import UsageError
    from hwenvs.surrogate.dataset import DATA_DIR

    if args.workers < 1:
        raise UsageError(f"--workers must be a positive integer, got {args.workers}")
    other = "nas" if args.kind == "haq" else "haq"
    given = ["--" + name.replace("_", "-") for name in KIND_OPTIONS[other] if getattr(args, name) is not None]
    if given:
        raise UsageError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to `bench-data {other}` only, "
                         f"not to `bench-data {args.kind}`")  # fmt: skip
    if args.kind == "nas" and args.scratch_epochs is not None and not args.scratch:
        raise UsageError(
            f"--scratch-epochs {args.scratch_epochs} sets the epochs of the --scratch trainings, and none is asked "
            "for; add --scratch N (N architectures trained from scratch) or leave --scratch-epochs out"
        )
    for name, default in KIND_OPTIONS[args.kind].items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    out = args.out if args.out is not None else DATA_DIR
    values.check_output_folder(out)  # written after hours of generation: a file or a read-only folder is found now
    common = {"count": args.count, "seed": args.seed, "chunk_size": args.chunk_size}
    options = {"out": out, "cache": args.cache, "workers": args.workers, "progress": not args.no_progress}
    if args.kind == "haq":
        from hwenvs.lab.surrogate_data.haq import HAQConfig, generate_haq

        haq = HAQConfig(args.model, args.dataset, min_bits=args.min_bits, max_bits=args.max_bits, **common)
        path = generate_haq(haq, **options)
    else:
        from hwenvs.lab.surrogate_data.nas import SCRATCH_EPOCHS, NASConfig, generate_nas

        epochs = args.scratch_epochs if args.scratch_epochs is not None else SCRATCH_EPOCHS
        nas = NASConfig(
            args.dataset, args.width_mult, args.val_batch_size, scratch=args.scratch, scratch_epochs=epochs, **common
        )
        path = generate_nas(nas, **options)
    print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0
