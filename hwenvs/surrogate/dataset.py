"""The surrogate datasets' file format, their manifest, and loading them.

One compressed ``.npz`` per (kind, model, dataset), named ``haq-<model>-<dataset>.npz`` (HAQ bit allocations) or
``nas-w<width>-<dataset>.npz`` (ProxylessNAS architectures), next to a ``manifest.json`` that gives each file's
sha256, row count and the command that regenerates it (the same manifest format as the shipped weights,
:class:`hwenvs.weights.WeightsStore`). Loading checks the sha256 and, on a mismatch, says how to regenerate.

Every file holds one row per distinct solution:

* HAQ: ``w_bits`` and ``a_bits`` int8 (N, L) (``a_bits`` 0 where the input is not quantized, None in a policy),
  ``val_accuracy`` and ``test_accuracy`` float32 (N,), ``source`` int8 (N,) indexing ``source_names``, and
  ``cost_<hardware>_<metric>`` float64 (N,) for every hardware model and metric, at the environment's default
  resolution and batch;
* NAS: ``choices`` int8 (N, 21) op indices, ``val_accuracy`` and ``test_accuracy`` float32 (supernet path),
  ``latency_<target>_ms`` float64 for every latency target that was available, ``scratch_accuracy`` (test) and
  ``scratch_val_accuracy`` float32 (NaN where the architecture was not trained from scratch), ``source`` and
  ``source_names``;
* both: ``meta``, a 0-d string array holding JSON (how the rows were made: environment arguments, weights sha256,
  split sizes, seed, hwenvs version, date, rows per source).
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwenvs.hardware.encoding import to_policy
from hwenvs.nas.architecture import Architecture
from hwenvs.weights import WeightsStore

DATA_DIR = Path(__file__).parent / "data"
"""Where the shipped surrogate datasets and their manifest live."""
FORMAT = "hwenvs-surrogate/1"
"""The ``format`` field of every file's meta."""
KINDS = ("haq", "nas")
HAQ_COST_PREFIX = "cost_"
NAS_LATENCY_PREFIX, NAS_LATENCY_SUFFIX = "latency_", "_ms"


def haq_name(model: str, dataset: str) -> str:
    """The file stem (and manifest key) of a HAQ dataset: ``haq-mobilenet_v2-mnist``.

    :param model: the HAQ model (``"mobilenet_v2"``...).
    :param dataset: the task name (``"mnist"``, ``"fashion-mnist"``).
    """
    return f"haq-{model}-{dataset}"


def nas_name(dataset: str, width_mult: float) -> str:
    """The file stem (and manifest key) of a ProxylessNAS dataset: ``nas-w0.35-mnist``.

    :param dataset: the task name.
    :param width_mult: the supernet's width multiplier.
    """
    return f"nas-w{width_mult:g}-{dataset}"


def regenerate_command(
    kind: str, dataset: str, count: int, seed: int = 0, out: Path | None = None, **extra: Any
) -> str:
    """The ``hwenvs bench-data`` command that regenerates a dataset (what error messages and the manifest quote).

    :param kind: ``"haq"`` or ``"nas"``.
    :param dataset: the task name.
    :param count: rows asked for.
    :param seed: the generation seed.
    :param out: the output folder (left out when it is the package's own :data:`DATA_DIR`).
    :param extra: further options by name (``model="resnet18"``, ``scratch=300``), written ``--model resnet18``.
    """
    options = [f"--{name.replace('_', '-')} {value}" for name, value in extra.items()]
    where = "" if out is None or Path(out).resolve() == DATA_DIR.resolve() else f" --out {out}"
    return f"hwenvs bench-data {kind} --dataset {dataset} {' '.join(options)} --count {count} --seed {seed}{where}"


@dataclass(frozen=True)
class HAQDataset:
    """A HAQ surrogate dataset: distinct bit allocations of one model on one task with their accuracy and costs.

    :param w_bits: (N, L) weight bits per layer.
    :param a_bits: (N, L) activation bits per layer, 0 where the layer's input is not quantized.
    :param val_accuracy: (N,) accuracy on the validation split (what the environment's reward uses).
    :param test_accuracy: (N,) accuracy on the test split (what reports show).
    :param source: (N,) how each row was sampled, an index into ``source_names``.
    :param source_names: the sampling sources, by code.
    :param costs: ``"<hardware>_<metric>"`` -> (N,) cost of each row (seconds or joules per batch).
    :param meta: how the file was made (see :mod:`hwenvs.surrogate.dataset`).
    """

    w_bits: np.ndarray
    a_bits: np.ndarray
    val_accuracy: np.ndarray
    test_accuracy: np.ndarray
    source: np.ndarray
    source_names: tuple[str, ...]
    costs: dict[str, np.ndarray]
    meta: dict[str, Any]

    def __len__(self) -> int:
        return len(self.val_accuracy)

    def policy(self, row: int) -> list[list[int | None]]:
        """Row ``row`` as the environments take a bit allocation: ``[w_bits, a_bits]`` per layer, None for 0."""
        return to_policy(self.w_bits[row], self.a_bits[row])

    def cost(self, hardware: str, metric: str = "latency") -> np.ndarray:
        """The (N,) cost of every row on ``hardware`` for ``metric``.

        :param hardware: ``"bismo-edge"``, ``"bismo-cloud"`` or ``"bitfusion"``.
        :param metric: ``"latency"`` (seconds per batch) or ``"energy"`` (joules per batch).
        :raises KeyError: naming the pairs the file has.
        """
        key = f"{hardware}_{metric}"
        if key not in self.costs:
            raise KeyError(f"no cost {key!r} in this dataset; it has {', '.join(sorted(self.costs))}")
        return self.costs[key]


@dataclass(frozen=True)
class NASDataset:
    """A ProxylessNAS surrogate dataset: distinct architectures with supernet-path accuracy and latency.

    :param choices: (N, 21) op index of every block (:attr:`hwenvs.nas.architecture.Architecture.choices`).
    :param val_accuracy: (N,) supernet-path accuracy on the validation batch (the environment's reward).
    :param test_accuracy: (N,) supernet-path accuracy on as many test images.
    :param latency_ms: target -> (N,) latency of the deployed network, for the targets that were available.
    :param scratch_accuracy: (N,) test accuracy after training from scratch, NaN where not trained.
    :param scratch_val_accuracy: (N,) validation accuracy after training from scratch, NaN where not trained.
    :param source: (N,) how each row was sampled, an index into ``source_names``.
    :param source_names: the sampling sources, by code.
    :param meta: how the file was made (see :mod:`hwenvs.surrogate.dataset`).
    """

    choices: np.ndarray
    val_accuracy: np.ndarray
    test_accuracy: np.ndarray
    latency_ms: dict[str, np.ndarray]
    scratch_accuracy: np.ndarray
    scratch_val_accuracy: np.ndarray
    source: np.ndarray
    source_names: tuple[str, ...]
    meta: dict[str, Any]

    def __len__(self) -> int:
        return len(self.val_accuracy)

    def architecture(self, row: int) -> Any:
        """Row ``row`` as an :class:`~hwenvs.nas.architecture.Architecture`."""
        return Architecture.from_indices(self.choices[row])


def store(root: str | Path | None = None) -> WeightsStore:
    """The folder of surrogate datasets and its manifest.

    :param root: the folder (default :data:`DATA_DIR`, the shipped files).
    """
    return WeightsStore(Path(root) if root is not None else DATA_DIR)


def available_datasets(root: str | Path | None = None) -> list[str]:
    """The datasets listed in ``root``'s manifest, by name (``"haq-mobilenet_v2-mnist"``, ``"nas-w0.35-mnist"``).

    :param root: the folder (default :data:`DATA_DIR`).
    """
    return sorted(store(root).manifest())


def read_arrays(name: str, root: str | Path | None = None) -> dict[str, np.ndarray]:
    """Every array of dataset ``name`` (sha256-checked against the manifest), ``meta`` still a 0-d string array.

    :param name: the file stem, as :func:`available_datasets` lists it.
    :param root: the folder (default :data:`DATA_DIR`).
    :raises ValueError: ``name`` is not in the manifest (listing what is), or the file's sha256 does not match (with
        the command that regenerates it).
    """
    folder = store(root)
    entry = folder.entry(name)
    if entry is None:
        found = available_datasets(root)
        listed = ", ".join(found) if found else "none"
        raise ValueError(
            f"no surrogate dataset {name!r} in {folder.directory}; available: {listed}. Generate one with "
            f"`hwenvs bench-data haq|nas --dataset DATASET` (see `hwenvs bench-data --help`)"
        )
    data = folder.read(name, entry.get("command", "hwenvs bench-data ..."))
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def meta_of(arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The ``meta`` JSON of a file's arrays, as a dict."""
    return json.loads(str(arrays["meta"][()]))


def shipped_meta(name: str) -> dict[str, Any]:
    """The meta of the shipped dataset ``name``, read once per file version (what argument checks consult).

    :raises ValueError: no such dataset, or a file that does not match its sha256.
    """
    entry = store().entry(name)
    return _meta_of_version(name, entry["sha256"] if entry else "")


@functools.lru_cache(maxsize=8)
def _meta_of_version(name: str, sha: str) -> dict[str, Any]:
    return meta_of(read_arrays(name))


def load_haq_dataset(model: str = "mobilenet_v2", dataset: str = "mnist", root: str | Path | None = None) -> HAQDataset:
    """The HAQ surrogate dataset of ``model`` on ``dataset``.

    :param model: the HAQ model.
    :param dataset: the task name.
    :param root: the folder holding it and its manifest (default :data:`DATA_DIR`, the shipped files).
    :raises ValueError: no such dataset (listing the ones that exist), or a corrupt file (saying how to regenerate).
    """
    arrays = read_arrays(haq_name(model, dataset), root)
    costs = {k.removeprefix(HAQ_COST_PREFIX): v for k, v in arrays.items() if k.startswith(HAQ_COST_PREFIX)}
    return HAQDataset(
        w_bits=arrays["w_bits"],
        a_bits=arrays["a_bits"],
        val_accuracy=arrays["val_accuracy"],
        test_accuracy=arrays["test_accuracy"],
        source=arrays["source"],
        source_names=tuple(str(s) for s in arrays["source_names"]),
        costs=costs,
        meta=meta_of(arrays),
    )


def load_nas_dataset(dataset: str = "mnist", width_mult: float = 0.35, root: str | Path | None = None) -> NASDataset:
    """The ProxylessNAS surrogate dataset of the width-``width_mult`` supernet on ``dataset``.

    :param dataset: the task name.
    :param width_mult: the supernet's width multiplier.
    :param root: the folder holding it and its manifest (default :data:`DATA_DIR`, the shipped files).
    :raises ValueError: no such dataset (listing the ones that exist), or a corrupt file (saying how to regenerate).
    """
    arrays = read_arrays(nas_name(dataset, width_mult), root)
    latency = {
        k.removeprefix(NAS_LATENCY_PREFIX).removesuffix(NAS_LATENCY_SUFFIX): v
        for k, v in arrays.items()
        if k.startswith(NAS_LATENCY_PREFIX) and k.endswith(NAS_LATENCY_SUFFIX)
    }
    return NASDataset(
        choices=arrays["choices"],
        val_accuracy=arrays["val_accuracy"],
        test_accuracy=arrays["test_accuracy"],
        latency_ms=latency,
        scratch_accuracy=arrays["scratch_accuracy"],
        scratch_val_accuracy=arrays["scratch_val_accuracy"],
        source=arrays["source"],
        source_names=tuple(str(s) for s in arrays["source_names"]),
        meta=meta_of(arrays),
    )


def write_dataset(name: str, arrays: Mapping[str, np.ndarray], meta: dict[str, Any], root: str | Path) -> Path:
    """Write dataset ``name`` (compressed ``.npz``, ``meta`` added as JSON) and its manifest entry, each atomically.

    :param name: the file stem.
    :param arrays: every array but ``meta``.
    :param meta: JSON-serialisable; must hold ``kind`` and ``command`` (the regeneration command).
    :param root: the output folder (created).
    :returns: the file's path.
    """
    meta = {"format": FORMAT, **meta}
    buffer = io.BytesIO()
    # allow_pickle named at its default: mypy would match **arrays against it (a bool) too
    np.savez_compressed(buffer, allow_pickle=True, **arrays, meta=np.array(json.dumps(meta, sort_keys=True)))
    record = {"rows": len(arrays["val_accuracy"]), "kind": meta["kind"], "command": meta["command"]}
    folder = store(root)
    folder.write(name, f"{name}.npz", buffer.getvalue(), record)
    return folder.directory / f"{name}.npz"
