"""Latency lookup tables in ProxylessNAS's format, one interface for every target.

A table maps a layer key to milliseconds. Keys follow ProxylessNAS's ``mobile_trim.yaml``:

* ``Conv-input:224x224x3-output:112x112x32`` (stem), ``Conv_1-input:7x7x320-output:7x7x1280`` (head 1x1 conv),
  ``Logits-input:7x7x1280-output:1000`` (pool + classifier);
* ``expanded_conv-input:HxWxC-output:HxWxC-expand:E-kernel:K-stride:S-idskip:{0,1}`` for MBConv blocks (the fixed
  first block and every searchable candidate; ``idskip`` 1 where the block has an identity shortcut).

Targets: ``mobile`` (ProxylessNAS's published Pixel 1 table, fetched and sha256-verified by
:mod:`hwenvs.reference_data`), ``cpu`` / ``gpu`` (measured on this machine, see :mod:`hwenvs.nas.measure_latency`),
and the HAQ hardware models (``bismo-edge``, ``bismo-cloud``, ``bitfusion``) at 8-bit weights and activations.

The latency of an architecture is always that of the network deployed at the table's space (width 1, 224x224
input, 1000 classes for every built-in target), whatever the resolution of the task that scores its accuracy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from hwenvs.nas.architecture import Architecture
from hwenvs.nas.search_space import NUM_MBCONV_OPS, OPS, ZERO, BlockSpec, SearchSpace

DEPLOYMENT_SPACE = SearchSpace()
"""The network whose latency the built-in tables describe: width 1, 224x224 input, 1000 classes."""

HARDWARE_TARGETS = ("bismo-edge", "bismo-cloud", "bitfusion")
MEASURED_TARGETS = ("cpu", "gpu")
TARGETS = ("mobile", *MEASURED_TARGETS, *HARDWARE_TARGETS)
"""Every latency target :func:`load_latency_table` knows."""


def _hwc(hw: int, channels: int) -> str:
    return f"{hw}x{hw}x{channels}"


def stem_key(space: SearchSpace) -> str:
    """Key of the stem convolution."""
    return f"Conv-input:{_hwc(space.resolution, 3)}-output:{_hwc(space.stem_out_hw, space.stem_channels)}"


def mbconv_key(in_hw: int, out_hw: int, cin: int, cout: int, expand: int, kernel: int, stride: int, skip: bool) -> str:
    """Key of one MBConv block.

    :param in_hw: input side.
    :param out_hw: output side.
    :param cin: input width.
    :param cout: output width.
    :param expand: expansion ratio.
    :param kernel: depthwise kernel.
    :param stride: depthwise stride.
    :param skip: whether the block has an identity shortcut.
    """
    return (
        f"expanded_conv-input:{_hwc(in_hw, cin)}-output:{_hwc(out_hw, cout)}"
        f"-expand:{expand}-kernel:{kernel}-stride:{stride}-idskip:{int(skip)}"
    )


def first_block_key(space: SearchSpace) -> str:
    """Key of the fixed first MBConv (expand 1, kernel 3, stride 1)."""
    hw = space.stem_out_hw
    return mbconv_key(hw, hw, space.stem_channels, space.first_block_channels, 1, 3, 1, False)


def block_key(block: BlockSpec, op_index: int) -> str:
    """Key of MBConv candidate ``op_index`` of a searchable block (zero has no key: it costs nothing)."""
    op = OPS[op_index]
    if op.is_zero:
        raise ValueError("the zero candidate has no table entry (its latency is 0)")
    return mbconv_key(
        block.in_hw,
        block.out_hw,
        block.in_channels,
        block.out_channels,
        op.expand,
        op.kernel,
        block.stride,
        block.zero_allowed,
    )


def head_key(space: SearchSpace) -> str:
    """Key of the head's 1x1 convolution."""
    hw, cin = space.final_hw, space.blocks[-1].out_channels
    return f"Conv_1-input:{_hwc(hw, cin)}-output:{_hwc(hw, space.head_channels)}"


def logits_key(space: SearchSpace) -> str:
    """Key of the pooling and classifier."""
    return f"Logits-input:{_hwc(space.final_hw, space.head_channels)}-output:{space.num_classes}"


def fixed_keys(space: SearchSpace) -> list[str]:
    """Keys of the layers every architecture has."""
    return [stem_key(space), first_block_key(space), head_key(space), logits_key(space)]


def required_keys(space: SearchSpace) -> list[str]:
    """Every key a table needs to cost every architecture of ``space`` (70 for the ImageNet space)."""
    keys = fixed_keys(space)
    for block in space.blocks:
        keys += [block_key(block, i) for i in range(NUM_MBCONV_OPS)]
    return list(dict.fromkeys(keys))


@dataclass
class LatencyTable:
    """Milliseconds per layer key, with the per-architecture sums precomputed for one deployment space.

    :param name: the target (``"mobile"``, ``"cpu"``...).
    :param entries: key -> ``{"mean": ms, ...}`` (``count`` and ``var`` kept when the source has them).
    :param space: the deployed network the table costs.
    :param meta: provenance (source file, machine, batch size...).
    :raises KeyError: naming the first key ``space`` needs that the table lacks.
    """

    name: str
    entries: dict[str, dict[str, float]]
    space: SearchSpace = DEPLOYMENT_SPACE
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [k for k in required_keys(self.space) if k not in self.entries]
        if missing:
            raise KeyError(
                f"latency table {self.name!r} has no entry {missing[0]!r} ({len(missing)} of the "
                f"{len(required_keys(self.space))} keys the space at width {self.space.width_mult}, resolution "
                f"{self.space.resolution} needs are missing)"
            )
        for key, value in self.entries.items():
            mean = value.get("mean") if isinstance(value, dict) else None
            if not isinstance(mean, (int, float)) or not np.isfinite(mean) or mean < 0:
                raise ValueError(f"latency table {self.name!r}: entry {key!r} needs a finite mean >= 0, got {value!r}")
        self.fixed_ms = float(sum(self.ms(k) for k in fixed_keys(self.space)))
        """Latency of the layers every architecture has."""
        self.block_ms = np.full((self.space.num_blocks, len(OPS)), np.nan)
        """(21, 7) latency of each candidate of each block; zero is 0 where allowed and NaN where not."""
        for block in self.space.blocks:
            for i in range(NUM_MBCONV_OPS):
                self.block_ms[block.index, i] = self.ms(block_key(block, i))
            if block.zero_allowed:
                self.block_ms[block.index, ZERO] = 0.0

    def ms(self, key: str) -> float:
        """Milliseconds of one key.

        :raises KeyError: naming the key.
        """
        try:
            return float(self.entries[key]["mean"])
        except KeyError:
            raise KeyError(f"latency table {self.name!r} has no entry {key!r}") from None

    def latency_ms(self, arch: Architecture) -> float:
        """Latency of the deployed network with architecture ``arch``."""
        return self.fixed_ms + float(self.block_ms[np.arange(len(arch.choices)), arch.choices].sum())

    def partial_ms(self, choices: Iterable[int]) -> float:
        """Fixed part plus the first ``len(choices)`` blocks (the latency so far of a sequential episode)."""
        choices = list(choices)
        return self.fixed_ms + float(self.block_ms[np.arange(len(choices)), choices].sum())

    @classmethod
    def from_yaml(cls, path: str | Path, name: str, space: SearchSpace = DEPLOYMENT_SPACE) -> LatencyTable:
        """Read a table in ProxylessNAS's YAML format (a mapping of key -> {count, mean, var}).

        :param path: the YAML file.
        :param name: the target's name.
        :param space: the deployed network it costs.
        """
        with open(path) as f:
            data = yaml.safe_load(f)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a latency table must be a YAML mapping of key -> {{mean: ms}}")
        meta = data.pop("_meta", {}) if isinstance(data.get("_meta"), dict) else {}
        return cls(name, data, space, {**meta, "source": str(path)})

    def to_yaml(self, path: str | Path) -> None:
        """Write the table in ProxylessNAS's YAML format (provenance under ``_meta``, which ProxylessNAS ignores).

        :param path: where to write.
        """
        from hwenvs.cache import atomic_write_bytes

        data = {"_meta": self.meta, **self.entries}
        atomic_write_bytes(Path(path), yaml.safe_dump(data, sort_keys=True).encode())


def mobile_table() -> LatencyTable:
    """ProxylessNAS's published Pixel 1 table (fetched on first use, cached, sha256-verified)."""
    from hwenvs.reference_data import reference_path

    path = reference_path("proxylessnas_mobile_trim.yaml")
    return LatencyTable.from_yaml(path, "mobile", DEPLOYMENT_SPACE)


def load_latency_table(target: str, space: SearchSpace = DEPLOYMENT_SPACE, **options: object) -> LatencyTable:
    """The latency table of ``target``.

    :param target: one of :data:`TARGETS`, or the path of a YAML table.
    :param space: the deployed network (the Mobile table only covers the default: width 1, 224x224, 1000 classes).
    :param options: for measured targets, keyword arguments of :func:`hwenvs.nas.measure_latency.measured_table`.
    """
    if target == "mobile":
        table = mobile_table()
        if space != DEPLOYMENT_SPACE:
            table = LatencyTable("mobile", table.entries, space, table.meta)
        return table
    if target in MEASURED_TARGETS:
        from hwenvs.nas.measure_latency import measured_table

        return measured_table(target, space, **options)  # type: ignore[arg-type]
    if target in HARDWARE_TARGETS:
        return hardware_table(target, space)
    if Path(target).suffix in (".yaml", ".yml"):
        if not Path(target).is_file():
            raise FileNotFoundError(f"latency table {target} does not exist")
        return LatencyTable.from_yaml(target, Path(target).stem, space)
    raise ValueError(f"unknown latency target {target!r}; valid: {', '.join(TARGETS)} or the path of a YAML table")


def key_layers(key: str) -> list[tuple[str, int, int, int, int, int, int]]:
    """The conv / linear layers behind one table key, as (kind, cin, cout, kernel, stride, in_hw, out_hw).

    :param key: a table key.
    """
    fields = dict(part.split(":", 1) for part in key.split("-")[1:])
    kind = key.split("-", 1)[0]
    in_h, _, cin = (int(v) for v in fields["input"].split("x"))
    out = fields["output"].split("x")
    if kind == "Logits":
        return [("linear", cin, int(out[0]), 1, 1, 1, 1)]
    out_h, cout = int(out[0]), int(out[2])
    if kind == "Conv":
        return [("conv", cin, cout, 3, in_h // out_h, in_h, out_h)]
    if kind == "Conv_1":
        return [("conv", cin, cout, 1, 1, in_h, out_h)]
    expand, kernel, stride = int(fields["expand"]), int(fields["kernel"]), int(fields["stride"])
    hidden = cin * expand
    layers = [] if expand == 1 else [("conv", cin, hidden, 1, 1, in_h, in_h)]
    layers += [("dwconv", hidden, hidden, kernel, stride, in_h, out_h), ("conv", hidden, cout, 1, 1, out_h, out_h)]
    return layers


def hardware_table(target: str, space: SearchSpace = DEPLOYMENT_SPACE) -> LatencyTable:
    """A table from one of the HAQ environment's hardware models at 8-bit weights and activations.

    Each key's latency is the sum over its convolution and linear layers of the model's latency for one batch (the
    model's default batch size), so this target counts the layers a quantized accelerator runs, not pooling or
    element-wise additions.

    :param target: ``"bismo-edge"``, ``"bismo-cloud"`` or ``"bitfusion"``.
    :param space: the deployed network.
    """
    from hwenvs.hardware import make_hardware
    from hwenvs.hardware.base import MAX_BITS, LayerShape

    hardware = make_hardware(target)
    keys = required_keys(space)
    shapes, owner = [], []
    for key in keys:
        for i, (kind, cin, cout, kernel, stride, in_hw, out_hw) in enumerate(key_layers(key)):
            shapes.append(
                LayerShape(
                    name=f"{key}#{i}",
                    kind="linear" if kind == "linear" else "conv",
                    in_channels=cin,
                    out_channels=cout,
                    kernel_size=kernel,
                    stride=stride,
                    groups=cin if kind == "dwconv" else 1,
                    in_hw=(in_hw, in_hw),
                    out_hw=(out_hw, out_hw),
                    padding=kernel // 2,
                )
            )
            owner.append(key)
    costs = hardware.cost_table(shapes)
    ms = costs.latency_s[:, MAX_BITS - 1, MAX_BITS - 1] * 1e3
    entries: dict[str, dict[str, float]] = {k: {"mean": 0.0} for k in keys}
    for key, value in zip(owner, ms, strict=True):
        entries[key]["mean"] += float(value)
    meta = {"hardware": target, "w_bits": MAX_BITS, "a_bits": MAX_BITS, "batch": costs.batch}
    return LatencyTable(target, entries, space, meta)
