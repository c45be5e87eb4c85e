"""Benchmark: the cost of a frozen oneshot ProxylessNAS episode against a plain forward pass of the same network.

For ``--archs`` sampled architectures, in one process with one torch thread: the wall time of one environment
episode (``reset`` + ``step``, frozen weights, accuracy not cached yet) and of a plain forward pass of the same
sub-network exported as a standalone module (:func:`hwenvs.nas.export.extract_subnet`, eval mode, channels-last,
inference mode) over the same 1000-image validation batch. Each is timed ``--repeats`` times, alternating (the
episode with its accuracy cache cleared each time), and the fastest run of each is compared: on a shared machine
the minimum is the least disturbed by other processes. Also prints a cached episode (an architecture seen
before) and the time of ``gym.make``.

    python benchmarks/proxylessnas_speed.py [--archs 8] [--repeats 3]

Not a test: it measures and prints.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    import gymnasium as gym

    import hwenvs  # noqa: F401  (registers the environments)
    from hwenvs.nas.export import extract_subnet
    from hwenvs.nas.train_supernet import sample_architecture

    start = time.perf_counter()
    env = gym.make("ProxylessNAS-Mobile")
    make_s = time.perf_counter() - start
    unwrapped = env.unwrapped
    x = unwrapped._val_x
    rng = np.random.default_rng(args.seed)
    ratios = []
    print(f"gym.make('ProxylessNAS-Mobile'): {make_s:.2f} s")
    print(f"{'episode ms':>10} {'forward ms':>10} {'ratio':>6}  architecture")
    for _ in range(args.archs):
        arch = sample_architecture(rng)
        net = extract_subnet(unwrapped.supernet, arch, calibration=x).to(memory_format=torch.channels_last)
        episode, forward = [], []
        for _ in range(args.repeats):
            unwrapped._accuracy_cache.clear()
            t0 = time.perf_counter()
            env.reset(seed=0)
            env.step(np.asarray(arch.choices))
            episode.append(time.perf_counter() - t0)
            with torch.inference_mode():
                t0 = time.perf_counter()
                net(x)
                forward.append(time.perf_counter() - t0)
        e, f = min(episode) * 1e3, min(forward) * 1e3
        ratios.append(e / f)
        print(f"{e:10.1f} {f:10.1f} {e / f:6.2f}  {arch}")
    t0 = time.perf_counter()
    env.reset(seed=0)
    env.step(np.asarray(arch.choices))
    cached_ms = (time.perf_counter() - t0) * 1e3
    print(
        f"episode / plain forward: median {statistics.median(ratios):.2f}, max {max(ratios):.2f} "
        f"over {args.archs} architectures; a cached episode: {cached_ms:.2f} ms"
    )


if __name__ == "__main__":
    main()
