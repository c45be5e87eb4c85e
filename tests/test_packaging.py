"""Packaging that coexists with other distributions, and a module graph without import cycles."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"hwenvs": ROOT / "hwenvs", "hwenvs.agents": ROOT / "agents"}
"""Import prefix -> the folder it is installed from (pyproject's package-dir maps agents/ to hwenvs.agents)."""


def _modules() -> dict[str, Path]:
    """Every module of the distribution by import name."""
    modules = {}
    for prefix, folder in SOURCES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = [p for p in path.relative_to(folder).with_suffix("").parts if p != "__init__"]
            modules[".".join([prefix, *parts])] = path
    return modules


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The distribution's modules that ``name`` imports, at module level or deferred inside a function (a deferred
    import that closes a cycle is still a cycle: it only works because of the order the modules load in)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    # imports under `if TYPE_CHECKING:` are for annotations: they never run, so they close no cycle at import time
    # (tests/test_layers.py still reads them as arrows between layers)
    typing_only = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
        for stmt in node.body
        for child in ast.walk(stmt)
    }
    targets = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            targets.add(module)
            targets.update(f"{module}.{alias.name}" for alias in node.names)
    found = set()
    for target in targets:
        while target and target not in MODULES:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for child in sorted(graph[node]):
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_import_cycles() -> None:
    graph = {name: _imports(name, path) for name, path in MODULES.items()}
    assert "hwenvs.nas.latency_tables" in graph["hwenvs.nas.measure_latency"]  # the graph sees real imports
    assert _cycles(graph) == []


def test_every_module_imports_in_a_fresh_interpreter() -> None:
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    result = subprocess.run([sys.executable, "-c", code, *sorted(MODULES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_pyproject_lists_every_package() -> None:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = {name for name, path in MODULES.items() if path.name == "__init__.py"}
    assert set(config["packages"]) == packages
    assert config["package-dir"] == {"hwenvs.agents": "agents"}


@pytest.mark.slow
def test_the_wheel_installs_no_top_level_module_but_hwenvs(tmp_path: Path) -> None:
    # build from a copy: setuptools leaves build/ in the source tree, and a stale one would leak into later wheels
    source = tmp_path / "src"
    skip = shutil.ignore_patterns(".git", "build", "*.egg-info", "runs", "__pycache__", ".*_cache", "benchmarks")
    shutil.copytree(ROOT, source, ignore=skip)
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)]
    subprocess.run([*build, str(source)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("hwenvs-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"hwenvs"}
    assert "hwenvs/agents/ddpg.py" in names and "hwenvs/py.typed" in names
    assert {f"hwenvs/zoo/hyperparams/{algo}.yml" for algo in ("td3", "sac", "ppo")} <= set(names)
    assert any(n.startswith("hwenvs/models/weights/") and n.endswith(".pt") for n in names)
