"""Results files of the benchmarks: a generated part, rendered from the run's JSON, and an optional hand-written
reading after it.

Every benchmark script writes ``results/NAME.json`` (what it measured) and renders ``results/NAME.md`` (or ``.txt``)
from that JSON alone with its ``render(data) -> str``, so ``tests/test_results_files.py`` can regenerate the text from
the committed JSON and compare. A person may append a reading under :data:`READING_HEADING`; a rerun keeps it (and
says when its figures are no longer in the new tables), and every decimal number in it must appear in the generated
part of the same file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

READING_HEADING = "## Reading (hand-written)"
"""The line that starts the hand-written part of a results file; everything before it is generated."""

DECIMAL = re.compile(r"(?<!\w)(?<!(?<!\.)\.)[-+]?\d+\.\d+(?!\.?\d)")
"""A number with a decimal point, not part of a word or of a version string (``2.14.1``); both ends of a range
(``0.88..1.02``) count."""


class StaleResults(ValueError):
    """A results JSON written by an older version of its script lacks what the current ``render`` needs."""


def split(text: str) -> tuple[str, str]:
    """(generated part, hand-written reading including its heading; empty if none)."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.rstrip() == READING_HEADING:
            return "".join(lines[:i]).rstrip() + "\n", "".join(lines[i:])
    return text.rstrip() + "\n", ""


def decimals(text: str) -> list[str]:
    """The decimal numbers in ``text`` as written (sign dropped), in order."""
    return [m.group().lstrip("+-") for m in DECIMAL.finditer(text)]


def missing_numbers(text: str) -> list[str]:
    """Decimal numbers of the reading that the generated part of the same file does not contain."""
    generated, reading = split(text)
    known = set(decimals(generated))
    return [n for n in dict.fromkeys(decimals(reading)) if n not in known]


def require(data: dict[str, Any], keys: tuple[str, ...], what: str, rerun: str) -> None:
    """Fail clearly (:class:`StaleResults`) if ``data`` lacks any of ``keys``: rendering must not guess them."""
    absent = [k for k in keys if k not in data]
    if absent:
        raise StaleResults(f"{what} has no {', '.join(absent)}: it was written by an older script; rerun `{rerun}`")


def write(json_path: Path, data: dict[str, Any], text_path: Path, generated: str) -> list[str]:
    """Write the run's JSON and its results text, keeping an existing hand-written reading after the new generated
    part; returns the reading's decimal numbers that the new generated part lacks (the reading needs rewriting)."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(data, indent=1) + "\n")
    reading = split(text_path.read_text())[1] if text_path.exists() else ""
    text = generated.rstrip() + "\n" + (f"\n{reading}" if reading else "")
    text_path.write_text(text)
    stale = missing_numbers(text)
    if stale:
        print(f"{text_path}: the hand-written reading quotes {stale}, not in the new tables: rewrite it")
    return stale


SHARED_REFERENCE_DATA = Path(__file__).resolve().parents[2] / "shared" / "reference-data"
"""The shared copies of the published tables next to the repository (this machine cannot download them)."""


def use_shared_reference_data() -> str | None:
    """Point hwenvs at :data:`SHARED_REFERENCE_DATA` unless ``$HWENVS_REFERENCE_DATA`` is set; returns the folder
    in use (None: hwenvs fetches from upstream), for the results to record."""
    import os

    if "HWENVS_REFERENCE_DATA" not in os.environ and SHARED_REFERENCE_DATA.is_dir():
        os.environ["HWENVS_REFERENCE_DATA"] = str(SHARED_REFERENCE_DATA)
    return os.environ.get("HWENVS_REFERENCE_DATA")


def table(
    headers: Sequence[str], rows: Iterable[Sequence[object] | str], align: str | None = None, spaced: bool = False
) -> list[str]:
    """A Markdown table's lines: the header, the separator, then a line per row (cells as ``str`` gives them).

    Every benchmark script renders its tables with it. The results files hold two separator styles, so both are
    kept byte for byte: ``|---|---:|`` (the default) and ``| --- | ---: |`` (``spaced``). An empty column title is
    written ``| |``, an empty cell ``|  |``, as the committed files have them.

    :param headers: the column titles.
    :param rows: the cells of each row, as many as ``headers``; a ``str`` is a whole line written as it is (a row
        that spans the columns, such as a configuration that was skipped).
    :param align: one letter per column, ``l`` (``---``) or ``r`` (``---:``, right-aligned); default all ``l``.
    :param spaced: the ``| --- |`` separator style.
    :raises ValueError: a row or ``align`` of another width than ``headers``.
    """
    align = align or "l" * len(headers)
    if len(align) != len(headers) or set(align) - {"l", "r"}:
        raise ValueError(f"align {align!r}: one of l, r per column ({len(headers)} columns)")
    marks = ["---:" if a == "r" else "---" for a in align]
    separator = "| " + " | ".join(marks) + " |" if spaced else "|" + "".join(f"{m}|" for m in marks)
    lines = ["|" + "|".join(f" {title} " if title else " " for title in headers) + "|", separator]
    for cells in rows:
        if isinstance(cells, str):
            lines.append(cells)
            continue
        if len(cells) != len(headers):
            raise ValueError(f"a row of {len(cells)} cells under {len(headers)} columns: {list(cells)}")
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return lines
