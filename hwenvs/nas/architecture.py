"""One architecture of the ProxylessNAS space: a candidate per searchable block, with canonical string and JSON forms.

String form: block names joined by ``-`` within a stage and stages joined by ``/``, for example
``k3e3-zero-zero-zero/k5e3-k3e3-zero-zero/k7e6-k3e3-k3e3-k3e3/k3e6-k3e3-k3e3-k3e3/k7e6-k5e6-k3e3-k3e3/k7e6``.
JSON form: ``{"format": "proxylessnas-arch/1", "blocks": ["k3e3", "zero", ...]}``. Both round-trip exactly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwenvs.nas.search_space import NUM_BLOCKS, OP_INDEX, OPS, STAGES, ZERO, ZERO_ALLOWED, Op

JSON_FORMAT = "proxylessnas-arch/1"
VALID_OPS = ", ".join(op.name for op in OPS)


@dataclass(frozen=True)
class Architecture:
    """A choice of candidate (an index into :data:`~hwenvs.nas.search_space.OPS`) for each of the 21 blocks.

    :param choices: 21 op indices; 6 (``zero``) only where :data:`~hwenvs.nas.search_space.ZERO_ALLOWED`.
    """

    choices: tuple[int, ...]

    def __post_init__(self) -> None:
        choices = tuple(int(c) for c in self.choices)
        object.__setattr__(self, "choices", choices)
        if len(choices) != NUM_BLOCKS:
            raise ValueError(f"an architecture has {NUM_BLOCKS} blocks, got {len(choices)}")
        for i, c in enumerate(choices):
            if not 0 <= c < len(OPS):
                raise ValueError(f"block {i}: op index {c} out of range 0..{len(OPS) - 1} ({VALID_OPS})")
            if c == ZERO and not ZERO_ALLOWED[i]:
                raise ValueError(
                    f"block {i} is the first block of its stage (it changes width or stride): zero is not allowed "
                    f"there; valid: {VALID_OPS.replace(', zero', '')}"
                )

    @classmethod
    def from_indices(cls, indices: Sequence[int] | np.ndarray) -> Architecture:
        """From 21 op indices (an env action).

        :param indices: op index per block.
        """
        return cls(tuple(int(i) for i in np.asarray(indices).reshape(-1)))

    @classmethod
    def from_names(cls, names: Sequence[str]) -> Architecture:
        """From 21 op names.

        :param names: ``"k3e3"`` ... ``"k7e6"`` or ``"zero"`` per block.
        """
        unknown = [n for n in names if n not in OP_INDEX]
        if unknown:
            raise ValueError(f"unknown op name(s) {unknown}; valid: {VALID_OPS}")
        return cls(tuple(OP_INDEX[n] for n in names))

    @classmethod
    def from_string(cls, text: str) -> Architecture:
        """Parse the canonical string form (see the module docstring).

        :param text: stages separated by ``/``, blocks by ``-``.
        """
        if not isinstance(text, str):
            raise TypeError(f"an architecture string must be a str, got {type(text).__name__}")
        stages = text.strip().split("/")
        expected = [count for _, count, _ in STAGES]
        if len(stages) != len(expected):
            raise ValueError(
                f"architecture string {text!r}: expected {len(expected)} stages separated by '/', got {len(stages)}"
            )
        names: list[str] = []
        for s, (stage, count) in enumerate(zip(stages, expected, strict=True)):
            blocks = stage.split("-")
            if len(blocks) != count:
                raise ValueError(
                    f"architecture string {text!r}: stage {s} needs {count} blocks separated by '-', "
                    f"got {len(blocks)} ({stage!r})"
                )
            names.extend(blocks)
        try:
            return cls.from_names(names)
        except ValueError as exc:
            raise ValueError(f"architecture string {text!r}: {exc}") from None

    @classmethod
    def from_json(cls, data: str | dict[str, Any]) -> Architecture:
        """Parse the JSON form (a dict or its JSON text).

        :param data: ``{"format": "proxylessnas-arch/1", "blocks": [...]}``.
        """
        if isinstance(data, str):
            data = json.loads(data)
        if not isinstance(data, dict) or "blocks" not in data:
            raise ValueError(f"architecture JSON must be an object with a 'blocks' list, got {data!r}")
        if data.get("format", JSON_FORMAT) != JSON_FORMAT:
            raise ValueError(f"unknown architecture format {data['format']!r}; expected {JSON_FORMAT!r}")
        return cls.from_names(list(data["blocks"]))

    @classmethod
    def parse(cls, text: str) -> Architecture:
        """Either form: JSON text (starting with ``{``), the path of a JSON file, or the string form. A JSON object
        with an ``architecture`` string (the search pipeline's ``policy.json``) gives that architecture.

        :param text: what the user typed.
        """
        stripped = text.strip()
        if stripped.endswith(".json"):
            with open(stripped) as f:
                data = json.load(f)
        elif stripped.startswith("{"):
            data = json.loads(stripped)
        else:
            return cls.from_string(stripped)
        if isinstance(data, dict) and isinstance(data.get("architecture"), str):
            return cls.from_string(data["architecture"])
        return cls.from_json(data)

    @property
    def ops(self) -> tuple[Op, ...]:
        """The chosen op of every block."""
        return tuple(OPS[c] for c in self.choices)

    @property
    def names(self) -> tuple[str, ...]:
        """The chosen op name of every block."""
        return tuple(op.name for op in self.ops)

    def to_string(self) -> str:
        """The canonical string form."""
        stages, start = [], 0
        for _, count, _ in STAGES:
            stages.append("-".join(self.names[start : start + count]))
            start += count
        return "/".join(stages)

    def to_json(self) -> dict[str, Any]:
        """The JSON form, as a dict (``json.dumps`` it to write a file)."""
        return {"format": JSON_FORMAT, "string": self.to_string(), "blocks": list(self.names)}

    def __str__(self) -> str:
        return self.to_string()

    @property
    def depth(self) -> int:
        """Searchable blocks that are not skipped."""
        return sum(c != ZERO for c in self.choices)


def uniform(name: str) -> Architecture:
    """Every block set to MBConv ``name`` (for example ``uniform("k3e6")``, MobileNetV2's choice).

    :param name: one of the six MBConv names.
    """
    if name not in OP_INDEX or OP_INDEX[name] == ZERO:
        raise ValueError(f"uniform architecture needs an MBConv name, got {name!r}; valid: {VALID_OPS}")
    return Architecture((OP_INDEX[name],) * NUM_BLOCKS)


def shallowest(name: str = "k3e3") -> Architecture:
    """Every skippable block skipped, the others set to ``name``.

    :param name: MBConv of the blocks that cannot be skipped.
    """
    base = uniform(name).choices
    return Architecture(tuple(ZERO if allowed else c for c, allowed in zip(base, ZERO_ALLOWED, strict=True)))
