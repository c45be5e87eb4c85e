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
    parser.add_argument("--count", type=int, default=10_000, help="distinct rows wanted, at least (default: 10000)")
    parser.add_argument("--workers", type=int, default=1, help="processes, one torch thread each (default: 1)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: the package's data folder)")
    parser.add_argument("--cache", type=Path, default=None, help="chunk cache root (default: $HWENVS_CACHE/surrogate)")
    parser.add_argument("--seed", type=int, default=0, help="generation seed (default: 0)")
    parser.add_argument("--chunk-size", type=int, default=100, help="rows per chunk and episodes per search")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    haq = parser.add_argument_group("haq")
    haq.add_argument("--model", default="mobilenet_v2", help="mobilenet_v2, resnet18 or mobilenet_v1")
    haq.add_argument("--min-bits", type=int, default=2)
    haq.add_argument("--max-bits", type=int, default=8)
    nas = parser.add_argument_group("nas")
    nas.add_argument("--width-mult", type=float, default=0.35, help="the supernet's width multiplier")
    nas.add_argument("--val-batch-size", type=int, default=1000, help="images scoring each architecture")
    nas.add_argument("--scratch", type=int, default=0, metavar="N", help="train N architectures from scratch")
    nas.add_argument(
        "--scratch-epochs", type=int, default=None, help="epochs of each (default: 10, as `hwenvs nas train`)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate the dataset; print where it went."""
    from hwenvs.cli.main import UsageError
    from hwenvs.surrogate.dataset import DATA_DIR

    if args.workers < 1:
        raise UsageError(f"--workers must be a positive integer, got {args.workers}")
    out = args.out if args.out is not None else DATA_DIR
    common = {"count": args.count, "seed": args.seed, "chunk_size": args.chunk_size}
    options = {"out": out, "cache": args.cache, "workers": args.workers, "progress": not args.no_progress}
    if args.kind == "haq":
        from hwenvs.surrogate.haq_dataset import HAQConfig, generate_haq

        config = HAQConfig(args.model, args.dataset, min_bits=args.min_bits, max_bits=args.max_bits, **common)
        path = generate_haq(config, **options)
    else:
        from hwenvs.surrogate.nas_dataset import SCRATCH_EPOCHS, NASConfig, generate_nas

        epochs = args.scratch_epochs if args.scratch_epochs is not None else SCRATCH_EPOCHS
        config = NASConfig(
            args.dataset, args.width_mult, args.val_batch_size, scratch=args.scratch, scratch_epochs=epochs, **common
        )
        path = generate_nas(config, **options)
    print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0
