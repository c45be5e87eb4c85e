"""Latency targets: the tables :func:`load_latency_table` knows by name, and where each comes from.

* ``mobile``: ProxylessNAS's published Pixel 1 table, fetched and sha256-verified by :mod:`hwenvs.reference_data`;
* ``cpu`` / ``gpu``: measured on this machine by :mod:`hwenvs.nas.measure_latency` (and cached);
* ``bismo-edge``, ``bismo-cloud``, ``bitfusion``: the HAQ environment's hardware models at 8-bit weights and
  activations (:func:`hardware_table`);
* otherwise, the path of a YAML table in ProxylessNAS's format.

This module sits above :mod:`hwenvs.nas.latency_tables` (the table and its file format) and
:mod:`hwenvs.nas.measure_latency` (measuring), so neither needs the other's target names: :data:`PROVIDERS` maps each
name to the function that makes its table. The table type and the deployed space are re-exported here, so the code
that picks a target imports from one place.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from hwenvs.hardware import make_hardware
from hwenvs.hardware.base import MAX_BITS, LayerShape
from hwenvs.nas.latency_tables import DEPLOYMENT_SPACE, LatencyTable, LayerKey, required_keys
from hwenvs.nas.search_space import SearchSpace

__all__ = [
    "DEPLOYMENT_SPACE",
    "HARDWARE_TARGETS",
    "MEASURED_TARGETS",
    "PROVIDERS",
    "TARGETS",
    "LatencyTable",
    "accelerator_layers",
    "hardware_table",
    "load_latency_table",
    "mobile_table",
]

HARDWARE_TARGETS = ("bismo-edge", "bismo-cloud", "bitfusion")
MEASURED_TARGETS = ("cpu", "gpu")
"""Targets measured on this machine (the ones :func:`load_latency_table` passes options to)."""


def mobile_table(space: SearchSpace = DEPLOYMENT_SPACE) -> LatencyTable:
    """ProxylessNAS's published Pixel 1 table (fetched on first use, cached, sha256-verified).

    :param space: the deployed network (the table only covers the default: width 1, 224x224, 1000 classes).
    :raises KeyError: naming the first layer of ``space`` the table lacks.
    """
    # imported here: the fetching client (urllib, ssl) loads only when the table is asked for
    from hwenvs.reference_data import reference_path

    return LatencyTable.from_yaml(reference_path("proxylessnas_mobile_trim.yaml"), "mobile", space)


def _measured_table(target: str, space: SearchSpace = DEPLOYMENT_SPACE, **options: Any) -> LatencyTable:
    """This machine's table for ``target`` (:func:`hwenvs.nas.measure_latency.measured_table`)."""
    # imported here, not above: measuring needs torch, which importing hwenvs (and so this module) must not load
    from hwenvs.nas.measure_latency import measured_table

    return measured_table(target, space, **options)


def _conv(name: str, cin: int, cout: int, kernel: int, stride: int, hw: tuple[int, int], groups: int = 1) -> LayerShape:
    """A square convolution with 'same' padding; ``hw`` is (input side, output side)."""
    in_hw, out_hw = hw
    return LayerShape(name, "conv", cin, cout, kernel, stride, groups, (in_hw, in_hw), (out_hw, out_hw), kernel // 2)


def accelerator_layers(key: LayerKey) -> list[LayerShape]:
    """The convolution and linear layers of one table entry, as the hardware models take them (an accelerator runs
    these; pooling and element-wise additions are not counted).

    :param key: the entry.
    """
    name = str(key)
    if key.kind == "logits":
        return [LayerShape(f"{name}#0", "linear", key.in_channels, key.out_channels)]
    if key.kind in ("stem", "head"):
        return [_conv(f"{name}#0", key.in_channels, key.out_channels, key.kernel, key.stride, (key.in_hw, key.out_hw))]
    hidden = key.in_channels * key.expand
    expand = [] if key.expand == 1 else [(key.in_channels, hidden, 1, 1, (key.in_hw, key.in_hw), 1)]
    depthwise = (hidden, hidden, key.kernel, key.stride, (key.in_hw, key.out_hw), hidden)
    project = (hidden, key.out_channels, 1, 1, (key.out_hw, key.out_hw), 1)
    return [_conv(f"{name}#{i}", *layer) for i, layer in enumerate([*expand, depthwise, project])]


def hardware_table(target: str, space: SearchSpace = DEPLOYMENT_SPACE) -> LatencyTable:
    """A table from one of the HAQ environment's hardware models at 8-bit weights and activations.

    Each entry's latency is the sum over its convolution and linear layers (:func:`accelerator_layers`) of the
    model's latency for one batch (the model's default batch size), so this target counts the layers a quantized
    accelerator runs, not pooling or element-wise additions.

    :param target: ``"bismo-edge"``, ``"bismo-cloud"`` or ``"bitfusion"``.
    :param space: the deployed network.
    """
    hardware = make_hardware(target)
    keys = required_keys(space)
    owned = [(key, layer) for key in keys for layer in accelerator_layers(key)]
    costs = hardware.cost_table([layer for _, layer in owned])
    ms = costs.latency_s[:, MAX_BITS - 1, MAX_BITS - 1] * 1e3
    entries = {key: {"mean": 0.0} for key in keys}
    for (key, _), value in zip(owned, ms, strict=True):
        entries[key]["mean"] += float(value)
    meta = {"hardware": target, "w_bits": MAX_BITS, "a_bits": MAX_BITS, "batch": costs.batch}
    return LatencyTable(target, entries, space, meta)


Provider = Callable[..., LatencyTable]
"""Makes a target's table: ``provider(space, **options)``."""

PROVIDERS: dict[str, Provider] = {
    "mobile": mobile_table,
    **{target: partial(_measured_table, target) for target in MEASURED_TARGETS},
    **{target: partial(hardware_table, target) for target in HARDWARE_TARGETS},
}
"""Target name -> the function that makes its table."""

TARGETS = tuple(PROVIDERS)
"""Every latency target :func:`load_latency_table` knows by name."""


def load_latency_table(target: str, space: SearchSpace = DEPLOYMENT_SPACE, **options: Any) -> LatencyTable:
    """The latency table of ``target``.

    :param target: one of :data:`TARGETS`, or the path of a YAML table.
    :param space: the deployed network (the Mobile table only covers the default: width 1, 224x224, 1000 classes).
    :param options: for measured targets, keyword arguments of :func:`hwenvs.nas.measure_latency.measured_table`.
    :raises ValueError: an unknown target.
    :raises TypeError: options for a target that is not measured here.
    :raises FileNotFoundError: a YAML path that does not exist.
    """
    check_target(target)
    if options and target not in MEASURED_TARGETS:
        measured = " and ".join(MEASURED_TARGETS)
        raise TypeError(f"options {sorted(options)} apply only to targets measured here ({measured}), not {target!r}")
    if target in PROVIDERS:
        return PROVIDERS[target](space, **options)
    return LatencyTable.from_yaml(target, Path(target).stem, space)


def check_target(target: str) -> None:
    """Check a latency target's name without loading or measuring its table, so that a command can refuse it before
    its work (``hwenvs nas train --target`` found a misspelt target after the training).

    :param target: one of :data:`TARGETS`, or the path of a YAML table.
    :raises ValueError: an unknown target.
    :raises FileNotFoundError: a YAML path that does not exist.
    """
    if target in TARGETS:
        return
    if Path(target).suffix not in (".yaml", ".yml"):
        raise ValueError(f"unknown latency target {target!r}; valid: {', '.join(TARGETS)} or the path of a YAML table")
    if not Path(target).is_file():
        raise FileNotFoundError(f"latency table {target} does not exist")
