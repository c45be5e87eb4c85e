"""``hwenvs search``: run an agent on an environment and write history.csv, policy.json and plot.png."""

from __future__ import annotations

import argparse
import ast
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from hwenvs.cli import values
from hwenvs.cli.main import UsageError

RESULT_FILES = ("history.csv", "policy.json", "plot.png")
"""What a search writes into ``--out``; a folder holding any of them holds another search's results."""

SEED_MAX = 2**32 - 1
"""The largest ``--seed``: the search seeds numpy's global generator, which takes 0..2**32 - 1 (a larger or negative
seed ended in numpy's own message, naming no option, after ``--out`` was made)."""


REFERENCE_POINTS = {
    "HAQ": "float, fixed 8-bit, the best uniform policy within the budget",
    "ProxylessNAS": "uniform k3e3, the best uniform architecture",
}
"""What the reference points of each family are, for the line printed before they are measured."""


def say(message: str) -> None:
    """A status line on stdout, with the results (stderr is for errors and the progress bar)."""
    print(message, flush=True)


def describe_task(env: Any) -> str:
    """What an environment evaluates on, e.g. ``"mnist task, 1,000 validation and 1,000 test images"``."""
    env = env.unwrapped
    task = getattr(env, "task", None)
    if task is not None:
        return f"{task.name} task, {task.num_val:,} validation and {task.num_test:,} test images"
    if getattr(env, "accuracy_source", None) == "surrogate":
        return "surrogate accuracy (a predictor, no images)"
    return type(env).__name__


NON_FINITE = {"nan": math.nan, "inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "infinity": math.inf,
              "+infinity": math.inf, "-infinity": -math.inf}  # fmt: skip
"""Numbers Python's literals cannot write: read as floats, so that the checks refuse them as numbers that are not
finite (as a string, ``actor_lr=nan`` was refused as "not a number", or taken where any string goes)."""


def parse_value(text: str) -> Any:
    """A command-line value: a Python literal (``0.5``, ``8``, ``True``, ``None``, ``[1, 2]``), ``nan`` or ``inf``
    as floats, or else the string."""
    lowered = {"true": True, "false": False, "null": None, "none": None}
    if text.lower() in lowered:
        return lowered[text.lower()]
    if text.lower() in NON_FINITE:
        return NON_FINITE[text.lower()]
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
        key, parsed = key.strip(), parse_value(value.strip())
        if key in kwargs:  # the first value would be dropped without a word: an option that does nothing
            raise ValueError(f"{what} gives {key} twice ({kwargs[key]!r}, then {parsed!r}); give each key once")
        kwargs[key] = parsed
    return kwargs


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``hwenvs search``."""
    from hwenvs.agents.registry import AGENTS

    parser = subparsers.add_parser(
        "search",
        help=f"search an environment with an agent ({', '.join(AGENTS)}, sb3:ALGO, or your own)",
        description=(
            "Run an agent on an environment. Writes OUT/history.csv (one row per episode), OUT/policy.json (the "
            "best solution by validation reward, replayable with `hwenvs evaluate`) and OUT/plot.png, and prints the "
            "found solution's test accuracy (validation beside it) and cost next to the reference points (HAQ: float, "
            "fixed 8-bit, the best uniform policy within the budget), then whether the search beat the best uniform "
            "solution on test. Ctrl-C stops the search and keeps what was found so far. Agents that can save their "
            "state (all built-in ones) also write OUT/checkpoint.pt after every episode (every 10 for sb3:*), and "
            "--resume continues a killed or interrupted search from it."
        ),
    )
    parser.add_argument("env_id", metavar="ENV_ID", help="e.g. HAQ-MobileNetV2-BISMO or ProxylessNAS-Mobile")
    parser.add_argument(
        "--agent",
        default="ddpg",
        help="ddpg (HAQ's DDPG and schedule), ddpg-warm (HAQ's DDPG started from the best uniform policy), fixed "
        "(HAQ's uniform-precision baseline), random (any environment), reinforce or gradient "
        "(ProxylessNAS), tpe or cmaes (Optuna's TPE and CMA-ES samplers, one trial per episode; pip install "
        "'hwenvs[benchmark]'), sb3:TD3 / sb3:SAC / sb3:DDPG / sb3:PPO / sb3:A2C (any SB3 or sb3-contrib algorithm, "
        "e.g. sb3:MaskablePPO), or module:Class for your own Agent or Policy, looked for in the current folder first "
        "as python -m does (default: ddpg)",
    )
    parser.add_argument("--episodes", type=int, default=100, help="episodes to run (default: 100)")
    parser.add_argument(
        "--seed",
        type=values.integer(0, SEED_MAX, "numpy's global seed"),
        default=0,
        help=f"seed of agent, torch, numpy and env, 0..{SEED_MAX} (default: 0)",
    )
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
        help="agent hyperparameter, repeatable, over the agent's defaults (e.g. warmup_episodes=10 for ddpg, "
        "learning_rate=3e-4 or verbose=1 for sb3)",
    )
    parser.add_argument(
        "--tensorboard",
        type=Path,
        default=None,
        metavar="DIR",
        help="write TensorBoard scalars for every episode (reward, validation accuracy, cost ratio, and the best so "
        "far with its test accuracy) into DIR/<name of OUT>, for any agent; view with `tensorboard --logdir DIR`. "
        'Needs pip install "hwenvs[tensorboard]". SB3 agents log their own training figures with --agent-kwarg '
        "tensorboard_log=DIR",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-plot", action="store_true", help="do not draw plot.png")
    parser.add_argument(
        "--test-at-end",
        action="store_true",
        help="evaluate only the final best solution on the test split, not each new best as it is found (saves one "
        "test evaluation per improvement on a large test split; policy.json has no test figures until the end)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the results of an earlier search in OUT (its history.csv, policy.json and plot.png are "
        "deleted first); without it such an OUT is refused",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the search in OUT, killed (even by SIGKILL) or interrupted, from its last checkpoint up to "
        "--episodes in all: history.csv is cut back to the checkpoint and the rest is run, with the same history "
        "as an uninterrupted search (approximately for sb3:*). Give the same ENV_ID, --agent, --seed, --env-kwarg "
        "and --agent-kwarg as the first time (a difference is refused, naming it); an OUT without results starts "
        "a new search. ProxylessNAS with weights=online cannot resume",
    )
    parser.set_defaults(func=run)


def check_env_kwargs(env_id: str, env_kwargs: dict[str, Any]) -> None:
    """Check ``--env-kwarg`` values with the environment's own argument checks, before anything is built.

    hwenvs environments offer ``check_arguments`` (see :mod:`hwenvs.envs.checks`); an environment without it is
    checked by ``gym.make`` itself.

    :param env_id: a registered id.
    :param env_kwargs: the parsed ``--env-kwarg`` values.
    :raises UsageError: an unknown name (listing the valid ones), or a value of the wrong type or out of range.
    """
    from hwenvs.registration import check_env_kwargs as check

    try:
        check(env_id, env_kwargs)
    except (TypeError, ValueError, RuntimeError) as exc:  # the checks raise nothing else, and only for bad input
        raise UsageError(f"--env-kwarg: {exc}") from exc


def check_agent(spec: str, agent_kwargs: dict[str, Any]) -> None:
    """Check ``--agent`` and ``--agent-kwarg`` names and values before the environment is built (found after it, a
    misspelt agent or hyperparameter cost the build, which loads data and a network, and left an empty ``--out``).

    The built-in agents and ``sb3:ALGO`` are checked as ``hwenvs benchmark --dry-run`` checks them; a user's
    ``module:Class`` is imported from the current folder when it is built, and checked then. What needs the
    environment (an SB3 algorithm on a space it does not suit) is checked when the agent is built.

    :param spec: ``--agent``.
    :param agent_kwargs: the parsed ``--agent-kwarg`` values.
    :raises UsageError: an unknown agent or SB3 algorithm, an unknown hyperparameter, or a value out of range.
    """
    from hwenvs.agents.registry import AGENTS, check_agent_kwargs

    if ":" in spec and not spec.startswith("sb3:"):
        return
    if not spec.startswith("sb3:") and spec not in AGENTS:
        raise UsageError(f"unknown agent {spec!r}; valid: {sorted(AGENTS)} or sb3:ALGO (e.g. sb3:TD3, sb3:PPO)")
    try:
        if spec.startswith("sb3:"):
            from hwenvs.agents.sb3 import algorithm_class

            try:
                algorithm_class(spec.split(":", 1)[1])
            except ValueError as exc:
                raise UsageError(f"--agent {spec}: {exc}") from exc
        check_agent_kwargs(spec, agent_kwargs)
    except ImportError:
        return  # an optional package is missing: building the agent says which, and how to install it
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--agent-kwarg: {exc}") from exc


def check_tensorboard(folder: Path) -> None:
    """Check that ``--tensorboard`` can be written, before any work (a file in its path ended in the system's
    "Not a directory" after the environment was built, naming no option).

    :param folder: ``--tensorboard`` (the scalars go to ``folder/<name of --out>``).
    :raises UsageError: TensorBoard's package is missing, or the folder cannot be created or written.
    """
    from hwenvs.agents.tensorboard import summary_writer_class

    try:
        summary_writer_class()
    except ImportError as exc:
        raise UsageError(f"--tensorboard: {exc}") from exc
    values.check_output_folder(folder, "--tensorboard")  # the run's scalars go to a folder made inside it


LOCK_NAME = ".hwenvs-search.lock"
"""The file in ``--out`` a running search holds locked (it stays, unlocked, after the search)."""


def lock_out(out: Path) -> Any:
    """Take ``out`` for this search: two searches writing one folder would interleave and lose a result.

    The lock is the operating system's (``flock``) on :data:`LOCK_NAME`: it is released when the process ends,
    however it ends (even SIGKILL), so a killed search never leaves its folder locked for ``--resume``. Where
    ``fcntl`` does not exist (Windows) no lock is taken.

    :param out: the ``--out`` folder (created if missing).
    :returns: the open lock file, to keep open while the search runs (None without ``fcntl``).
    :raises UsageError: ``out`` is a file or cannot be created, or another search holds it (with its process id).
    """
    try:
        import fcntl
    except ImportError:
        return None
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder; give a folder (it is created if missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        handle = open(out / LOCK_NAME, "a+")  # held open, and locked, for the whole search
    except OSError as exc:
        raise UsageError(f"--out {out} is not a writable folder: {exc.strerror or exc}") from exc
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise UsageError(
            f"--out {out} is being written by another hwenvs search ({holder}); wait for it to end (then --resume "
            "continues it) or choose another folder"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"hwenvs search, process {os.getpid()}")
    handle.flush()
    return handle


def resolve_env_id(text: str) -> str:
    """``ENV_ID`` as a registered id: ``module:Id`` imports ``module`` first, as ``gym.make`` does
    (``hwenvs:HAQ-MobileNetV2-BISMO`` is ``HAQ-MobileNetV2-BISMO``).

    :param text: what was given.
    :raises UsageError: a module that cannot be imported.
    """
    import importlib

    module, sep, env_id = text.rpartition(":")
    if not sep:
        return text
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise UsageError(f"ENV_ID {text!r}: cannot import module {module!r} ({exc})") from exc
    return env_id


def check_searchable(env_id: str) -> None:
    """Refuse an environment whose results ``hwenvs evaluate`` could not replay (one without the
    :class:`~hwenvs.envs.contract.SearchEnv` methods: no solution to store, no references to report against).

    :param env_id: a registered id.
    :raises UsageError: naming the environment's class and what it lacks.
    """
    from hwenvs.envs.contract import SearchEnv
    from hwenvs.registration import missing_search_methods

    name, methods = missing_search_methods(env_id)
    if methods:
        raise UsageError(
            f"{env_id} ({name}) is not a search environment: it lacks {', '.join(methods)} "
            f"(hwenvs.envs.contract.{SearchEnv.__name__}), so its result could not be replayed by `hwenvs "
            "evaluate`; search a HAQ-* or ProxylessNAS-* id, or an environment that offers the contract"
        )


def prepare_out(out: Path, overwrite: bool) -> None:
    """Make sure a search can write its results into ``out`` before any work starts.

    Creates the folder, writes and deletes a probe file, and refuses a folder that holds another search's results
    unless ``overwrite`` (then they are deleted, so no stale plot.png stays beside the new results).

    :param out: the ``--out`` folder.
    :param overwrite: ``--overwrite`` was given.
    :raises UsageError: ``out`` is a file, cannot be created or written, or holds results without ``overwrite``.
    """
    values.check_output_folder(out, "--out")
    found = [name for name in RESULT_FILES if (out / name).exists()]
    if found and not overwrite:
        raise UsageError(
            f"--out {out} already holds a search's results ({', '.join(found)}); pass --overwrite to replace them "
            "or choose another folder"
        )
    for name in found:
        try:
            (out / name).unlink()
        except OSError as exc:
            raise UsageError(f"--overwrite: cannot delete {out / name}: {exc.strerror or exc}") from exc


def run(args: argparse.Namespace) -> int:
    """Run the search; exit code 0, or 130 if interrupted (what was found is on disk either way)."""
    import gymnasium as gym

    import hwenvs  # noqa: F401  (registers the environments)
    from hwenvs.agents.pipeline import build_agent, run_search, seed_everything
    from hwenvs.agents.report import format_summary
    from hwenvs.envs.contract import SearchEnv

    env_kwargs = parse_kwargs(args.env_kwarg, "--env-kwarg")
    agent_kwargs = parse_kwargs(args.agent_kwarg, "--agent-kwarg")
    args.env_id = resolve_env_id(args.env_id)
    out = args.out or Path("runs") / f"{args.env_id}-{args.agent.replace(':', '_')}-s{args.seed}"
    if args.env_id not in gym.registry:
        similar = sorted(k for k in gym.registry if k.startswith(args.env_id.split("-")[0]))
        raise ValueError(
            f"unknown environment {args.env_id!r}" + (f"; did you mean one of {similar}?" if similar else "")
        )
    if args.episodes < 1:
        raise UsageError(f"--episodes must be a positive integer, got {args.episodes}")
    check_searchable(args.env_id)
    check_env_kwargs(args.env_id, env_kwargs)
    check_agent(args.agent, agent_kwargs)
    if args.resume and args.overwrite:
        raise UsageError("--resume continues the search in --out and --overwrite replaces it: give one of them")
    if args.tensorboard is not None:
        check_tensorboard(args.tensorboard)  # the last check: it makes the folder it probes
    lock = lock_out(out)  # noqa: F841  (held until the process ends: the OS releases it however the search ends)
    if not (args.resume and any((out / name).exists() for name in RESULT_FILES)):
        prepare_out(out, args.overwrite)  # a folder to resume holds results: run_search checks it is the same search
    seed_everything(args.seed)
    say(f"building {args.env_id}" + "".join(f", {k}={v!r}" for k, v in env_kwargs.items()) + "...")
    started = time.perf_counter()
    env = gym.make(args.env_id, **env_kwargs)
    say(f"built in {time.perf_counter() - started:.1f} s: {describe_task(env)}")
    try:
        agent = build_agent(args.agent, env, seed=args.seed, **agent_kwargs)
    except (TypeError, ValueError) as exc:
        if not agent_kwargs:
            raise  # not the user's: a bug
        raise UsageError(f"--agent-kwarg: {exc}") from exc
    except AssertionError as exc:  # Stable-Baselines3 asserts what spaces an algorithm supports
        if not args.agent.startswith("sb3:"):
            raise
        raise UsageError(f"--agent {args.agent} cannot run {args.env_id}: {exc}") from exc
    meta = {
        "env_id": args.env_id,
        "env_kwargs": env_kwargs,
        "agent": args.agent,
        "agent_kwargs": agent_kwargs,
        "seed": args.seed,
    }
    progress, plot = not args.no_progress, not args.no_plot
    # one run folder per search under DIR, named as its output folder, so `tensorboard --logdir DIR` compares them
    board = args.tensorboard / out.resolve().name if args.tensorboard is not None else None
    plan = f"{args.episodes} episodes of {args.agent} (results in {out}/)"
    if isinstance(env.unwrapped, SearchEnv):  # run_search measures them first, before any episode
        family = REFERENCE_POINTS.get(args.env_id.split("-")[0], "the baselines")
        say(f"scoring the reference points ({family}) on validation and test, then {plan}...")
    else:
        say(f"running {plan}...")
    result = run_search(
        env, agent, args.episodes, out, meta=meta, progress=progress, plot=plot, resume=args.resume,
        tensorboard=board, test_each_best=not args.test_at_end,
    )  # fmt: skip
    if result.best is None:
        print("no episode finished; nothing written", file=sys.stderr)
        return 130 if result.interrupted else 1
    state = "interrupted after" if result.interrupted else "finished"
    print(f"\n{state} {result.episodes} episodes in {result.wall_time_s:.1f} s; results in {out}/")
    ratio_name = "x 8-bit" if args.env_id.startswith("HAQ-") else "x target"
    print(format_summary(result.summary_rows(), unit=str(result.best_info.get("unit", "")), ratio_name=ratio_name))
    if result.verdict is not None:
        print(result.verdict["text"])
    env.close()
    return 130 if result.interrupted else 0
