"""Sphinx configuration of hwenvs's documentation site (furo theme, MyST Markdown pages, autodoc API reference).

Build with ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (what ``.ci/run`` runs). Before the pages
are read, this file writes ``docs/_generated/`` (git ignores it) from the package and the repository, so no figure is
copied by hand:

* one page per results file in ``benchmarks/results/`` (``*.md`` included as MyST, ``*.txt`` as a literal block),
  found by globbing, so a new benchmark's results appear on the Results pages without editing the docs (into
  ``docs/results/generated/``, which git ignores too);
* the table of registered environment ids (from Gymnasium's registry);
* each environment class's docstring card (Description, Action Space, ... Version History), as Markdown;
* the ``--help`` of every ``hwenvs`` sub-command;
* the API reference: one page per sub-package, an ``automodule`` for each of its modules (found by walking the
  package, so a new module is documented without editing the docs).
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
GENERATED = DOCS / "_generated"
RESULT_PAGES_DIR = DOCS / "results" / "generated"
RESULTS = ROOT / "benchmarks" / "results"

RESULT_PAGES = {"agent_suite": "results/agents", "reproduction": "results/reproduction"}
"""Results files that have a page of their own (with a reading); every other one gets a generated page."""

sys.path.insert(0, str(ROOT))

import hwenvs  # noqa: E402  (after the path: the source tree's package when it is not installed)

project = "hwenvs"
author = "The hwenvs developers"
copyright = "The hwenvs developers, MIT licence"
release = hwenvs.__version__
version = release

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx_copybutton"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
# _generated/*.md are included into pages (ids, cards, tables, CLI help), not pages of their own; the API pages below
# _generated/api/ are pages
exclude_patterns = ["_build", "_generated/*.md"]
myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
myst_heading_anchors = 4  # [text](page.md#a-heading) links resolve, and a wrong anchor is a warning
suppress_warnings = [
    # The results files and datasheets are rendered for GitHub, where a page may jump from "#" to "###" and a file
    # may hold several "#" titles; included here unchanged, they are the one source of their numbers.
    "myst.header",
]
nitpicky = True  # every cross-reference must resolve (a missing page, label or documented object is an error)
nitpick_ignore_regex = [
    # Types of other libraries in signatures and docstrings: without intersphinx (the build uses no network) they
    # cannot resolve; hwenvs's own names still must.
    ("py:.*", r"(np|numpy|torch|gym|gymnasium|optuna|ray|sklearn|scipy|matplotlib|yaml|tqdm)(\..*)?"),
    ("py:.*", r"(stable_baselines3|sb3_contrib)(\..*)?"),
    ("py:.*", r"(Path|PathLike|os\.PathLike|pathlib\.Path|argparse\..*|collections\.abc\..*|typing\..*|Any|Callable)"),
    ("py:.*", r"(abc\.ABC|platform|nn\..*)"),  # the standard library, and torch.nn as the docstrings abbreviate it
]

html_theme = "furo"
html_title = f"hwenvs {release}"
html_static_path: list[str] = []
html_show_sourcelink = False

autodoc_member_order = "bysource"
autodoc_mock_imports = ["ray"]  # hwenvs.rllib and the Ray backend import it; building the site needs no Ray
autodoc_typehints = "description"
# A package's __all__ re-exports classes its modules define: document each object once, where it is defined, so that
# a cross-reference has one target
autodoc_default_options = {"members": True, "show-inheritance": False, "ignore-module-all": True}


# -- generated pages ---------------------------------------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    """Write ``text`` only if it changed (Sphinx rebuilds pages whose sources are newer)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _script_summary(stem: str) -> str:
    """The first sentence of ``benchmarks/<stem>.py``'s docstring, or ''."""
    script = ROOT / "benchmarks" / f"{stem}.py"
    if not script.is_file():
        return ""
    doc = ast.get_docstring(ast.parse(script.read_text())) or ""
    first = " ".join(doc.split("\n\n", 1)[0].split())
    return first.removeprefix("Benchmark: ")


def results_pages() -> list[str]:
    """One page per results file (``benchmarks/results/<stem>.md`` or ``.txt``) without a page of its own."""
    stems = []
    for path in sorted(RESULTS.glob("*.md")) + sorted(RESULTS.glob("*.txt")):
        stem = path.stem
        if stem in RESULT_PAGES or stem in stems:
            continue
        stems.append(stem)
        source = f"`benchmarks/{stem}.py`" if (ROOT / "benchmarks" / f"{stem}.py").is_file() else "its benchmark"
        note = (
            f"\n\n```{{admonition}} Where this comes from\nWritten by {source} into `benchmarks/results/{path.name}`"
            " from the JSON beside it (a test regenerates the file from that JSON and compares), and shown here as "
            "committed. A part headed *Reading (hand-written)* is the authors' reading; every number in it appears "
            "in the generated part.\n```\n"
        )
        rel = os.path.relpath(path, RESULT_PAGES_DIR)
        if path.suffix == ".md":
            body = f"```{{include}} {rel}\n:relative-images:\n```\n"
        else:
            title = _script_summary(stem) or stem
            body = f"# {stem}: {title.rstrip('.')}\n\n```{{literalinclude}} {rel}\n:language: text\n```\n"
        _write(RESULT_PAGES_DIR / f"{stem}.md", body + note)
    for stale in (RESULT_PAGES_DIR).glob("*.md"):
        if stale.stem not in stems:
            stale.unlink()
    return stems


def id_tables() -> None:
    """``_generated/ids-haq.md`` and ``_generated/ids-nas.md``: every registered id with its registered keywords."""
    import gymnasium as gym

    from hwenvs.registration import HAQ_LAYERS

    haq = ["| id | model | hardware | layers | `max_episode_steps` |", "|---|---|---|---:|---:|"]
    nas = ["| id | latency target (`hardware`) | `max_episode_steps` |", "|---|---|---:|"]
    for env_id, spec in gym.registry.items():
        kwargs = spec.kwargs
        if env_id.startswith("HAQ-"):
            model = kwargs["model"]
            haq.append(
                f"| `{env_id}` | `{model}` | `{kwargs['hardware']}` | {HAQ_LAYERS[model]} | {spec.max_episode_steps} |"
            )
        elif env_id.startswith("ProxylessNAS-"):
            nas.append(f"| `{env_id}` | `{kwargs['hardware']}` | {spec.max_episode_steps} |")
    _write(GENERATED / "ids-haq.md", "\n".join(haq) + "\n")
    _write(GENERATED / "ids-nas.md", "\n".join(nas) + "\n")


def _defined_at(name: str, context: str) -> str:
    """The dotted path where the object ``name`` (absolute, or as seen from module ``context``) is defined."""
    import importlib

    candidates = [(context, name)] + ([tuple(name.rsplit(".", 1))] if "." in name else [])
    for module_name, attribute in candidates:
        try:
            obj = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError):
            continue
        return f"{obj.__module__}.{obj.__qualname__}"
    return name


ROLE = re.compile(r":(meth|class|func|mod|data|attr|exc|obj):`(~?)([^`]+)`")


def docstring_card(cls: type, name: str) -> None:
    """``_generated/card-<name>.md``: the class docstring's Gymnasium-style sections as MyST Markdown.

    The docstrings are reST with Markdown section titles (``## Action Space``); inline literals become Markdown code
    and roles become MyST roles, names without a dot qualified by the class (``:meth:`bits_to_action```).
    """
    import inspect

    doc = inspect.cleandoc(cls.__doc__ or "")
    qualified = f"{cls.__module__}.{cls.__qualname__}"

    def role(match: re.Match[str]) -> str:
        kind, tilde, target = match.groups()
        if "." not in target and kind in ("meth", "attr"):
            target, tilde = f"{qualified}.{target}", "~"
        elif kind in ("class", "func", "exc"):  # where the object is defined, which is where autodoc documents it
            target, tilde = _defined_at(target, cls.__module__), "~"
        return f"{{py:{kind}}}`{tilde}{target}`"

    text = ROLE.sub(role, doc)
    text = re.sub(r"``([^`]+)``", r"`\1`", text)
    _write(GENERATED / f"card-{name}.md", text + "\n")


def cli_reference() -> None:
    """``_generated/cli.md``: ``hwenvs --help`` and every sub-command's, as printed at 100 columns."""
    from hwenvs.cli.main import build_parser

    os.environ["COLUMNS"] = "100"
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    parts = ["## `hwenvs`", "", "```text", parser.format_help().rstrip(), "```", ""]
    for name, sub in subparsers.choices.items():
        help_text = sub.format_help().rstrip()
        parts += [f"## `hwenvs {name}`", "", "```text", help_text, "```", ""]
        nested = [a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction"]
        for action in nested:
            for child, child_parser in action.choices.items():
                parts += [f"### `hwenvs {name} {child}`", "", "```text", child_parser.format_help().rstrip(), "```", ""]
    _write(GENERATED / "cli.md", "\n".join(parts))


API_GROUPS = {
    "envs": ("Environments", ["hwenvs", "hwenvs.registration", "hwenvs.envs"]),
    "agents": ("Agents and the search pipeline", ["hwenvs.agents"]),
    "benchmark": ("Benchmarking", ["hwenvs.benchmark"]),
    "hardware": ("Hardware models", ["hwenvs.hardware"]),
    "nas": ("ProxylessNAS search space, supernet and latency", ["hwenvs.nas"]),
    "quant": ("Quantization", ["hwenvs.quant"]),
    "data": ("Tasks, models and weights", ["hwenvs.data", "hwenvs.models", "hwenvs.weights", "hwenvs.training"]),
    "surrogate": ("Surrogate mode", ["hwenvs.surrogate"]),
    "lab": ("The lab: offline builders", ["hwenvs.lab"]),
    "integrations": ("RLlib, the RL Zoo, the CLI and utilities", [
        "hwenvs.rllib", "hwenvs.zoo", "hwenvs.cli", "hwenvs.cache", "hwenvs.reference_data", "hwenvs.compat",
        "hwenvs.deprecation",
    ]),
}  # fmt: skip
"""API pages: name -> (title, the modules and packages it documents, packages with every module below them)."""


def _modules(name: str) -> list[str]:
    """``name`` and, for a package, every module below it (``__main__`` modules left out)."""
    import importlib
    import pkgutil

    module = importlib.import_module(name)
    found = [name]
    if hasattr(module, "__path__") and name != "hwenvs":  # the top package: its own members only
        found += [m.name for m in pkgutil.walk_packages(module.__path__, f"{name}.") if not m.name.endswith("__main__")]
    return found


def api_pages() -> None:
    """``_generated/api/<group>.md`` for every group of :data:`API_GROUPS`."""
    for group, (title, names) in API_GROUPS.items():
        modules = [m for name in names for m in _modules(name)]
        body = [f"# {title}", ""]
        for module in modules:
            body += [f"## `{module}`", "", "```{eval-rst}", f".. automodule:: {module}", "```", ""]
        _write(GENERATED / "api" / f"{group}.md", "\n".join(body))


def weights_table() -> None:
    """``_generated/weights.md``: the shipped weights and their accuracies, read from the two sha256 manifests."""
    import json

    models = json.loads((ROOT / "hwenvs" / "models" / "weights" / "manifest.json").read_text())
    lines = [
        "| model | task | float test accuracy | float validation accuracy | epochs | file |",
        "|---|---|---:|---:|---:|---|",
    ]
    for key, entry in sorted(models.items()):
        model, task = key.split("/")
        test = entry.get("float_test_accuracy", "-")
        epochs = entry.get("train_config", {}).get("epochs", "-")
        lines.append(f"| `{model}` | `{task}` | {test} | {entry['float_accuracy']} | {epochs} | `{entry['file']}` |")
    supernets = json.loads((ROOT / "hwenvs" / "nas" / "weights" / "manifest.json").read_text())
    lines += [
        "",
        "| supernet | task | sampled paths | path test accuracy (min-max) | path validation accuracy (min-max) |"
        " warm-up epochs | file |",
        "|---|---|---:|---|---|---:|---|",
    ]

    def span(stats: dict | None) -> str:
        return f"{stats['min']:.4f}-{stats['max']:.4f}" if stats else "-"

    for key, entry in sorted(supernets.items()):
        task, width = key.split("/")
        val, test = entry.get("sampled_path_accuracy"), entry.get("sampled_path_test_accuracy")
        epochs = entry.get("warmup_config", {}).get("epochs", "-")
        lines.append(
            f"| width {width.lstrip('w')} | `{task}` | {val['paths'] if val else '-'} | {span(test)} | {span(val)} | "
            f"{epochs} | `{entry['file']}` |"
        )
    _write(GENERATED / "weights.md", "\n".join(lines) + "\n")


def agents_table() -> None:
    """``_generated/agents.md``: every agent ``--agent NAME`` accepts, with its class and docstring summary."""
    import importlib
    import inspect

    from hwenvs.agents.registry import AGENTS

    lines = ["| `--agent` | class | what it is |", "|---|---|---|"]
    for name, target in AGENTS.items():
        module_name, class_name = target.split(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        summary = " ".join(inspect.cleandoc(cls.__doc__ or "").split("\n\n", 1)[0].split())
        summary = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", summary).replace("``", "`").replace("|", "\\|")
        lines.append(f"| `{name}` | {{py:class}}`~{module_name}.{class_name}` | {summary} |")
    _write(GENERATED / "agents.md", "\n".join(lines) + "\n")


def agent_suite_parts() -> None:
    """``_generated/agent_suite-tables.md`` and ``agent_suite-report.md``: ``benchmarks/results/agent_suite.md`` cut
    where its benchmark report starts (the first ``# Benchmark`` title), so the agents page shows the summary tables
    first and the report after its reading, each once. Images point back at the results folder."""
    source = RESULTS / "agent_suite.md"
    text = source.read_text() if source.is_file() else "No results of benchmarks/agent_suite.py yet.\n"
    text = re.sub(r"\]\((?!\w+:)([^)]+\.png)\)", r"](../../benchmarks/results/\1)", text)
    cut = re.search(r"^# Benchmark", text, flags=re.M)
    tables, report = (text[: cut.start()], text[cut.start() :]) if cut else ("", text)
    tables = re.sub(r"\A# .*\n", "", tables)  # the file's own title: the page has its own
    _write(GENERATED / "agent_suite-tables.md", tables)
    _write(GENERATED / "agent_suite-report.md", report)


def generate() -> None:
    """Write everything under ``_generated/``."""
    from hwenvs.envs.haq_env import HAQEnv
    from hwenvs.envs.proxylessnas_env import ProxylessNASEnv

    with contextlib.redirect_stdout(io.StringIO()):
        results_pages()
        id_tables()
        docstring_card(HAQEnv, "haq")
        docstring_card(ProxylessNASEnv, "nas")
        cli_reference()
        api_pages()
        weights_table()
        agents_table()
        agent_suite_parts()


generate()


# -- autodoc: the package's docstrings use Markdown section titles in reST --------------------------------------------


def _markdown_titles_to_rubrics(app, what, name, obj, options, lines: list[str]) -> None:
    """Docstrings such as the environments' say ``## Action Space`` (Gymnasium's card format); in reST that is a
    paragraph of hashes, so render it as a rubric (a title that does not break the class's section structure)."""
    for i, line in enumerate(lines):
        match = re.fullmatch(r"(\s*)#{1,4} (.+)", line)
        if match:
            lines[i] = f"{match.group(1)}.. rubric:: {match.group(2)}"


def _lenient_in_api_pages(app, domain, node) -> bool | None:
    """Let Python cross-references in the API pages miss without a warning; everywhere else nitpicky holds.

    The API pages render every module's docstrings and type hints as their authors wrote them, which name objects
    relative to their own module (``:class:`HAQEnv```), type aliases (``Mode``) and private classes that autodoc does
    not document. Such a reference renders as code instead of a link. The guide pages, the generated cards and the
    results pages are held to nitpicky: a reference there that does not resolve fails the build.
    """
    doc = node.get("refdoc", "") or ""
    if domain is not None and domain.name == "py" and doc.startswith("_generated/api/"):
        return True
    return None


def _absolute_values_are_not_substitutions(app, what, name, obj, options, lines: list[str]) -> None:
    """``max |w|`` (hwenvs.quant.linear) is an absolute value, which reST would read as a substitution reference."""
    for i, line in enumerate(lines):
        lines[i] = re.sub(r"(?<![`\\])\|(\w)\|", r"\\|\1\\|", line)


def setup(app) -> None:
    app.connect("autodoc-process-docstring", _markdown_titles_to_rubrics)
    app.connect("autodoc-process-docstring", _absolute_values_are_not_substitutions)
    app.connect("warn-missing-reference", _lenient_in_api_pages)
