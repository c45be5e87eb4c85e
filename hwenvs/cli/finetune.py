"""``hwenvs finetune``: HAQ's last step, quantization-aware fine-tuning of a found policy."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``hwenvs finetune``."""
    parser = subparsers.add_parser(
        "finetune",
        help="quantization-aware fine-tuning of a policy.json's policy on the task's training split",
        description=(
            "Quantize the model at the stored policy, fine-tune it through straight-through estimators on the "
            "task's training split (SGD, momentum 0.9, weight decay 4e-5 as HAQ), print the validation accuracy "
            "before and after, and save the checkpoint."
        ),
    )
    parser.add_argument("policy", type=Path, metavar="POLICY_JSON", help="a policy.json written by `hwenvs search`")
    parser.add_argument("--epochs", type=float, default=1.0, help="passes over the training split (default: 1)")
    parser.add_argument("--steps", type=int, default=None, help="exact number of SGD steps (overrides --epochs)")
    parser.add_argument("--lr", type=float, default=1e-3, help="learning rate (default: 1e-3, HAQ's)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per step (default: 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the batch order (default: 0)")
    parser.add_argument("--out", type=Path, default=None, help="checkpoint path (default: next to the policy file)")
    parser.add_argument(
        "--env-kwarg", action="append", metavar="KEY=VALUE", help="override a stored environment keyword argument"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fine-tune, report and save; returns the exit code."""
    import torch

    from agents.replay import PolicyFileError, load_policy_file, make_env
    from hwenvs import __version__
    from hwenvs.cli.search import parse_kwargs
    from hwenvs.models.evaluate import accuracy
    from hwenvs.quant import finetune

    policy_file = load_policy_file(args.policy)
    if policy_file.solution_key != "policy":
        raise PolicyFileError(
            f"{args.policy}: fine-tuning needs a HAQ policy, the file holds a {policy_file.solution_key!r}"
        )
    env = make_env(policy_file, parse_kwargs(args.env_kwarg, "--env-kwarg"))
    haq = env.unwrapped
    try:
        model = haq.quantized_model(policy_file.solution)
    except ValueError as exc:
        raise PolicyFileError(f"{args.policy}: the stored policy does not fit {policy_file.env_id}: {exc}") from exc
    device = getattr(haq, "device", "cpu")
    before = accuracy(model.to(device), haq.task, device)
    print(f"{policy_file.env_id}: float accuracy {haq.float_accuracy:.4f}, quantized before fine-tuning {before:.4f}")
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
    after = accuracy(model, haq.task, device)
    print(f"after fine-tuning: {after:.4f} ({after - before:+.4f})")
    out = args.out or args.policy.with_name(args.policy.stem + "_finetuned.pt")
    torch.save(
        {
            "state_dict": model.state_dict(),
            "policy": policy_file.solution,
            "env_id": policy_file.env_id,
            "env_kwargs": policy_file.env_kwargs,
            "accuracy_before": before,
            "accuracy_after": after,
            "float_accuracy": haq.float_accuracy,
            "finetune": {"epochs": args.epochs, "steps": args.steps, "lr": args.lr, "seed": args.seed},
            "hwenvs_version": __version__,
        },
        out,
    )
    print(f"checkpoint saved to {out}")
    env.close()
    return 0
