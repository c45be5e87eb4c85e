"""Benchmark: the cost of a frozen oneshot ProxylessNAS episode against a plain forward pass of the same network.

For ``--archs`` sampled architectures, in one process with one torch thread: the wall time of one environment
episode (``reset`` + ``step``, frozen weights, accuracy not cached yet), of a plain forward pass of the same
sub-network exported as a standalone module (:func:`hwenvs.nas.export.extract_subnet`, eval mode, channels-last,
inference mode) over the same validation batch, and of the supernet's own forward pass of that path (what an
episode computed before the prefix cache, :mod:`hwenvs.nas.prefix_cache`; the episode's prefix is warm, as it is
after a search's first few episodes). Each is timed ``--repeats`` times, alternating (the episode with its accuracy
cache cleared each time), and the fastest run of each is compared: on a shared machine the minimum is the least
disturbed by other processes. Also timed: a cached episode (an architecture seen before) and ``gym.make``.

    python benchmarks/proxylessnas_speed.py [--archs 8] [--repeats 5] [--dataset mnist]

Not a test: it measures and prints. Results: ``benchmarks/results/proxylessnas_speed.json`` and ``.md``, rendered
from the JSON by :func:`render`.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import results_io
import torch

RESULTS = Path(__file__).resolve().parent / "results"
ENV_ID = "ProxylessNAS-Mobile"
RATIO_LIMIT = 1.5
"""Target: an episode costs at most 1.5x the plain forward pass."""


def time_architecture(env: Any, arch: Any, x: torch.Tensor, repeats: int) -> dict[str, Any]:
    """Alternating timings (ms) of an uncached episode and of the exported sub-network's forward pass."""
    from hwenvs.nas.export import extract_subnet

    unwrapped = env.unwrapped
    net = extract_subnet(unwrapped.supernet, arch, calibration=x).to(memory_format=torch.channels_last)
    episode, forward, supernet = [], [], []
    for _ in range(repeats):
        unwrapped._accuracy_cache.clear()
        t0 = time.perf_counter()
        env.reset(seed=0)
        env.step(np.asarray(arch.choices))
        episode.append((time.perf_counter() - t0) * 1e3)
        with torch.inference_mode():
            t0 = time.perf_counter()
            net(x)
            forward.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            unwrapped.supernet(x, arch)
            supernet.append((time.perf_counter() - t0) * 1e3)
    return {"architecture": arch.to_string(), "episode_ms": episode, "forward_ms": forward, "supernet_ms": supernet}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every timing, as the JSON the results are rendered from."""
    import gymnasium as gym

    import hwenvs  # noqa: F401  (registers the environments)
    from hwenvs.nas.train_supernet import sample_architecture

    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    env = gym.make(ENV_ID, dataset=args.dataset)
    make_s = time.perf_counter() - start
    x = env.unwrapped._eval_batch("val")[0]
    rng = np.random.default_rng(args.seed)
    rows = []
    for _ in range(args.archs):
        arch = sample_architecture(rng)
        rows.append(time_architecture(env, arch, x, args.repeats))
        print(f"{min(rows[-1]['episode_ms']):8.1f} {min(rows[-1]['forward_ms']):8.1f}  {rows[-1]['architecture']}")
    t0 = time.perf_counter()
    env.reset(seed=0)
    env.step(np.asarray(arch.choices))  # seen before: its accuracy is cached
    cached_ms = (time.perf_counter() - t0) * 1e3
    return {
        "env_id": ENV_ID,
        "dataset": args.dataset,
        "batch": int(x.shape[0]),
        "settings": {
            "archs": args.archs,
            "repeats": args.repeats,
            "seed": args.seed,
            "dataset": args.dataset,
            "threads": 1,
        },
        "ratio_limit": RATIO_LIMIT,
        "make_s": make_s,
        "cached_episode_ms": cached_ms,
        "rows": rows,
        "machine": {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
        },
    }


def render(data: dict[str, Any]) -> str:
    """The results markdown, from the benchmark's JSON alone."""
    keys = ("rows", "settings", "make_s", "cached_episode_ms", "machine", "ratio_limit", "batch", "dataset")
    results_io.require(data, keys, "proxylessnas_speed.json", "python benchmarks/proxylessnas_speed.py")
    s, m = data["settings"], data["machine"]
    ratios = [min(r["episode_ms"]) / min(r["forward_ms"]) for r in data["rows"]]
    prefix = [min(r["supernet_ms"]) / min(r["episode_ms"]) for r in data["rows"]]
    lines = [
        "# ProxylessNAS episode speed",
        "",
        f"`python benchmarks/proxylessnas_speed.py --archs {s['archs']} --repeats {s['repeats']} --seed {s['seed']} "
        f"--dataset {s['dataset']}` "
        f"({s['threads']} torch thread; run of {m['date']}, {m['processor']}, torch {m['torch']}, load average "
        f"{m['load_before']:.2f} before, {m['load_after']:.2f} after).",
        "",
        f"One uncached {data['env_id']} episode on {data['dataset']} against a plain forward pass of the exported "
        f"sub-network over the same {data['batch']}-image validation batch, and against the supernet's own forward "
        f"pass of that path (without the prefix cache); fastest of {s['repeats']} alternating runs of each.",
        "",
        f"* **Episode / plain forward: median {statistics.median(ratios):.2f}x, worst {max(ratios):.2f}x** over "
        f"{len(ratios)} architectures (target <= {data['ratio_limit']}x: "
        f"{'PASS' if max(ratios) <= data['ratio_limit'] else 'FAIL'} for the worst).",
        f"* **Supernet forward / episode (the prefix cache's speed-up): median {statistics.median(prefix):.2f}x**, "
        f"range {min(prefix):.2f}x to {max(prefix):.2f}x.",
        f"* A cached episode (an architecture seen before): {data['cached_episode_ms']:.2f} ms; "
        f"`gym.make('{data['env_id']}')`: {data['make_s']:.2f} s.",
        "",
    ]
    rows = [
        [
            f"{min(r['episode_ms']):.1f}",
            f"{min(r['forward_ms']):.1f}",
            f"{ratio:.2f}",
            f"{min(r['supernet_ms']):.1f}",
            f"{speedup:.2f}",
            f"`{r['architecture']}`",
        ]
        for r, ratio, speedup in zip(data["rows"], ratios, prefix, strict=True)
    ]
    header = ["episode ms", "forward ms", "ratio", "supernet ms", "speed-up", "architecture"]
    lines += results_io.table(header, rows, align="rrrrrl", spaced=True)
    return "\n".join(lines) + "\n"


def main() -> None:
    """Measure, write the JSON, render and write the markdown."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default="mnist", help="the task")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for proxylessnas_speed.json / .md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results_io.use_shared_reference_data()
    data = measure(args)
    text = render(data)
    print(text)
    results_io.write(args.out / "proxylessnas_speed.json", data, args.out / "proxylessnas_speed.md", text)


if __name__ == "__main__":
    main()
