"""The default agent suite, the results the README's agent table quotes.

Two benchmarks, both resumable (a killed run continues with the same command):

* every agent of the default suite at equal episode budgets over its 10 seeds, on the real environments
  (``hwenvs benchmark --suite default`` into ``runs/benchmark-default``: the trials ``surrogate_ranking.py`` reuses
  for its real side);
* the hyperparameter lottery: DDPG and TPE with ``--sweep 8`` sampled settings each on HAQ-MobileNetV2-BISMO,
  reported as the best setting (chosen on validation) and the average over settings. In surrogate mode by default
  (what surrogate mode is for, labelled as such in the report); ``--sweep-accuracy real`` measures it instead.

    python benchmarks/agent_suite.py --workers 2                                   # all of it: hours
    python benchmarks/agent_suite.py --envs haq-mbv2-bismo,haq-mbv2-bitfusion-energy --workers 2  # HAQ MobileNetV2
    python benchmarks/agent_suite.py --report-only    # the results files from what each benchmark last finished

With ``--report-only`` nothing runs: each part is its folder's ``results.json`` as the last finished run of that
benchmark wrote it (its trials and date inside), and a part that has not finished yet says so instead of a report.

Writes results/agent_suite.{json,md} and the reports' plots as results/agent_suite_*.png.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import results_io

from hwenvs.benchmark import report

RESULTS = Path(__file__).parent / "results"
RUNS = Path("runs")
SWEEP = {"envs": "haq-mbv2-bismo", "agents": "ddpg,tpe", "settings": 8}
"""The lottery: which environment, which agents, how many sampled settings each."""
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
    over its settings."""
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
    lines += [
        "",
        f"| agent (best setting) | best of {k} settings (chosen on validation) | all {k} settings pooled |",
        "|---|---|---|",
        *(
            f"| {agent} ({best[agent]}: {_arguments(sweep['agents'][agent][best[agent]])}) | "
            f"{_iqm_cell(by_variant.get('best'))} | {_iqm_cell(by_variant.get('all'))} |"
            for agent, by_variant in env["agents"].items()
        ),
        "",
        f"The hyperparameter lottery, {report.accuracy_label(sweep)}: {_env_legend(sweep['envs'], [name])}.",
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


def run_both(args: argparse.Namespace, outs: dict[str, Path]) -> None:
    """Run (or resume) the suite, then the lottery, into ``outs``."""
    common = ["--workers", str(args.workers)]
    for option in ("seeds", "episodes"):
        if getattr(args, option) is not None:
            common += [f"--{option}", str(getattr(args, option))]
    run([*common, *(["--envs", args.envs] if args.envs else []), "--out", str(outs["suite"])])
    run([*common, "--envs", SWEEP["envs"], "--agents", SWEEP["agents"], "--sweep", str(SWEEP["settings"]),
         "--accuracy", args.sweep_accuracy, "--out", str(outs["sweep"])])  # fmt: skip


def _finished(out: Path) -> dict[str, Any] | None:
    """The ``results.json`` that the last finished run into ``out`` wrote, or None."""
    path = out / "results.json"
    return json.loads(path.read_text()) if path.is_file() else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--envs", default=None, help="comma-separated environments of the suite (default: all)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per agent (default: the suite's, 10)")
    parser.add_argument("--episodes", type=int, default=None, help="episodes a search (default: the suite's)")
    parser.add_argument("--sweep-accuracy", choices=("surrogate", "real"), default="surrogate")
    parser.add_argument("--runs", type=Path, default=RUNS, help="where the two benchmarks' folders go")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the results files go")
    parser.add_argument("--report-only", action="store_true", help="run nothing: the results of the finished runs")
    args = parser.parse_args(argv)
    outs = {
        "suite": args.runs / "benchmark-default",
        "sweep": args.runs / f"benchmark-default-sweep-{args.sweep_accuracy}",
    }
    if not args.report_only:
        run_both(args, outs)
    data = {part: _finished(out) for part, out in outs.items()}
    results_io.write(args.results / "agent_suite.json", data, args.results / "agent_suite.md", render(data))
    with tempfile.TemporaryDirectory() as scratch:
        for part, results in data.items():
            for path in report.plot(results, Path(scratch)) if results and results["trials"] else []:
                shutil.move(path, args.results / prefixed(part, path.name))
    print(render(data))


if __name__ == "__main__":
    main()
