"""``hwenvs search``: run an agent on an environment and write history.csv, policy.json and plot.png."""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from typing import Any


def parse_value(text: str) -> Any:
    """A command-line value: a Python literal (``0.5``, ``8``, ``True``, ``None``, ``[1, 2]``) or else the string."""
    lowered = {"true": True, "false": False, "null": None, "none": None}
    if text.lower() in lowered:
        return lowered[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_kwargs(pairs: list[str] | None, what: str) -> dict[str, Any]:
    """``["key=value", ...]`` as a dict of parsed values.

    :param pairs: the repeated option's values.
    :param what: the option's name, for error messages.
    """
    kwargs: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{what} expects key=value, got {pair!r}")
        kwargs[key.strip()] = parse_value(value.strip())
    return kwargs


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``hwenvs search``."""
    parser = subparsers.add_parser(
        "search",
        help="search an environment with an agent (ddpg, random, fixed, reinforce, gradient, sb3:ALGO, or your own)",
        description=(
            "Run an agent on an environment. Writes OUT/history.csv (one row per episode), OUT/policy.json (the "
            "best policy, replayable with `hwenvs evaluate`) and OUT/plot.png, and prints the found policy's accuracy "
            "and cost (HAQ: next to float and fixed 8-bit). Ctrl-C stops the search and keeps what was found so far."
        ),
    )
    parser.add_argument("env_id", metavar="ENV_ID", help="e.g. HAQ-MobileNetV2-BISMO or ProxylessNAS-Mobile")
    parser.add_argument(
        "--agent",
        default="ddpg",
        help="ddpg (HAQ), fixed (HAQ's uniform-precision baseline), random (any environment), reinforce or gradient "
        "(ProxylessNAS), sb3:TD3 / sb3:SAC / sb3:DDPG / sb3:PPO / sb3:A2C (any SB3 or sb3-contrib algorithm, e.g. "
        "sb3:MaskablePPO), or module:Class for your own Agent or Policy (default: ddpg)",
    )
    parser.add_argument("--episodes", type=int, default=100, help="episodes to run (default: 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of agent, torch, numpy and env (default: 0)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: runs/ENV_ID-AGENT-sSEED)")
    parser.add_argument(
        "--env-kwarg",
        action="append",
        metavar="KEY=VALUE",
        help="environment keyword argument, repeatable (e.g. preserve_ratio=0.5 constraint=energy)",
    )
    parser.add_argument(
        "--agent-kwarg",
        action="append",
        metavar="KEY=VALUE",
        help="agent hyperparameter, repeatable (e.g. warmup_episodes=10 for ddpg, learning_rate=3e-4 for sb3)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-plot", action="store_true", help="do not draw plot.png")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the search; exit code 0, or 130 if interrupted (what was found is on disk either way)."""
    import gymnasium as gym

    import hwenvs  # noqa: F401  (registers the environments)
    from agents.pipeline import build_agent, format_summary, run_search, seed_everything, summary_rows

    env_kwargs = parse_kwargs(args.env_kwarg, "--env-kwarg")
    agent_kwargs = parse_kwargs(args.agent_kwarg, "--agent-kwarg")
    out = args.out or Path("runs") / f"{args.env_id}-{args.agent.replace(':', '_')}-s{args.seed}"
    if args.env_id not in gym.registry:
        similar = sorted(k for k in gym.registry if k.startswith(args.env_id.split("-")[0]))
        raise ValueError(
            f"unknown environment {args.env_id!r}" + (f"; did you mean one of {similar}?" if similar else "")
        )
    seed_everything(args.seed)
    env = gym.make(args.env_id, **env_kwargs)
    agent = build_agent(args.agent, env, seed=args.seed, **agent_kwargs)
    meta = {
        "env_id": args.env_id,
        "env_kwargs": env_kwargs,
        "agent": args.agent,
        "agent_kwargs": agent_kwargs,
        "seed": args.seed,
    }
    result = run_search(env, agent, args.episodes, out, meta=meta, progress=not args.no_progress, plot=not args.no_plot)
    if result.best is None:
        print("no episode finished; nothing written", file=sys.stderr)
        return 130 if result.interrupted else 1
    state = "interrupted after" if result.interrupted else "finished"
    print(f"\n{state} {result.episodes} episodes in {result.wall_time_s:.1f} s; results in {out}/")
    print(format_summary(summary_rows(env, result.best_info), unit=str(result.best_info.get("unit", ""))))
    env.close()
    return 130 if result.interrupted else 0
