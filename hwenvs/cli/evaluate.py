"""``hwenvs evaluate``: replay a saved policy and check that it reproduces its stored accuracy and cost."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``hwenvs evaluate``."""
    parser = subparsers.add_parser(
        "evaluate",
        help="replay a policy.json: check it is valid, re-measure test and validation accuracy and cost",
        description=(
            "Rebuild the environment from a policy.json, check the stored solution (it fits the environment, its layer "
            "rules and its budget), re-evaluate exactly it on the validation and test splits and compare with what "
            "the file says. Exit code 0 if everything matches, 1 (with a diff) if not, 2 if the file is unusable or "
            "the result is not valid."
        ),
    )
    parser.add_argument("policy", type=Path, metavar="POLICY_JSON", help="a policy.json written by `hwenvs search`")
    parser.add_argument(
        "--env-kwarg",
        action="append",
        metavar="KEY=VALUE",
        help="override a stored environment keyword argument, repeatable (e.g. device=cpu)",
    )
    parser.add_argument(
        "--rel-tol", type=float, default=0.0, help="relative tolerance for floats (default 0: exact match)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Replay and compare; returns the exit code."""
    from hwenvs.agents.replay import load_result_file, replay
    from hwenvs.cli.search import parse_kwargs

    result_file = load_result_file(args.policy)
    report = replay(result_file, parse_kwargs(args.env_kwarg, "--env-kwarg"), rel_tol=args.rel_tol)
    measured = report.measured
    cost_key = result_file.cost_key
    cost = f", {cost_key} {measured[cost_key]:.6g}" if cost_key in measured else ""
    test = report.measured_test.get("accuracy")
    print(f"{result_file.env_id}: test accuracy {test:.4f}, validation accuracy {measured['accuracy']:.4f}{cost}")
    if report.ok:
        print(f"OK: {args.policy} replays to its stored figures")
        return 0
    print(f"MISMATCH: {args.policy} does not replay to its stored figures (- stored, + replayed)", file=sys.stderr)
    print(report.diff(), file=sys.stderr)
    return 1
