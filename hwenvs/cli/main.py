"""Entry point of the ``hwenvs`` console script.

Each sub-command lives in its own module of this package and exposes ``add_parser(subparsers)``, which registers its
arguments and sets ``func`` (called with the parsed namespace, returning an exit code). Modules are imported only
when the command line is parsed, so ``import hwenvs`` stays cheap.

A user's mistake never shows a traceback: :data:`USER_ERRORS` (a bad argument or value, a missing or unwritable
file, a corrupt cached file) are printed as one line, ``hwenvs <command>: error: <what was wrong>``, with exit code
2, as argparse reports a bad option. Anything else is a bug and keeps its traceback; ``--debug`` (anywhere on the
command line) shows the traceback of a user error too.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from hwenvs.reference_data import ChecksumError


class UsageError(Exception):
    """A mistake in what the user asked for (an option, a value, a file or folder), shown as one line, exit code 2.

    Sub-commands raise it where an exception type alone cannot tell a user's mistake from a bug (a ``TypeError``
    from checking ``--env-kwarg`` values, an ``OSError`` from probing ``--out``).
    """


USER_ERRORS: tuple[type[BaseException], ...] = (
    UsageError,
    ValueError,  # every argument and file check in hwenvs (CorruptCacheError and ResultFileError are ValueErrors)
    KeyError,
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
    ChecksumError,
)
"""What is a user's mistake, shown as one line; anything else is a bug and keeps its traceback."""


def error_message(exc: BaseException) -> str:
    """``exc`` as the one line shown after ``error:``.

    :param exc: a user error.
    """
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc  # KeyError's str() is its repr
    message = " ".join(str(text).split())
    if isinstance(exc, ChecksumError):
        message += "; that copy is corrupt or not the published file: delete it and run again to fetch it afresh"
    return message


SUBCOMMAND_MODULES = (
    "hwenvs.cli.hardware",
    "hwenvs.cli.search",
    "hwenvs.cli.evaluate",
    "hwenvs.cli.finetune",
    "hwenvs.cli.nas",
    "hwenvs.cli.benchmark",
    "hwenvs.cli.bench_data",
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
    _add_debug_flag(parser, top=True)
    return parser


def _add_debug_flag(parser: argparse.ArgumentParser, top: bool = False) -> None:
    """``--debug`` on ``parser`` and every sub-command below it, so it works anywhere on the command line."""
    parser.add_argument(
        "--debug",
        action="store_true",
        default=False if top else argparse.SUPPRESS,  # a sub-command must not reset what the top level set
        help="show the full traceback of an error instead of a one-line message",
    )
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _add_debug_flag(sub)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code (2 for a user error, shown as one line)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        if args.debug:
            raise
        print(f"hwenvs {args.command}: error: {error_message(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    # run the package's module, not this __main__ copy, so that the UsageError sub-commands raise is the one caught
    from hwenvs.cli.main import main as package_main

    sys.exit(package_main())
