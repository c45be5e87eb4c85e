"""Generating the ProxylessNAS surrogate dataset: distinct architectures, each scored by the real environment's
supernet path (``ProxylessNASEnv.accuracy_of``) on the validation and test batches, with its latency on every
target whose table is available, and from-scratch accuracy for a few of them.

The mix (shares of the rows asked for; :data:`MIX`, the uniform architectures first):

* ``uniform``: the 12 uniform architectures (each MBConv everywhere, at full depth and at the least depth), or as
  many as 0.2% of the rows allow;
* ``near_uniform``: a uniform architecture with 1-3 blocks given another candidate;
* ``random``: every block uniform over its candidates (``zero`` one in seven where allowed);
* ``skip_sweep``: a skip probability drawn uniformly in [0, 1] per architecture, ``zero`` with that probability on
  every block that may be skipped, a uniform MBConv elsewhere (so depth varies from 6 to 21 blocks);
* ``reinforce``: every episode of short ProxylessNAS-R searches (:mod:`hwenvs.agents`, ``reinforce``) on a hardware
  target with its target latency scaled by a factor in [0.6, 1.4] drawn per search;
* ``perturbation``: an elite architecture (on a Pareto front of validation accuracy and latency on a hardware
  target, or among the 20 most accurate) of the rows above with 1-3 blocks given another candidate.

Duplicates are dropped (first occurrence kept); if fewer rows than asked for remain, ``random`` rows are added.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import gymnasium as gym
import numpy as np

from hwenvs.data import Task, load_task
from hwenvs.lab import retrain
from hwenvs.lab.retrain import RetrainConfig
from hwenvs.lab.surrogate_data import driver, generation
from hwenvs.lab.surrogate_data.chunks import Chunk, Report
from hwenvs.lab.surrogate_data.generation import check_mix
from hwenvs.nas.architecture import Architecture, shallowest, uniform
from hwenvs.nas.latency_targets import HARDWARE_TARGETS, TARGETS, LatencyTable, load_latency_table
from hwenvs.nas.search_space import NUM_BLOCKS, NUM_MBCONV_OPS, OPS, ZERO, ZERO_ALLOWED
from hwenvs.reference_data import ChecksumError
from hwenvs.registration import PROXYLESSNAS_HARDWARE
from hwenvs.surrogate.dataset import DATA_DIR, nas_name, regenerate_command
from hwenvs.weights import SUPERNET_WEIGHTS

if TYPE_CHECKING:
    from hwenvs.envs.proxylessnas_env import ProxylessNASEnv

SOURCES = ("uniform", "near_uniform", "random", "skip_sweep", "reinforce", "perturbation")
"""Every sampling source, in code order (the file's ``source_names``)."""
SOURCE_DESCRIPTIONS = {
    "uniform": "each MBConv on every block, at full depth and with every skippable block skipped",
    "near_uniform": "a uniform architecture with 1-3 blocks given another candidate",
    "random": "every block uniform over its candidates (zero one in seven where allowed)",
    "skip_sweep": "skip probability p ~ U[0, 1] per architecture: zero with probability p where allowed, a uniform "
    "MBConv elsewhere",
    "reinforce": "every episode of short ProxylessNAS-R searches (`hwenvs.agents`, `reinforce`)",
    "perturbation": "an elite architecture (Pareto front of validation accuracy and latency on a hardware target, "
    "or top-20 accuracy) with 1-3 blocks given another candidate",
}
"""What each source is, recorded in the file's meta (the datasheet shows it)."""
SEARCH_AGENTS = ("reinforce",)
MIX = {"near_uniform": 0.08, "random": 0.30, "skip_sweep": 0.20, "reinforce": 0.17, "perturbation": 0.25}
"""Shares of the rows left after the uniform architectures."""
UNIFORM_SHARE = 0.002
TARGET_FACTOR_RANGE = (0.6, 1.4)
MAX_CHANGED_BLOCKS = 3
SCORER_TARGET = "bismo-edge"
"""The latency target of the scoring environment (accuracy does not depend on it; its table needs no download)."""
SCRATCH_EPOCHS = int(RetrainConfig().epochs)
"""Default epochs of from-scratch training: the package's retraining recipe (``hwenvs nas train``'s default)."""
RECIPE = driver.Recipe(
    kind="nas",
    sources=SOURCES,
    search_agents=SEARCH_AGENTS,
    solution_columns=("choices",),
    top_up_source="random",
    weights_field="supernet_sha256",
    # rows do not depend on these: chunks are reused
    unused_key_fields=("count", "scratch", "scratch_epochs", "mix"),
)
"""What the shared driver (:mod:`hwenvs.lab.surrogate_data.driver`) needs to know of this builder."""


@dataclass(frozen=True)
class NASConfig:
    """What a ProxylessNAS dataset is generated from.

    :param dataset: the task name (a shipped supernet is needed: see ``hwenvs/nas/weights/manifest.json``).
    :param width_mult: the supernet's width multiplier.
    :param val_batch_size: images of each held-out split that score an architecture (the environment's default).
    :param count: distinct rows wanted (at least).
    :param seed: the generation seed.
    :param chunk_size: rows per chunk (and episodes per search).
    :param scratch: architectures to train from scratch after the rest is done.
    :param scratch_epochs: epochs of each from-scratch training.
    :param mix: ``(source, share)`` pairs replacing :data:`MIX` (shares of the rows after the uniform ones).
    """

    dataset: str = "mnist"
    width_mult: float = 0.35
    val_batch_size: int = 1000
    count: int = 10_000
    seed: int = 0
    chunk_size: int = 100
    scratch: int = 0
    scratch_epochs: int = SCRATCH_EPOCHS
    mix: tuple[tuple[str, float], ...] | None = None

    def __post_init__(self) -> None:
        check_mix(self.mix, MIX)
        for name in ("count", "chunk_size", "scratch_epochs"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.scratch < 0:
            raise ValueError(f"scratch must be >= 0 (architectures to train from scratch), got {self.scratch!r}")

    @property
    def name(self) -> str:
        """The file stem."""
        return nas_name(self.dataset, self.width_mult)

    def env_kwargs(self) -> dict[str, Any]:
        """The environment arguments that decide accuracy."""
        return {"width_mult": self.width_mult, "val_batch_size": self.val_batch_size}

    @staticmethod
    def env_id() -> str:
        """The registered id the environments are made from (the latency target is passed as ``hardware``)."""
        return "ProxylessNAS-" + next(k for k, v in PROXYLESSNAS_HARDWARE.items() if v == SCORER_TARGET)


# -- drawing rows ------------------------------------------------------------------------------------------------------


def uniform_architectures() -> list[Architecture]:
    """The 12 uniform architectures: each MBConv at full depth, then at the least depth."""
    names = [op.name for op in OPS[:NUM_MBCONV_OPS]]
    return [uniform(n) for n in names] + [shallowest(n) for n in names]


def candidates(block: int) -> int:
    """How many candidates block ``block`` has (7 where ``zero`` is allowed, else 6)."""
    return NUM_MBCONV_OPS + int(ZERO_ALLOWED[block])


def moved(choices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``choices`` with 1..3 blocks given another valid candidate."""
    choices = choices.copy()
    count = int(rng.integers(1, MAX_CHANGED_BLOCKS + 1))
    for block in rng.choice(NUM_BLOCKS, size=count, replace=False):
        others = [c for c in range(candidates(int(block))) if c != choices[block]]
        choices[block] = others[int(rng.integers(len(others)))]
    return choices


def draw_architecture(source: str, row: int, seed: int, elites: np.ndarray | None = None) -> np.ndarray:
    """Row ``row`` of a per-row source (everything but the searches), as 21 op indices.

    :param source: ``"uniform"``, ``"near_uniform"``, ``"random"``, ``"skip_sweep"`` or ``"perturbation"``.
    :param row: the row's index within its source.
    :param seed: the generation seed.
    :param elites: (E, 21) elite architectures (perturbations only).
    """
    bases = uniform_architectures()
    if source == "uniform":
        return np.asarray(bases[row].choices)
    rng = generation.row_rng(seed, SOURCES.index(source), row)
    if source == "near_uniform":
        return moved(np.asarray(bases[int(rng.integers(len(bases)))].choices), rng)
    if source == "random":
        return np.asarray([int(rng.integers(candidates(b))) for b in range(NUM_BLOCKS)])
    if source == "skip_sweep":
        skip = rng.uniform()
        draws = [(rng.uniform() < skip, int(rng.integers(NUM_MBCONV_OPS))) for _ in range(NUM_BLOCKS)]
        return np.asarray([ZERO if zero and ZERO_ALLOWED[b] else op for b, (zero, op) in enumerate(draws)])
    if source == "perturbation":
        assert elites is not None, "perturbations need the elite set"
        return moved(elites[int(rng.integers(len(elites)))].astype(np.int64), rng)
    raise ValueError(
        f"unknown per-row NAS source {source!r}; valid: {', '.join(s for s in SOURCES if s != 'reinforce')}"
    )


def search_setting(config: NASConfig, chunk: Chunk) -> dict[str, Any]:
    """The target and agent seed of the search ``chunk`` is (drawn from the seed, the agent and the search's index).

    :param config: the generation config.
    :param chunk: the search's chunk (source: the agent's name).
    """
    source, index = chunk.source, chunk.index
    rng = generation.row_rng(config.seed, SOURCES.index(source), index)
    target = HARDWARE_TARGETS[int(rng.integers(len(HARDWARE_TARGETS)))]
    factor = round(float(rng.uniform(*TARGET_FACTOR_RANGE)), 3)
    return {
        "agent": source,
        "index": index,
        "hardware": target,
        "target_factor": factor,
        "agent_seed": int(rng.integers(2**31)),
        "episodes": chunk.stop - chunk.start,
    }


# -- evaluating rows (in worker processes) -----------------------------------------------------------------------------


@dataclass
class Scorer:
    """The environment that scores architectures in one process."""

    env: Any
    task: Task

    def accuracies(self, choices: np.ndarray) -> tuple[float, float]:
        """Validation and test accuracy of an architecture's supernet path, exactly as ``accuracy_of`` gives them."""
        arch = Architecture.from_indices(choices)
        return self.env.accuracy_of(arch, "val"), self.env.accuracy_of(arch, "test")


_SCORERS: dict[tuple, Scorer] = {}
"""One scorer per (config, task) in each process."""


def scorer(config: NASConfig, task: Task | None = None) -> Scorer:
    """This process's scorer for ``config`` (built on first use).

    :param config: the generation config.
    :param task: a loaded task to use instead of loading ``config.dataset`` (tests use a small one).
    """

    def build() -> Scorer:
        loaded = task if task is not None else load_task(config.dataset)
        return Scorer(gym.make(config.env_id(), dataset=loaded, **config.env_kwargs()).unwrapped, loaded)

    return driver.cached(_SCORERS, (config.dataset, config.width_mult, config.val_batch_size, id(task)), build)


@dataclass(frozen=True)
class NASWorker:
    """Computes ProxylessNAS chunks (see :class:`hwenvs.lab.surrogate_data.chunks.ChunkWorker`), from-scratch training
    included (source ``scratch``, one architecture per chunk, named by its tag).

    :param config: the generation config.
    :param folder: the cache folder (where the elite sets are).
    :param task: a loaded task to use instead of ``config.dataset`` (tests).
    """

    config: NASConfig
    folder: Path
    task: Task | None = field(default=None, compare=False)

    def __call__(self, chunk: Chunk, rows: np.ndarray, report: Report) -> dict[str, np.ndarray]:
        """The arrays of ``rows`` of ``chunk``."""
        score = scorer(self.config, self.task)
        if chunk.source == "scratch":
            return self._scratch(score, chunk, report)
        if chunk.source in SEARCH_AGENTS:
            return self._search(score, chunk, report)
        elites = load_elites(self.folder, chunk.tag) if chunk.source == "perturbation" else None
        out = driver.score_rows(
            rows,
            lambda row: (draw_architecture(chunk.source, row, self.config.seed, elites),),
            score.accuracies,
            report,
        )
        return driver.chunk_arrays(RECIPE, out)

    def _search(self, score: Scorer, chunk: Chunk, report: Report) -> dict[str, np.ndarray]:
        """Every episode of search ``chunk.index`` as a row."""
        setting = search_setting(self.config, chunk)
        table = load_latency_table(setting["hardware"])
        target_ms = setting["target_factor"] * reference_latency(table)
        env = gym.make(
            self.config.env_id(),
            # the target's own table: with it, hardware only labels (the id refuses another target's name alone)
            hardware=setting["hardware"],
            latency_table=table,
            dataset=score.task,
            target_ms=target_ms,
            **self.config.env_kwargs(),
        )
        nas = cast("ProxylessNASEnv", env.unwrapped)  # a ProxylessNAS id
        out = driver.search_rows(
            env,
            chunk,
            setting["agent_seed"],
            lambda info: (np.asarray(Architecture.from_string(info["architecture"]).choices),),
            lambda info: nas.accuracy_of(Architecture.from_string(info["architecture"]), "test"),
            report,
        )
        return driver.chunk_arrays(RECIPE, out)

    def _scratch(self, score: Scorer, chunk: Chunk, report: Report) -> dict[str, np.ndarray]:
        """Train the architecture of the chunk's tag from scratch."""
        choices = scratch_choices(chunk.tag)
        trained = retrain.train_from_scratch(
            Architecture.from_indices(choices),
            score.task,
            self.config.width_mult,
            RetrainConfig(epochs=self.config.scratch_epochs),
            progress=False,
        )
        report(1)
        out = [(0, choices, trained.val_accuracy, trained.test_accuracy, trained.seconds)]
        return driver.chunk_arrays(RECIPE, out)


def reference_latency(table: LatencyTable) -> float:
    """The latency of the all-``k3e3`` network on ``table`` (the environment's default target on it)."""
    return table.latency_ms(uniform("k3e3"))


# -- elites and from-scratch choices -----------------------------------------------------------------------------------


def hardware_tables() -> dict[str, LatencyTable]:
    """The tables of the hardware-model targets (computed here, never downloaded)."""
    return {target: load_latency_table(target) for target in HARDWARE_TARGETS}


def save_elites(folder: Path, rows: dict[str, np.ndarray]) -> str:
    """Choose the elites among ``rows`` and keep them in ``folder``; returns their tag."""
    keep = generation.first_occurrences(rows["choices"])
    choices, val = rows["choices"][keep], rows["val_accuracy"][keep]
    costs = [latencies(table, choices) for table in hardware_tables().values()]
    elites = choices[generation.elite_indices(costs, val)]
    return driver.keep_elites(folder, {"choices": elites}, generation.digest(elites.tolist()))


def load_elites(folder: Path, tag: str) -> np.ndarray:
    """The elite set ``tag`` saved by :func:`save_elites`."""
    return driver.load_elites(folder, tag)["choices"]


def latencies(table: LatencyTable, choices: np.ndarray) -> np.ndarray:
    """The (N,) latency of every row's architecture on ``table``."""
    return np.asarray([table.latency_ms(Architecture.from_indices(c)) for c in choices], dtype=np.float64)


def scratch_tag(choices: np.ndarray, epochs: int) -> str:
    """The tag of a from-scratch chunk: the epochs and the 21 op indices (each one digit)."""
    return f"e{epochs}-" + "".join(str(int(c)) for c in choices)


def scratch_choices(tag: str) -> np.ndarray:
    """The op indices a :func:`scratch_tag` names."""
    return np.asarray([int(c) for c in tag.split("-", 1)[1]], dtype=np.int64)


def scratch_rows(val_accuracy: np.ndarray, count: int) -> np.ndarray:
    """``count`` rows spread evenly over the validation-accuracy ranking (worst to best), so the from-scratch
    sample covers the whole range.

    :param val_accuracy: (N,) supernet validation accuracy.
    :param count: rows to choose (at most N).
    """
    order = np.argsort(val_accuracy, kind="stable")
    picks = np.unique(np.round(np.linspace(0, len(order) - 1, min(count, len(order)))).astype(np.int64))
    return np.sort(order[picks])


# -- the whole run -----------------------------------------------------------------------------------------------------


def plan(config: NASConfig) -> dict[str, int]:
    """Rows asked of each source (see :data:`MIX`)."""
    shares = dict(config.mix) if config.mix is not None else MIX
    return driver.plan(config.count, len(uniform_architectures()), UNIFORM_SHARE, shares)


def supernet_sha256(dataset: str, width_mult: float) -> str:
    """The sha256 of the shipped supernet.

    :raises ValueError: none shipped, listing what is.
    """
    entry = SUPERNET_WEIGHTS.entry(f"{dataset}/w{width_mult:g}")
    if entry is None:
        valid = ", ".join(
            f"--dataset {k.split('/')[0]} --width-mult {k.split('/w')[1]}" for k in SUPERNET_WEIGHTS.manifest()
        )
        raise ValueError(f"no shipped supernet of width {width_mult:g} for {dataset}; valid: {valid}")
    return entry["sha256"]


def generate_nas(
    config: NASConfig,
    out: str | Path = DATA_DIR,
    cache: str | Path | None = None,
    workers: int = 1,
    progress: bool = True,
    task: Task | None = None,
) -> Path:
    """Generate (or resume) the ProxylessNAS dataset of ``config`` and write it, its manifest entry and datasheet.

    :param config: what to generate.
    :param out: the output folder (default: the package's shipped data).
    :param cache: the root of the chunk cache (default ``cache_dir("surrogate")``).
    :param workers: processes computing chunks.
    :param progress: show progress bars.
    :param task: a loaded task to use instead of ``config.dataset`` (tests use a small one).
    :returns: the ``.npz`` written.
    """
    return driver.in_one_torch_thread(lambda: _generate(config, out, cache, workers, progress, task))


def _generate(
    config: NASConfig, out: str | Path, cache: str | Path | None, workers: int, progress: bool, task: Task | None
) -> Path:
    """:func:`generate_nas`'s work, with one torch thread."""
    sha = supernet_sha256(config.dataset, config.width_mult)
    score = scorer(config, task)
    folder = driver.cache_folder(RECIPE, config, sha, score.task, cache)
    chunks = driver.Run(folder, NASWorker(config, folder, task), workers, progress)
    mix = driver.run(RECIPE, config, plan(config), chunks, lambda rows: save_elites(folder, rows))
    scratch = _scratch(config, mix.rows, chunks)
    tables, absent = available_tables()
    arrays = _final_arrays(mix.rows, tables, scratch)
    return driver.write(config.name, arrays, _meta(config, score, mix, tables, absent, scratch, out), out)


def _scratch(config: NASConfig, rows: dict[str, np.ndarray], run: driver.Run) -> dict[str, Any]:
    """Train ``config.scratch`` architectures from scratch (each a chunk); their rows and results."""
    picked = scratch_rows(rows["val_accuracy"], config.scratch) if config.scratch else np.zeros(0, np.int64)
    chunks = [
        Chunk("scratch", 0, 0, 1, scratch_tag(rows["choices"][i], config.scratch_epochs), whole=True) for i in picked
    ]
    run.compute(chunks, f"{config.name} from scratch")
    trained = run.load(chunks)
    return {"rows": picked, **{k: trained.get(k, np.zeros(0)) for k in ("val_accuracy", "test_accuracy", "seconds")}}


def available_tables() -> tuple[dict[str, LatencyTable], dict[str, str]]:
    """The latency table of every target that loads here, and why each other one does not (no CUDA, no network)."""
    tables, absent = {}, {}
    for target in TARGETS:
        try:
            tables[target] = load_latency_table(target)
        except (RuntimeError, OSError, KeyError, ValueError, ChecksumError) as exc:
            absent[target] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return tables, absent


def table_sha256(table: LatencyTable) -> str:
    """A sha256 of a table's entries (which table the latencies came from)."""
    text = json.dumps({str(k): v for k, v in table.to_mapping().items()}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _final_arrays(
    rows: dict[str, np.ndarray], tables: dict[str, LatencyTable], scratch: dict[str, Any]
) -> dict[str, np.ndarray]:
    source, names = generation.source_arrays(SOURCES, rows["source_name"])
    scratch_test = np.full(len(source), np.nan, dtype=np.float32)
    scratch_val = np.full(len(source), np.nan, dtype=np.float32)
    scratch_test[scratch["rows"]] = scratch["test_accuracy"]
    scratch_val[scratch["rows"]] = scratch["val_accuracy"]
    return {
        "choices": rows["choices"].astype(np.int8),
        "val_accuracy": rows["val_accuracy"].astype(np.float32),
        "test_accuracy": rows["test_accuracy"].astype(np.float32),
        **{f"latency_{target}_ms": latencies(table, rows["choices"]) for target, table in tables.items()},
        "scratch_accuracy": scratch_test,
        "scratch_val_accuracy": scratch_val,
        "source": source,
        "source_names": names,
    }


def _scratch_meta(config: NASConfig, scratch: dict[str, Any]) -> dict[str, Any] | None:
    if not len(scratch["rows"]):
        return None
    return {
        "count": len(scratch["rows"]),
        "epochs": config.scratch_epochs,
        "train_config": RetrainConfig(epochs=config.scratch_epochs).record(),
        "seconds_mean": float(np.mean(scratch["seconds"])),
    }


def _meta(
    config: NASConfig,
    score: Scorer,
    mix: generation.MixResult,
    tables: dict[str, LatencyTable],
    absent: dict[str, str],
    scratch: dict[str, Any],
    out: str | Path,
) -> dict[str, Any]:
    searches = [search_setting(config, chunk) for chunk in RECIPE.searches(mix.requested, config.chunk_size)]
    extra: dict[str, Any] = {"width_mult": f"{config.width_mult:g}"}
    if config.scratch:
        extra |= {"scratch": config.scratch, "scratch_epochs": config.scratch_epochs}
    command = regenerate_command("nas", config.dataset, config.count, config.seed, Path(out), **extra)
    splits = generation.split_sizes(score.task)
    return {
        **generation.common_meta("nas", config.dataset, config.seed, config.count, config.chunk_size),
        "model": "proxylessnas",
        "command": command,
        "env_id": config.env_id(),
        "env_kwargs": {**config.env_kwargs(), "mode": "oneshot", "weights": "frozen"},
        "width_mult": config.width_mult,
        "val_batch_size": config.val_batch_size,
        "eval_images": min(config.val_batch_size, splits["val"], splits["test"]),
        "supernet_sha256": supernet_sha256(config.dataset, config.width_mult),
        "splits": splits,
        "source_descriptions": SOURCE_DESCRIPTIONS,
        "mix": {"uniform": f"min(all 12, {UNIFORM_SHARE:.1%} of count)", **dict(config.mix or MIX)},
        **driver.row_meta(RECIPE, mix),
        "searches": searches,
        "elite_tag": mix.elite_tag,
        "latency_targets": {
            "included": list(tables),
            "absent": absent,
            "tables": {t: {"sha256": table_sha256(table)} for t, table in tables.items()},
            "deployment": "width 1, 224x224, 1000 classes",
        },
        "scratch": _scratch_meta(config, scratch),
    }
