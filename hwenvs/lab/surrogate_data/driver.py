"""The one driver of both surrogate dataset builders (:mod:`~hwenvs.lab.surrogate_data.haq` and
:mod:`~hwenvs.lab.surrogate_data.nas`): planning the mix, the chunk cache, scoring rows and search episodes in worker
processes, the elite sets, the chunk and final arrays, and writing the file with its datasheet.

A builder says what differs in a :class:`Recipe` (its sources, its search agents, the columns a solution is stored
in, the source that makes up for duplicates) and supplies how to draw, score and describe its rows; the order of work
(:func:`run`), the cache key and every array's layout are here, once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from hwenvs.agents.pipeline import seed_everything
from hwenvs.agents.registry import make_agent
from hwenvs.lab.surrogate_data import chunks as chunking
from hwenvs.lab.surrogate_data import generation
from hwenvs.lab.surrogate_data.chunks import ROW, Chunk, ChunkWorker, Report
from hwenvs.lab.surrogate_data.datasheet import write_datasheet
from hwenvs.surrogate.dataset import write_dataset

T = TypeVar("T")


@dataclass(frozen=True)
class Recipe:
    """What differs between the builders' runs.

    :param kind: ``"haq"`` or ``"nas"`` (the file's ``kind``, and part of the cache key).
    :param sources: every sampling source, in code order (the file's ``source_names``).
    :param search_agents: the sources that are searches (agents of :mod:`hwenvs.agents` by name).
    :param solution_columns: the int8 arrays one solution is stored in (``w_bits``, ``a_bits``; ``choices``).
    :param top_up_source: the source that adds rows when duplicates leave fewer than asked for.
    :param weights_field: the cache key's name for the sha256 of the weights that score the rows.
    :param unused_key_fields: config fields the rows do not depend on (left out of the cache key, so runs that
        differ only in them reuse every chunk).
    """

    kind: str
    sources: tuple[str, ...]
    search_agents: tuple[str, ...]
    solution_columns: tuple[str, ...]
    top_up_source: str
    weights_field: str
    unused_key_fields: tuple[str, ...]

    def chunks(self, rows: Mapping[str, int], chunk_size: int) -> list[Chunk]:
        """The chunks of ``rows`` asked of each source (see :func:`hwenvs.lab.surrogate_data.chunks.first_chunks`).

        :param rows: rows asked of each source.
        :param chunk_size: rows per chunk.
        """
        return chunking.first_chunks(self.sources, self.search_agents, dict(rows), chunk_size)

    def searches(self, rows: Mapping[str, int], chunk_size: int) -> list[Chunk]:
        """The search chunks among :meth:`chunks` (one search each), in order.

        :param rows: rows asked of each source.
        :param chunk_size: rows per chunk (episodes per search).
        """
        return [chunk for chunk in self.chunks(rows, chunk_size) if chunk.source in self.search_agents]

    def solutions(self, rows: Mapping[str, np.ndarray]) -> np.ndarray:
        """(N, ...) one solution per row, its columns side by side (what de-duplication compares)."""
        return np.concatenate([rows[column] for column in self.solution_columns], axis=1)


# -- planning ----------------------------------------------------------------------------------------------------------


def plan(count: int, uniform_available: int, uniform_share: float, shares: Mapping[str, float]) -> dict[str, int]:
    """Rows asked of each source: the uniform solutions first (at most ``uniform_share`` of ``count``), the rest
    allocated by ``shares``.

    :param count: distinct rows wanted.
    :param uniform_available: how many uniform solutions there are.
    :param uniform_share: the largest share of ``count`` they may take.
    :param shares: the other sources' shares of the rows left.
    """
    uniform = min(uniform_available, int(np.ceil(uniform_share * count)), count)
    return {"uniform": uniform, **chunking.allocate(count - uniform, dict(shares))}


# -- the run -----------------------------------------------------------------------------------------------------------


def in_one_torch_thread(work: Callable[[], T]) -> T:
    """``work()`` with one torch thread: activation ranges and accuracies as the worker processes compute them.

    :param work: the whole generation.
    """
    with chunking.one_torch_thread():
        return work()


def cache_folder(recipe: Recipe, config: Any, weights_sha256: str, task: Any, cache: str | Path | None) -> Path:
    """The chunk cache folder of a run: keyed by the config (less :attr:`Recipe.unused_key_fields`), the kind, the
    scoring weights' sha256 and the split sizes.

    :param recipe: the builder's recipe.
    :param config: the builder's config (a dataclass with a ``name``).
    :param weights_sha256: the sha256 of the weights that score the rows.
    :param task: the loaded task.
    :param cache: the root of the chunk cache (default ``cache_dir("surrogate")``).
    """
    key = {
        **asdict(config),
        "kind": recipe.kind,
        recipe.weights_field: weights_sha256,
        "splits": generation.split_sizes(task),
    }
    for unused in recipe.unused_key_fields:
        key.pop(unused)
    return generation.cache_folder(cache, config.name, key)


@dataclass(frozen=True)
class Run:
    """Where a run's chunks are and who computes them.

    :param folder: the chunk cache folder.
    :param worker: computes a chunk's arrays (in worker processes).
    :param workers: processes computing chunks.
    :param progress: show progress bars.
    """

    folder: Path
    worker: ChunkWorker
    workers: int
    progress: bool

    def compute(self, chunks: list[Chunk], label: str) -> None:
        """Compute every missing chunk of ``chunks`` (a progress bar labelled ``label``)."""
        chunking.run_chunks(chunks, self.folder, self.worker, self.workers, self.progress, label)

    def load(self, chunks: list[Chunk]) -> dict[str, np.ndarray]:
        """The merged arrays of ``chunks``."""
        return chunking.load_chunks(self.folder, chunks)


def run(
    recipe: Recipe,
    config: Any,
    requested: dict[str, int],
    chunks: Run,
    save_elites: Callable[[dict[str, np.ndarray]], str],
) -> generation.MixResult:
    """Compute the mix (:func:`hwenvs.lab.surrogate_data.generation.run_mix`): the sources before the
    perturbations, the elites, the perturbations, and top-ups until ``config.count`` distinct rows.

    :param recipe: the builder's recipe.
    :param config: the builder's config (``name``, ``count``, ``chunk_size``).
    :param requested: rows asked of each source (:func:`plan`).
    :param chunks: the run's chunk cache and worker.
    :param save_elites: chooses and keeps the elites among the rows so far; returns their tag.
    """
    return generation.run_mix(
        config.name,
        config.count,
        config.chunk_size,
        requested,
        chunks_of=lambda rows: recipe.chunks(rows, config.chunk_size),
        save_elites=save_elites,
        solution=recipe.solutions,
        top_up_source=recipe.top_up_source,
        run=chunks.compute,
        load=chunks.load,
    )


def write(name: str, arrays: dict[str, np.ndarray], meta: dict[str, Any], out: str | Path) -> Path:
    """Write the dataset, its manifest entry and its datasheet; returns the ``.npz``.

    :param name: the file stem.
    :param arrays: every array but ``meta``.
    :param meta: the file's meta (``kind`` and ``command`` included).
    :param out: the output folder.
    """
    path = write_dataset(name, arrays, meta, out)
    write_datasheet(path)
    return path


# -- scoring rows (in worker processes) --------------------------------------------------------------------------------


def cached(store: dict[tuple, T], key: tuple, build: Callable[[], T]) -> T:
    """``store[key]``, built on first use (one scoring environment per process: building one takes seconds).

    :param store: the process's scorers.
    :param key: what the scorer depends on.
    :param build: makes it.
    """
    if key not in store:
        store[key] = build()
    return store[key]


def score_rows(
    rows: Iterable[int],
    draw: Callable[[int], tuple[np.ndarray, ...]],
    accuracies: Callable[..., tuple[float, float]],
    report: Report,
) -> list[tuple]:
    """Draw and score each of ``rows``: ``(row, *solution, val, test, seconds)`` tuples.

    :param rows: the rows' indices within their source.
    :param draw: row index -> the solution's columns.
    :param accuracies: the solution's columns -> validation and test accuracy.
    :param report: called with 1 after each row.
    """
    out = []
    for row in rows:
        start = time.perf_counter()
        solution = draw(int(row))
        out.append((int(row), *solution, *accuracies(*solution), time.perf_counter() - start))
        report(1)
    return out


def search_rows(
    env: Any,
    chunk: Chunk,
    agent_seed: int,
    solution: Callable[[dict[str, Any]], tuple[np.ndarray, ...]],
    test_accuracy: Callable[[dict[str, Any]], float],
    report: Report,
) -> list[tuple]:
    """Every episode of search ``chunk`` (agent ``chunk.source`` on ``env``) as a ``(row, *solution, val, test,
    seconds)`` tuple; ``env`` is closed after.

    :param env: the environment the agent searches.
    :param chunk: the search's chunk (its episodes are rows ``chunk.start`` onwards).
    :param agent_seed: the agent's seed (and every generator's, before it is built).
    :param solution: an episode's info -> the solution's columns.
    :param test_accuracy: an episode's info -> its solution's test accuracy.
    :param report: called with 1 after each episode.
    """
    seed_everything(agent_seed)
    agent = make_agent(chunk.source, env, seed=agent_seed)
    out: list[tuple] = []
    clock = [time.perf_counter()]

    def on_episode(result: Any) -> None:
        test = test_accuracy(result.info)
        now = time.perf_counter()
        out.append((chunk.start + len(out), *solution(result.info), result.info["accuracy"], test, now - clock[0]))
        clock[0] = now
        report(1)

    agent.learn(chunk.stop - chunk.start, on_episode)
    env.close()
    return out


def chunk_arrays(recipe: Recipe, rows: list[tuple]) -> dict[str, np.ndarray]:
    """A chunk's arrays from ``(row, *solution, val, test, seconds)`` tuples.

    :param recipe: the builder's recipe (the solution's columns).
    :param rows: the tuples.
    """
    columns = len(recipe.solution_columns)
    arrays = {ROW: np.asarray([r[0] for r in rows], dtype=np.int64)}
    for i, name in enumerate(recipe.solution_columns):
        arrays[name] = np.asarray([r[1 + i] for r in rows], dtype=np.int8)
    for i, name in enumerate(("val_accuracy", "test_accuracy", "seconds")):
        arrays[name] = np.asarray([r[1 + columns + i] for r in rows], dtype=np.float64)
    return arrays


# -- elites ------------------------------------------------------------------------------------------------------------


def keep_elites(folder: Path, elites: dict[str, np.ndarray], tag: str) -> str:
    """Keep the elite set ``elites`` in ``folder`` under ``tag`` (a digest of the elites: other elites never reuse
    a chunk); returns ``tag``.

    :param folder: the run's cache folder.
    :param elites: the elite solutions' columns.
    :param tag: their digest.
    """
    path = folder / f"elites-{tag}.npz"
    if not path.is_file():
        chunking.write_npz(path, elites)
    return tag


def load_elites(folder: Path, tag: str) -> dict[str, np.ndarray]:
    """The elite set ``tag`` kept by :func:`keep_elites`.

    :param folder: the run's cache folder.
    :param tag: the set's tag.
    """
    with np.load(folder / f"elites-{tag}.npz") as npz:
        return {key: npz[key] for key in npz.files}


# -- the final file ----------------------------------------------------------------------------------------------------


def row_meta(recipe: Recipe, mix: generation.MixResult) -> dict[str, Any]:
    """The meta fields every file records about its rows: asked for, topped up, per source, evaluated, compute time.

    :param recipe: the builder's recipe.
    :param mix: the run's result.
    """
    return {
        "rows_requested": mix.requested,
        "top_up_rows": mix.top_up,
        "rows_per_source": generation.rows_per_source(recipe.sources, mix.rows["source_name"]),
        "rows_evaluated": mix.evaluated,
        "compute_seconds": mix.seconds,
    }
