"""The README is a front page whose two set-up commands stay runnable: CI runs the test command verbatim, the search
command names a registered environment, a known agent and options the CLI accepts, and says what it is doing before
its first episode. Its headline figures come from their results file and its links resolve. (The checks that tie the
documentation's prose to the generated results are in ``tests/test_docs.py``.)"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import gymnasium as gym
import pytest

import hwenvs  # noqa: F401  (registers the environments)
from hwenvs.agents.registry import AGENTS
from hwenvs.benchmark import budget
from hwenvs.cli.main import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def readme_commands() -> list[str]:
    """The bash code blocks at the top of README.md, before its first section."""
    top = README.read_text().split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", top, flags=re.S)]


def readme_section(title: str) -> str:
    """The text of the README's ``## title`` section."""
    return README.read_text().split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


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
    top_python = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)[0]
    exec(compile(top_python, "README.md", "exec"), {})
    accuracy, cost_ratio = capsys.readouterr().out.split()[:2]
    assert 0 <= float(accuracy) <= 1 and float(cost_ratio) <= 0.5 + 1e-9


def test_main_job_says_what_it_does_before_its_first_episode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Between ``pip install`` and the first progress bar a search builds the environment and scores the reference
    points: it says so, in that order, before the reference points are measured and before the first episode."""
    from hwenvs.envs.proxylessnas_env import ProxylessNASEnv

    measure = ProxylessNASEnv.reference_points

    def reference_points(self: ProxylessNASEnv) -> list:
        print("<reference points measured>")
        return measure(self)

    monkeypatch.setattr(ProxylessNASEnv, "reference_points", reference_points)
    argv = ["search", "ProxylessNAS-BISMO", "--agent", "random", "--episodes", "1", "--out", str(tmp_path / "s"),
            "--no-progress", "--no-plot", "--env-kwarg", "val_batch_size=50"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    order = [
        "building ProxylessNAS-BISMO, val_batch_size=50...",
        "built in ",
        "mnist task, 1,000 validation and 1,000 test images",
        "scoring the reference points (uniform k3e3, the best uniform architecture) on validation and test, then 1 "
        "episodes of random",
        "<reference points measured>",
        "finished 1 episodes",
    ]
    positions = [printed.find(text) for text in order]
    assert -1 not in positions, printed
    assert positions == sorted(positions), printed


def test_readme_is_a_front_page() -> None:
    """At most about 150 lines, and every relative link names a file of the repository."""
    text = README.read_text()
    assert len(text.splitlines()) <= 150
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if not re.match(r"\w+:", link)]
    assert any(link.startswith("docs/") for link in local), "the README links into the documentation site"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"


def _headline_block() -> tuple[str, str]:
    """The README's headline: (the agent suite's generated table between its markers, the hand-written rest)."""
    import agent_suite

    begin, end = agent_suite.HEADLINE
    headline = readme_section("Headline result")
    assert headline.count(begin) == 1 and headline.count(end) == 1, "the headline's generated table has its markers"
    head, rest = headline.split(begin)
    block, tail = rest.split(end)
    return block.strip("\n"), head + tail


def test_headline_table_is_the_agent_suites_from_its_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's headline table is what ``agent_suite.py`` writes from the committed JSON (every Fashion-MNIST
    row of the default suite, with how far each has run), not a copy that can go stale."""

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import agent_suite

    data = json.loads((ROOT / "benchmarks" / "results" / "agent_suite.json").read_text())
    block, _ = _headline_block()
    assert block == agent_suite.readme_headline(data).rstrip()
    assert block.startswith("- **haq-mbv2-bismo-fmnist**: HAQ-MobileNetV2-BISMO")


def test_headline_table_rewrites_only_between_its_markers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import agent_suite

    monkeypatch.setattr(agent_suite, "RUNS", tmp_path / "runs")  # no row has run, or resolved its budget
    budgets = agent_suite.row_folder(agent_suite.RUNS, "haq-mbv2-bitfusion-energy-fmnist") / "budgets"
    budgets.mkdir(parents=True)
    resolution = {
        "format": budget.RESOLUTION_FORMAT,
        "preserve_ratio": 0.95,
        "table": [{"preserve_ratio": 0.9, "best_uniform": "4/4"}, {"preserve_ratio": 0.95, "best_uniform": "4/5"}],
    }
    (budgets / "haq-mbv2-bitfusion-energy-fmnist.json").write_text(json.dumps(resolution))
    begin, end = agent_suite.HEADLINE
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{begin}\nstale table\n{end}\nafter\n")
    agent_suite.write_readme_headline({"suite": None}, readme)
    text = readme.read_text()
    assert "stale table" not in text and text.startswith("# x\n\nbefore\n") and text.endswith(f"{end}\nafter\n")
    assert "- **haq-mbv2-bismo-fmnist**: HAQ-MobileNetV2-BISMO (constraint=latency): not started." in text
    assert (  # a row whose budget rule has been applied says what it resolved to before any search runs
        "- **haq-mbv2-bitfusion-energy-fmnist**: HAQ-MobileNetV2-BitFusion (constraint=energy); budget "
        "preserve_ratio=0.95 (its rule, applied on validation; start 4/5): not started." in text
    )
    readme.write_text("# no markers\n")
    with pytest.raises(SystemExit, match="headline markers"):
        agent_suite.write_readme_headline({"suite": None}, readme)
    assert readme.read_text() == "# no markers\n"  # nothing a user wrote is lost


def test_headline_figures_come_from_their_results_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every figure of the README's headline outside the generated table is in the results file it links (no number
    copied by hand)."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    _, headline = _headline_block()
    sources = re.findall(r"\((benchmarks/results/[\w.]+\.md)\)", headline)
    assert sources, "the headline links its results file"
    results = "".join((ROOT / source).read_text() for source in sources)
    quoted = [n.lstrip("+") for n in re.findall(r"(?<![\w.])[+-]?\d+\.\d+", headline)]
    assert quoted, "the headline quotes no figures"
    unsourced = [n for n in quoted if n not in results]
    assert not unsourced, f"README's headline quotes {unsourced}, not in {sources}"


def test_a_headline_cell_reads_gain_wins_and_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import agent_suite

    images = {"gain_mean": [0.0216, 0.0156, 0.0280], "paired": {"wins": 7, "losses": 1, "ties": 2}, "start_runs": 3}
    cell = agent_suite._headline_cell({"all": {"runs": 10, "images": images}})
    assert cell == "+2.16 [+1.56, +2.80]; 7/1/2; 3/10"
    assert agent_suite._headline_cell(None) == "-"  # an agent that does not run on that row
    assert agent_suite._headline_cell({"all": {"runs": 10}}) == "n/a"  # a row without per-image outcomes


def _interval(values: list[float]) -> str:
    return "{:.3f} [{:.3f}, {:.3f}]".format(*values)


@pytest.mark.parametrize("page", ["README.md", "docs/environments/proxylessnas.md"])
def test_the_shipped_supernets_rank_correlation_is_stated(page: str) -> None:
    """The README and the ProxylessNAS page give the rank correlation of the supernet Fashion-MNIST ships (its
    manifest entry's, so shipping another supernet fails here until the text follows) beside the seed-to-seed
    ceiling, and every figure of that paragraph is in the results file or datasheet it links."""

    manifest = json.loads((ROOT / "hwenvs" / "nas" / "weights" / "manifest.json").read_text())
    ranking = manifest["fashion-mnist/w0.35"]["rank_correlation"]
    paragraph = next(p for p in (ROOT / page).read_text().split("\n\n") if "supernet_recipes.md" in p)
    assert _interval(ranking["spearman"]) in paragraph
    assert _interval(ranking["ceiling_spearman"]) in paragraph
    sources = "".join(
        (ROOT / "benchmarks" / "results" / "supernet_recipes.md").read_text()
        + (ROOT / "hwenvs" / "surrogate" / "data" / "nas-w0.35-mnist.md").read_text()
    )
    quoted = re.findall(r"(?<![\w.])-?\d+\.\d+", paragraph)
    unsourced = [n for n in quoted if n not in sources]
    assert not unsourced, f"{page} quotes {unsourced} beside the supernet's rank correlation, not in its sources"
