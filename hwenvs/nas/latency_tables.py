"""Latency lookup tables: milliseconds per layer of a deployed ProxylessNAS network, keyed by the layer's shape.

A table maps a :class:`LayerKey` (the structured shape of one layer as ProxylessNAS groups them: the stem, one MBConv
block, the head's 1x1 convolution or the pooling and classifier) to milliseconds. ProxylessNAS's own string keys
(its published ``mobile_trim.yaml``) are only the files' format: :meth:`LayerKey.parse` reads one when a table is read
and ``str(key)`` writes it back, character for character:

* ``Conv-input:224x224x3-output:112x112x32`` (stem), ``Conv_1-input:7x7x320-output:7x7x1280`` (head 1x1 conv),
  ``Logits-input:7x7x1280-output:1000`` (pool + classifier);
* ``expanded_conv-input:HxWxC-output:HxWxC-expand:E-kernel:K-stride:S-idskip:{0,1}`` for MBConv blocks (the fixed
  first block and every searchable candidate; ``idskip`` 1 where the block has an identity shortcut).

This module knows tables, not targets: which tables exist by name (``mobile``, ``cpu``, ``bismo-edge``...) and how each
is made is :mod:`hwenvs.nas.latency_targets`, which sits above it and :mod:`hwenvs.nas.measure_latency`.

The latency of an architecture is always that of the network deployed at the table's space (width 1, 224x224
input, 1000 classes for every built-in target), whatever the resolution of the task that scores its accuracy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from hwenvs.cache import atomic_write_bytes
from hwenvs.nas.architecture import Architecture
from hwenvs.nas.search_space import NUM_MBCONV_OPS, OPS, ZERO, BlockSpec, SearchSpace, conv_out

DEPLOYMENT_SPACE = SearchSpace()
"""The network whose latency the built-in tables describe: width 1, 224x224 input, 1000 classes."""

LayerKind = Literal["stem", "mbconv", "head", "logits"]

PREFIXES: dict[LayerKind, str] = {"stem": "Conv", "mbconv": "expanded_conv", "head": "Conv_1", "logits": "Logits"}
"""Layer kind -> the first word of its key in ProxylessNAS's files."""
_KINDS: dict[str, LayerKind] = {prefix: kind for kind, prefix in PREFIXES.items()}
_FIELDS = {"mbconv": ("input", "output", "expand", "kernel", "stride", "idskip")}
"""The named parts of a key after its prefix (``input`` and ``output`` only, except for MBConv blocks)."""

FORMS = (
    "Conv-input:HxHxC-output:HxHxC, Conv_1-input:HxHxC-output:HxHxC, Logits-input:HxHxC-output:N or "
    "expanded_conv-input:HxHxC-output:HxHxC-expand:E-kernel:K-stride:S-idskip:{0,1}"
)
"""The key forms :meth:`LayerKey.parse` reads, for error messages."""


def _stem_stride(in_hw: int, out_hw: int) -> int | None:
    """The stem's stride, which its key leaves implicit: the smallest one that maps ``in_hw`` to ``out_hw``."""
    return next((s for s in range(1, in_hw + 1) if conv_out(in_hw, s) == out_hw), None)


@dataclass(frozen=True)
class LayerKey:
    """The shape of one table entry: a layer (or MBConv block) of the deployed network.

    Every field is written in the entry's ProxylessNAS key (the stem's stride through its input and output sides),
    so a key and its string convert both ways exactly; the fields a kind's string leaves out must hold the values
    that kind implies (kernel 3 for the stem, 1 elsewhere outside MBConv blocks; an output side of 1 for the
    classifier).

    :param kind: ``"stem"`` (3x3 conv), ``"mbconv"`` (an inverted-bottleneck block), ``"head"`` (1x1 conv) or
        ``"logits"`` (global pooling and the linear classifier).
    :param in_hw: input feature-map side (square).
    :param in_channels: input width.
    :param out_hw: output feature-map side (1 for ``logits``).
    :param out_channels: output width (classes for ``logits``).
    :param expand: expansion ratio of an MBConv block (1 otherwise).
    :param kernel: convolution kernel side (the depthwise kernel of an MBConv block).
    :param stride: convolution stride (the depthwise stride of an MBConv block).
    :param skip: whether an MBConv block has an identity shortcut (``idskip``).
    :raises ValueError: a non-positive size, or a field its kind's key cannot hold.
    """

    kind: LayerKind
    in_hw: int
    in_channels: int
    out_hw: int
    out_channels: int
    expand: int = 1
    kernel: int = 1
    stride: int = 1
    skip: bool = False

    def __post_init__(self) -> None:
        if self.kind not in PREFIXES:
            raise ValueError(f"layer kind must be one of {', '.join(PREFIXES)}, got {self.kind!r}")
        for name in ("in_hw", "in_channels", "out_hw", "out_channels", "expand", "kernel", "stride"):
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{self.kind} layer: {name} must be a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))  # numpy integers hash alike, but keep keys plain
        if not isinstance(self.skip, (bool, np.bool_)):
            raise ValueError(f"{self.kind} layer: skip must be a bool, got {self.skip!r}")
        object.__setattr__(self, "skip", bool(self.skip))
        if self.kind != "mbconv":
            # what the stem's, head's and classifier's keys leave out must be what their kind implies, or two
            # different keys would share one string
            wrong = {name: value for name, value in self._implied().items() if getattr(self, name) != value}
            if wrong:
                raise ValueError(f"a {self.kind} layer's key implies {wrong}, got {self!r}")

    def _implied(self) -> dict[str, int | bool | None]:
        """The fields this (non-MBConv) kind's key does not write, and the values it implies."""
        implied: dict[str, int | bool | None] = {"expand": 1, "kernel": 1, "stride": 1, "skip": False}
        if self.kind == "stem":
            implied.update(kernel=3, stride=_stem_stride(self.in_hw, self.out_hw))
        else:
            implied["out_hw"] = 1 if self.kind == "logits" else self.in_hw
        return implied

    def __str__(self) -> str:
        """The key in ProxylessNAS's format."""
        text = f"{PREFIXES[self.kind]}-input:{self.in_hw}x{self.in_hw}x{self.in_channels}-output:"
        if self.kind == "logits":
            return text + str(self.out_channels)
        text += f"{self.out_hw}x{self.out_hw}x{self.out_channels}"
        if self.kind == "mbconv":
            text += f"-expand:{self.expand}-kernel:{self.kernel}-stride:{self.stride}-idskip:{int(self.skip)}"
        return text

    @classmethod
    def parse(cls, text: object) -> LayerKey:
        """Read a key in ProxylessNAS's format (see the module docstring); ``str`` of the result is ``text``.

        :param text: the key.
        :raises ValueError: naming ``text`` and the forms accepted, if it is not exactly one of them.
        """
        try:
            if not isinstance(text, str):
                raise TypeError(f"a key is a string, got {type(text).__name__}")
            key = cls._parse(text)
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"latency table key {text!r} is not one of the forms {FORMS} ({exc})") from None
        if str(key) != text:  # "08", "idskip:2", "7x5x..." and the like parse but are not the canonical form
            raise ValueError(f"latency table key {text!r} is not in its canonical form {str(key)!r}")
        return key

    @classmethod
    def _parse(cls, text: str) -> LayerKey:
        """The key ``text`` spells, with Python's own errors (:meth:`parse` names the text around them)."""
        prefix, _, rest = text.partition("-")
        kind = _KINDS[prefix]
        parts = dict(part.split(":", 1) for part in rest.split("-"))
        if tuple(parts) != _FIELDS.get(kind, ("input", "output")):
            raise ValueError(f"a {kind} key has the parts {_FIELDS.get(kind, ('input', 'output'))}")
        in_hw, _, in_channels = (int(v) for v in parts["input"].split("x"))
        if kind == "logits":
            return cls(kind, in_hw, in_channels, 1, int(parts["output"]))
        out_hw, _, out_channels = (int(v) for v in parts["output"].split("x"))
        if kind == "stem":
            stride = _stem_stride(in_hw, out_hw)
            if stride is None:  # the message __post_init__ gives a stride of None
                raise ValueError("stem layer: stride must be a positive integer, got None")
            return cls(kind, in_hw, in_channels, out_hw, out_channels, kernel=3, stride=stride)
        if kind == "head":
            return cls(kind, in_hw, in_channels, out_hw, out_channels)
        expand, kernel, stride, skip = (int(parts[n]) for n in ("expand", "kernel", "stride", "idskip"))
        return cls(kind, in_hw, in_channels, out_hw, out_channels, expand, kernel, stride, bool(skip))


def stem_key(space: SearchSpace) -> LayerKey:
    """Key of the stem convolution."""
    hw = space.stem_out_hw
    return LayerKey("stem", space.resolution, 3, hw, space.stem_channels, kernel=3, stride=space.stem_stride)


def first_block_key(space: SearchSpace) -> LayerKey:
    """Key of the fixed first MBConv (expand 1, kernel 3, stride 1)."""
    hw = space.stem_out_hw
    return LayerKey("mbconv", hw, space.stem_channels, hw, space.first_block_channels, expand=1, kernel=3, stride=1)


def block_key(block: BlockSpec, op_index: int) -> LayerKey:
    """Key of MBConv candidate ``op_index`` of a searchable block (zero has no key: it costs nothing).

    :param block: the block.
    :param op_index: index into :data:`~hwenvs.nas.search_space.OPS`.
    :raises ValueError: for the zero candidate.
    """
    op = OPS[op_index]
    if op.is_zero:
        raise ValueError("the zero candidate has no table entry (its latency is 0)")
    return LayerKey(
        "mbconv",
        block.in_hw,
        block.in_channels,
        block.out_hw,
        block.out_channels,
        expand=op.expand,
        kernel=op.kernel,
        stride=block.stride,
        skip=block.zero_allowed,  # the blocks that may be skipped are those with an identity shortcut
    )


def head_key(space: SearchSpace) -> LayerKey:
    """Key of the head's 1x1 convolution."""
    hw = space.final_hw
    return LayerKey("head", hw, space.blocks[-1].out_channels, hw, space.head_channels)


def logits_key(space: SearchSpace) -> LayerKey:
    """Key of the pooling and classifier."""
    return LayerKey("logits", space.final_hw, space.head_channels, 1, space.num_classes)


def fixed_keys(space: SearchSpace) -> list[LayerKey]:
    """Keys of the layers every architecture has."""
    return [stem_key(space), first_block_key(space), head_key(space), logits_key(space)]


def required_keys(space: SearchSpace) -> list[LayerKey]:
    """Every key a table needs to cost every architecture of ``space`` (70 for the ImageNet space)."""
    keys = fixed_keys(space)
    for block in space.blocks:
        keys += [block_key(block, i) for i in range(NUM_MBCONV_OPS)]
    return list(dict.fromkeys(keys))


Entry = dict[str, float]
"""One entry's statistics: ``mean`` (ms), and ``count`` and ``var`` where the source has them."""


@dataclass
class LatencyTable:
    """Milliseconds per layer, with the per-architecture sums precomputed for one deployment space.

    :param name: the target (``"mobile"``, ``"cpu"``...).
    :param entries: layer -> ``{"mean": ms, ...}`` (``count`` and ``var`` kept when the source has them); may hold
        layers ``space`` does not use. Tables in ProxylessNAS's string-keyed form go through :meth:`from_mapping`.
    :param space: the deployed network the table costs.
    :param meta: provenance (source file, machine, batch size...).
    :raises TypeError: naming a key that is not a :class:`LayerKey`.
    :raises KeyError: naming the first key ``space`` needs that the table lacks.
    :raises ValueError: naming an entry without a finite mean >= 0.
    """

    name: str
    entries: dict[LayerKey, Entry]
    space: SearchSpace = DEPLOYMENT_SPACE
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._check_entries()
        self.fixed_ms = float(sum(self.ms(k) for k in fixed_keys(self.space)))
        """Latency of the layers every architecture has."""
        self.block_ms = np.full((self.space.num_blocks, len(OPS)), np.nan)
        """(21, 7) latency of each candidate of each block; zero is 0 where allowed and NaN where not."""
        for block in self.space.blocks:
            for i in range(NUM_MBCONV_OPS):
                self.block_ms[block.index, i] = self.ms(block_key(block, i))
            if block.zero_allowed:
                self.block_ms[block.index, ZERO] = 0.0

    def _check_entries(self) -> None:
        not_keys = [k for k in self.entries if not isinstance(k, LayerKey)]
        if not_keys:
            raise TypeError(
                f"latency table {self.name!r}: keys must be LayerKeys, got {not_keys[0]!r} (read ProxylessNAS's "
                "string keys with LatencyTable.from_mapping or LayerKey.parse)"
            )
        required = required_keys(self.space)
        missing = [k for k in required if k not in self.entries]
        if missing:
            raise KeyError(
                f"latency table {self.name!r} has no entry {str(missing[0])!r} ({len(missing)} of the "
                f"{len(required)} keys the space at width {self.space.width_mult}, resolution "
                f"{self.space.resolution} needs are missing)"
            )
        for key, value in self.entries.items():
            mean = value.get("mean") if isinstance(value, dict) else None
            if not isinstance(mean, (int, float)) or not np.isfinite(mean) or mean < 0:
                raise ValueError(
                    f"latency table {self.name!r}: entry {str(key)!r} needs a finite mean >= 0, got {value!r}"
                )

    def ms(self, key: LayerKey) -> float:
        """Milliseconds of one layer.

        :param key: the layer.
        :raises KeyError: naming the key.
        """
        try:
            return float(self.entries[key]["mean"])
        except KeyError:
            raise KeyError(f"latency table {self.name!r} has no entry {str(key)!r}") from None

    def latency_ms(self, arch: Architecture) -> float:
        """Latency of the deployed network with architecture ``arch``."""
        return self.fixed_ms + float(self.block_ms[np.arange(len(arch.choices)), arch.choices].sum())

    def partial_ms(self, choices: Iterable[int]) -> float:
        """Fixed part plus the first ``len(choices)`` blocks (the latency so far of a sequential episode)."""
        choices = list(choices)
        return self.fixed_ms + float(self.block_ms[np.arange(len(choices)), choices].sum())

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Entry], name: str, space: SearchSpace = DEPLOYMENT_SPACE, meta: dict | None = None
    ) -> LatencyTable:
        """A table from ProxylessNAS's string-keyed form (every key parsed once, here).

        :param data: ProxylessNAS key -> ``{"mean": ms, ...}``.
        :param name: the target's name.
        :param space: the deployed network it costs.
        :param meta: provenance.
        :raises ValueError: naming a key that is not in ProxylessNAS's format.
        """
        return cls(name, {LayerKey.parse(key): value for key, value in data.items()}, space, dict(meta or {}))

    def to_mapping(self) -> dict[str, Entry]:
        """The entries in ProxylessNAS's string-keyed form."""
        return {str(key): value for key, value in self.entries.items()}

    @classmethod
    def from_yaml(cls, path: str | Path, name: str, space: SearchSpace = DEPLOYMENT_SPACE) -> LatencyTable:
        """Read a table in ProxylessNAS's YAML format (a mapping of key -> {count, mean, var}).

        :param path: the YAML file.
        :param name: the target's name.
        :param space: the deployed network it costs.
        :raises ValueError: a file that is not YAML or not such a mapping, or a key not in ProxylessNAS's format.
        """
        try:
            with open(path) as f:
                data = yaml.safe_load(f)
        except (yaml.YAMLError, UnicodeDecodeError) as exc:  # the parser's own message, with the line, in one line
            problem = " ".join(str(exc).split())
            raise ValueError(f"{path} is not valid YAML ({type(exc).__name__}: {problem})") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a latency table must be a YAML mapping of key -> {{mean: ms}}")
        meta = data.pop("_meta", {}) if isinstance(data.get("_meta"), dict) else {}
        try:
            return cls.from_mapping(data, name, space, {**meta, "source": str(path)})
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None

    def to_yaml(self, path: str | Path) -> None:
        """Write the table in ProxylessNAS's YAML format (provenance under ``_meta``, which ProxylessNAS ignores).

        :param path: where to write.
        """
        data = {"_meta": self.meta, **self.to_mapping()}
        atomic_write_bytes(Path(path), yaml.safe_dump(data, sort_keys=True).encode())
