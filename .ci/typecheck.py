"""mypy over hwenvs/ and agents/, with agents/ checked as the package it installs as, ``hwenvs.agents``.

pyproject.toml maps the repository's top-level ``agents/`` folder to ``hwenvs.agents`` (``package-dir``). mypy finds
modules by path: it would check ``agents/base.py`` as a top-level ``agents.base`` and fail to resolve
``from hwenvs.agents.base import Agent`` (setuptools' editable install maps the package with an import hook, which
static tools do not run). This runs mypy's command line with one change: every source under ``agents/`` is named
``hwenvs.agents.*``, and agents/ is always among the sources, so that imports of ``hwenvs.agents`` resolve to it.
Everything else (the options, [tool.mypy] from pyproject.toml, the messages, the exit status) is mypy's.

    python .ci/typecheck.py                       # what CI runs: hwenvs/ and agents/
    python .ci/typecheck.py hwenvs/cli/main.py    # some files (agents/ comes along)
"""

from __future__ import annotations

import os
import sys
import time

from mypy import build, util
from mypy.errors import CompileError
from mypy.fscache import FileSystemCache
from mypy.main import process_options
from mypy.modulefinder import BuildSource

AGENTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "agents")


def _agents_module(path: str) -> str | None:
    """``hwenvs.agents.<dotted path>`` for a file under agents/, else None."""
    relative = os.path.relpath(os.path.abspath(path), AGENTS)
    if relative.startswith(os.pardir) or not relative.endswith(".py"):
        return None
    parts = relative[: -len(".py")].split(os.sep)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["hwenvs", "agents", *parts])


def _sources(sources: list[BuildSource]) -> list[BuildSource]:
    """The sources with every agents/ file named ``hwenvs.agents.*``, each file once."""
    by_file: dict[str, BuildSource] = {}
    for source in sources:
        module = _agents_module(source.path) if source.path else None
        if module is not None:
            source.module = module
        by_file.setdefault(os.path.abspath(source.path) if source.path else source.module, source)
    return list(by_file.values())


def main(args: list[str]) -> int:
    """mypy's command line (mypy.main.main's flow, which cannot be patched: mypy is compiled) on renamed sources."""
    started = time.time()
    fscache = FileSystemCache()
    sources, _ = process_options(args, require_targets=False, fscache=fscache)
    # no files named: hwenvs/ and agents/; else agents/ comes along, or `import hwenvs.agents...` would not resolve
    extra = ["hwenvs"] if not sources else []
    sources, options = process_options([*args, *extra, os.path.relpath(AGENTS)], fscache=fscache)
    sources = _sources(sources)
    options.fast_exit = False
    formatter = util.FancyFormatter(sys.stdout, sys.stderr, options.hide_error_codes)
    messages: list[str] = []

    def flush_errors(filename: str | None, new_messages: list[str], serious: bool) -> None:
        messages.extend(new_messages)
        stream = sys.stderr if serious else sys.stdout
        for message in new_messages:
            stream.write((formatter.colorize(message) if options.color_output else message) + "\n")
        stream.flush()

    blockers = False
    try:
        build.build(sources, options, None, flush_errors, fscache, sys.stdout, sys.stderr)
    except CompileError:  # its messages went through flush_errors
        blockers = True
    n_errors, _notes, n_files = util.count_stats(messages)
    if n_errors:
        print(formatter.format_error(n_errors, n_files, len(sources), blockers=blockers))
    else:
        print(formatter.format_success(len(sources), options.color_output))
    print(f"({time.time() - started:.0f} s)", file=sys.stderr)
    return (2 if blockers else 1) if n_errors or blockers else 0


# from the repository's root: mypy reads [tool.mypy] from the current folder's pyproject.toml
if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
