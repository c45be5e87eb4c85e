"""Measured latency tables: time every layer key of the space on this machine's CPU (or CUDA GPU).

Each key (stem, fixed first block, every candidate of every searchable block, head, classifier) is built as a
standalone module in eval mode and timed on its own input at the deployment resolution: ``warmup`` untimed runs,
then ``repeats`` timed runs whose mean, variance and count are stored in ProxylessNAS's table format. CPU tables use
batch 1 and ``threads`` torch threads (1 by default: on a shared machine more threads mostly measure contention);
GPU tables use batch 8 and synchronise around every run, as ProxylessNAS's own measurements do.

Tables are cached per machine (host, processor, threads, torch version, batch) under
``cache_dir("nas", "latency")``; ``hwenvs nas latency-table --target cpu --rebuild`` measures again.
:func:`validate_table` times whole sampled networks end to end and compares them with the table's sum.
"""

from __future__ import annotations

import hashlib
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from hwenvs.cache import cache_dir
from hwenvs.nas.architecture import Architecture
from hwenvs.nas.latency_tables import DEPLOYMENT_SPACE, MEASURED_TARGETS, LatencyTable, key_layers, required_keys
from hwenvs.nas.ops import MBConv, Residual, conv_bn_relu6
from hwenvs.nas.search_space import SearchSpace

BATCH = {"cpu": 1, "gpu": 8}
"""Images per timed run."""


@dataclass(frozen=True)
class MeasureConfig:
    """How a table is measured."""

    repeats: int = 20
    """Timed runs per key."""
    warmup: int = 3
    """Untimed runs before timing (allocator, caches, cuDNN autotuning)."""
    threads: int = 1
    """CPU threads while timing (restored afterwards)."""


def _device(target: str) -> torch.device:
    if target not in MEASURED_TARGETS:
        raise ValueError(f"measured targets are {MEASURED_TARGETS}, got {target!r}")
    if target == "gpu":
        if not torch.cuda.is_available():
            raise RuntimeError("the GPU latency table needs a CUDA device and this machine has none")
        return torch.device("cuda")
    return torch.device("cpu")


def key_module(key: str) -> tuple[nn.Module, tuple[int, int, int]]:
    """A module computing what table ``key`` describes, and its input shape (C, H, W) for one image.

    :param key: a table key (see :mod:`hwenvs.nas.latency_tables`).
    """
    kind = key.split("-", 1)[0]
    fields = dict(part.split(":", 1) for part in key.split("-")[1:])
    h, w, c = (int(v) for v in fields["input"].split("x"))
    layers = key_layers(key)
    if kind == "Logits":
        _, cin, cout, *_ = layers[0]
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, cout)), (c, h, w)
    if kind in ("Conv", "Conv_1"):
        _, cin, cout, kernel, stride, *_ = layers[0]
        return conv_bn_relu6(cin, cout, kernel, stride), (c, h, w)
    cout = int(fields["output"].split("x")[2])
    block = MBConv(c, cout, int(fields["kernel"]), int(fields["expand"]), int(fields["stride"]))
    return (Residual(block) if fields["idskip"] == "1" else block), (c, h, w)


@torch.inference_mode()
def time_module(
    module: nn.Module, x: torch.Tensor, config: MeasureConfig, device: torch.device
) -> tuple[float, float, int]:
    """(mean ms, variance ms^2, runs) of ``module(x)``.

    :param module: the module, on ``device``, in eval mode.
    :param x: its input, on ``device``.
    :param config: repeats and warm-up runs.
    :param device: where it runs (CUDA runs are synchronised).
    """
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(config.warmup):
        module(x)
    sync()
    times = []
    for _ in range(config.repeats):
        start = time.perf_counter()
        module(x)
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    arr = np.asarray(times)
    return float(arr.mean()), float(arr.var()), len(arr)


class _Threads:
    def __init__(self, threads: int) -> None:
        self.threads = threads

    def __enter__(self) -> None:
        self.saved = torch.get_num_threads()
        torch.set_num_threads(self.threads)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.saved)


def machine_id(target: str, config: MeasureConfig) -> str:
    """A short tag naming this machine and measuring setup (host, processor or GPU, threads, torch, batch).

    :param target: ``"cpu"`` or ``"gpu"``.
    :param config: the measuring setup.
    """
    device = torch.cuda.get_device_name() if target == "gpu" else platform.processor() or platform.machine()
    ident = f"{platform.node()}|{device}|{config.threads}|{torch.__version__}|{BATCH[target]}"
    return hashlib.sha256(ident.encode()).hexdigest()[:12]


def measure_table(
    target: str, space: SearchSpace = DEPLOYMENT_SPACE, config: MeasureConfig | None = None, progress: bool = True
) -> LatencyTable:
    """Time every key ``space`` needs and return the table.

    :param target: ``"cpu"`` or ``"gpu"``.
    :param space: the deployed network.
    :param config: repeats, warm-up runs, threads.
    :param progress: show a progress bar.
    """
    config = config or MeasureConfig()
    device = _device(target)
    batch = BATCH[target]
    entries = {}
    with _Threads(config.threads):
        for key in tqdm(required_keys(space), desc=f"{target} latency table", unit="key", disable=not progress):
            module, shape = key_module(key)
            module = module.to(device).eval()
            x = torch.randn(batch, *shape, device=device)
            mean, var, count = time_module(module, x, config, device)
            entries[key] = {"mean": mean, "var": var, "count": count}
    meta = {
        "target": target,
        "batch": batch,
        "threads": config.threads,
        "repeats": config.repeats,
        "device": torch.cuda.get_device_name() if target == "gpu" else platform.processor() or platform.machine(),
        "host": platform.node(),
        "torch": str(torch.__version__),
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return LatencyTable(target, entries, space, meta)


def table_path(target: str, space: SearchSpace = DEPLOYMENT_SPACE, config: MeasureConfig | None = None) -> Path:
    """Where this machine's table for ``target`` is cached.

    :param target: ``"cpu"`` or ``"gpu"``.
    :param space: the deployed network.
    :param config: the measuring setup (part of the cache key, repeats excepted).
    """
    config = config or MeasureConfig()
    tag = f"w{space.width_mult:g}-r{space.resolution}-c{space.num_classes}"
    return cache_dir("nas", "latency") / f"{target}-{tag}-{machine_id(target, config)}.yaml"


def measured_table(
    target: str,
    space: SearchSpace = DEPLOYMENT_SPACE,
    *,
    rebuild: bool = False,
    repeats: int = MeasureConfig.repeats,
    warmup: int = MeasureConfig.warmup,
    threads: int = MeasureConfig.threads,
    progress: bool = True,
) -> LatencyTable:
    """This machine's table for ``target``: from the cache, or measured (with a progress bar) and cached.

    :param target: ``"cpu"`` or ``"gpu"``.
    :param space: the deployed network.
    :param rebuild: measure again even if cached.
    :param repeats: timed runs per key.
    :param warmup: untimed runs per key.
    :param threads: CPU threads while timing.
    :param progress: show a progress bar.
    """
    config = MeasureConfig(repeats=repeats, warmup=warmup, threads=threads)
    _device(target)
    path = table_path(target, space, config)
    if path.is_file() and not rebuild:
        return LatencyTable.from_yaml(path, target, space)
    table = measure_table(target, space, config, progress)
    table.to_yaml(path)
    table.meta["source"] = str(path)
    return table


@torch.inference_mode()
def validate_table(
    table: LatencyTable, archs: list[Architecture], config: MeasureConfig | None = None, progress: bool = True
) -> list[dict[str, float | str]]:
    """Time whole deployed networks end to end and compare with the table's prediction.

    :param table: a measured table (its ``meta["target"]`` says where to run).
    :param archs: the architectures to time.
    :param config: repeats, warm-up runs, threads.
    :param progress: show a progress bar.
    :return: per architecture: ``architecture``, ``table_ms``, ``measured_ms``, ``error`` (relative, signed).
    """
    from hwenvs.nas.export import build_network

    config = config or MeasureConfig()
    target = str(table.meta.get("target", table.name))
    device = _device(target)
    rows = []
    with _Threads(config.threads):
        for arch in tqdm(archs, desc="end-to-end timing", unit="net", disable=not progress):
            net = build_network(arch, table.space).to(device).eval()
            x = torch.randn(BATCH[target], 3, table.space.resolution, table.space.resolution, device=device)
            measured, _, _ = time_module(net, x, config, device)
            predicted = table.latency_ms(arch)
            rows.append(
                {
                    "architecture": arch.to_string(),
                    "table_ms": predicted,
                    "measured_ms": measured,
                    "error": predicted / measured - 1,
                }
            )
    return rows
