"""``hwenvs evaluate``: replay a saved policy and check that it reproduces its stored accuracy and cost."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hwenvs.cli import values


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``hwenvs evaluate``."""
    parser = subparsers.add_parser(
        "evaluate",
        help="replay a policy.json: check it is valid, re-measure test and validation accuracy and cost",
        description=(
            "Rebuild the environment from a policy.json, check the stored solution (it fits the environment, its layer "
            "rules and its budget), re-evaluate exactly it on the validation and test splits and compare with what "
            "the file says. A result found with accuracy='surrogate' is also re-scored on the real network, and both "
            "are printed. Exit code 0 if everything matches, 1 (with a diff) if not, 2 if the file is unusable or "
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
        "--rel-tol",
        type=values.real(0.0),
        default=0.0,
        help="relative tolerance for floats, a finite number >= 0 (default 0: exact match)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Replay and compare; returns the exit code."""
    from hwenvs.agents.replay import load_result_file, replay
    from hwenvs.cli.search import parse_kwargs

    result_file = load_result_file(args.policy)
    overrides = parse_kwargs(args.env_kwarg, "--env-kwarg")
    report = replay(result_file, overrides, rel_tol=args.rel_tol)
    measured = report.measured
    cost_key = result_file.cost_key
    cost = f", {cost_key} {measured[cost_key]:.6g}" if cost_key in measured else ""
    test = report.measured_test["accuracy"]  # replay reads it too: always there
    source = measured.get("accuracy_source", "real")
    label = " (surrogate: predicted)" if source == "surrogate" else ""
    print(
        f"{result_file.env_id}{label}: test accuracy {test:.4f}, validation accuracy {measured['accuracy']:.4f}{cost}"
    )
    if source == "surrogate":
        print_real_scores(result_file, overrides, test, measured["accuracy"])
    if report.ok:
        print(f"OK: {args.policy} replays to its stored figures")
        return 0
    print(f"MISMATCH: {args.policy} does not replay to its stored figures (- stored, + replayed)", file=sys.stderr)
    print(report.diff(), file=sys.stderr)
    return 1


def print_real_scores(result_file: Any, overrides: dict[str, Any], test: float, val: float) -> None:
    """Re-score a surrogate result on the real network and print it beside the prediction.

    :param result_file: the loaded policy.json (found with ``accuracy="surrogate"``).
    :param overrides: the ``--env-kwarg`` overrides.
    :param test: the surrogate's predicted test accuracy.
    :param val: the surrogate's predicted validation accuracy.
    """
    from hwenvs.agents.replay import evaluate_solution, make_env

    env = make_env(result_file, {**overrides, "accuracy": "real"})
    try:
        real_val = evaluate_solution(env, result_file, "val")["accuracy"]
        real_test = evaluate_solution(env, result_file, "test")["accuracy"]
    finally:
        env.close()
    print(
        f"{result_file.env_id} (real network): test accuracy {real_test:.4f}, validation accuracy {real_val:.4f}; "
        f"the surrogate was off by {100 * (test - real_test):+.2f} points on test, {100 * (val - real_val):+.2f} on "
        "validation"
    )
