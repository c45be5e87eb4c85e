"""Benchmark: does Fashion-MNIST separate good solutions from bad ones more than the embedded MNIST task?

On a task where every sensible answer scores alike, no search can show what HAQ and ProxylessNAS are about. For each
task (``--tasks``, default the embedded ``mnist`` and ``fashion-mnist``) this measures, on the test split:

* **uniform k/k**: HAQ-MobileNetV2-BISMO's reference MobileNetV2 with every free layer at k-bit weights and
  activations, k = 2..8, and the float model;
* **random policies**: ``--policies`` episodes of uniformly random actions at ``preserve_ratio`` 0.5 (rolled back into
  the latency budget as every episode is), the accuracy of each policy found; the 5th-95th percentile spread;
* **random architectures**: ProxylessNAS-Mobile's supernet path accuracy over ``--architectures`` uniformly random
  architectures (one-shot actions), the 5th-95th percentile spread.

Episode ``i`` is ``reset(seed=i)`` with ``action_space.seed(i)``, so a run is the same samples however it is split.
Each (task, measurement) is cached under ``results/task_separation_runs/`` every 10 samples; a killed run resumes.
The cache does not know the weights: delete that folder after retraining a task's reference model or supernet.

    python benchmarks/task_separation.py [--tasks mnist fashion-mnist] [--policies 200] [--architectures 200]

Results: ``benchmarks/results/task_separation.json`` and ``.md``, rendered from the JSON by :func:`render`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import results_io

RESULTS = Path(__file__).resolve().parent / "results"
RUNS_DIR = RESULTS / "task_separation_runs"
HAQ_ID = "HAQ-MobileNetV2-BISMO"
NAS_ID = "ProxylessNAS-Mobile"
PRESERVE_RATIO = 0.5
UNIFORM_BITS = range(2, 9)
SAVE_EVERY = 10
RERUN = "python benchmarks/task_separation.py"


def cached(path: Path, count: int, sample: Callable[[int], dict[str, Any]]) -> list[dict[str, Any]]:
    """``sample(i)`` for i in 0..count-1, resuming from (and saving every :data:`SAVE_EVERY` to) ``path``."""
    done: list[dict[str, Any]] = json.loads(path.read_text()) if path.is_file() else []
    for i in range(len(done), count):
        done.append(sample(i))
        if len(done) % SAVE_EVERY == 0 or len(done) == count:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial")
            partial.write_text(json.dumps(done) + "\n")
            partial.replace(path)
    return done[:count]


def episode(env: Any, i: int) -> dict[str, Any]:
    """One episode of uniformly random actions; its terminal info."""
    env.reset(seed=i)
    env.action_space.seed(i)
    while True:
        *_, terminated, truncated, info = env.step(env.action_space.sample())
        if terminated or truncated:
            return info


def haq_measurements(task: str, policies: int) -> dict[str, Any]:
    import gymnasium as gym

    env = gym.make(HAQ_ID, dataset=task, preserve_ratio=PRESERVE_RATIO).unwrapped
    uniform = {}
    for k in UNIFORM_BITS:
        scored = env.evaluate_solution(env.uniform_policy(k, k), split="test")
        uniform[str(k)] = {"test_accuracy": scored["accuracy"], "cost_ratio": scored["cost_ratio"]}

    def random_policy(i: int) -> dict[str, Any]:
        info = episode(env, i)
        test = env.evaluate_solution(info["policy"], split="test")
        return {"val_accuracy": info["accuracy"], "test_accuracy": test["accuracy"], "cost_ratio": info["cost_ratio"]}

    return {
        "float_test_accuracy": env.float_accuracy_on("test"),
        "test_images": env.task.num_images("test"),
        "uniform": uniform,
        "random_policies": cached(RUNS_DIR / f"{task}-haq-policies.json", policies, random_policy),
    }


def nas_measurements(task: str, architectures: int) -> dict[str, Any]:
    import gymnasium as gym

    env = gym.make(NAS_ID, dataset=task, cache_accuracy=False).unwrapped

    def random_architecture(i: int) -> dict[str, Any]:
        info = episode(env, i)
        test = env.evaluate_solution(info["architecture"], split="test")
        return {
            "architecture": info["architecture"],
            "val_accuracy": info["accuracy"],
            "test_accuracy": test["accuracy"],
            "latency_ms": info["latency_ms"],
        }

    return {
        "test_images": env.val_batch_size,
        "random_architectures": cached(RUNS_DIR / f"{task}-nas-architectures.json", architectures, random_architecture),
    }


def spread(values: list[float]) -> dict[str, float]:
    p5, p50, p95 = np.percentile(values, [5, 50, 95])
    return {"p5": float(p5), "median": float(p50), "p95": float(p95), "spread": float(p95 - p5), "n": len(values)}


def summarise(task: str, haq: dict[str, Any], nas: dict[str, Any]) -> dict[str, Any]:
    uniform = haq["uniform"]
    return {
        "task": task,
        "haq": {
            "float_test_accuracy": haq["float_test_accuracy"],
            "test_images": haq["test_images"],
            "uniform": uniform,
            "uniform_range": uniform["8"]["test_accuracy"] - uniform["2"]["test_accuracy"],
            "random_policies": spread([p["test_accuracy"] for p in haq["random_policies"]]),
        },
        "nas": {
            "test_images": nas["test_images"],
            "random_architectures": spread([a["test_accuracy"] for a in nas["random_architectures"]]),
        },
    }


def render(data: dict[str, Any]) -> str:
    """The results markdown, from the JSON alone."""
    results_io.require(data, ("settings", "tasks", "verdicts"), "task_separation.json", RERUN)
    s, tasks = data["settings"], data["tasks"]
    columns = ["", *(t["task"] for t in tasks)]
    uniform = [["float", *(f"{t['haq']['float_test_accuracy']:.4f}" for t in tasks)]]
    for k in reversed(s["uniform_bits"]):
        cells = [f"{t['haq']['uniform'][str(k)]['test_accuracy']:.4f} ({t['haq']['uniform'][str(k)]['cost_ratio']:.3f})"
                 for t in tasks]  # fmt: skip
        uniform.append([f"{k}/{k}", *cells])
    uniform.append(["8/8 minus 2/2", *(f"{t['haq']['uniform_range']:.4f}" for t in tasks)])
    lines = [
        "# How far apart good and bad solutions score, task by task (test split)",
        "",
        f"HAQ: {s['haq_id']}'s reference MobileNetV2; random policies are episodes of uniformly random actions at "
        f"preserve_ratio {s['preserve_ratio']} (rolled back into the latency budget). NAS: {s['nas_id']}'s supernet, "
        "one path per uniformly random architecture. Test images per evaluation: "
        + ", ".join(f"{t['task']} {t['haq']['test_images']} (HAQ) / {t['nas']['test_images']} (NAS)" for t in tasks)
        + ".",
        "",
        "## Uniform k/k (test accuracy; cost as a share of 8/8 latency in brackets)",
        "",
        *results_io.table(columns, uniform, spaced=True),
    ]
    for title, key, sub in (
        (f"## {s['policies']} random HAQ policies at preserve_ratio {s['preserve_ratio']}", "haq", "random_policies"),
        (f"## Supernet accuracy of {s['architectures']} random architectures", "nas", "random_architectures"),
    ):
        rows = []
        for stat in ("p5", "median", "p95", "spread"):
            label = {"p5": "5th percentile", "p95": "95th percentile", "spread": "spread (95th - 5th)"}.get(stat, stat)
            rows.append([label, *(f"{t[key][sub][stat]:.4f}" for t in tasks)])
        lines += ["", title, "", *results_io.table(columns, rows, spaced=True)]
    if data["verdicts"]:
        lines += ["", "## Does the harder task widen the signals?", ""]
        for v in data["verdicts"]:
            lines.append(
                f"* {v['what']}: {v['harder']} {v['harder_value']:.4f} vs {v['easier']} {v['easier_value']:.4f} "
                f"({v['ratio']:.1f}x): {'wider' if v['wider'] else 'not wider'}."
            )
    return "\n".join(lines) + "\n"


def verdicts(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each signal on Fashion-MNIST against MNIST (when both were measured)."""
    by_name = {t["task"]: t for t in tasks}
    if not {"mnist", "fashion-mnist"} <= by_name.keys():
        return []
    hard, easy = by_name["fashion-mnist"], by_name["mnist"]
    signals = {
        "uniform 8/8 minus 2/2 test accuracy": lambda t: t["haq"]["uniform_range"],
        "5th-95th percentile spread of random HAQ policies": lambda t: t["haq"]["random_policies"]["spread"],
        "5th-95th percentile spread of random architectures' supernet accuracy": (
            lambda t: t["nas"]["random_architectures"]["spread"]
        ),
    }
    out = []
    for what, value in signals.items():
        h, e = value(hard), value(easy)
        out.append(
            {
                "what": what,
                "harder": "fashion-mnist",
                "harder_value": h,
                "easier": "mnist",
                "easier_value": e,
                "ratio": h / e if e else float("inf"),
                "wider": h > e,
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["mnist", "fashion-mnist"])
    parser.add_argument("--policies", type=int, default=200)
    parser.add_argument("--architectures", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for task_separation.json / .md")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    results_io.use_shared_reference_data()  # the Mobile latency table: this machine cannot download it
    import hwenvs  # noqa: F401  (registers the environments)

    tasks = []
    for task in args.tasks:
        print(f"{task}: HAQ", flush=True)
        haq = haq_measurements(task, args.policies)
        print(f"{task}: NAS", flush=True)
        nas = nas_measurements(task, args.architectures)
        tasks.append(summarise(task, haq, nas))
    data = {
        "settings": {
            "haq_id": HAQ_ID,
            "nas_id": NAS_ID,
            "preserve_ratio": PRESERVE_RATIO,
            "uniform_bits": list(UNIFORM_BITS),
            "policies": args.policies,
            "architectures": args.architectures,
        },
        "tasks": tasks,
        "verdicts": verdicts(tasks),
    }
    results_io.write(args.out / "task_separation.json", data, args.out / "task_separation.md", render(data))
    print(render(data))


if __name__ == "__main__":
    main()
