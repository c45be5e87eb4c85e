"""``hwenvs hardware MODEL HARDWARE --bits W/A``: a model's per-layer latency, energy and bound on a hardware target.

Lets a user check a cost model before searching with it. Every layer runs at W/A bits, except that the first
layer's input (the image, which the search does not quantize) is charged at ``--input-bits`` (8), as the HAQ
environment does.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from hwenvs.cli import values
from hwenvs.envs.bit_budget import UNQUANTIZED_CHARGE_BITS
from hwenvs.hardware.base import MAX_BITS, CostTable, LayerShape, policy_layer_costs

EXTRA_MODELS = ("alexnet",)
"""Models beyond the zoo that the command can cost (torchvision's, randomly initialised: only shapes matter)."""

DEFAULT_NUM_CLASSES = 1000
"""``--num-classes`` when not given (ImageNet's classifier)."""
MAX_NUM_CLASSES = 100_000
"""The largest ``--num-classes``: the classifier is built in memory (AlexNet's 4096 x 100,000 weights take 1.6 GB);
100 million classes asked torch for 512 GB and ended in its allocator's traceback. ImageNet-21k has 21,841."""


def _bits_pair(text: str) -> tuple[int, int]:
    """``"W/A"`` (or ``"B"`` for B/B) as a pair of ints."""
    parts = text.split("/")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bits must look like W/A (e.g. 4/8), got {text!r}") from None
    if len(values) == 1:
        values = values * 2
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"bits must look like W/A (e.g. 4/8), got {text!r}")
    return values


def _resolve(name: str, table: dict[str, str], valid: list[str], what: str) -> str:
    """A canonical name from a canonical or id-style one (``MobileNetV2``, ``BISMO-Cloud``), case-insensitively."""
    lowered = {k.lower(): v for k, v in table.items()} | {v.lower(): v for v in valid}
    if name.lower() not in lowered:
        raise ValueError(f"unknown {what} {name!r}; valid: {sorted(set(valid) | set(table))}")
    return lowered[name.lower()]


def model_layers(model: str, resolution: int, num_classes: int = 1000) -> list[LayerShape]:
    """Layer shapes of a named model (zoo name, id-style name or ``alexnet``) at ``resolution``.

    :param model: ``mobilenet_v2``, ``resnet18``, ``mobilenet_v1``, ``alexnet`` or ``MobileNetV2``-style ids.
    :param resolution: input side in pixels.
    :param num_classes: classifier outputs.
    """
    from torchvision import models as tv_models

    from hwenvs.models.shapes import layer_shapes
    from hwenvs.models.zoo import ARCHITECTURES, build_architecture
    from hwenvs.registration import HAQ_MODELS

    name = _resolve(model, HAQ_MODELS, [*ARCHITECTURES, *EXTRA_MODELS], "model")
    if name in EXTRA_MODELS:
        net = getattr(tv_models, name)(num_classes=num_classes)
    else:
        net = build_architecture(name, num_classes)
    return layer_shapes(net, resolution)


def policy_cost(table: CostTable, w_bits: np.ndarray, a_bits: np.ndarray) -> dict:
    """Per-layer and total costs of one policy, as plain Python values.

    Looked up with :func:`hwenvs.hardware.base.policy_layer_costs`, as the environments' budget does, so the totals
    printed here are the costs a search is constrained by (with the first layer's input charged at the same bits).

    :param table: the model's cost table on a target.
    :param w_bits: weight bits per layer.
    :param a_bits: activation bits per layer.
    """
    latency = policy_layer_costs(table.latency_s, w_bits, a_bits)
    cycles = None if table.cycles is None else policy_layer_costs(table.cycles, w_bits, a_bits)
    energy = None if table.energy_j is None else policy_layer_costs(table.energy_j, w_bits, a_bits)
    bound = None if table.bound is None else policy_layer_costs(table.bound, w_bits, a_bits)
    layers = []
    for i, layer in enumerate(table.layers):
        layers.append(
            {
                "index": i,
                "name": layer.name,
                "type": _layer_type(layer),
                "w_bits": int(w_bits[i]),
                "a_bits": int(a_bits[i]),
                "latency_cycles": None if cycles is None else float(cycles[i]),
                "latency_s": float(latency[i]),
                "energy_j": None if energy is None else float(energy[i]),
                "bound": None if bound is None else ("memory" if bound[i] else "compute"),
            }
        )
    total_latency = float(latency.sum())
    total_energy = None if energy is None else float(energy.sum())
    return {
        "layers": layers,
        "total": {
            "latency_cycles": None if cycles is None else float(cycles.sum()),
            "latency_s": total_latency,
            "latency_s_per_image": total_latency / table.batch,
            "energy_j": total_energy,
            "power_w": None if total_energy is None else total_energy / total_latency,
            "memory_bound_layers": None if bound is None else int(bound.sum()),
        },
    }


def _layer_type(layer: LayerShape) -> str:
    if layer.kind == "linear":
        return "linear"
    kind = "dw" if layer.depthwise else ("group" if layer.groups > 1 else "conv")
    return f"{kind}{layer.kernel_size}x{layer.kernel_size}/{layer.stride}"


def _fmt(value: float | None, scale: float, spec: str) -> str:
    return "-" if value is None else format(value * scale, spec)


def run(args: argparse.Namespace) -> int:
    """Build the cost table, evaluate the uniform policy and print it."""
    from hwenvs.hardware import HARDWARE, make_hardware
    from hwenvs.hardware.lookup_table import HAQ_TABLE_RESOLUTION
    from hwenvs.registration import HAQ_HARDWARE

    w, a = args.bits
    for value, what in ((w, "weight bits"), (a, "activation bits"), (args.input_bits, "--input-bits")):
        if not 1 <= value <= MAX_BITS:
            raise ValueError(f"{what} must be in 1..{MAX_BITS}, got {value}")
    hardware_name = _resolve(args.hardware, HAQ_HARDWARE, list(HARDWARE), "hardware")
    if hardware_name == "haq-table" and args.resolution != HAQ_TABLE_RESOLUTION:
        # the table holds the costs of 224-pixel layers whatever shapes it is asked about: another side is not costed
        raise ValueError(
            f"haq-table is HAQ's table simulated at {HAQ_TABLE_RESOLUTION}x{HAQ_TABLE_RESOLUTION}: it cannot cost "
            f"--resolution {args.resolution}; use {HAQ_TABLE_RESOLUTION}, or bismo-cloud (the model it was simulated "
            "on)"
        )
    if hardware_name == "haq-table" and args.num_classes is not None:
        # the table holds one cost per layer index, whatever size the classifier is asked to have
        raise ValueError(
            f"haq-table is HAQ's table of fixed per-layer costs: --num-classes {args.num_classes} would not change "
            "them; leave it out, or use bismo-cloud (the model it was simulated on), which costs the classifier's size"
        )
    num_classes = DEFAULT_NUM_CLASSES if args.num_classes is None else args.num_classes
    layers = model_layers(args.model, args.resolution, num_classes)
    kwargs = {} if args.batch is None else {"batch": args.batch}
    hardware = make_hardware(hardware_name, **kwargs)
    table = hardware.cost_table(layers)
    w_bits = np.full(len(layers), w)
    a_bits = np.full(len(layers), a)
    a_bits[0] = args.input_bits
    result = policy_cost(table, w_bits, a_bits)
    header = {
        "model": args.model,
        "hardware": hardware_name,
        "batch": table.batch,
        "resolution": args.resolution,
        "clock_hz": hardware.clock_hz,
        "bits": {"w": w, "a": a, "input": args.input_bits},
    }
    if args.json:
        print(json.dumps(header | result, indent=2))
        return 0
    print(
        f"{args.model} on {hardware_name} ({hardware!r}), {args.resolution}x{args.resolution}, batch {table.batch}, "
        f"W{w}/A{a} (first layer's input at {args.input_bits} bits); costs per batch"
    )
    print(f"{'#':>3} {'layer':<28} {'type':<12} {'w/a':>5} {'cycles':>14} {'ms':>10} {'mJ':>10} {'bound':>8}")
    for row in result["layers"]:
        print(
            f"{row['index']:>3} {row['name'][:28]:<28} {row['type']:<12} {row['w_bits']:>2}/{row['a_bits']:<2} "
            f"{_fmt(row['latency_cycles'], 1, ',.0f'):>14} {_fmt(row['latency_s'], 1e3, '.4f'):>10} "
            f"{_fmt(row['energy_j'], 1e3, '.4f'):>10} {row['bound'] or '-':>8}"
        )
    total = result["total"]
    print(
        f"total: {_fmt(total['latency_cycles'], 1, ',.0f')} cycles, {total['latency_s'] * 1e3:.3f} ms per batch "
        f"({total['latency_s_per_image'] * 1e3:.3f} ms per image), energy {_fmt(total['energy_j'], 1e3, '.3f')} mJ, "
        f"power {_fmt(total['power_w'], 1e3, '.0f')} mW, memory-bound layers: {total['memory_bound_layers']}"
    )
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``hwenvs hardware``."""
    from hwenvs.envs.haq_env import MAX_RESOLUTION, MIN_RESOLUTION

    parser = subparsers.add_parser(
        "hardware",
        help="per-layer latency, energy and bound of a model on a hardware target",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="mobilenet_v2, resnet18, mobilenet_v1, alexnet (or MobileNetV2-style ids)")
    parser.add_argument("hardware", help="bismo-edge, bismo-cloud, bitfusion, haq-table (or BISMO, BISMO-Cloud, ...)")
    parser.add_argument(
        "--bits", type=_bits_pair, required=True, metavar="W/A", help="weight/activation bits (B alone: B/B)"
    )
    parser.add_argument(
        "--input-bits",
        type=values.integer(1, MAX_BITS),
        default=UNQUANTIZED_CHARGE_BITS,
        help=f"bits of the first layer's input (default {UNQUANTIZED_CHARGE_BITS}, what the environments charge)",
    )
    parser.add_argument(
        "--resolution",
        type=values.integer(MIN_RESOLUTION, MAX_RESOLUTION, "the models downsample by 32, as the environments need"),
        default=224,
        help=f"input side in pixels, {MIN_RESOLUTION}..{MAX_RESOLUTION} (default 224)",
    )
    parser.add_argument(
        "--batch", type=values.integer(1), default=None, help="batch size (default: the hardware's own)"
    )
    parser.add_argument(
        "--num-classes",
        type=values.integer(1, MAX_NUM_CLASSES, "the classifier is built in memory"),
        default=None,  # None: not given, which haq-table needs to tell (its costs ignore the classifier's size)
        help=f"classifier outputs, 1..{MAX_NUM_CLASSES:,} (default {DEFAULT_NUM_CLASSES})",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)
