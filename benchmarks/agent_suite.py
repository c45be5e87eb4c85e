"""The default agent suite, the results the README's agent table quotes.

Two benchmarks, both resumable (a killed run continues with the same command):

* every agent of the default suite at equal episode budgets over its 10 seeds, on the real environments, one
  environment (a row of the README's table) at a time: ``hwenvs benchmark --suite default --envs ENV`` into
  ``RUNS/suite-ENV``, the rows' results combined into one report (:func:`hwenvs.benchmark.report.combine`; the
  statistics are the same as one run's). ``surrogate_ranking.py`` reuses the HAQ-MobileNetV2-BISMO row for its real
  side;
* the hyperparameter lottery: DDPG and TPE with ``--sweep 8`` sampled settings each on HAQ-MobileNetV2-BISMO,
  reported as the best setting (chosen on validation) and the average over settings, into ``RUNS/sweep-ACCURACY``. In
  surrogate mode by default (what surrogate mode is for, labelled as such in the report), with every search's
  solution re-scored on the real network (``rescoring.py``, cached in the lottery's folder) so the README can say
  what the surrogate's choices are really worth; ``--sweep-accuracy real`` measures it instead.

These runs take more hours than one session has, so ``RUNS`` is ``benchmarks/results/agent_suite_runs`` and git keeps
each finished trial's result file and each row's ``results.json`` (not the checkpoints): committed as the run goes, a
later session on another machine resumes them. A row whose ``results.json`` already holds every trial it would run
is kept as it is, without running anything (remove the folder to run it again).

    python benchmarks/agent_suite.py --workers 2                                   # all of it: hours
    python benchmarks/agent_suite.py --envs haq-mbv2-bismo,haq-mbv2-bitfusion-energy --workers 2  # HAQ MobileNetV2
    python benchmarks/agent_suite.py --report-only    # the results files from what each benchmark last finished

With ``--report-only`` nothing runs: each part is its folder's ``results.json`` as the last finished run of that
benchmark wrote it (its trials and date inside), and a part that has not finished yet says so instead of a report.

Writes results/agent_suite.{json,md} and the reports' plots as results/agent_suite_*.png.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

import results_io
from rescoring import rescore

from hwenvs.benchmark import report, stats
from hwenvs.benchmark.trials import read_result

RESULTS = Path(__file__).parent / "results"
RUNS = RESULTS / "agent_suite_runs"
SWEEP = {"envs": "haq-mbv2-bismo", "agents": "ddpg,tpe", "settings": 8}
"""The lottery: which environment, which agents, how many sampled settings each."""
RESCORED = "Re-scored: each search's solution, chosen on the surrogate, measured on the real network's test split."
"""What the lottery's re-scored columns are."""
PARTS = {"suite": "the default suite", "sweep": "hyperparameter lottery"}


def run(argv: list[str]) -> None:
    """``hwenvs benchmark`` with ``argv``."""
    from hwenvs.cli.main import main

    code = main(["benchmark", "--suite", "default", *argv])
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


def readme_tables(data: dict[str, Any]) -> str:
    """The README's agent tables, which the README copies verbatim (``tests/test_readme.py`` checks that it does):
    each agent's test accuracy on every environment of the suite, and the lottery's best setting beside the average
    over its settings (a surrogate lottery's also re-scored on the real network, where ``data`` has them)."""
    suite, sweep = data["suite"], data["sweep"]
    if suite is None:
        return "No finished run of the default suite yet.\n"
    names = list(suite["summary"]["envs"])
    agents = list(dict.fromkeys(a for n in names for a in suite["summary"]["envs"][n]["agents"]))
    lines = [
        "| agent | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
        *(
            f"| {agent} | "
            + " | ".join(_iqm_cell(suite["summary"]["envs"][n]["agents"].get(agent, {}).get("all")) for n in names)
            + " |"
            for agent in agents
        ),
        "",
        f"Test accuracy, IQM over seeds [95% stratified bootstrap CI] (runs), {report.accuracy_label(suite)}: "
        f"{_env_legend(suite['envs'], names)}.",
    ]
    if sweep is None or not sweep["trials"]:
        return "\n".join(lines) + "\n"
    ((name, env),) = sweep["summary"]["envs"].items()
    best = sweep["summary"]["best_settings"][sweep["envs"][name]["family"]]
    k = sweep["settings"]["sweep"]
    real = data.get("sweep_real")

    def rescored(agent: str) -> str:
        return f" {_iqm_cell(real[agent]['best'])} | {_iqm_cell(real[agent]['all'])} |" if real else ""

    lines += [
        "",
        f"| agent (best setting) | best of {k} settings (chosen on validation) | all {k} settings pooled |"
        + (" best setting, re-scored on the real network | all settings, re-scored |" if real else ""),
        "|---|---|---|" + ("---|---|" if real else ""),
        *(
            f"| {agent} ({best[agent]}: {_arguments(sweep['agents'][agent][best[agent]])}) | "
            f"{_iqm_cell(by_variant.get('best'))} | {_iqm_cell(by_variant.get('all'))} |{rescored(agent)}"
            for agent, by_variant in env["agents"].items()
        ),
        "",
        f"The hyperparameter lottery, {report.accuracy_label(sweep)}: {_env_legend(sweep['envs'], [name])}."
        + (f" {RESCORED}" if real else ""),
    ]
    return "\n".join(lines) + "\n"


def render(data: dict[str, Any]) -> str:
    """The results markdown, from the JSON alone: the README's agent tables, then each benchmark's report, its plots
    renamed to the results files and the lottery's headings one level down."""
    results_io.require(data, tuple(PARTS), "agent_suite.json", "benchmarks/agent_suite.py")
    parts = [f"# Agent suite: the README's agent tables\n\n{readme_tables(data)}"]
    for part in PARTS:
        if data[part] is None:
            parts.append(f"## {PARTS[part].capitalize()}: not finished yet (`python benchmarks/agent_suite.py`)")
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


def suite_envs(names: str | None = None, runnable: bool = False) -> list[str]:
    """The default suite's environments, in its order.

    :param names: comma-separated, those only (None: all).
    :param runnable: those this machine has the data for only (saying which it skips).
    :raises SystemExit: a name the suite does not have.
    """
    from hwenvs.benchmark.suite import load_suite

    try:
        suite = load_suite("default").select(None if names is None else [n.strip() for n in names.split(",")])
    except ValueError as exc:
        raise SystemExit(f"--envs: {exc}") from exc
    missing = suite.unavailable() if runnable else {}
    for name, reason in missing.items():
        print(f"skipping environment {name}: {reason}", flush=True)
    return [env.name for env in suite.envs if env.name not in missing]


def row_complete(out: Path, env: str, seeds: int | None = None, episodes: int | None = None,
                 agents: str | None = None) -> bool:  # fmt: skip
    """Whether ``out/results.json`` holds every search the row on ``env`` would run (with those options) and nothing
    is missing: the row is finished, even where its trial files are not on this machine."""
    from hwenvs.benchmark.suite import load_suite, plan

    data = _finished(out)
    if data is None or data["missing"] or env not in data["envs"] or data["settings"].get("sweep"):
        return False
    suite = load_suite("default").select([env], None if agents is None else agents.split(","))
    if episodes is not None:
        suite = suite.with_episodes(episodes)
    wanted = {(j.env, j.agent, j.setting, j.seed, j.episodes) for j in plan(suite, out, seeds) if j.kind == "search"}
    have = {(t["env"], t["agent"], t["setting"], t["seed"], t["episodes"]) for t in data["trials"]}
    return data["settings"].get("accuracy", "real") == "real" and wanted <= have


def run_row(env: str, out: Path, options: list[str], seeds: int | None = None, episodes: int | None = None,
            agents: str | None = None) -> None:  # fmt: skip
    """Run (or resume) the default suite's row on ``env`` into ``out`` with ``hwenvs benchmark`` ``options``, unless
    it is complete (:func:`row_complete`)."""
    if row_complete(out, env, seeds, episodes, agents):
        print(f"{env}: {out / 'results.json'} holds every search of the row; kept", flush=True)
        return
    argv = [*options, "--envs", env, "--out", str(out)]
    for option, value in (("--seeds", seeds), ("--episodes", episodes), ("--agents", agents)):
        argv += [option, str(value)] if value is not None else []
    run(argv)


def run_both(args: argparse.Namespace, sweep_out: Path) -> None:
    """Run (or resume) the suite's rows, then the lottery."""
    workers = ["--workers", str(args.workers)]
    for env in suite_envs(args.envs, runnable=True):
        run_row(env, row_folder(args.runs, env), workers, args.seeds, args.episodes)
    common = [*workers, *(f"--{o}={getattr(args, o)}" for o in ("seeds", "episodes") if getattr(args, o) is not None)]
    run([*common, "--envs", SWEEP["envs"], "--agents", SWEEP["agents"], "--sweep", str(SWEEP["settings"]),
         "--accuracy", args.sweep_accuracy, "--out", str(sweep_out)])  # fmt: skip


def _finished(out: Path) -> dict[str, Any] | None:
    """The ``results.json`` that the last finished run into ``out`` wrote, or None."""
    return read_result(out / "results.json")


def lottery_real(sweep_out: Path, sweep: dict[str, Any] | None) -> dict[str, Any] | None:
    """A surrogate lottery's searches re-scored on the real network (:func:`rescoring.rescore`): each agent's real test
    accuracy, IQM over seeds [95% stratified bootstrap CI], at its best setting (the report's, chosen on the surrogate's
    validation accuracy) and over all settings pooled. None for a lottery that has not run or measured real accuracy.
    """
    if sweep is None or not sweep["trials"] or sweep["settings"]["accuracy"] != "surrogate":
        return None
    ((name, env),) = sweep["envs"].items()
    best = sweep["summary"]["best_settings"][env["family"]]
    by_agent: dict[str, list[dict[str, Any]]] = {agent: [] for agent in best}
    for trial in sweep["trials"]:
        if trial["agent"] in by_agent:
            by_agent[trial["agent"]].append(dict(trial))  # a copy: the lottery's results stay as its run wrote them
    rescore(sweep_out, name, by_agent)

    def entry(trials: list[dict[str, Any]]) -> dict[str, Any]:
        accuracy = [[t["real_test_accuracy"] for t in trials]]
        return {
            "runs": len(trials),
            "test_accuracy_iqm": stats.interval(accuracy, seed=report.BOOTSTRAP_SEED).to_list(),
        }

    return {
        agent: {"best": entry([t for t in trials if t["setting"] == best[agent]]), "all": entry(trials)}
        for agent, trials in by_agent.items()
    }


def suite_results(runs: Path) -> dict[str, Any] | None:
    """The suite's rows that have a ``results.json``, combined in the suite's order (None: no row yet)."""
    rows = [data for env in suite_envs() if (data := _finished(row_folder(runs, env))) is not None]
    return report.combine(rows) if rows else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--envs", default=None, help="comma-separated environments of the suite (default: all)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per agent (default: the suite's, 10)")
    parser.add_argument("--episodes", type=int, default=None, help="episodes a search (default: the suite's)")
    parser.add_argument("--sweep-accuracy", choices=("surrogate", "real"), default="surrogate")
    parser.add_argument("--runs", type=Path, default=RUNS, help="where the rows' and the lottery's folders go")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the results files go")
    parser.add_argument("--report-only", action="store_true", help="run nothing: the results of the finished runs")
    args = parser.parse_args(argv)
    sweep_out = args.runs / f"sweep-{args.sweep_accuracy}"
    if not args.report_only:
        run_both(args, sweep_out)
    data = {"suite": suite_results(args.runs), "sweep": _finished(sweep_out)}
    data["sweep_real"] = lottery_real(sweep_out, data["sweep"])
    results_io.write(args.results / "agent_suite.json", data, args.results / "agent_suite.md", render(data))
    with tempfile.TemporaryDirectory() as scratch:
        for part in PARTS:
            results = data[part]
            for path in report.plot(results, Path(scratch)) if results and results["trials"] else []:
                shutil.move(path, args.results / prefixed(part, path.name))
    print(render(data))


if __name__ == "__main__":
    main()
