"""Measured latency tables: time every layer (table key) of the space on this machine's CPU (or CUDA GPU).

Keys are timed in context: the six uniform networks (every searchable block the same MBConv candidate) together
contain every key of the space (stem, fixed first block, each candidate of each block, head, classifier), so each
is run whole at the deployment resolution, and hooks time every one of its layers. A layer timed on its own runs
with its weights and input hot in the cache, which a real forward pass never gives it: in three of four same-run
comparisons on this machine, isolated timings summed to 18-27% less than the whole networks' measured latency.
CPU tables use batch 1 and ``threads`` torch threads (1 by
default: on a shared machine more threads mostly measure contention); GPU tables use batch 8 and synchronise
around every layer, as ProxylessNAS's own per-layer measurements do.

Timing is built for a shared machine. After ``warmup`` untimed runs of every network, the ``repeats`` timed runs
are spread over ``rounds`` interleaved passes over the networks, so a burst of load from another process touches
every key a little instead of one key a lot; and since interference only ever makes a run slower, the stored mean
and variance are those of the fastest ``keep`` share of a key's timings (the rest are counted as disturbed). The
table keeps ProxylessNAS's format (``mean``, ``var``, ``count`` per key, ``count`` being the timings kept) on disk;
``_meta`` records how it was measured. :func:`hwenvs.lab.latency_validation.validate_table` times whole sampled
networks the same way (without hooks) and compares them with the table's sum.

Tables are cached per machine and setup (host, CPU model or GPU, torch version, batch, method and every field of
:class:`MeasureConfig`; see :func:`machine_id`) under ``cache_dir("nas", "latency")``; ``hwenvs nas latency-table
--target cpu --rebuild`` measures again. The files hold ProxylessNAS's string keys, parsed into
:class:`~hwenvs.nas.latency_tables.LayerKey` when read; that format is the one tables have always been cached in, so
the structured keys of 0.2.0 left the cache key unchanged.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from hwenvs.cache import atomic_write_bytes, cache_dir, corrupt_cache_error
from hwenvs.deprecation import moved_names
from hwenvs.nas.architecture import uniform
from hwenvs.nas.export import build_network
from hwenvs.nas.latency_tables import (
    DEPLOYMENT_SPACE,
    LatencyTable,
    LayerKey,
    block_key,
    first_block_key,
    head_key,
    logits_key,
    required_keys,
    stem_key,
)
from hwenvs.nas.search_space import OPS, SearchSpace

BATCH = {"cpu": 1, "gpu": 8}
"""Images per timed run of each target this module measures (:mod:`hwenvs.nas.latency_targets` names them)."""


METHOD = 2
"""Version of the timing method, part of the cache key (1 timed each key alone, in one burst, with a plain mean)."""


@dataclass(frozen=True)
class MeasureConfig:
    """How a table is measured."""

    repeats: int = 40
    """Timed runs of each network."""
    warmup: int = 3
    """Untimed runs of each network before timing (allocator, caches, oneDNN primitives, cuDNN autotuning)."""
    rounds: int = 4
    """Interleaved passes over the networks that share the timed runs."""
    keep: float = 0.5
    """Share of a key's fastest timings whose mean and variance are stored (the fastest half: on a shared machine
    the slow half mostly measures other processes)."""
    threads: int = 1
    """CPU threads while timing (restored afterwards)."""

    def __post_init__(self) -> None:
        if self.repeats < 1 or self.warmup < 0 or self.rounds < 1 or self.threads < 1:
            raise ValueError(
                f"repeats, rounds and threads must be at least 1 and warmup at least 0, got repeats={self.repeats}, "
                f"warmup={self.warmup}, rounds={self.rounds}, threads={self.threads}"
            )
        if not 0 < self.keep <= 1:
            raise ValueError(f"keep must be in (0, 1], got {self.keep}")


def _device(target: str) -> torch.device:
    if target not in BATCH:
        raise ValueError(f"measured targets are {tuple(BATCH)}, got {target!r}")
    if target == "gpu":
        if not torch.cuda.is_available():
            raise RuntimeError("the GPU latency table needs a CUDA device and this machine has none")
        return torch.device("cuda")
    return torch.device("cpu")


def summarise(times_ms: list[float], keep: float) -> tuple[float, float, int]:
    """(mean, variance, count) of the fastest ``keep`` share of ``times_ms`` (at least one run).

    :param times_ms: run times.
    :param keep: share kept, in (0, 1].
    """
    kept = np.sort(np.asarray(times_ms))[: max(1, round(len(times_ms) * keep))]
    return float(kept.mean()), float(kept.var()), len(kept)


def _rounds(config: MeasureConfig) -> list[int]:
    # timed runs of each network in each round: the repeats dealt out over the rounds
    return [len(range(r, config.repeats, config.rounds)) for r in range(config.rounds)]


def _sync(device: torch.device) -> Callable[[], None]:
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def _interleave(
    calls: Sequence[Callable[[], object]],
    config: MeasureConfig,
    progress: bool,
    desc: str,
    start_timing: Callable[[], None],
) -> None:
    # every call's warm-up first, then the timed runs dealt out over rounds that each visit every call
    with tqdm(total=len(calls) * (config.rounds + 1), desc=desc, unit="net", disable=not progress) as bar:
        for call in calls:
            for _ in range(config.warmup):
                call()
            bar.update()
        start_timing()
        for count in _rounds(config):
            for call in calls:
                for _ in range(count):
                    call()
                bar.update()


@torch.inference_mode()
def time_interleaved(
    runs: Mapping[str, tuple[nn.Module, torch.Tensor]],
    config: MeasureConfig,
    device: torch.device,
    progress: bool = True,
    desc: str = "timing",
) -> dict[str, tuple[float, float, int]]:
    """Time every module on its input in interleaved rounds; (mean ms, variance ms^2, runs kept) per name.

    :param runs: name -> (module in eval mode on ``device``, its input on ``device``).
    :param config: runs, rounds, share kept.
    :param device: where they run (CUDA runs are synchronised).
    :param progress: show a progress bar.
    :param desc: the progress bar's label.
    """
    sync = _sync(device)
    times: dict[str, list[float]] = {name: [] for name in runs}
    timing = {"on": False}

    def run(name: str) -> None:
        module, x = runs[name]
        sync()
        start = time.perf_counter()
        module(x)
        sync()
        if timing["on"]:
            times[name].append((time.perf_counter() - start) * 1e3)

    _interleave([partial(run, name) for name in runs], config, progress, desc, lambda: timing.update(on=True))
    return {name: summarise(t, config.keep) for name, t in times.items()}


def context_networks(space: SearchSpace) -> list[tuple[nn.Module, list[tuple[nn.Module, LayerKey]]]]:
    """The six uniform networks of ``space``, each with its timed layers and their table keys; together they
    contain every key of :func:`~hwenvs.nas.latency_tables.required_keys`.

    :param space: the deployed network.
    """
    networks: list[tuple[nn.Module, list[tuple[nn.Module, LayerKey]]]] = []
    for op_index, op in enumerate(OPS):
        if op.is_zero:
            continue
        net = build_network(uniform(op.name), space)
        keys = [
            stem_key(space),
            first_block_key(space),
            *(block_key(block, op_index) for block in space.blocks),
            head_key(space),
        ]
        layers = [*zip(net.features, keys, strict=True), (net.classifier, logits_key(space))]
        networks.append((net, layers))
    return networks


@torch.inference_mode()
def time_in_context(
    space: SearchSpace, config: MeasureConfig, device: torch.device, batch: int, progress: bool = True, desc: str = ""
) -> dict[LayerKey, tuple[float, float, int]]:
    """Time every key of ``space`` inside whole forward passes of :func:`context_networks`; (mean ms, variance
    ms^2, timings kept) per key.

    :param space: the deployed network.
    :param config: runs, rounds, share kept.
    :param device: where they run (CUDA layers are synchronised).
    :param batch: images per run.
    :param progress: show a progress bar.
    :param desc: the progress bar's label.
    """
    sync = _sync(device)
    networks = [(net.to(device).eval(), layers) for net, layers in context_networks(space)]
    x = torch.randn(batch, 3, space.resolution, space.resolution, device=device)
    times: dict[LayerKey, list[float]] = {}
    timing = {"on": False}
    started: dict[nn.Module, float] = {}

    def before(module: nn.Module, args: object) -> None:
        sync()
        started[module] = time.perf_counter()

    def after(key: LayerKey, module: nn.Module, args: object, output: object) -> None:
        sync()
        if timing["on"]:
            times[key].append((time.perf_counter() - started[module]) * 1e3)

    handles = []
    for _, layers in networks:
        for module, key in layers:
            times.setdefault(key, [])
            handles.append(module.register_forward_pre_hook(before))
            handles.append(module.register_forward_hook(partial(after, key)))
    try:
        calls = [partial(net, x) for net, _ in networks]
        _interleave(calls, config, progress, desc, lambda: timing.update(on=True))
    finally:
        for handle in handles:
            handle.remove()
    return {key: summarise(t, config.keep) for key, t in times.items()}


class _Threads:
    def __init__(self, threads: int) -> None:
        self.threads = threads

    def __enter__(self) -> None:
        self.saved = torch.get_num_threads()
        torch.set_num_threads(self.threads)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.saved)


def cpu_model() -> str:
    """This machine's CPU model ("model name" in /proc/cpuinfo), else what :mod:`platform` reports.

    On Linux ``platform.processor()`` is empty or just the architecture (``x86_64``), which would let a table
    measured on one CPU be reused on another.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cache_key(target: str, config: MeasureConfig) -> dict[str, Any]:
    """Everything that changes a measured table: host, CPU model (or GPU), torch version, batch, timing method and
    every field of ``config`` (taken from the dataclass, so a new option cannot be left out of the key).

    :param target: ``"cpu"`` or ``"gpu"``.
    :param config: the measuring setup.
    """
    device = torch.cuda.get_device_name() if target == "gpu" else cpu_model()
    machine = {"host": platform.node(), "device": device, "torch": str(torch.__version__)}
    return {"target": target, **machine, "batch": BATCH[target], "method": METHOD, **asdict(config)}


def machine_id(target: str, config: MeasureConfig) -> str:
    """A short hash of :func:`cache_key`: a cached table is reused only when every setting that shaped it matches.

    :param target: ``"cpu"`` or ``"gpu"``.
    :param config: the measuring setup.
    """
    return hashlib.sha256(json.dumps(cache_key(target, config), sort_keys=True).encode()).hexdigest()[:12]


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
    with _Threads(config.threads):
        timed = time_in_context(space, config, device, batch, progress, desc=f"{target} latency table")
    missing = set(required_keys(space)) - set(timed)
    if missing:  # the uniform networks must cover the space; a new candidate or layer kind would break that
        raise RuntimeError(f"the context networks did not time keys {sorted(map(str, missing))}")
    entries = {key: {"mean": mean, "var": var, "count": count} for key, (mean, var, count) in timed.items()}
    meta = {
        "target": target,
        "batch": batch,
        "threads": config.threads,
        "repeats": config.repeats,
        "rounds": config.rounds,
        "statistic": f"mean and variance of the fastest {config.keep:.0%} of each key's timings",
        "method": "every key timed inside whole forward passes of the six uniform networks",
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
    :param config: the measuring setup (every field is part of the cache key).
    """
    config = config or MeasureConfig()
    tag = f"w{space.width_mult:g}-r{space.resolution}-c{space.num_classes}"
    return cache_dir("nas", "latency") / f"{target}-{tag}-{machine_id(target, config)}.yaml"


def measured_table(
    target: str,
    space: SearchSpace = DEPLOYMENT_SPACE,
    *,
    rebuild: bool = False,
    progress: bool = True,
    **options: Any,
) -> LatencyTable:
    """This machine's table for ``target``: from the cache, or measured (with a progress bar) and cached.

    :param target: ``"cpu"`` or ``"gpu"``.
    :param space: the deployed network.
    :param rebuild: measure again even if cached.
    :param progress: show a progress bar.
    :param options: fields of :class:`MeasureConfig` (``repeats``, ``warmup``, ``rounds``, ``keep``, ``threads``);
        every one is part of the cache key.
    """
    valid = [f.name for f in fields(MeasureConfig)]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown latency-table option(s) {unknown}; valid: {valid}, rebuild, progress")
    config = MeasureConfig(**options)
    _device(target)
    path = table_path(target, space, config)
    if path.is_file() and _checksum_path(path).is_file() and not rebuild:  # without a checksum: measure again
        _verify_cached(path)
        return LatencyTable.from_yaml(path, target, space)
    table = measure_table(target, space, config, progress)
    table.to_yaml(path)
    atomic_write_bytes(_checksum_path(path), hashlib.sha256(path.read_bytes()).hexdigest().encode())
    table.meta["source"] = str(path)
    return table


def _checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _verify_cached(path: Path) -> None:
    """Refuse a cached table whose bytes are not the ones measured: an edited mean would silently move every target.

    :raises CorruptCacheError: naming the file, with how to rebuild it (delete it; it is measured again).
    """
    expected = _checksum_path(path).read_text().strip()
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if expected != actual:
        problem = f"sha256 {actual}, recorded {expected}"
        raise corrupt_cache_error(path, "latency table", problem, "measured again (about 12 s for the CPU)")


__getattr__ = moved_names(__name__, "hwenvs.lab.latency_validation", ("validate_table",))
""":func:`validate_table` moved to the lab (:mod:`hwenvs.lab.latency_validation`); still importable from here
(deprecated)."""
