"""Speed of the HAQ environment against a plain float forward pass, measured in the same run.

Requirement: one episode without fine-tuning on the embedded MobileNetV2 task costs at most 1.5x a plain float
forward pass of the same model over the same validation set (1,000 images), and the rollback and cost look-ups of
one episode take under 5 ms. Also reported: ``gym.make`` cold (a fresh Python process, torch import included) and
warm, and the first episode (quantized-weight and activation-range caches cold) against later ones.

What is timed:

* **float pass**: the shipped reference MobileNetV2, eval mode, ``torch.no_grad``, over the validation split in the
  environment's evaluation batch size, through the same accuracy helper the environment uses (argmax included);
* **episode**: ``reset`` + 106 ``step`` calls with uniformly random actions through the ``gym.make`` wrappers,
  ``cache_accuracy=False`` and a fresh random policy every episode, so every episode evaluates its policy;
* **rollback + costs**: ``BitBudget.rollback`` and ``BitBudget.cost`` on the policy an episode's actions produce
  (before the rollback), plus the worst case for the default budget (every layer at 8/8 bits);
* **episode without evaluation**: an episode replayed with the accuracy cache on, so everything but the forward pass.

Float pass and episode alternate, ``--repeats`` pairs; the ratio is taken per adjacent pair (robust to the load of
a shared machine drifting) and reported as the median and the best pair, with min / median of each time.

An episode can come in under the plain float pass although it does more work per layer (fake-quantizing every
layer's input): its evaluation folds each BatchNorm into the cached quantized weights (after quantization, so the
quantized values are HAQ's), absorbs each ReLU6 into the next layer's input quantizer and runs the convolutions
channels_last (see ``hwenvs/quant/quantized_layer.py``). The channels_last float row shows the float model with the
layout trick alone; the batch-500 row is the batch size the environment evaluated in before.

    python benchmarks/haq_env_speed.py --repeats 7
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV_ID = "HAQ-MobileNetV2-BISMO"
RATIO_LIMIT = 1.5
ROLLBACK_LIMIT_MS = 5.0
MAKE_LIMIT_S = 10.0

COLD_MAKE = f"""
import time
t = time.perf_counter()
import gymnasium as gym
import hwenvs
imported = time.perf_counter()
gym.make({ENV_ID!r})
done = time.perf_counter()
print(imported - t, done - imported, done - t)
"""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cold_make(threads: int | None) -> tuple[float, float, float]:
    """(import s, gym.make s, total s) in a fresh interpreter."""
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    out = subprocess.run(
        [sys.executable, "-c", COLD_MAKE], capture_output=True, text=True, check=True, cwd=ROOT, env=env
    ).stdout
    imported, made, total = map(float, out.split()[-3:])
    return imported, made, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20, help="episodes for the rollback/cost timing")
    parser.add_argument("--repeats", type=int, default=7, help="(float pass, episode) pairs")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--cold-makes", type=int, default=2, help="fresh-process gym.make timings")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "haq_env_speed.md")
    args = parser.parse_args()

    load_before = os.getloadavg()
    cold = [cold_make(args.threads) for _ in range(args.cold_makes)]

    t = time.perf_counter()
    import gymnasium as gym
    import numpy as np
    import torch

    import hwenvs
    from hwenvs.models.evaluate import accuracy
    from hwenvs.models.pretrained import load_reference_model

    try:
        from hwenvs.quant.quantized_model import EVAL_BATCH_SIZE
    except ImportError:  # older hwenvs evaluated in batches of 500
        EVAL_BATCH_SIZE = 500

    import_s = time.perf_counter() - t
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)

    t = time.perf_counter()
    env = gym.make(ENV_ID, cache_accuracy=False)
    make_first_s = time.perf_counter() - t
    t = time.perf_counter()
    gym.make(ENV_ID, cache_accuracy=False).close()
    make_again_s = time.perf_counter() - t
    base = env.unwrapped
    steps = base.steps_per_episode
    task = base.task
    float_model = load_reference_model("mobilenet_v2", task, "default").eval()

    def float_pass() -> float:
        start = time.perf_counter()
        accuracy(float_model, task, batch_size=EVAL_BATCH_SIZE)
        return time.perf_counter() - start

    def float_pass_channels_last() -> float:
        model = float_model.to(memory_format=torch.channels_last)
        start = time.perf_counter()
        with torch.no_grad():
            for x, _ in task.val_batches(EVAL_BATCH_SIZE):
                model(x.contiguous(memory_format=torch.channels_last)).argmax(1)
        elapsed = time.perf_counter() - start
        float_model.to(memory_format=torch.contiguous_format)
        return elapsed

    def episode(actions: np.ndarray, e: gym.Env = env) -> tuple[float, dict]:
        start = time.perf_counter()
        e.reset(seed=args.seed)
        info: dict = {}
        for action in actions:
            *_, info = e.step(np.array([action], dtype=np.float32))
        return time.perf_counter() - start, info

    def random_actions() -> np.ndarray:
        return rng.uniform(-1, 1, steps)

    # (d) first episode: quantized weights and activation ranges computed on first use (and the float accuracy).
    first_episode_s, _ = episode(random_actions())
    # Warm every (layer, bits) the search can reach: one exact evaluation per uniform bit width.
    t = time.perf_counter()
    for bits in range(base.min_bits, base.max_bits + 1):
        base.evaluate_policy(base.uniform_policy(bits))
    warm_all_s = time.perf_counter() - t
    float_pass()  # oneDNN primitive caches, page faults of the first pass
    episode(random_actions())

    # (a) + (b) alternating pairs.
    floats, episodes, ratios = [], [], []
    for _ in range(args.repeats):
        f = float_pass()
        e, _ = episode(random_actions())
        floats.append(f)
        episodes.append(e)
        ratios.append(e / f)
    floats_cl = [float_pass_channels_last() for _ in range(max(3, args.repeats // 2))]
    floats_500 = []
    if EVAL_BATCH_SIZE != 500:
        for _ in range(max(3, args.repeats // 2)):
            start = time.perf_counter()
            accuracy(float_model, task, batch_size=500)
            floats_500.append(time.perf_counter() - start)

    # (c) rollback + cost look-ups, and an episode without its evaluation (accuracy cache hit).
    budget = base.budget_model
    rollback_ms = []
    worst_cases = [budget.uniform(base.max_bits)]
    for k in range(args.episodes + len(worst_cases)):
        if k < len(worst_cases):
            w, a = worst_cases[k]
        else:
            bits = np.array([base.action_to_bits(x) for x in random_actions()])
            w, a = bits[0::2], bits[1::2]
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            fw, fa = budget.rollback(w, a)
            cost = budget.cost(fw, fa)
            _ = cost / budget.reference_cost, budget.cost(w, np.where(a < 0, 0, a))
            best = min(best, time.perf_counter() - start)
        rollback_ms.append(best * 1e3)
    cached_env = gym.make(ENV_ID, cache_accuracy=True)
    actions = random_actions()
    episode(actions, cached_env)
    no_eval_ms = [episode(actions, cached_env)[0] * 1e3 for _ in range(max(5, args.repeats))]
    load_after = os.getloadavg()

    med, best = statistics.median, min
    ratio_median = med(ratios)
    ratio_best = best(ratios)
    rollback_worst = max(rollback_ms)
    rows = [
        ("float forward, 1000 val images (plain, contiguous)", f"{best(floats):.3f}", f"{med(floats):.3f}", "s"),
        ("episode: reset + 106 steps + evaluation", f"{best(episodes):.3f}", f"{med(episodes):.3f}", "s"),
        ("ratio episode / float (per adjacent pair)", f"{ratio_best:.2f}", f"{ratio_median:.2f}", "x"),
        ("float forward, channels_last (reference only)", f"{best(floats_cl):.3f}", f"{med(floats_cl):.3f}", "s"),
    ]
    if floats_500:
        rows.append(
            ("float forward, batch 500 (reference only)", f"{best(floats_500):.3f}", f"{med(floats_500):.3f}", "s")
        )
    rows += [
        (
            "rollback + cost look-ups of one episode (worst of policies)",
            f"{min(rollback_ms):.3f}",
            f"{rollback_worst:.3f}",
            "ms",
        ),
        ("episode without evaluation (accuracy cache hit)", f"{best(no_eval_ms):.2f}", f"{med(no_eval_ms):.2f}", "ms"),
        ("first episode (cold quantization caches, float accuracy)", f"{first_episode_s:.3f}", "", "s"),
        ("warming every (layer, bits): 7 exact evaluations", f"{warm_all_s:.3f}", "", "s"),
        ("gym.make in this process, first (imports env module)", f"{make_first_s:.3f}", "", "s"),
        ("gym.make in this process, again", f"{make_again_s:.3f}", "", "s"),
        ("import gymnasium + hwenvs + torch in this process", f"{import_s:.3f}", "", "s"),
    ]
    for i, (imported, made, total) in enumerate(cold):
        rows.append(
            (
                f"fresh process #{i + 1}: import hwenvs + gym.make, torch import included (import / make)",
                f"{total:.3f}",
                f"{imported:.2f} / {made:.2f}",
                "s",
            )
        )

    checks = [
        (
            f"episode <= {RATIO_LIMIT}x float pass (median pair ratio)",
            ratio_median <= RATIO_LIMIT,
            f"{ratio_median:.2f}x",
        ),
        (
            f"rollback + costs < {ROLLBACK_LIMIT_MS} ms (worst policy)",
            rollback_worst < ROLLBACK_LIMIT_MS,
            f"{rollback_worst:.3f} ms",
        ),
    ]
    if cold:
        worst_cold = max(total for *_, total in cold)
        checks.append((f"cold import + gym.make < {MAKE_LIMIT_S} s", worst_cold < MAKE_LIMIT_S, f"{worst_cold:.2f} s"))

    machine = [
        ("date", datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")),
        ("CPU", cpu_model()),
        ("logical CPUs", str(os.cpu_count())),
        ("torch threads", str(torch.get_num_threads())),
        ("torch", torch.__version__),
        ("python", platform.python_version()),
        ("hwenvs", f"{hwenvs.__version__} ({Path(hwenvs.__file__).parent})"),
        ("load average (1 min) before / after", f"{load_before[0]:.2f} / {load_after[0]:.2f}"),
        ("evaluation batch size", str(EVAL_BATCH_SIZE)),
        ("repeats", f"{args.repeats} (float, episode) pairs; rollback over {len(rollback_ms)} policies"),
    ]

    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'best':>10}  {'median':>12}  unit")
    for name, b, m, unit in rows:
        print(f"{name:<{width}}  {b:>10}  {m:>12}  {unit}")
    print()
    for name, ok, value in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {value}")
    print()
    for key, value in machine:
        print(f"{key}: {value}")

    lines = [
        "# HAQ environment speed",
        "",
        f"`python benchmarks/haq_env_speed.py {' '.join(sys.argv[1:])}`".replace(" `", "`"),
        "",
        *__doc__.split("\n\n    python benchmarks")[0].splitlines()[2:],
        "",
        "| measurement | best | median | unit |",
        "|---|---:|---:|---|",
        *[f"| {name} | {b} | {m} | {unit} |" for name, b, m, unit in rows],
        "",
        "| check | result | value |",
        "|---|---|---|",
        *[f"| {name} | {'PASS' if ok else 'FAIL'} | {value} |" for name, ok, value in checks],
        "",
        "| machine | |",
        "|---|---|",
        *[f"| {key} | {value} |" for key, value in machine],
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
