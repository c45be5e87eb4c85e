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


def run(argv: list[str]) -> Path:
    """``hwenvs benchmark`` with ``argv``; its output folder (the value of ``--out``)."""
    from hwenvs.cli.main import main

    code = main(["benchmark", "--suite", "default", *argv])
    out = Path(argv[argv.index("--out") + 1])
    if code:
        raise SystemExit(f"hwenvs benchmark {' '.join(argv)} failed (exit code {code}): see {out}")
    return out


def prefixed(part: str, plot: str) -> str:
    """A report's plot, as a file of the results folder."""
    return f"agent_suite_{part}_{plot}"


def render(data: dict[str, Any]) -> str:
    """The results markdown, from the JSON alone: each benchmark's report, its plots renamed to the results files and
    the lottery's headings one level down."""
    results_io.require(data, tuple(PARTS), "agent_suite.json", "benchmarks/agent_suite.py")
    parts = []
    for part in PARTS:
        text = report.render(data[part])
        for plot in report.PLOTS:
            text = text.replace(f"![{plot}]({plot})", f"![{plot}]({prefixed(part, plot)})")
        if part != "suite":
            text = "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())
        parts.append(text.rstrip())
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--envs", default=None, help="comma-separated environments of the suite (default: all)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per agent (default: the suite's, 10)")
    parser.add_argument("--episodes", type=int, default=None, help="episodes a search (default: the suite's)")
    parser.add_argument("--sweep-accuracy", choices=("surrogate", "real"), default="surrogate")
    parser.add_argument("--runs", type=Path, default=RUNS, help="where the two benchmarks' folders go")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the results files go")
    args = parser.parse_args(argv)
    common = ["--workers", str(args.workers)]
    for option in ("seeds", "episodes"):
        if getattr(args, option) is not None:
            common += [f"--{option}", str(getattr(args, option))]
    suite_out = run(
        [*common, *(["--envs", args.envs] if args.envs else []), "--out", str(args.runs / "benchmark-default")]
    )
    sweep_out = run(
        [*common, "--envs", SWEEP["envs"], "--agents", SWEEP["agents"], "--sweep", str(SWEEP["settings"]),
         "--accuracy", args.sweep_accuracy, "--out", str(args.runs / f"benchmark-default-sweep-{args.sweep_accuracy}")]
    )  # fmt: skip
    data = {
        part: json.loads((out / "results.json").read_text())
        for part, out in zip(PARTS, (suite_out, sweep_out), strict=True)
    }
    results_io.write(args.results / "agent_suite.json", data, args.results / "agent_suite.md", render(data))
    with tempfile.TemporaryDirectory() as scratch:
        for part, results in data.items():
            for path in report.plot(results, Path(scratch)) if results["trials"] else []:
                shutil.move(path, args.results / prefixed(part, path.name))
    print(render(data))


if __name__ == "__main__":
    main()
