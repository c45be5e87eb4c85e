"""What the HAQ and ProxylessNAS generators share: row seeding, the cache folder, the elite sets that perturbations
start from, de-duplication, and the metadata every file records."""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hwenvs import __version__
from hwenvs.cache import cache_dir
from hwenvs.lab.surrogate_data.chunks import Chunk, source_chunks

ROWS_VERSION = 1
"""Part of every cache key: raise it when the way rows are drawn or scored changes, so no stale chunk is reused."""
TOP_ELITES = 20
"""Besides every cost / accuracy Pareto front, the rows with the best validation accuracy become elites."""
TOP_UP_ROUNDS = 10
"""Rounds of extra rows tried when de-duplication leaves fewer rows than asked for (one is almost always enough)."""


def check_mix(mix: Sequence[tuple[str, float]] | None, default: dict[str, float]) -> None:
    """Refuse a mix naming an unknown source or a negative share, or sharing nothing.

    :param mix: ``(source, share)`` pairs, or None for ``default``.
    :param default: the kind's default mix (its keys are the valid sources).
    :raises ValueError: naming the problem and the valid sources.
    """
    if mix is None:
        return
    shares = dict(mix)
    unknown = sorted(set(shares) - set(default))
    if unknown or any(share < 0 for share in shares.values()) or not sum(shares.values()) > 0:
        raise ValueError(
            f"mix {shares} must give non-negative shares, not all 0, to sources among {', '.join(default)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
        )


def row_rng(seed: int, source_code: int, row: int) -> np.random.Generator:
    """The generator of one row: its draws depend on nothing but (seed, source, row).

    :param seed: the generation seed.
    :param source_code: the source's code.
    :param row: the row's index within its source.
    """
    return np.random.default_rng([seed, source_code, row])


def digest(data: Any) -> str:
    """A short sha256 of JSON-serialisable ``data`` (cache keys, elite-set tags)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def cache_folder(cache: str | Path | None, name: str, key: dict[str, Any]) -> Path:
    """The folder where a dataset's chunks are kept: ``<cache>/<name>-<digest of key>``.

    :param cache: the cache root (default ``cache_dir("surrogate")``).
    :param name: the dataset's name.
    :param key: everything the rows depend on (arguments, weights sha256, split sizes, seed, chunk size); another
        key is another folder, so chunks made under other settings are never reused.
    """
    root = Path(cache) if cache is not None else cache_dir("surrogate")
    key = {**key, "rows_version": ROWS_VERSION}
    folder = root / f"{name}-{digest(key)}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "key.json").write_text(json.dumps(key, indent=2, sort_keys=True) + "\n")
    return folder


def pareto_front(cost: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """Indices of the rows no other row beats on both lower ``cost`` and higher ``accuracy``.

    :param cost: (N,) costs.
    :param accuracy: (N,) accuracies.
    """
    order = np.lexsort((-accuracy, cost))  # by cost, then best accuracy first
    front, best = [], -np.inf
    for i in order:
        if accuracy[i] > best:
            front.append(int(i))
            best = accuracy[i]
    return np.asarray(front, dtype=np.int64)


def elite_indices(costs: Sequence[np.ndarray], accuracy: np.ndarray, top: int = TOP_ELITES) -> np.ndarray:
    """The good rows so far: every cost's Pareto front with ``accuracy``, and the ``top`` most accurate rows.

    :param costs: one (N,) array per cost measure.
    :param accuracy: (N,) validation accuracy.
    :param top: how many of the most accurate rows to add.
    """
    chosen = {int(i) for cost in costs for i in pareto_front(cost, accuracy)}
    chosen |= {int(i) for i in np.argsort(-accuracy, kind="stable")[:top]}
    return np.asarray(sorted(chosen), dtype=np.int64)


def first_occurrences(solutions: np.ndarray) -> np.ndarray:
    """Indices of the first row of every distinct solution, in row order.

    :param solutions: (N, ...) one solution per row.
    """
    flat = np.ascontiguousarray(solutions.reshape(len(solutions), -1))
    seen: set[bytes] = set()
    keep = []
    for i, row in enumerate(flat):
        key = row.tobytes()
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def source_arrays(names: Sequence[str], row_sources: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``source`` (int8 codes) and ``source_names`` of the rows.

    :param names: every source, in code order.
    :param row_sources: (N,) each row's source name.
    """
    code = {name: i for i, name in enumerate(names)}
    return np.asarray([code[str(s)] for s in row_sources], dtype=np.int8), np.asarray(list(names))


def common_meta(kind: str, dataset: str, seed: int, count: int, chunk_size: int) -> dict[str, Any]:
    """The fields every file's meta starts with.

    :param kind: ``"haq"`` or ``"nas"``.
    :param dataset: the task name.
    :param seed: the generation seed.
    :param count: rows asked for.
    :param chunk_size: rows per chunk.
    """
    return {
        "kind": kind,
        "torch_version": torch.__version__,
        "torch_threads": 1,
        "dataset": dataset,
        "seed": seed,
        "count_requested": count,
        "chunk_size": chunk_size,
        "hwenvs_version": __version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def rows_per_source(names: Sequence[str], row_sources: np.ndarray) -> dict[str, int]:
    """How many rows each source has (every source named, 0 included)."""
    values = [str(s) for s in row_sources]
    return {name: values.count(name) for name in names}


def split_sizes(task: Any) -> dict[str, int]:
    """Images in each split of ``task``."""
    return {name: len(getattr(task, name)) for name in ("train", "calibration", "val", "test")}


@dataclass
class MixResult:
    """The rows of a finished mix.

    :param rows: every distinct row (first occurrences, in source order), with ``source_name``.
    :param requested: rows asked of each source, top-up included.
    :param top_up: rows added to the top-up source to make up for duplicates.
    :param elite_tag: the tag of the elite set the perturbations started from.
    :param evaluated: rows computed per source, duplicates included (a search runs whole chunks).
    :param seconds: compute time of every row computed.
    """

    rows: dict[str, np.ndarray]
    requested: dict[str, int]
    top_up: int
    elite_tag: str
    evaluated: dict[str, int]
    seconds: float


def run_mix(
    name: str,
    count: int,
    chunk_size: int,
    requested: dict[str, int],
    chunks_of: Callable[[dict[str, int]], list[Chunk]],
    save_elites: Callable[[dict[str, np.ndarray]], str],
    solution: Callable[[dict[str, np.ndarray]], np.ndarray],
    top_up_source: str,
    run: Callable[[list[Chunk], str], None],
    load: Callable[[list[Chunk]], dict[str, np.ndarray]],
) -> MixResult:
    """Generate a mix in its two phases, then top it up until ``count`` distinct rows remain.

    Phase 1 computes every source but ``perturbation``; the elites are chosen among its rows; phase 2 perturbs them.
    Duplicates are dropped (first occurrence kept, in source order); while fewer than ``count`` rows remain,
    ``top_up_source`` gets as many more rows as are missing. The elites come from the planned rows only, so a
    top-up never changes them (and never invalidates the perturbation chunks).

    :param name: the dataset's name (progress bars, errors).
    :param count: distinct rows wanted.
    :param chunk_size: rows per chunk.
    :param requested: rows asked of each source, ``perturbation`` included.
    :param chunks_of: the chunks of every source but ``perturbation`` for given rows per source, in source order.
    :param save_elites: chooses and saves the elites among phase 1's rows; returns their tag.
    :param solution: the (N, ...) solutions of loaded rows (what makes two rows duplicates).
    :param top_up_source: the per-row source that grows when duplicates leave too few rows.
    :param run: computes chunks (``run(chunks, label)``).
    :param load: loads computed chunks.
    """
    first = chunks_of(requested)
    if requested.get("perturbation", 0) and not first:
        raise ValueError(f"{name}: perturbations start from the rows of other sources, and the mix asks for none")
    run(first, f"{name} 1/2")
    tag = save_elites(load(first))
    perturbed = source_chunks("perturbation", requested.get("perturbation", 0), chunk_size, tag=tag)
    run(perturbed, f"{name} 2/2")
    extra = 0
    for _ in range(TOP_UP_ROUNDS):
        grown = dict(requested, **{top_up_source: requested.get(top_up_source, 0) + extra})
        chunks = chunks_of(grown) + perturbed
        if extra:
            run(chunks, f"{name} top-up")
        everything = load(chunks)
        keep = first_occurrences(solution(everything))
        if len(keep) >= count:
            rows = {key: value[keep] for key, value in everything.items()}
            evaluated = rows_per_source(list(grown), everything["source_name"])
            return MixResult(rows, grown, extra, tag, evaluated, float(everything["seconds"].sum()))
        extra += count - len(keep)
    raise RuntimeError(f"{name}: fewer than {count} distinct rows even after {extra} extra {top_up_source} rows")
