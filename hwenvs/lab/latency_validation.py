"""Check a measured latency table against whole networks: time sampled deployed networks end to end, the way
:mod:`hwenvs.nas.measure_latency` times the table's layers (interleaved rounds, the fastest share kept, no hooks),
and compare each with the sum the table predicts (``hwenvs nas latency-table --validate``).
"""

from __future__ import annotations

import torch

from hwenvs.nas.architecture import Architecture
from hwenvs.nas.export import build_network
from hwenvs.nas.latency_tables import LatencyTable
from hwenvs.nas.measure_latency import BATCH, MeasureConfig, _device, _Threads, time_interleaved


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
    config = config or MeasureConfig()
    target = str(table.meta.get("target", table.name))
    device = _device(target)
    side = table.space.resolution
    with _Threads(config.threads):
        runs = {
            arch.to_string(): (
                build_network(arch, table.space).to(device).eval(),
                torch.randn(BATCH[target], 3, side, side, device=device),
            )
            for arch in archs
        }
        timed = time_interleaved(runs, config, device, progress, desc="end-to-end timing")
    rows: list[dict[str, float | str]] = []
    for arch in archs:
        measured = timed[arch.to_string()][0]
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
