"""Hardware cost models: BISMO (edge and cloud), BitFusion, and lookup tables (HAQ's published one included).

``make_hardware(name, **kwargs)`` builds a target by name; every target's ``cost_table(layers)`` gives the
(layers x 8 x 8) latency (and, where modelled, energy) table an environment indexes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hwenvs.hardware.base import MAX_BITS, CostTable, HardwareModel, LayerShape, check_bits, policy_layer_costs
from hwenvs.hardware.bismo import BISMO, bismo_cloud, bismo_edge
from hwenvs.hardware.bitfusion import BitFusion, perf_factor, round_bits
from hwenvs.hardware.lookup_table import LookupTableHardware, haq_bismo_cloud_table, haq_table_hardware

HARDWARE: dict[str, Callable[..., HardwareModel]] = {
    "bismo-edge": bismo_edge,
    "bismo-cloud": bismo_cloud,
    "bitfusion": BitFusion,
    "haq-table": haq_table_hardware,
}
"""Target name -> factory taking keyword arguments (``batch``, ``clock_hz`` and the model's own parameters)."""


def make_hardware(name: str, **kwargs: Any) -> HardwareModel:
    """The named hardware target.

    Defaults: ``bismo-edge`` batch 1 (HAQ's edge setting), ``bismo-cloud`` batch 16 (HAQ's cloud setting),
    ``bitfusion`` batch 16 (the BitFusion paper's batch, at which its published figures hold), ``haq-table``
    batch 16 (fixed: the batch HAQ's table was simulated at).

    :param name: one of :data:`HARDWARE`.
    :param kwargs: passed to the target's factory, e.g. ``batch=``, ``clock_hz=``.
    :raises ValueError: for an unknown name, listing the valid ones.
    """
    if name not in HARDWARE:
        raise ValueError(f"unknown hardware {name!r}; valid: {sorted(HARDWARE)}")
    return HARDWARE[name](**kwargs)


__all__ = [
    "BISMO",
    "HARDWARE",
    "MAX_BITS",
    "BitFusion",
    "CostTable",
    "HardwareModel",
    "LayerShape",
    "LookupTableHardware",
    "bismo_cloud",
    "bismo_edge",
    "check_bits",
    "haq_bismo_cloud_table",
    "haq_table_hardware",
    "make_hardware",
    "perf_factor",
    "policy_layer_costs",
    "round_bits",
]
