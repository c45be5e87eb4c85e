"""Entry point of the ``hwenvs`` console script.

Each sub-command lives in its own module of this package and exposes ``add_parser(subparsers)``, which registers its
arguments and sets ``func`` (called with the parsed namespace, returning an exit code). Modules are imported only
when the command line is parsed, so ``import hwenvs`` stays cheap.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

SUBCOMMAND_MODULES = (
    "hwenvs.cli.hardware",
    "hwenvs.cli.search",
    "hwenvs.cli.evaluate",
    "hwenvs.cli.finetune",
    "hwenvs.cli.nas",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every sub-command."""
    from hwenvs import __version__

    parser = argparse.ArgumentParser(prog="hwenvs", description="Hardware-aware neural-network design environments.")
    parser.add_argument("--version", action="version", version=f"hwenvs {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, KeyError) as exc:
        print(f"hwenvs {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
