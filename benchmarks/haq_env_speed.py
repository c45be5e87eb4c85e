"""Speed of the HAQ environment against the fastest float forward pass of the same model, measured in the same run.

Requirement: one episode without fine-tuning on the embedded MobileNetV2 task costs at most 1.5x (stretch: 1.1x) the
fastest float forward pass of the same model over the same validation images that this script measures, and the
rollback and cost look-ups of one episode take under 5 ms. Also reported: the ratio against a plain float pass (the
environment's batch size, default memory layout), ``gym.make`` cold (a fresh Python process, torch import included)
and warm, and the first episode (quantized-weight and activation-range caches cold) against later ones.

What is timed:

* **float passes**: the shipped reference MobileNetV2, eval mode, ``torch.no_grad``, over the validation split, with
  argmax; in every layout (contiguous, channels_last) and batch size of :data:`FLOAT_BATCHES` (plus the
  environment's). The fastest by median over ``--select-repeats`` runs is the headline's reference; the plain pass
  (contiguous, the environment's batch size, through the accuracy helper the environment uses) is the other one;
* **episode**: ``reset`` + one ``step`` per layer and bit kind with uniformly random actions through the
  ``gym.make`` wrappers, ``cache_accuracy=False`` and a fresh random policy every episode, so every episode
  evaluates its policy;
* **rollback + costs**: ``BitBudget.rollback`` and ``BitBudget.cost`` on the policy an episode's actions produce
  (before the rollback), plus the worst case for the default budget (every layer at 8/8 bits);
* **episode without evaluation**: an episode replayed with the accuracy cache on, so everything but the forward pass.

The plain float pass, the fastest float pass and the episode alternate, ``--repeats`` triples; each ratio is taken
within a triple (robust to the load of a shared machine drifting) and reported as the median and the best triple.

    python benchmarks/haq_env_speed.py --repeats 7

Results: ``benchmarks/results/haq_env_speed.json`` and ``.md``, the tables rendered from the JSON by :func:`render`.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import results_io

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ENV_ID = "HAQ-MobileNetV2-BISMO"
RATIO_LIMIT = 1.5
RATIO_STRETCH = 1.1
ROLLBACK_LIMIT_MS = 5.0
MAKE_LIMIT_S = 10.0
FLOAT_BATCHES = (100, 250, 500, 1000)
"""Batch sizes the float passes are tried at (the environment's own is added)."""
LAYOUTS = ("contiguous", "channels_last")

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
    """The CPU's model name (Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cold_make(threads: int | None) -> dict[str, float]:
    """Import and ``gym.make`` times in a fresh interpreter (what a user's first call costs)."""
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    out = subprocess.run(
        [sys.executable, "-c", COLD_MAKE], capture_output=True, text=True, check=True, cwd=ROOT, env=env
    ).stdout
    imported, made, total = map(float, out.split()[-3:])
    return {"import_s": imported, "make_s": made, "total_s": total}


@dataclass
class Bench:
    """The environment, the float model and the random actions one measurement shares."""

    env: Any
    float_model: Any
    rng: Any
    seed: int
    eval_batch: int
    setup_s: dict[str, float] = field(default_factory=dict)

    @property
    def base(self) -> Any:
        """The unwrapped environment."""
        return self.env.unwrapped

    def random_actions(self) -> Any:
        """One episode's uniformly random actions."""
        return self.rng.uniform(-1, 1, self.base.steps_per_episode)

    def episode(self, actions: Any, env: Any = None) -> float:
        """Seconds for reset + every step of one episode (its evaluation included unless cached)."""
        import numpy as np

        env = env or self.env
        start = time.perf_counter()
        env.reset(seed=self.seed)
        for action in actions:
            env.step(np.array([action], dtype=np.float32))
        return time.perf_counter() - start

    def plain_float_pass(self) -> float:
        """Seconds for the float model over the validation split through the environment's accuracy helper."""
        from hwenvs.models.evaluate import accuracy

        start = time.perf_counter()
        accuracy(self.float_model, self.base.task, batch_size=self.eval_batch)
        return time.perf_counter() - start

    def float_pass(self, layout: str, batch: int) -> float:
        """Seconds for the float model over the validation split in ``layout`` and batches of ``batch``."""
        import torch

        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        model = self.float_model.to(memory_format=fmt)
        start = time.perf_counter()
        with torch.no_grad():
            for x, _ in self.base.task.batches("val", batch):
                model(x.contiguous(memory_format=fmt)).argmax(1)
        elapsed = time.perf_counter() - start
        self.float_model.to(memory_format=torch.contiguous_format)
        return elapsed


def setup(args: argparse.Namespace) -> Bench:
    """Imports, ``gym.make`` (first and again), the float model; timed."""
    t = time.perf_counter()
    import gymnasium as gym
    import numpy as np
    import torch

    import hwenvs  # noqa: F401  (registers the environments)
    from hwenvs.models.pretrained import load_reference_model
    from hwenvs.quant.quantized_model import EVAL_BATCH_SIZE

    import_s = time.perf_counter() - t
    if args.threads:
        torch.set_num_threads(args.threads)
    t = time.perf_counter()
    env = gym.make(ENV_ID, cache_accuracy=False)
    make_first_s = time.perf_counter() - t
    t = time.perf_counter()
    gym.make(ENV_ID, cache_accuracy=False).close()
    make_again_s = time.perf_counter() - t
    float_model = load_reference_model("mobilenet_v2", env.unwrapped.task, "default").eval()
    setup_s = {"import_s": import_s, "make_first_s": make_first_s, "make_again_s": make_again_s}
    rng = np.random.default_rng(args.seed)
    return Bench(env, float_model, rng, args.seed, EVAL_BATCH_SIZE, setup_s)


def warm_up(bench: Bench) -> dict[str, float]:
    """The first episode (cold caches), then every (layer, bits) the search can reach, then one of each pass."""
    first_episode_s = bench.episode(bench.random_actions())
    base = bench.base
    t = time.perf_counter()
    for bits in range(base.min_bits, base.max_bits + 1):
        base.evaluate_solution(base.uniform_policy(bits))
    warm_all_s = time.perf_counter() - t
    bench.plain_float_pass()  # oneDNN primitive caches, page faults of the first pass
    bench.episode(bench.random_actions())
    return {
        "first_episode_s": first_episode_s,
        "warm_all_s": warm_all_s,
        "warm_bits": base.max_bits - base.min_bits + 1,
    }


def time_float_variants(bench: Bench, repeats: int) -> list[dict[str, Any]]:
    """Every (layout, batch size) float pass, ``repeats`` times each in interleaved rounds."""
    batches = sorted({*FLOAT_BATCHES, bench.eval_batch})
    variants = [(layout, batch) for layout in LAYOUTS for batch in batches]
    for layout, batch in variants:
        bench.float_pass(layout, batch)  # untimed: first use of a batch size or layout
    times: dict[tuple[str, int], list[float]] = {v: [] for v in variants}
    for _ in range(repeats):
        for v in variants:
            times[v].append(bench.float_pass(*v))
    return [{"layout": layout, "batch": batch, "times_s": times[(layout, batch)]} for layout, batch in variants]


def fastest(variants: list[dict[str, Any]]) -> dict[str, Any]:
    """The variant with the smallest median time."""
    return min(variants, key=lambda v: statistics.median(v["times_s"]))


def time_triples(bench: Bench, best: dict[str, Any], repeats: int) -> dict[str, list[float]]:
    """``repeats`` rounds of (plain float pass, fastest float pass, episode), adjacent so that each round's ratios
    see the same load."""
    out: dict[str, list[float]] = {"plain_s": [], "fastest_s": [], "episode_s": []}
    for _ in range(repeats):
        out["plain_s"].append(bench.plain_float_pass())
        out["fastest_s"].append(bench.float_pass(best["layout"], best["batch"]))
        out["episode_s"].append(bench.episode(bench.random_actions()))
    return out


def time_rollback(bench: Bench, episodes: int) -> list[float]:
    """Best of 5 timings (ms) of rollback + cost look-ups: the all-8-bit policy, then ``episodes`` random ones."""
    import numpy as np

    base = bench.base
    budget = base.budget_model
    policies = [budget.uniform(base.max_bits)]
    for _ in range(episodes):
        bits = np.array([base.action_to_bits(x) for x in bench.random_actions()])
        policies.append((bits[0::2], bits[1::2]))
    out = []
    for w, a in policies:
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            fw, fa = budget.rollback(w, a)
            cost = budget.cost(fw, fa)
            _ = cost / budget.reference_cost, budget.cost(w, np.where(a < 0, 0, a))
            best = min(best, time.perf_counter() - start)
        out.append(best * 1e3)
    return out


def time_no_eval(bench: Bench, repeats: int) -> list[float]:
    """Milliseconds of an episode replayed with the accuracy cache on: everything but the forward pass."""
    import gymnasium as gym

    cached_env = gym.make(ENV_ID, cache_accuracy=True)
    actions = bench.random_actions()
    bench.episode(actions, cached_env)
    return [bench.episode(actions, cached_env) * 1e3 for _ in range(repeats)]


def machine(load_before: tuple[float, ...], args: argparse.Namespace) -> dict[str, Any]:
    """Where and how the run happened."""
    import torch

    import hwenvs

    return {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "hwenvs": hwenvs.__version__,
        "load_before": load_before[0],
        "load_after": os.getloadavg()[0],
        "argv": sys.argv[1:] if args.argv is None else args.argv,
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every timing of the benchmark, as the JSON the results are rendered from."""
    load_before = os.getloadavg()
    cold = [cold_make(args.threads) for _ in range(args.cold_makes)]
    bench = setup(args)
    warm = warm_up(bench)
    variants = time_float_variants(bench, args.select_repeats)
    best = fastest(variants)
    triples = time_triples(bench, best, args.repeats)
    return {
        "env_id": ENV_ID,
        "val_images": bench.base.task.num_val,
        "steps_per_episode": bench.base.steps_per_episode,
        "eval_batch": bench.eval_batch,
        "limits": {"ratio": RATIO_LIMIT, "stretch": RATIO_STRETCH, "rollback_ms": ROLLBACK_LIMIT_MS},
        "make_limit_s": MAKE_LIMIT_S,
        "cold_makes": cold,
        "setup": bench.setup_s,
        "warm": warm,
        "float_variants": variants,
        "fastest": {"layout": best["layout"], "batch": best["batch"]},
        "triples": triples,
        "rollback_ms": time_rollback(bench, args.episodes),
        "no_eval_ms": time_no_eval(bench, max(5, args.repeats)),
        "machine": machine(load_before, args),
    }


# --------------------------------------------------------------------------------------------------- rendering


def ratios(data: dict[str, Any]) -> dict[str, list[float]]:
    """Per triple: episode / fastest float pass, and episode / plain float pass."""
    t = data["triples"]
    return {
        "fastest": [e / f for e, f in zip(t["episode_s"], t["fastest_s"], strict=True)],
        "plain": [e / f for e, f in zip(t["episode_s"], t["plain_s"], strict=True)],
    }


def render(data: dict[str, Any]) -> str:
    """The results markdown, from the benchmark's JSON alone."""
    keys = ("triples", "float_variants", "fastest", "rollback_ms", "no_eval_ms", "machine", "limits")
    results_io.require(data, keys, "haq_env_speed.json", "python benchmarks/haq_env_speed.py")
    argv = " ".join(data["machine"]["argv"])
    lines = [
        "# HAQ environment speed",
        "",
        f"`python benchmarks/haq_env_speed.py{' ' + argv if argv else ''}`",
        "",
        *render_headline(data),
        "",
        *render_measurements(data),
        "",
        *render_variants(data),
        "",
        *render_checks(data),
        "",
        *render_machine(data),
    ]
    return "\n".join(lines) + "\n"


def render_headline(data: dict[str, Any]) -> list[str]:
    """What was compared, and the two ratios."""
    r, best = ratios(data), data["fastest"]
    return [
        f"One episode of {data['env_id']} ({data['steps_per_episode']} steps with random actions, then the policy's "
        f"evaluation over the {data['val_images']} validation images) against float forward passes of the same "
        f"model over the same images, alternated in {len(r['fastest'])} rounds; ratios taken within a round.",
        "",
        f"* **Against the fastest float pass measured here** ({best['layout']}, batch {best['batch']}): median "
        f"{statistics.median(r['fastest']):.2f}x, best round {min(r['fastest']):.2f}x (target <= "
        f"{data['limits']['ratio']}x, stretch {data['limits']['stretch']}x).",
        f"* Against a plain float pass (contiguous, batch {data['eval_batch']}, the environment's accuracy helper): "
        f"median {statistics.median(r['plain']):.2f}x, best round {min(r['plain']):.2f}x.",
    ]


def _row(name: str, values: list[float], fmt: str, unit: str) -> list[str]:
    return [name, f"{min(values):{fmt}}", f"{statistics.median(values):{fmt}}", unit]


def render_measurements(data: dict[str, Any]) -> list[str]:
    """Every timing: best and median."""
    t, r, best = data["triples"], ratios(data), data["fastest"]
    s, w = data["setup"], data["warm"]
    rows = [
        _row(f"float forward, fastest ({best['layout']}, batch {best['batch']})", t["fastest_s"], ".3f", "s"),
        _row(f"float forward, plain (contiguous, batch {data['eval_batch']})", t["plain_s"], ".3f", "s"),
        _row("episode: reset + steps + evaluation", t["episode_s"], ".3f", "s"),
        _row("ratio episode / fastest float (per round)", r["fastest"], ".2f", "x"),
        _row("ratio episode / plain float (per round)", r["plain"], ".2f", "x"),
        _row("rollback + cost look-ups of one episode (over policies)", data["rollback_ms"], ".3f", "ms"),
        _row("episode without evaluation (accuracy cache hit)", data["no_eval_ms"], ".2f", "ms"),
        ["first episode (cold quantization caches, float accuracy)", f"{w['first_episode_s']:.3f}", "", "s"],
        [f"warming every (layer, bits): {w['warm_bits']} exact evaluations", f"{w['warm_all_s']:.3f}", "", "s"],
        ["gym.make in this process, first (imports env module)", f"{s['make_first_s']:.3f}", "", "s"],
        ["gym.make in this process, again", f"{s['make_again_s']:.3f}", "", "s"],
        ["import gymnasium + hwenvs + torch in this process", f"{s['import_s']:.3f}", "", "s"],
    ]
    for i, c in enumerate(data["cold_makes"]):
        rows.append([f"fresh process #{i + 1}: import hwenvs + gym.make, torch import included (import / make)",
                     f"{c['total_s']:.3f}", f"{c['import_s']:.2f} / {c['make_s']:.2f}", "s"])  # fmt: skip
    return results_io.table(["measurement", "best", "median", "unit"], rows, align="lrrl")


def render_variants(data: dict[str, Any]) -> list[str]:
    """The float passes tried, to pick the fastest."""
    lines = [
        "Float passes tried (the fastest by median is the reference):",
        "",
    ]
    rows = [
        [v["layout"], v["batch"], f"{min(v['times_s']):.3f}", f"{statistics.median(v['times_s']):.3f}"]
        for v in data["float_variants"]
    ]
    return lines + results_io.table(["layout", "batch", "best (s)", "median (s)"], rows, align="lrrr")


def render_checks(data: dict[str, Any]) -> list[str]:
    """PASS / FAIL against the limits."""
    lim = data["limits"]
    ratio = statistics.median(ratios(data)["fastest"])
    worst_rollback = max(data["rollback_ms"])
    checks = [
        (f"episode <= {lim['ratio']}x fastest float pass (median)", ratio <= lim["ratio"], f"{ratio:.2f}x"),
        (f"stretch: episode <= {lim['stretch']}x fastest float pass", ratio <= lim["stretch"], f"{ratio:.2f}x"),
        (
            f"rollback + costs < {lim['rollback_ms']} ms (worst policy)",
            worst_rollback < lim["rollback_ms"],
            f"{worst_rollback:.3f} ms",
        ),
    ]
    if data["cold_makes"]:
        worst = max(c["total_s"] for c in data["cold_makes"])
        checks.append(
            (f"cold import + gym.make < {data['make_limit_s']} s", worst < data["make_limit_s"], f"{worst:.2f} s")
        )
    rows = [[name, "PASS" if ok else "FAIL", value] for name, ok, value in checks]
    return results_io.table(["check", "result", "value"], rows)


def render_machine(data: dict[str, Any]) -> list[str]:
    """Where the run happened."""
    m = data["machine"]
    rows = [
        ("date", m["date"]),
        ("CPU", m["cpu"]),
        ("logical CPUs", m["logical_cpus"]),
        ("torch threads", m["torch_threads"]),
        ("torch", m["torch"]),
        ("python", m["python"]),
        ("hwenvs", m["hwenvs"]),
        ("load average (1 min) before / after", f"{m['load_before']:.2f} / {m['load_after']:.2f}"),
        ("environment's evaluation batch size", data["eval_batch"]),
        ("rounds", f"{len(data['triples']['episode_s'])}; rollback over {len(data['rollback_ms'])} policies"),
    ]
    return results_io.table(["machine", ""], rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20, help="episodes for the rollback/cost timing")
    parser.add_argument("--repeats", type=int, default=7, help="(plain float, fastest float, episode) rounds")
    parser.add_argument("--select-repeats", type=int, default=3, help="runs of each float variant to pick the fastest")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--cold-makes", type=int, default=2, help="fresh-process gym.make timings")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for haq_env_speed.json / .md")
    args = parser.parse_args(argv)
    args.argv = argv
    return args


def main(argv: list[str] | None = None) -> None:
    """Measure, write the JSON, render and write the results markdown."""
    args = parse_args(argv)
    data = measure(args)
    text = render(data)
    print(text)
    results_io.write(args.out / "haq_env_speed.json", data, args.out / "haq_env_speed.md", text)


if __name__ == "__main__":
    main()
