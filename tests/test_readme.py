"""The README's two set-up commands stay runnable: CI runs the test command verbatim, and the search command
names a registered environment, a known agent and options the CLI accepts."""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

import gymnasium as gym
import pytest

import hwenvs  # noqa: F401  (registers the environments)
from hwenvs.agents.registry import AGENTS
from hwenvs.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    """The bash code blocks at the top of README.md, before its first section."""
    top = (ROOT / "README.md").read_text().split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", top, flags=re.S)]


def test_two_commands_at_the_top():
    commands = readme_commands()
    assert len(commands) == 2, commands
    assert all(c.startswith("pip install torch==2.14.1 torchvision==0.29.1 && ") for c in commands)


def test_ci_runs_the_readme_test_command():
    test_command = readme_commands()[1]
    assert "pytest" in test_command
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_main_job_is_a_valid_search():
    search = readme_commands()[0].split(" && ")[-1]
    argv = shlex.split(search)
    assert argv[:2] == ["hwenvs", "search"]
    args = build_parser().parse_args(argv[1:])
    assert args.env_id in gym.registry
    assert args.agent in AGENTS


def test_five_line_example_runs(capsys):
    """The README's first Python example, executed as written (one episode on the embedded task)."""
    top_python = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)[0]
    exec(compile(top_python, "README.md", "exec"), {})
    accuracy, cost_ratio = capsys.readouterr().out.split()[:2]
    assert 0 <= float(accuracy) <= 1 and float(cost_ratio) <= 0.5 + 1e-9


def benchmark_bullets() -> list[tuple[str, str]]:
    """``(script stem, text)`` of each bullet of the README's Benchmarks section that opens with a script's name."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Benchmarks\n", 1)[1].split("\n## ", 1)[0]
    bullets = []
    for bullet in re.split(r"\n- ", section)[1:]:
        bullets += [(stem, bullet) for stem in re.findall(r"^`(\w+)\.py`", bullet)]
    return bullets


def test_benchmark_figures_in_the_readme_come_from_their_results_files() -> None:
    bullets = benchmark_bullets()
    assert len(bullets) >= 10
    for stem, text in bullets:
        assert (ROOT / "benchmarks" / f"{stem}.py").is_file(), f"the README describes benchmarks/{stem}.py: missing"
        results = "".join(
            p.read_text() for p in (ROOT / "benchmarks" / "results").glob(f"{stem}.*") if p.suffix in (".md", ".txt")
        )
        quoted = [n.lstrip("+") for n in re.findall(r"(?<![\w.])[+-]?\d+\.\d+", text)]
        unsourced = [n for n in quoted if n not in results]
        assert not unsourced, f"README quotes {unsourced} for {stem}.py, which benchmarks/results/{stem}.* do not hold"


def test_agent_tables_are_what_agent_suite_renders() -> None:
    results = ROOT / "benchmarks" / "results" / "agent_suite.json"
    if not results.is_file():
        pytest.skip("no benchmarks/results/agent_suite.json yet: run benchmarks/agent_suite.py")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import agent_suite

    tables = agent_suite.readme_tables(json.loads(results.read_text()))
    assert tables in (ROOT / "README.md").read_text(), "copy agent_suite.md's tables into the README unchanged"


def test_agent_results_prose_quotes_the_agent_suite() -> None:
    results = ROOT / "benchmarks" / "results" / "agent_suite.md"
    if not results.is_file():
        pytest.skip("no benchmarks/results/agent_suite.md yet: run benchmarks/agent_suite.py")
    section = (ROOT / "README.md").read_text().split("**Results** (", 1)[1].split("**Ray.**", 1)[0]
    quoted = re.findall(r"(?<![\w.])\d+\.\d+", section)
    assert quoted, "the README's agent results quote no figures"
    unsourced = [n for n in quoted if n not in results.read_text()]
    assert not unsourced, f"README's agent results quote {unsourced}, not in benchmarks/results/agent_suite.md"
