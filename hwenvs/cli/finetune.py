"""``hwenvs finetune``: HAQ's last step, quantization-aware fine-tuning of a found policy."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, cast

from hwenvs.cli import values
from hwenvs.envs.accuracy_source import TRAINING

if TYPE_CHECKING:
    from hwenvs.envs.haq_env import HAQEnv

MAX_EPOCHS = 1000.0
"""Most ``--epochs``: a bound that no fine-tuning needs and that keeps ``inf`` (or a typo) from running forever."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``hwenvs finetune``."""
    parser = subparsers.add_parser(
        "finetune",
        help="quantization-aware fine-tuning of a policy.json's policy on the task's training split",
        description=(
            "Check the stored policy as `hwenvs evaluate` does, quantize the model at it, fine-tune it through "
            "straight-through estimators on the task's training split (SGD, momentum 0.9, weight decay 4e-5 as HAQ), "
            "print the test accuracy (and validation beside it) before and after, and save the checkpoint."
        ),
    )
    parser.add_argument("policy", type=Path, metavar="POLICY_JSON", help="a policy.json written by `hwenvs search`")
    parser.add_argument(
        "--epochs",
        type=values.real(0.0, MAX_EPOCHS, low_open=True),
        default=1.0,
        help=f"passes over the training split, in (0, {MAX_EPOCHS:g}] (default: 1)",
    )
    parser.add_argument(
        "--steps", type=values.integer(1), default=None, help="exact number of SGD steps (overrides --epochs)"
    )
    parser.add_argument(
        "--lr", type=values.real(0.0, low_open=True), default=1e-3, help="learning rate (default: 1e-3, HAQ's)"
    )
    parser.add_argument("--batch-size", type=values.integer(1), default=64, help="images per step (default: 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the batch order (default: 0)")
    parser.add_argument("--out", type=Path, default=None, help="checkpoint path (default: next to the result file)")
    parser.add_argument(
        "--env-kwarg", action="append", metavar="KEY=VALUE", help="override a stored environment keyword argument"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fine-tune, report and save; returns the exit code."""
    import torch

    from hwenvs import __version__
    from hwenvs.agents.replay import ResultFileError, check_solution, load_result_file, make_env
    from hwenvs.cli.search import parse_kwargs
    from hwenvs.quant import finetune

    out = args.out or args.policy.with_name(args.policy.stem + "_finetuned.pt")
    values.check_output_file(out)  # before the fine-tuning, not after it
    result_file = load_result_file(args.policy)
    if result_file.solution_key != "policy":
        raise ResultFileError(
            f"{args.policy}: fine-tuning needs a HAQ policy, the file holds a {result_file.solution_key!r}"
        )
    env = make_env(result_file, parse_kwargs(args.env_kwarg, "--env-kwarg"))
    # the same validation as `hwenvs evaluate`; a result file of a "policy" replays in a HAQ environment
    haq = cast("HAQEnv", check_solution(env, result_file))
    if TRAINING not in haq.scorer.supports:  # quantized_model() would raise, as a traceback
        raise ResultFileError(
            f"{args.policy}: its environment scores with accuracy={haq.accuracy_source!r} (no network to fine-tune); "
            "pass --env-kwarg accuracy=real to fine-tune the real network"
        )
    model = haq.quantized_model(result_file.solution)
    assert haq.task is not None  # quantized_model() raised otherwise: only surrogate mode has no task
    device = haq.device
    # the environment's own (fused) evaluation, so "before" is exactly what `hwenvs evaluate` reports
    before = tuple(haq.evaluate_solution(result_file.solution, split)["accuracy"] for split in ("test", "val"))
    print(
        f"{result_file.env_id}: float accuracy {_pair(haq.float_accuracy_on('test'), haq.float_accuracy)}; "
        f"quantized before fine-tuning {_pair(*before)}"
    )
    model = finetune(
        model,
        haq.task,
        epochs=args.epochs,
        steps=args.steps,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        device=device,
        progress=True,
    )
    after = (haq.trained_accuracy(model, "test"), haq.trained_accuracy(model, "val"))  # as "before" is measured
    print(f"after fine-tuning: {_pair(*after)} (test {after[0] - before[0]:+.4f})")
    torch.save(
        {
            "state_dict": model.state_dict(),
            "policy": result_file.solution,
            "env_id": result_file.env_id,
            "env_kwargs": result_file.env_kwargs,
            "test_accuracy_before": before[0],
            "test_accuracy_after": after[0],
            "val_accuracy_before": before[1],
            "val_accuracy_after": after[1],
            "float_test_accuracy": haq.float_accuracy_on("test"),
            "float_val_accuracy": haq.float_accuracy,
            "finetune": {"epochs": args.epochs, "steps": args.steps, "lr": args.lr, "seed": args.seed},
            "hwenvs_version": __version__,
        },
        out,
    )
    print(f"checkpoint saved to {out}")
    env.close()
    return 0


def _pair(test: float, val: float) -> str:
    return f"{test:.4f} test ({val:.4f} validation)"
