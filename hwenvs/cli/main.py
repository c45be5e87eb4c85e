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
import contextlib
import errno
import importlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence

from hwenvs.cli.values import OneLineParser, UsageError
from hwenvs.reference_data import ChecksumError

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

_CAUGHT: tuple[type[BaseException], ...] = (*USER_ERRORS, OSError)
"""What :func:`main` catches: a user's mistake, or an OSError (shown as one line only where it is the machine's)."""


DISK_ERRNOS = frozenset(
    code for code in (errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM) if code
)
"""Errors of the machine, not of hwenvs: a full disk or quota, a read-only or forbidden folder. Shown as one line
(what could not be written, and what to do), not as a bug's traceback."""

RESUME_HINTS = {
    "search": "run the same command again with --resume to continue from the last checkpoint",
    "benchmark": "run the same command again: finished trials are kept",
}
"""What to do after a write failed midway, by command (default: run it again)."""


def disk_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a full disk, a quota or a folder that cannot be written (see :data:`DISK_ERRNOS`).

    :param exc: any exception.
    """
    return isinstance(exc, OSError) and exc.errno in DISK_ERRNOS


def error_message(exc: BaseException, command: str = "") -> str:
    """``exc`` as the one line shown after ``error:``.

    :param exc: a user error.
    :param command: the sub-command, for the remedy of a write that failed midway.
    """
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc  # KeyError's str() is its repr
    if disk_error(exc):
        assert isinstance(exc, OSError)
        reason = exc.strerror or str(exc)
        where = "" if exc.filename is None or str(exc.filename) in reason else f": {exc.filename}"
        # a full disk happens only when writing; a permission error names a write only through cache.write_error
        if exc.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG) or reason.startswith("cannot write"):
            remedy = RESUME_HINTS.get(command, "run the command again")
            return f"{reason}{where}; what was written before is intact: free space or fix the folder, then {remedy}"
        return f"{reason}{where}"
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

    # sub-command parsers take the class of their parent: every level reports a bad option in one line
    parser = OneLineParser(prog="hwenvs", description="Hardware-aware neural-network design environments.")
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


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM stops the command as Ctrl-C does: it raises ``KeyboardInterrupt``, so a search
    writes its results with status ``interrupted`` and can be resumed, and a benchmark keeps its finished trials.

    SIGTERM is what ``kill``, ``timeout``, schedulers (Slurm, Kubernetes) and ``docker stop`` send; by default it
    ended the process at once, between two files. Worker processes forked meanwhile inherit the handler, so there it
    restores the default and ends the worker as before (their parent decides what is kept). Only the main thread can
    set a handler: elsewhere (a command run from a thread) the block runs without it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()

    def interrupt(signum: int, frame: object) -> None:
        if os.getpid() != owner:  # a forked worker: end as SIGTERM always did
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise KeyboardInterrupt(f"signal {signum} (SIGTERM)")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code (2 for a user error, shown as one line; 130 after
    Ctrl-C or SIGTERM)."""
    args = build_parser().parse_args(argv)
    try:
        with sigterm_as_interrupt():
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except _CAUGHT as exc:
        if args.debug or not (isinstance(exc, USER_ERRORS) or disk_error(exc)):
            raise  # --debug, or an OSError that is not the machine's (a bug)
        print(f"hwenvs {args.command}: error: {error_message(exc, args.command)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    # run the package's module, not this __main__ copy, so that the UsageError sub-commands raise is the one caught
    from hwenvs.cli.main import main as package_main

    sys.exit(package_main())
