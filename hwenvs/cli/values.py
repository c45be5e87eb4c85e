"""Argument types for the ``hwenvs`` command line: numbers checked when they are parsed, so that a value no command
can use (``--lr nan``, ``--epochs inf``, ``--num-classes 0``, ``--validate -1``) is refused before any work with the
option's name and what is valid, instead of being accepted and ending in a NaN checkpoint, "nan cycles", a silent
no-op or a third party's traceback.

Each factory returns a callable for ``argparse``'s ``type=``; it raises ``argparse.ArgumentTypeError``, which
argparse reports as ``argument --lr: must be ...`` (one line: see :class:`OneLineParser`).
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from hwenvs.envs.checks import integer_range


class UsageError(Exception):
    """A mistake in what the user asked for (an option, a value, a file or folder), shown as one line, exit code 2.

    Sub-commands raise it where an exception type alone cannot tell a user's mistake from a bug (a ``TypeError``
    from checking ``--env-kwarg`` values, an ``OSError`` from probing ``--out``). It lives here, beside the value
    checks that raise it, and ``hwenvs.cli.main`` re-exports it (where the sub-commands import it from).
    """


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, ``hwenvs <command>: error: <problem> (see --help)``, as every
    other user error of the command (argparse's usage block above it named no problem, and pushed it off screen)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def integer(low: int | None = None, high: int | None = None, why: str = "") -> Callable[[str], int]:
    """An integer option in ``low..high``.

    :param low: smallest allowed value (None: no bound).
    :param high: largest allowed value (None: no bound).
    :param why: what the bound is for, added to the message.
    """
    valid = integer_range(low, high) + (f" ({why})" if why else "")

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {valid}, got {text!r}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {valid}, got {text!r}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its own messages
    return parse


def real(
    low: float | None = None, high: float | None = None, low_open: bool = False, why: str = ""
) -> Callable[[str], float]:
    """A finite real option in ``[low, high]`` (``(low, high]`` with ``low_open``); ``nan`` and ``inf`` are refused.

    :param low: smallest allowed value (None: no bound).
    :param high: largest allowed value (None: no bound).
    :param low_open: ``low`` itself is not allowed.
    :param why: what the bound is for, added to the message.
    """
    if low is None:
        valid = "a finite number" if high is None else f"a finite number <= {high:g}"
    elif high is None:
        valid = f"a number {'>' if low_open else '>='} {low:g} (finite)"
    else:
        valid = f"a number in {'(' if low_open else '['}{low:g}, {high:g}]"
    valid += f" ({why})" if why else ""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {valid}, got {text!r}") from None
        too_low = low is not None and (value < low or (low_open and value == low))
        too_high = high is not None and value > high
        if not math.isfinite(value) or too_low or too_high:
            raise argparse.ArgumentTypeError(f"must be {valid}, got {text!r}")
        return value

    parse.__name__ = "real"
    return parse


def check_output_file(path: Path, option: str = "--out") -> None:
    """Check before any work that a command can write its output file at ``path`` (found after minutes of
    fine-tuning or training, it was a traceback, or torch's internal message for a folder).

    :param path: the file to be written.
    :param option: the option that gave it, for the message.
    :raises UsageError: ``path`` is a folder, its folder does not exist or cannot be written.
    """

    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder; give the path of the file to write (e.g. {path / 'net.pt'})")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: its folder {folder} does not exist; create it first or choose another path")
    probe = folder / f".hwenvs-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"{option} {path}: its folder {folder} cannot be written: {exc.strerror or exc}") from exc


def check_output_folder(path: Path, option: str = "--out") -> None:
    """Check before any work that a command can write into the folder ``path`` (created if missing): a file there,
    or a folder that cannot be written, was found when the results were written, after the work.

    :param path: the folder to write into.
    :param option: the option that gave it, for the message.
    :raises UsageError: ``path`` is a file, or cannot be created or written.
    """
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path} is a file, not a folder; give a folder (it is created if missing)")
    probe = path / f".hwenvs-write-test-{os.getpid()}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"{option} {path} is not a writable folder: {exc.strerror or exc}") from exc
