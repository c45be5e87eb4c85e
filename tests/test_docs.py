"""The documentation site's sources: its prose quotes only figures that its results files hold, its results pages
include those files instead of copying them, its commands are the README's, and the checks CI runs on the built site
(``docs/check_links.py``, ``docs/check_browser.py``) catch what they are for. Building the site itself is CI's
(``.ci/run``: ``sphinx-build -W``)."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RESULTS = ROOT / "benchmarks" / "results"
GENERATED_DIRS = ("_generated", "_build", "results/generated")

sys.path.insert(0, str(DOCS))
import check_browser  # noqa: E402
import check_links  # noqa: E402

NUMBER = re.compile(r"(?<![\w.])[+-]?\d+\.\d+")


def pages() -> list[Path]:
    """The hand-written pages of the site (not what ``conf.py`` or Sphinx writes)."""
    found = sorted(DOCS.rglob("*.md"))
    return [p for p in found if not any(p.relative_to(DOCS).as_posix().startswith(g) for g in GENERATED_DIRS)]


def prose(text: str) -> str:
    """``text`` without fenced blocks (code, directives and what they include), inline code and link targets."""
    text = re.sub(r"^(`{3,}|:{3,}).*?^\1\s*$", "", text, flags=re.S | re.M)
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.sub(r"\]\([^)]*\)", "]", text)


def quoted(text: str) -> list[str]:
    """The decimal figures ``text`` quotes, signs dropped."""
    return [n.lstrip("+-") for n in NUMBER.findall(prose(text))]


def section(path: Path, title: str) -> str:
    """The text of ``path``'s ``## title`` section."""
    return path.read_text().split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def sources_named(text: str) -> list[Path]:
    """The results files and datasheets that ``text`` names: a results file by its stem (``quickstart_seeds``), a
    datasheet by its name (``nas-w0.35-mnist``; the NAS reference set's as ``nas-reference-fashion-mnist``)."""
    found = [p for p in [*RESULTS.glob("*.md"), *RESULTS.glob("*.txt")] if p.stem in text]
    found += [p for p in (ROOT / "hwenvs/surrogate/data").glob("*.md") if p.stem in text]
    found += [p for p in (RESULTS / "nas_reference").glob("*.md") if f"nas-reference-{p.stem}" in text]
    return found


def settings() -> set[str]:
    """Figures the pages quote as settings of the package, not as results: the significance level of every paired
    test and the warm-started CMA-ES's first step size."""
    from hwenvs.agents.blackbox import CmaEsConfig
    from hwenvs.benchmark.stats import SIGNIFICANCE

    return {str(SIGNIFICANCE), str(CmaEsConfig().warm_sigma)}


def test_every_figure_in_the_docs_prose_is_in_a_results_file_the_page_names() -> None:
    """No figure written by hand: every decimal number of a hand-written page (outside code) is one that a results
    file or datasheet *named on that page* holds (so a reader can follow it to its source), or a setting of the
    package. The readings of the agents page and the benchmarks page are checked against their own files below."""
    allowed = settings()
    unsourced = {}
    for page in pages():
        text = page.read_text()
        corpus = "".join(p.read_text() for p in sources_named(text))
        missing = [n for n in quoted(text) if n not in corpus and n not in allowed]
        if missing:
            unsourced[page.relative_to(DOCS).as_posix()] = missing
    assert not unsourced, f"figures that no results file named on their page holds: {unsourced}"


def benchmark_lines() -> list[tuple[str, str]]:
    """``(script stem, text)`` of each line of the 'Every benchmark' page that opens with a script's name."""
    text = (DOCS / "results" / "benchmarks.md").read_text().split("\n## ", 1)[0]
    lines = []
    for bullet in re.split(r"\n- ", text)[1:]:
        lines += [(stem, bullet) for stem in re.findall(r"^\[`(\w+)\.py`\]", bullet)]
    return lines


def test_benchmark_figures_in_the_docs_come_from_their_results_files() -> None:
    lines = benchmark_lines()
    assert len(lines) >= 10
    for stem, text in lines:
        assert (ROOT / "benchmarks" / f"{stem}.py").is_file(), f"the docs describe benchmarks/{stem}.py: missing"
        results = "".join(p.read_text() for p in RESULTS.glob(f"{stem}.*") if p.suffix in (".md", ".txt"))
        unsourced = [n for n in quoted(text) if n not in results]
        assert not unsourced, f"the docs quote {unsourced} for {stem}.py, which benchmarks/results/{stem}.* do not hold"


def test_every_benchmark_with_results_has_a_line() -> None:
    described = {stem for stem, _ in benchmark_lines()} | set(
        re.findall(r"\[`(\w+)\.py`\]", (DOCS / "results" / "benchmarks.md").read_text())
    )
    with_results = {p.stem for p in RESULTS.glob("*") if p.suffix in (".md", ".txt")}
    scripts = {p.stem for p in (ROOT / "benchmarks").glob("*.py")}
    missing = sorted((with_results & scripts) - described)
    assert not missing, f"benchmarks with results but no line on docs/results/benchmarks.md: {missing}"


def test_agent_results_prose_quotes_the_agent_suite() -> None:
    results = RESULTS / "agent_suite.md"
    if not results.is_file():
        pytest.skip("no benchmarks/results/agent_suite.md yet: run benchmarks/agent_suite.py")
    reading = section(DOCS / "results" / "agents.md", "Reading")
    figures = quoted(reading)
    assert figures, "the agent results' reading quotes no figures"
    unsourced = [n for n in figures if n not in results.read_text()]
    assert not unsourced, f"the agent results' reading quotes {unsourced}, not in benchmarks/results/agent_suite.md"


def test_agent_tables_are_included_not_copied() -> None:
    """The agent tables are agent_suite.md's, which agent_suite.py renders from its JSON: the page includes that
    file, cut in two by ``conf.py`` (so it shows the tables of whatever run is committed), and holds no table of its
    own."""
    page = (DOCS / "results" / "agents.md").read_text()
    assert "```{include} ../_generated/agent_suite-tables.md" in page
    assert "```{include} ../_generated/agent_suite-report.md" in page
    assert 'source = RESULTS / "agent_suite.md"' in (DOCS / "conf.py").read_text()
    assert not re.search(r"^\|.*\d\.\d+.*\|$", page, flags=re.M), "a results table copied into the page"
    data = RESULTS / "agent_suite.json"
    if not data.is_file():
        pytest.skip("no benchmarks/results/agent_suite.json yet: run benchmarks/agent_suite.py")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import agent_suite

    tables = agent_suite.readme_tables(json.loads(data.read_text()))
    assert tables in (RESULTS / "agent_suite.md").read_text(), "agent_suite.md does not hold the tables its JSON gives"


def test_results_pages_include_their_files() -> None:
    """The pages of their own (agent suite, reproduction) include their results file; every other results file gets
    a generated page (``conf.py``, by globbing ``benchmarks/results/``)."""
    conf = (DOCS / "conf.py").read_text()
    own = dict(re.findall(r'"(\w+)": "(results/\w+)"', conf.split("RESULT_PAGES = ", 1)[1].split("\n", 1)[0]))
    assert set(own) == {"agent_suite", "reproduction"}
    for stem, page in own.items():
        assert f"benchmarks/results/{stem}.md" in (DOCS / f"{page}.md").read_text()
    assert 'RESULTS.glob("*.md")' in conf and 'RESULTS.glob("*.txt")' in conf


def test_getting_started_has_the_readme_commands_and_example() -> None:
    readme = (ROOT / "README.md").read_text()
    page = (DOCS / "getting-started.md").read_text()
    top = readme.split("\n## ", 1)[0]
    for command in re.findall(r"```bash\n(.*?)```", top, flags=re.S):
        assert command.strip() in page
    example = re.findall(r"```python\n(.*?)```", readme, flags=re.S)[0]
    assert example in page


def test_every_id_agent_and_command_is_documented() -> None:
    """Every environment id is in its family's generated table, every built-in agent in the agents page's, every
    sub-command in the CLI reference: all three are generated from the package, so a page names each."""
    conf = (DOCS / "conf.py").read_text()
    assert "gym.registry.items()" in conf and "AGENTS.items()" in conf and "subparsers.choices.items()" in conf
    assert "_generated/ids-haq.md" in (DOCS / "environments" / "haq.md").read_text()
    assert "_generated/ids-nas.md" in (DOCS / "environments" / "proxylessnas.md").read_text()
    assert "_generated/agents.md" in (DOCS / "agents.md").read_text()
    assert "_generated/cli.md" in (DOCS / "cli.md").read_text()


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    """What ``docs/conf.py`` writes into ``docs/_generated/`` (it writes it when loaded, as Sphinx loads it), by file
    name, with the hand-written pages that include each."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("hwenvs_docs_conf", DOCS / "conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {p.name: p.read_text() for p in (DOCS / "_generated").glob("*.md")}


def included(name: str) -> bool:
    """Whether a hand-written page includes ``_generated/<name>``."""
    return any(f"_generated/{name}" in page.read_text() for page in pages())


def test_every_registered_id_has_a_row_on_its_familys_page(generated: dict[str, str]) -> None:
    import gymnasium as gym

    import hwenvs  # noqa: F401  (registers the environments)

    ids = [i for i, spec in gym.registry.items() if str(spec.entry_point).startswith("hwenvs.")]
    assert len(ids) >= 14
    tables = {name: text for name, text in generated.items() if name.startswith("ids-")}
    assert tables and all(included(name) for name in tables), "an id table that no page includes"
    missing = [i for i in ids if not any(f"| `{i}` |" in text for text in tables.values())]
    assert not missing, f"registered ids with no row in a generated id table (docs/conf.py's id_tables): {missing}"


def test_every_agent_has_a_row_on_the_agents_page(generated: dict[str, str]) -> None:
    from hwenvs.agents.registry import AGENTS

    assert included("agents.md")
    missing = [name for name in AGENTS if f"| `{name}` |" not in generated["agents.md"]]
    assert not missing, f"built-in agents missing from the agents page: {missing}"


def test_every_command_has_a_section_in_the_cli_reference(generated: dict[str, str]) -> None:
    from hwenvs.cli.main import build_parser

    def commands(parser, prefix: str) -> list[str]:
        found = []
        for action in parser._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                for name, sub in action.choices.items():
                    found += [f"{prefix} {name}", *commands(sub, f"{prefix} {name}")]
        return found

    names = commands(build_parser(), "hwenvs")
    assert "hwenvs nas latency-table" in names and "hwenvs benchmark" in names
    assert included("cli.md")
    missing = [c for c in names if not re.search(rf"^#+ `{re.escape(c)}`$", generated["cli.md"], flags=re.M)]
    assert not missing, f"commands with no section in the command-line reference: {missing}"


def test_every_benchmark_script_is_named_on_the_benchmarks_page() -> None:
    """Every script of ``benchmarks/`` that runs (one with a ``__main__`` block; the others are its helpers) is named
    on the 'Every benchmark' page, whether or not it has written results yet."""
    page = (DOCS / "results" / "benchmarks.md").read_text()
    scripts = [p.stem for p in sorted((ROOT / "benchmarks").glob("*.py")) if "__main__" in p.read_text()]
    assert len(scripts) >= 20
    missing = [s for s in scripts if f"`{s}.py`" not in page]
    assert not missing, f"benchmarks/*.py not named on docs/results/benchmarks.md: {missing}"


# -- the checks of the built site ------------------------------------------------------------------------------------


@pytest.fixture
def small_site(tmp_path: Path) -> Path:
    """A two-page site with an image, a stylesheet, a good anchor and links of every kind."""
    site = tmp_path / "site"
    (site / "sub").mkdir(parents=True)
    png = ROOT / "benchmarks" / "results" / "reproduction_bits.png"
    shutil.copy(png, site / "sub" / "plot.png")
    (site / "style.css").write_text("body { color: #222; }")
    (site / "index.html").write_text(
        '<html><head><link rel="stylesheet" href="style.css"></head><body><article><h1 id="top">Home</h1>'
        '<a href="sub/page.html#part">page</a> <a href="https://example.org/x">out</a> <a href="#top">top</a>'
        '<img src="sub/plot.png"></article></body></html>'
    )
    (site / "sub" / "page.html").write_text(
        '<html><head><link rel="stylesheet" href="../style.css"></head><body><article><h2 id="part">Part</h2>'
        '<a href="../index.html">home</a></article></body></html>'
    )
    return site


def test_link_check_passes_a_good_site(small_site: Path) -> None:
    assert check_links.broken_links(small_site) == []


def test_link_check_names_each_broken_link(small_site: Path) -> None:
    page = small_site / "sub" / "page.html"
    broken = '<a href="missing.html">x</a><img src="gone.png"><a href="../index.html#nowhere">y</a>'
    page.write_text(page.read_text().replace("</article>", broken + "</article>"))
    problems = check_links.broken_links(small_site)
    assert len(problems) == 3, problems
    assert any("missing.html (no such file)" in p for p in problems)
    assert any("<img> gone.png (no such file)" in p for p in problems)
    assert any("no id 'nowhere'" in p for p in problems)


needs_chromium = pytest.mark.skipif(
    not any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")),
    reason="no Chromium: apt-get install -y chromium (CI installs it)",
)


@needs_chromium
def test_browser_check_passes_a_page_that_renders(small_site: Path, tmp_path: Path) -> None:
    (page,) = [p for p in check_browser.probed_copy(small_site, tmp_path / "probed") if p.name == "index.html"]
    assert check_browser.check_page(page, tmp_path / "profile") == []


@needs_chromium
def test_browser_check_fails_a_missing_image_and_an_empty_page(small_site: Path, tmp_path: Path) -> None:
    (small_site / "sub" / "plot.png").write_bytes(b"not a png")
    (small_site / "sub" / "page.html").write_text("<html><body></body></html>")
    pages = {p.name: p for p in check_browser.probed_copy(small_site, tmp_path / "probed")}
    assert check_browser.check_page(pages["index.html"], tmp_path / "p1") == ["image failed to load: sub/plot.png"]
    assert check_browser.check_page(pages["page.html"], tmp_path / "p2") == ["the page shows no text"]
