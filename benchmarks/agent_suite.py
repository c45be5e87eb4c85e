"""The agent suite: the agent tables of the docs' "Agents compared" page.

Three benchmarks, each resumable (a killed run continues with the same command):

* the default suite (``hwenvs/benchmark/suites/default.yaml``): HAQ on Fashion-MNIST at budgets fixed by a rule on
  validation, two groups of agents (from scratch; warm-started from the best uniform policy), 10 seeds (5 for SB3's
  agents), one environment (a row) at a time: ``hwenvs benchmark --suite default --envs ENV`` into
  ``RUNS/suite-ENV``, the rows' results combined into one report (:func:`hwenvs.benchmark.report.combine`; the
  statistics are the same as one run's). Each row is read on its own, over its test images too (paired wins and
  losses against the best uniform solution, headroom, two-level intervals: :mod:`hwenvs.benchmark.paired`);
* the quick suite (``quick.yaml``): the embedded MNIST rows, which were the default suite up to 0.2.
  ``surrogate_ranking.py`` reuses its HAQ-MobileNetV2-BISMO row for its real side;
* the hyperparameter lottery: DDPG and TPE with ``--sweep 8`` sampled settings each on the quick suite's
  HAQ-MobileNetV2-BISMO, into ``RUNS/sweep-ACCURACY``. In surrogate mode by default (labelled as predictions), with
  every search's solution re-scored on the real network (``rescoring.py``, cached in the lottery's folder): the best
  setting is then chosen on real validation accuracy, and its runs tested against the real best uniform policy on
  the test images; ``--sweep-accuracy real`` measures it instead.

These runs take more hours than one session has, so ``RUNS`` is ``benchmarks/results/agent_suite_runs`` and git keeps
each row's trial store (``trials.jsonl``: one line per finished trial), budget resolution and ``results.json`` (not
the checkpoints): committed as the run goes, a later session on another machine resumes them. A row whose
``results.json`` already holds every trial it would run is kept as it is, without running anything (remove the folder
to run it again).

    python benchmarks/agent_suite.py --workers 2                                  # all of it: tens of core-hours
    python benchmarks/agent_suite.py --parts suite --envs haq-mbv2-bismo-fmnist --workers 2   # one default row
    python benchmarks/agent_suite.py --report-only    # the results files from what has finished

With ``--report-only`` nothing runs: each finished row is its folder's ``results.json``; a row with trials on disk
that has not finished is collected from those trials (``hwenvs benchmark --collect``, the rest listed as missing);
a part with nothing yet says so. Set ``HWENVS_REFERENCE_DATA`` to a folder holding ProxylessNAS-Mobile's latency
table where there is no network, or that row is skipped.

Writes results/agent_suite.{json,md} and the reports' plots as results/agent_suite_*.png.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import results_io
from rescoring import baseline, rescore

from hwenvs.benchmark import budget, outcomes, report, stats
from hwenvs.benchmark.store import TrialStore
from hwenvs.benchmark.trials import read_result

RESULTS = Path(__file__).parent / "results"
RUNS = RESULTS / "agent_suite_runs"
SWEEP = {"suite": "quick", "envs": "haq-mbv2-bismo", "agents": "ddpg,tpe", "settings": 8}
"""The lottery: which environment, which agents, how many sampled settings each."""
RESCORED = (
    "Re-scored: each search's solution, chosen on the surrogate, measured on the real network's validation and test "
    "splits; the real best setting is the one of highest mean real validation accuracy, and its runs are tested "
    "against the real best uniform policy on the test images (exact McNemar, p < 0.05). The pooled interval "
    "resamples settings, then seeds."
)
"""What the lottery's re-scored columns are."""
PARTS = {
    "suite": "the default suite (HAQ on Fashion-MNIST)",
    "quick": "the quick suite (the embedded MNIST task)",
    "sweep": "hyperparameter lottery",
}
SUITES = {"suite": "default", "quick": "quick"}
"""The parts that are suites: part -> the suite's name."""


def run(argv: list[str], suite: str = "default") -> None:
    """``hwenvs benchmark --suite SUITE`` with ``argv``."""
    from hwenvs.cli.main import main

    code = main(["benchmark", "--suite", suite, *argv])
    out = Path(argv[argv.index("--out") + 1])
    if code:
        raise SystemExit(f"hwenvs benchmark {' '.join(argv)} failed (exit code {code}): see {out}")


def prefixed(part: str, plot: str) -> str:
    """A report's plot, as a file of the results folder."""
    return f"agent_suite_{part}_{plot}"


def _iqm_cell(entry: dict[str, Any] | None) -> str:
    """An agent's test accuracy on one environment: IQM over seeds [95% CI], and the number of runs."""
    if entry is None:
        return "-"
    point, low, high = entry["test_accuracy_iqm"]
    return f"{point:.3f} [{low:.3f}, {high:.3f}] ({entry['runs']})"


def _arguments(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def _env_legend(envs: dict[str, Any], names: list[str]) -> str:
    return "; ".join(
        f"{name}: {envs[name]['id']}" + (f" ({_arguments(envs[name]['kwargs'])})" if envs[name]["kwargs"] else "")
        for name in names
    )


def _cell(interval: list[float] | None, fmt: str = ".4f") -> str:
    return "-" if interval is None else f"{interval[0]:{fmt}} [{interval[1]:{fmt}}, {interval[2]:{fmt}}]"


def row_table(results: dict[str, Any], name: str) -> list[str]:
    """One row of the default suite: its budget and headroom, then per agent (by group) test accuracy with intervals
    over seeds and over seeds and test images, paired wins and losses against the best uniform solution (the warm
    group's start), the runs that end on it, the gain over it, and the compute it took."""
    env, summary = results["envs"][name], results["summary"]["envs"][name]
    groups = results.get("groups", {})
    images = summary.get("images") or {}
    kwargs = ", ".join(f"{k}={v}" for k, v in env["kwargs"].items())
    head = f"**{name}**: {env['id']} ({kwargs})."
    resolution = results.get("budgets", {}).get(name)
    start = None if resolution is None else budget.start_policy(resolution)
    if start is not None:
        head += f" Start: {start}, the best uniform policy within the budget (on validation)."
    if "headroom_points" in images:
        head += (
            f" Headroom: float minus the best uniform solution on test, {images['headroom_points']:.2f} points "
            f"({images['headroom_images']} of {images['test_images']} test images)."
        )
    columns = ["group", "agent", "test accuracy, IQM [seeds]", "IQM [seeds and test images]",
               "significant wins / losses / ties", "runs ending on the start", "gain over the start, mean (points)",
               "core-hours (runs)"]  # fmt: skip
    rows = []
    # cold group first, then warm; sorted() is stable, so each group keeps the suite's order
    for agent in sorted(summary["agents"], key=lambda a: groups.get(a, "cold") != "cold"):
        e = summary["agents"][agent]["all"]
        im = e.get("images")
        hours = "n/a" if e.get("wall_time_s_total") is None else f"{e['wall_time_s_total'] / 3600:.2f}"
        paired_cells = (
            [f"{im['paired']['wins']} / {im['paired']['losses']} / {im['paired']['ties']}",
             f"{im['start_runs']}/{e['runs']}", _cell([100 * g for g in im["gain_mean"]], "+.2f")]
            if im else ["n/a"] * 3
        )  # fmt: skip
        rows.append([groups.get(agent, "cold"), agent, _cell(e["test_accuracy_iqm"]),
                     _cell(im["test_accuracy_iqm_images"]) if im else "n/a", *paired_cells,
                     f"{hours} ({e['runs']})"])  # fmt: skip
    return [head, "", *results_io.table(columns, rows)]


def suite_tables(results: dict[str, Any] | None, family: str = "haq") -> str:
    """The default suite's tables, one per row of ``family`` (rows are read one by one, never pooled)."""
    if results is None:
        return "No row of the default suite has finished a search yet.\n"
    names = [n for n, e in results["envs"].items() if e["family"] == family]
    lines = []
    for name in names:
        lines += [*row_table(results, name), ""]
    missing = len(results["missing"])
    lines += [
        f"Test split, {report.accuracy_label(results)}. Brackets: 95% intervals, stratified bootstrap over seeds, or "
        "two-level (seeds, then the test images, one draw shared by every run). Wins and losses: runs whose solution "
        "is better or worse than the best uniform solution by an exact McNemar test on the test images at p < 0.05; "
        "the rest are ties. The start is the best uniform solution within the budget, chosen on validation: the warm "
        "group's first episode, and the baseline every run must beat. Agents are compared within a group."
        + (f" Unfinished: {missing} searches not run yet (listed in the report)." if missing else ""),
    ]
    return "\n".join(lines) + "\n"


def readme_tables(data: dict[str, Any]) -> str:
    """The agent tables (the docs' agents page includes them; ``tests/test_docs.py`` checks that it does): the default
    suite's HAQ rows
    one by one (:func:`suite_tables`), the quick suite's test accuracy per agent and environment, and the
    lottery's best setting (chosen on real validation accuracy where it was re-scored) beside all its settings."""
    parts = ["### Default suite: HAQ on Fashion-MNIST", "", suite_tables(data.get("suite"))]
    quick = data.get("quick")
    if quick is not None:
        parts += ["### Quick suite: the embedded MNIST task", "", quick_table(quick)]
    sweep = data.get("sweep")
    if sweep is not None and sweep["trials"]:
        parts += ["### Hyperparameter lottery", "", lottery_table(sweep, data.get("sweep_real"))]
    return "\n".join(parts)


README = Path(__file__).resolve().parents[1] / "README.md"
HEADLINE = (
    "<!-- agent suite headline: written by benchmarks/agent_suite.py from benchmarks/results/agent_suite.json -->",
    "<!-- end of the agent suite headline -->",
)
"""The markers around the README's headline table, which :func:`write_readme_headline` rewrites."""


def _row_state(suite: dict[str, Any], env: Any) -> str:
    """One default-suite row for the README: its environment, budget, headroom and how far it has run."""
    if env.name not in suite["envs"]:
        kwargs = ", ".join(f"{k}={v}" for k, v in env.kwargs.items() if k != "dataset")
        return f"- **{env.name}**: {env.id} ({kwargs}){_resolved_budget(env.name)}: not started."
    summary = suite["summary"]["envs"][env.name]
    images = summary.get("images") or {}
    runs = sum(a["all"]["runs"] for a in summary["agents"].values())
    missing = sum(m["trial"].startswith(f"{env.name}__") for m in suite["missing"])
    kwargs = suite["envs"][env.name]["kwargs"]
    text = f"- **{env.name}**: {env.id} ({', '.join(f'{k}={v}' for k, v in kwargs.items() if k != 'dataset')})"
    resolution = suite.get("budgets", {}).get(env.name)
    if resolution is not None:
        text += f"; start {budget.start_policy(resolution)}"
    if "headroom_points" in images:
        text += (f"; headroom {images['headroom_points']:.2f} points ({images['headroom_images']} of "
                 f"{images['test_images']} test images)")  # fmt: skip
    return text + ("; complete." if not missing else f"; {runs} of {runs + missing} searches finished, still running.")


def _resolved_budget(env: str) -> str:
    """The budget a row's rule resolved to before its searches ran, and its start ("" where not yet applied)."""
    resolution = budget.read_resolution(row_folder(RUNS, env) / "budgets", env)
    if resolution is None:
        return ""
    return (
        f"; budget preserve_ratio={resolution['preserve_ratio']} (its rule, applied on validation; "
        f"start {budget.start_policy(resolution)})"
    )


def _headline_cell(entry: dict[str, Any] | None) -> str:
    """An agent on a row: gain over the start (points, mean over runs [two-level 95% interval]), significant wins /
    losses / ties against it, runs ending on it."""
    if entry is None:
        return "-"
    im = entry["all"].get("images")
    if not im:
        return "n/a"
    gain = _cell([100 * g for g in im["gain_mean"]], "+.2f")
    paired = im["paired"]
    return f"{gain}; {paired['wins']}/{paired['losses']}/{paired['ties']}; {im['start_runs']}/{entry['all']['runs']}"


def readme_headline(data: dict[str, Any]) -> str:
    """The README's headline: each Fashion-MNIST HAQ row of the default suite (budget, headroom, how far it has run),
    then one cell per agent and row: gain over the start, paired wins / losses / ties, runs ending on the start.
    Rows are columns side by side, each read on its own; the per-row tables are on the agents page."""
    from hwenvs.benchmark.suite import load_suite

    suite = data.get("suite") or {"envs": {}, "missing": [], "summary": {"envs": {}}}
    haq = [env for env in load_suite("default").envs if env.id.startswith("HAQ-")]
    started = [env.name for env in haq if env.name in suite["envs"]]
    lines = [_row_state(suite, env) for env in haq]
    if not started:
        return "\n".join(lines) + "\n"
    groups = suite.get("groups", {})
    agents = list(dict.fromkeys(a for n in started for a in suite["summary"]["envs"][n]["agents"]))
    agents.sort(key=lambda a: groups.get(a, "cold") != "cold")  # stable: each group in the suite's order
    cells = {a: [_headline_cell(suite["summary"]["envs"][n]["agents"].get(a)) for n in started] for a in agents}
    rows = [[groups.get(a, "cold"), a, *cells[a]] for a in agents]
    return "\n".join([
        *lines, "",
        *results_io.table(["group", "agent", *started], rows), "",
        "Each cell: gain over the start in test-accuracy points, mean over runs [95% interval over seeds and test "
        "images]; significant wins / losses / ties against the start (exact McNemar test on the test images, "
        "p < 0.05); runs ending on the start. The start is the best uniform policy within the budget, chosen on "
        "validation: the warm group's first episode and the baseline of every run. Compare agents within a group.",
    ]) + "\n"  # fmt: skip


def write_readme_headline(data: dict[str, Any], readme: Path = README) -> None:
    """Replace the README's headline table (between :data:`HEADLINE`'s markers) with :func:`readme_headline`."""
    text = readme.read_text()
    begin, end = HEADLINE
    if text.count(begin) != 1 or text.count(end) != 1:
        raise SystemExit(f"{readme}: expected one pair of headline markers {begin!r} ... {end!r}")
    head, rest = text.split(begin)
    tail = rest.split(end)[1]
    readme.write_text(f"{head}{begin}\n{readme_headline(data).rstrip()}\n{end}{tail}")


def quick_table(suite: dict[str, Any]) -> str:
    """Each agent's test accuracy on every environment of a suite: IQM over seeds [95% stratified bootstrap CI]."""
    names = list(suite["summary"]["envs"])
    agents = list(dict.fromkeys(a for n in names for a in suite["summary"]["envs"][n]["agents"]))
    cells = {agent: [_iqm_cell(suite["summary"]["envs"][n]["agents"].get(agent, {}).get("all")) for n in names]
             for agent in agents}  # fmt: skip
    lines = [
        *results_io.table(["agent", *names], [[agent, *cells[agent]] for agent in agents]),
        "",
        f"Test accuracy, IQM over seeds [95% stratified bootstrap CI] (runs), {report.accuracy_label(suite)}: "
        f"{_env_legend(suite['envs'], names)}.",
    ]
    return "\n".join(lines) + "\n"


def lottery_table(sweep: dict[str, Any], real: dict[str, Any] | None) -> str:
    """The lottery: per agent, the surrogate's figures (labelled predictions) and, where re-scored, the real ones at
    the setting chosen on real validation accuracy, with paired verdicts, and over all settings."""
    ((name, env),) = sweep["summary"]["envs"].items()
    best = sweep["summary"]["best_settings"][sweep["envs"][name]["family"]]
    k = sweep["settings"]["sweep"]
    predicted = "predicted by the surrogate" if sweep["settings"]["accuracy"] == "surrogate" else "measured"
    columns = ["agent", f"best of {k} settings ({predicted})", f"all {k} settings pooled ({predicted})"]
    if real:
        columns += ["best setting on real validation", "its real test accuracy", "wins / losses / ties",
                    "all settings, real test accuracy"]  # fmt: skip
    rows = []
    for agent, by_variant in env["agents"].items():
        row = [f"{agent} ({best[agent]}: {_arguments(sweep['agents'][agent][best[agent]])})",
               _iqm_cell(by_variant.get("best")), _iqm_cell(by_variant.get("all"))]  # fmt: skip
        if real:
            r = real[agent]
            paired_cell = " / ".join(str(r["best"]["paired"][v]) for v in ("win", "loss", "tie"))
            row += [f"{r['best_setting']}: {_arguments(sweep['agents'][agent][r['best_setting']])}",
                    _iqm_cell(r["best"]), paired_cell, _iqm_cell(r["all"])]  # fmt: skip
        rows.append(row)
    lines = results_io.table(columns, rows)
    lines += [
        "",
        f"The hyperparameter lottery, {report.accuracy_label(sweep)}: {_env_legend(sweep['envs'], [name])}."
        + (f" {RESCORED}" if real else ""),
    ]
    return "\n".join(lines) + "\n"


def render(data: dict[str, Any]) -> str:
    """The results markdown, from the JSON alone: the agent tables (:func:`readme_tables`), then each benchmark's
    report, its plots renamed to the results files and the quick suite's and the lottery's headings one level down."""
    results_io.require(data, tuple(PARTS), "agent_suite.json", "benchmarks/agent_suite.py")
    parts = [f"# Agent suite\n\n{readme_tables(data)}"]
    for part in PARTS:
        if data[part] is None:
            title = PARTS[part][0].upper() + PARTS[part][1:]
            parts.append(f"## {title}: not finished yet (`python benchmarks/agent_suite.py`)")
            continue
        text = report.render(data[part])
        for plot in report.PLOTS:
            text = text.replace(f"![{plot}]({plot})", f"![{plot}]({prefixed(part, plot)})")
        if part != "suite":
            text = "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())
        parts.append(text.rstrip())
    return "\n\n".join(parts) + "\n"


def row_folder(runs: Path, env: str) -> Path:
    """The folder of the default suite's row on ``env``."""
    return runs / f"suite-{env}"


def suite_envs(names: str | None = None, runnable: bool = False, suite_name: str = "default") -> list[str]:
    """A suite's environments, in its order.

    :param names: comma-separated, those only (None: all).
    :param runnable: those this machine has the data for only (saying which it skips).
    :param suite_name: ``default`` (Fashion-MNIST HAQ rows) or ``quick`` (MNIST).
    :raises SystemExit: a name the suite does not have.
    """
    from hwenvs.benchmark.suite import load_suite

    try:
        suite = load_suite(suite_name).select(None if names is None else [n.strip() for n in names.split(",")])
    except ValueError as exc:
        raise SystemExit(f"--envs: {exc}") from exc
    missing = suite.unavailable() if runnable else {}
    for name, reason in missing.items():
        print(f"skipping environment {name}: {reason}", flush=True)
    return [env.name for env in suite.envs if env.name not in missing]


def row_complete(out: Path, env: str, seeds: int | None = None, episodes: int | None = None,
                 agents: str | None = None, suite_name: str = "default") -> bool:  # fmt: skip
    """Whether ``out/results.json`` holds every search the row on ``env`` would run (with those options) and nothing
    is missing: the row is finished, even where its trial store is not on this machine."""
    from hwenvs.benchmark.suite import load_suite, plan

    data = _finished(out)
    if data is None or data["missing"] or env not in data["envs"] or data["settings"].get("sweep"):
        return False
    suite = load_suite(suite_name).select([env], None if agents is None else agents.split(","))
    suite = suite.resolve_budgets(out / "budgets")
    if episodes is not None:
        suite = suite.with_episodes(episodes)
    wanted = {(j.env, j.agent, j.setting, j.seed, j.episodes) for j in plan(suite, out, seeds) if j.kind == "search"}
    have = {(t["env"], t["agent"], t["setting"], t["seed"], t["episodes"]) for t in data["trials"]}
    return data["settings"].get("accuracy", "real") == "real" and wanted <= have


def run_row(env: str, out: Path, options: list[str], seeds: int | None = None, episodes: int | None = None,
            agents: str | None = None, suite_name: str = "default") -> None:  # fmt: skip
    """Run (or resume) a suite's row on ``env`` into ``out`` with ``hwenvs benchmark`` ``options``, unless it is
    complete (:func:`row_complete`)."""
    if row_complete(out, env, seeds, episodes, agents, suite_name):
        print(f"{env}: {out / 'results.json'} holds every search of the row; kept", flush=True)
        return
    argv = [*options, "--envs", env, "--out", str(out)]
    for option, value in (("--seeds", seeds), ("--episodes", episodes), ("--agents", agents)):
        argv += [option, str(value)] if value is not None else []
    run(argv, suite_name)


def run_both(args: argparse.Namespace, sweep_out: Path) -> None:
    """Run (or resume) the parts asked for: the default suite's rows, the quick suite's rows, then the lottery."""
    workers = ["--workers", str(args.workers)]
    wanted = None if args.envs is None else [n.strip() for n in args.envs.split(",")]
    suites = {part: name for part, name in SUITES.items() if part in args.parts}
    known = {env for name in suites.values() for env in suite_envs(suite_name=name)}
    if wanted is not None and not set(wanted) <= known:
        raise SystemExit(f"--envs: {', '.join(sorted(set(wanted) - known))} not in the parts run; they have {known}")
    for suite_name in suites.values():
        for env in suite_envs(runnable=True, suite_name=suite_name):
            if wanted is None or env in wanted:
                run_row(env, row_folder(args.runs, env), workers, args.seeds, args.episodes, suite_name=suite_name)
    if "sweep" not in args.parts:
        return
    common = [*workers, *(f"--{o}={getattr(args, o)}" for o in ("seeds", "episodes") if getattr(args, o) is not None)]
    run([*common, "--envs", SWEEP["envs"], "--agents", SWEEP["agents"], "--sweep", str(SWEEP["settings"]),
         "--accuracy", args.sweep_accuracy, "--out", str(sweep_out)], SWEEP["suite"])  # fmt: skip


def collect_unfinished(args: argparse.Namespace) -> None:
    """Write the ``results.json`` of every suite row that has trials stored but has not finished, from the trials
    finished so far (``hwenvs benchmark --collect``; the rest listed as missing), so its figures can be read (and
    committed) before the row ends. Finished rows are left as their run wrote them."""
    for suite_name in SUITES.values():
        for env in suite_envs(suite_name=suite_name):
            out = row_folder(args.runs, env)
            unfinished = not row_complete(out, env, args.seeds, args.episodes, None, suite_name)
            if unfinished and TrialStore(out).names():
                run(["--envs", env, "--out", str(out), "--collect"], suite_name)


def _finished(out: Path) -> dict[str, Any] | None:
    """The ``results.json`` that the last finished run into ``out`` wrote, or None."""
    return read_result(out / "results.json")


def lottery_real(sweep_out: Path, sweep: dict[str, Any] | None) -> dict[str, Any] | None:
    """A surrogate lottery's searches re-scored on the real network (:func:`rescoring.rescore`), per agent:

    * ``best_setting``: the setting of highest mean *real validation* accuracy (what a user would pick without
      looking at test), beside ``surrogate_best_setting``, the report's pick on the surrogate's predictions;
    * ``best``: real test accuracy at ``best_setting``, IQM over seeds [95% stratified bootstrap CI], and its runs'
      paired verdicts against the real best uniform policy on the test images (exact McNemar at p < 0.05);
    * ``all``: every setting pooled, its interval resampling settings and then seeds (runs of one setting are not
      independent draws of the lottery).

    None for a lottery that has not run or measured real accuracy.
    """
    if sweep is None or not sweep["trials"] or sweep["settings"]["accuracy"] != "surrogate":
        return None
    ((name, env),) = sweep["envs"].items()
    surrogate_best = sweep["summary"]["best_settings"][env["family"]]
    by_agent: dict[str, list[dict[str, Any]]] = {agent: [] for agent in surrogate_best}
    for trial in sweep["trials"]:
        if trial["agent"] in by_agent:
            by_agent[trial["agent"]].append(dict(trial))  # a copy: the lottery's results stay as its run wrote them
    rescore(sweep_out, name, by_agent, per_image=True)
    base = outcomes.unpack(baseline(sweep_out)["test_outcomes"])
    real = {}
    for agent, trials in by_agent.items():
        settings = sorted({t["setting"] for t in trials})
        val = {s: float(np.mean([t["real_val_accuracy"] for t in trials if t["setting"] == s])) for s in settings}
        best = max(settings, key=lambda s: (val[s], s == "default"))
        chosen = [t for t in trials if t["setting"] == best]
        verdicts = [stats.paired_verdict(outcomes.unpack(t["real_test_outcomes"]), base) for t in chosen]
        groups = [np.array([t["real_test_accuracy"] for t in trials if t["setting"] == s]) for s in settings]
        real[agent] = {
            "best_setting": best,
            "surrogate_best_setting": surrogate_best[agent],
            "best": {
                "runs": len(chosen),
                "test_accuracy_iqm": stats.interval(
                    [[t["real_test_accuracy"] for t in chosen]], seed=report.BOOTSTRAP_SEED
                ).to_list(),
                "paired": {v: verdicts.count(v) for v in ("win", "loss", "tie")},
            },
            "all": {
                "runs": len(trials),
                "test_accuracy_iqm": stats.clustered_interval(groups, seed=report.BOOTSTRAP_SEED).to_list(),
            },
        }
    return real


def suite_results(runs: Path, suite_name: str = "default") -> dict[str, Any] | None:
    """A suite's rows that have a ``results.json``, combined in the suite's order (None: no row yet)."""
    from hwenvs.benchmark.suite import load_suite

    groups = {a.name: a.group for a in load_suite(suite_name).agents}
    rows = [data for env in suite_envs(suite_name=suite_name) if (data := _finished(row_folder(runs, env))) is not None]
    for data in rows:
        data.setdefault("groups", groups)  # rows run before groups were recorded: the suite file's
    return report.combine(rows) if rows else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--envs", default=None, help="comma-separated environments of the suites (default: all)")
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated parts to run (default: all: {', '.join(PARTS)})"
    )
    parser.add_argument("--seeds", type=int, default=None, help="seeds per agent (default: the suite's, 10)")
    parser.add_argument("--episodes", type=int, default=None, help="episodes a search (default: the suite's)")
    parser.add_argument("--sweep-accuracy", choices=("surrogate", "real"), default="surrogate")
    parser.add_argument("--runs", type=Path, default=RUNS, help="where the rows' and the lottery's folders go")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the results files go")
    parser.add_argument("--report-only", action="store_true", help="run nothing: the results of the finished runs")
    args = parser.parse_args(argv)
    args.parts = [p.strip() for p in args.parts.split(",")]
    if not set(args.parts) <= set(PARTS):
        parser.error(f"--parts {','.join(args.parts)}: valid parts are {', '.join(PARTS)}")
    sweep_out = args.runs / f"sweep-{args.sweep_accuracy}"
    if not args.report_only:
        run_both(args, sweep_out)
    collect_unfinished(args)
    data = {part: suite_results(args.runs, name) for part, name in SUITES.items()}
    data["sweep"] = _finished(sweep_out)
    data["sweep_real"] = lottery_real(sweep_out, data["sweep"])
    results_io.write(args.results / "agent_suite.json", data, args.results / "agent_suite.md", render(data))
    if args.results == RESULTS:  # the README quotes the committed results, not a run written elsewhere
        write_readme_headline(data)
    with tempfile.TemporaryDirectory() as scratch:
        for part in PARTS:
            results = data[part]
            for path in report.plot(results, Path(scratch)) if results and results["trials"] else []:
                shutil.move(path, args.results / prefixed(part, path.name))
    print(render(data))


if __name__ == "__main__":
    main()
