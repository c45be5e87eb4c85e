"""Any (layers x 8 x 8) table of measured or simulated costs as a hardware target, and HAQ's published table."""

from __future__ import annotations

import numpy as np

from hwenvs.hardware.base import MAX_BITS, CostTable, HardwareModel, LayerShape

UNITS = {"cycles": None, "s": 1.0, "ms": 1e-3, "us": 1e-6}
"""Table units: ``"cycles"`` (converted with ``clock_hz``) or a time unit and its length in seconds."""

HAQ_TABLE_FILE = "haq_qmobilenetv2_imagenet100_batch16_latency_table.npy"
"""HAQ's BISMO-cloud latency table, a file of :mod:`hwenvs.reference_data`."""

HAQ_TABLE_BATCH = 16
"""The batch HAQ's table was simulated at (S: its file name)."""
HAQ_TABLE_RESOLUTION = 224
"""The input side HAQ's table was simulated at: it holds those layers' costs, whatever shapes are asked about."""


class LookupTableHardware(HardwareModel):
    """A hardware target given as a table ``[layer, w_bits - 1, a_bits - 1]`` of latencies (and optionally energies).

    Costs are looked up by layer position, so the table must have exactly one row per layer of the model; a
    table has no notion of which layers hit the memory bound (``bound`` is None).

    :param table: latencies, shape (L, 8, 8), in ``unit``.
    :param name: name of this target.
    :param unit: ``"cycles"``, ``"s"``, ``"ms"`` or ``"us"``.
    :param clock_hz: clock that converts cycles to seconds (ignored for time units).
    :param batch: the batch the table's costs are for.
    :param energy_j: optional energies in joules, shape (L, 8, 8).
    """

    def __init__(
        self,
        table: np.ndarray,
        name: str = "table",
        *,
        unit: str = "cycles",
        clock_hz: float = 200e6,
        batch: int = 1,
        energy_j: np.ndarray | None = None,
    ) -> None:
        super().__init__(batch=batch, clock_hz=clock_hz)
        if unit not in UNITS:
            raise ValueError(f"unknown table unit {unit!r}; valid: {sorted(UNITS)}")
        table = np.asarray(table, dtype=np.float64)
        if table.ndim != 3 or table.shape[1:] != (MAX_BITS, MAX_BITS):
            raise ValueError(f"{name}: a cost table must be (layers, {MAX_BITS}, {MAX_BITS}), got {table.shape}")
        if not np.all(np.isfinite(table)) or table.min() < 0:
            raise ValueError(f"{name}: table entries must be finite and non-negative")
        if energy_j is not None:
            energy_j = np.asarray(energy_j, dtype=np.float64)
            if energy_j.shape != table.shape:
                raise ValueError(f"{name}: energy_j has shape {energy_j.shape}, the latency table {table.shape}")
        self.table = table
        self.name = name
        self.unit = unit
        self.energy_j = energy_j
        self.has_energy = energy_j is not None

    def __repr__(self) -> str:
        return f"LookupTableHardware({self.name!r}, layers={len(self.table)}, unit={self.unit!r}, batch={self.batch})"

    def layer_cost(
        self, layer: LayerShape, w_bits: np.ndarray, a_bits: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Not available: a table is indexed by layer position, not by shape; use :meth:`cost_table`."""
        raise TypeError(f"{self.name}: a lookup table costs whole models by layer position; call cost_table(layers)")

    def cost_table(self, layers: list[LayerShape]) -> CostTable:
        """The table itself, checked against the model's layer count.

        :raises ValueError: naming both counts if the table does not have one row per layer.
        """
        if len(layers) != len(self.table):
            raise ValueError(
                f"{self.name}: the table has {len(self.table)} layers but the model has {len(layers)}; "
                "a lookup table only fits the model it was measured on"
            )
        scale = UNITS[self.unit]
        cycles = self.table.copy() if scale is None else None
        latency = self.table / self.clock_hz if scale is None else self.table * scale
        return CostTable(
            hardware=self.name,
            layers=list(layers),
            latency_s=latency,
            energy_j=None if self.energy_j is None else self.energy_j.copy(),
            cycles=cycles,
            bound=None,
            batch=self.batch,
            meta={"unit": self.unit},
        )


def haq_bismo_cloud_table() -> np.ndarray:
    """HAQ's published BISMO-cloud latency table for MobileNetV2 (224x224, batch 16), int64 (53, 8, 8) indexed
    ``[layer, w_bits - 1, a_bits - 1]``, fetched from its upstream address on first use, cached and sha256-verified
    (see :func:`hwenvs.reference_data.reference_path`). Its unit is not stated; it is read as cycles (I).

    :raises FileNotFoundError: if there is no local copy and it cannot be fetched.
    """
    from hwenvs.reference_data import ChecksumError, reference_path

    try:
        return np.load(reference_path(HAQ_TABLE_FILE))
    except ChecksumError:
        raise
    except RuntimeError as exc:
        raise FileNotFoundError(str(exc)) from exc


def haq_table_hardware(*, batch: int = HAQ_TABLE_BATCH, clock_hz: float = 200e6) -> LookupTableHardware:
    """HAQ's BISMO-cloud table as a target for torchvision's MobileNetV2 (53 layers), cycles at ``clock_hz``.

    :param batch: must be 16, the batch the table was simulated at.
    :param clock_hz: clock that converts the table's cycles to seconds (not published; 200 MHz assumed (I)).
    """
    if batch != HAQ_TABLE_BATCH:
        raise ValueError(f"HAQ's table was simulated at batch {HAQ_TABLE_BATCH}; it cannot give costs at batch {batch}")
    return LookupTableHardware(haq_bismo_cloud_table(), "haq-table", unit="cycles", clock_hz=clock_hz, batch=batch)
