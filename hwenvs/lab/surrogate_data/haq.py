"""Generating the HAQ surrogate dataset: distinct bit allocations of one model on one task, each evaluated by the real
environment on the validation and test splits, with its cost on every hardware model.

The mix (shares of the rows asked for; :data:`MIX`, the uniform policies first):

* ``uniform``: every uniform ``w/a`` pair (49 for 2..8 bits), or as many as 0.5% of the rows allow, 8/8 first;
* ``near_uniform``: a uniform policy with 1-4 free layer sides moved by one bit (no rollback);
* ``rollback``: random actions (every free side uniform in ``min_bits..max_bits``) rolled back as the environment
  does, into a budget drawn uniformly from ``preserve_ratio`` in [0.25, 1] (at least the floor) on one of the four
  budget measures (latency on BISMO edge, BISMO cloud and BitFusion; energy on BitFusion);
* ``ddpg``, ``random`` (and ``tpe`` where an agent of that name is registered and imports; otherwise its share
  goes to ``rollback``): short searches of ``chunk_size`` episodes through :mod:`hwenvs.agents`, on a measure and a
  ``preserve_ratio`` in [0.3, 0.8] drawn per search; every episode's policy is a row;
* ``perturbation``: an elite policy (on a Pareto front of validation accuracy and cost for one of the measures, or
  among the 20 most accurate) of the rows above with 1-4 free sides moved by up to 2 bits, rolled back into the
  elite's own cost on a measure drawn per row.

Duplicates are dropped (the first row of each policy is kept, in the order above); if fewer rows than asked for
remain, ``rollback`` rows are added until there are enough.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import gymnasium as gym
import numpy as np

from hwenvs.agents.registry import AGENTS
from hwenvs.data import Task, load_task
from hwenvs.envs.bit_allocation import to_policy
from hwenvs.envs.bit_budget import FREE, UNQUANTIZED, BitBudget
from hwenvs.hardware import make_hardware
from hwenvs.hardware.base import LayerShape
from hwenvs.lab.surrogate_data import driver, generation
from hwenvs.lab.surrogate_data.chunks import Chunk, Report
from hwenvs.lab.surrogate_data.generation import check_mix
from hwenvs.registration import HAQ_HARDWARE, HAQ_MODELS
from hwenvs.surrogate.dataset import DATA_DIR, haq_name, regenerate_command
from hwenvs.weights import MODEL_WEIGHTS

if TYPE_CHECKING:
    from hwenvs.envs.haq_env import HAQEnv

SOURCES = ("uniform", "near_uniform", "rollback", "ddpg", "random", "tpe", "perturbation")
"""Every sampling source, in code order (the file's ``source_names``)."""
SOURCE_DESCRIPTIONS = {
    "uniform": "every free layer at the same w/a bits (all pairs, 8/8 first)",
    "near_uniform": "a uniform policy with 1-4 free layer sides moved by one bit (no rollback)",
    "rollback": "random bits on every free side, rolled back into preserve_ratio ~ U[0.25, 1] (at least the floor) "
    "on one of the four budget measures",
    "ddpg": "every episode of short HAQ DDPG searches (`hwenvs.agents`, `ddpg`)",
    "random": "every episode of short random searches (`hwenvs.agents`, `random`)",
    "tpe": "every episode of short TPE searches (`hwenvs.agents`, `tpe`)",
    "perturbation": "an elite policy (Pareto front of validation accuracy and cost on a measure, or top-20 accuracy) "
    "with 1-4 free sides moved by up to 2 bits, rolled back into the elite's own cost on a random measure",
}
"""What each source is, recorded in the file's meta (the datasheet shows it)."""
SEARCH_AGENTS = ("ddpg", "random", "tpe")
"""Sources that are searches: agents of :mod:`hwenvs.agents` by name."""
MIX = {"near_uniform": 0.10, "rollback": 0.40, "ddpg": 0.10, "random": 0.10, "tpe": 0.05, "perturbation": 0.25}
"""Shares of the rows left after the uniform policies."""
UNIFORM_SHARE = 0.005
"""At most this share of the rows are uniform policies (all 49 pairs from 9,800 rows on)."""
HARDWARE = ("bismo-edge", "bismo-cloud", "bitfusion")
METRICS = ("latency", "energy")
MEASURES = (("bismo-edge", "latency"), ("bismo-cloud", "latency"), ("bitfusion", "latency"), ("bitfusion", "energy"))
"""The budgets rollbacks, searches and perturbations use."""
PRESERVE_RANGE = (0.25, 1.0)
SEARCH_PRESERVE_RANGE = (0.3, 0.8)
MAX_CHANGED_SIDES = 4
FIXED_ENV_KWARGS = {"quantizer": "linear", "finetune_steps": 0, "weights": "default"}
"""Environment arguments that decide accuracy and are the same for every row."""
COST_UNITS = {"latency": "s per batch", "energy": "J per batch"}
RECIPE = driver.Recipe(
    kind="haq",
    sources=SOURCES,
    search_agents=SEARCH_AGENTS,
    solution_columns=("w_bits", "a_bits"),
    top_up_source="rollback",
    weights_field="weights_sha256",
    unused_key_fields=("count", "mix"),  # rows do not depend on how many there are: more reuse every chunk made
)
"""What the shared driver (:mod:`hwenvs.lab.surrogate_data.driver`) needs to know of this builder."""
DEFAULT_RESOLUTION = 224
"""The environment's default deployment resolution, which the costs are computed at."""


@dataclass(frozen=True)
class HAQConfig:
    """What a HAQ dataset is generated from.

    :param model: the HAQ model (``"mobilenet_v2"``, ``"resnet18"``, ``"mobilenet_v1"``).
    :param dataset: the task name (shipped weights needed: see ``hwenvs/models/weights/manifest.json``).
    :param count: distinct rows wanted (at least).
    :param seed: the generation seed.
    :param chunk_size: rows per chunk (and episodes per search).
    :param min_bits: smallest bit width.
    :param max_bits: largest bit width.
    :param mix: ``(source, share)`` pairs replacing :data:`MIX` (shares of the rows after the uniform policies).
    """

    model: str = "mobilenet_v2"
    dataset: str = "mnist"
    count: int = 10_000
    seed: int = 0
    chunk_size: int = 100
    min_bits: int = 2
    max_bits: int = 8
    mix: tuple[tuple[str, float], ...] | None = None

    def __post_init__(self) -> None:
        if self.model not in HAQ_MODELS.values():
            raise ValueError(f"unknown HAQ model {self.model!r}; valid: {', '.join(HAQ_MODELS.values())}")
        for name in ("count", "chunk_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        check_mix(self.mix, MIX)
        if not 2 <= self.min_bits <= self.max_bits <= 8:
            raise ValueError(f"need 2 <= min_bits <= max_bits <= 8, got {self.min_bits} and {self.max_bits}")

    @property
    def name(self) -> str:
        """The file stem."""
        return haq_name(self.model, self.dataset)

    def env_kwargs(self) -> dict[str, Any]:
        """The environment arguments that decide accuracy."""
        return {**FIXED_ENV_KWARGS, "min_bits": self.min_bits, "max_bits": self.max_bits}

    def env_id(self, hardware: str = "bismo-edge") -> str:
        """The registered id of this model on ``hardware``."""
        model_id = next(k for k, v in HAQ_MODELS.items() if v == self.model)
        hardware_id = next(k for k, v in HAQ_HARDWARE.items() if v == hardware)
        return f"HAQ-{model_id}-{hardware_id}"


# -- the policy space: rules, budgets and costs without the network ---------------------------------------------------


class PolicySpace:
    """The layer rules, bit range and cost tables of one model: draws, repairs and costs policies as the environment
    does (its :class:`~hwenvs.envs.bit_budget.BitBudget` on the same tables), without the network.

    :param layers: the model's layer shapes at the deployment resolution.
    :param min_bits: smallest bit width.
    :param max_bits: largest bit width.
    """

    def __init__(self, layers: list[LayerShape], min_bits: int, max_bits: int) -> None:
        self.min_bits, self.max_bits = min_bits, max_bits
        self.num_layers = len(layers)
        self.tables = {h: make_hardware(h).cost_table(layers) for h in HARDWARE}
        self.budgets = {
            (h, m): BitBudget(self.tables[h].metric(m), min_bits=min_bits, max_bits=max_bits, preserve_ratio=1.0)
            for h in HARDWARE
            for m in METRICS
        }
        rules = self.budgets[MEASURES[0]]
        self.fixed_w, self.fixed_a = rules.fixed_w, rules.fixed_a
        # every side a search chooses: (0, layer) for weights, (1, layer) for activations
        self.free_sides = [(0, int(i)) for i in np.flatnonzero(self.fixed_w == FREE)]
        self.free_sides += [(1, int(i)) for i in np.flatnonzero(self.fixed_a == FREE)]

    def uniform(self, w_bits: int, a_bits: int) -> tuple[np.ndarray, np.ndarray]:
        """Every free layer at ``w_bits``/``a_bits``, the fixed ones as the rules say."""
        return self.apply_rules(np.full(self.num_layers, w_bits), np.full(self.num_layers, a_bits))

    def apply_rules(self, w: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``w`` and ``a`` with the fixed layers' bits imposed."""
        return self.budgets[MEASURES[0]].apply_rules(np.asarray(w, np.int64), np.asarray(a, np.int64))

    def floor_ratio(self, measure: tuple[str, str]) -> float:
        """The smallest reachable ``preserve_ratio`` on ``measure`` (every free side at ``min_bits``)."""
        budget = self.budgets[measure]
        return budget.floor_cost / budget.reference_cost

    def ratio(self, w: np.ndarray, a: np.ndarray, measure: tuple[str, str]) -> float:
        """The policy's cost on ``measure`` over the cost at 8/8 bits (the environment's ``cost_ratio``)."""
        budget = self.budgets[measure]
        return budget.cost(w, a) / budget.reference_cost

    def rollback(
        self, w: np.ndarray, a: np.ndarray, measure: tuple[str, str], preserve_ratio: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """HAQ's rollback of ``w``/``a`` into ``preserve_ratio`` on ``measure`` (raised to the floor if below)."""
        table = self.tables[measure[0]].metric(measure[1])
        ratio = max(preserve_ratio, self.floor_ratio(measure))
        budget = BitBudget(table, min_bits=self.min_bits, max_bits=self.max_bits, preserve_ratio=ratio)
        return budget.rollback(w, a)

    def costs(self, w_bits: np.ndarray, a_bits: np.ndarray) -> dict[str, np.ndarray]:
        """``cost_<hardware>_<metric>`` of every row (what ``HAQEnv.policy_cost`` gives with that hardware and
        constraint).

        :param w_bits: (N, L) weight bits.
        :param a_bits: (N, L) activation bits, 0 where not quantized.
        """
        columns = {}
        for (hardware, metric), budget in self.budgets.items():
            values = [budget.cost(w.astype(np.int64), a.astype(np.int64)) for w, a in zip(w_bits, a_bits, strict=True)]
            columns[f"cost_{hardware}_{metric}"] = np.asarray(values, dtype=np.float64)
        return columns

    def moved(
        self, w: np.ndarray, a: np.ndarray, rng: np.random.Generator, max_step: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """``w``/``a`` with 1..4 free sides moved by 1..``max_step`` bits (up or down, kept in range and changed)."""
        w, a = w.copy(), a.copy()
        count = int(rng.integers(1, MAX_CHANGED_SIDES + 1))
        for side in rng.choice(len(self.free_sides), size=min(count, len(self.free_sides)), replace=False):
            kind, layer = self.free_sides[int(side)]
            bits = w if kind == 0 else a
            step = int(rng.integers(1, max_step + 1)) * int(rng.choice([-1, 1]))
            new = bits[layer] + step
            if not self.min_bits <= new <= self.max_bits:
                new = bits[layer] - step  # the other way stays in range whenever the range allows a move at all
            bits[layer] = min(max(new, self.min_bits), self.max_bits)
        return w, a


def uniform_pairs(min_bits: int, max_bits: int) -> list[tuple[int, int]]:
    """Every ``(w_bits, a_bits)`` pair, equal pairs first from the most bits down, then by total bits descending."""
    bits = range(max_bits, min_bits - 1, -1)
    equal = [(b, b) for b in bits]
    other = sorted(((w, a) for w in bits for a in bits if w != a), key=lambda p: (-(p[0] + p[1]), -p[0]))
    return equal + other


# -- drawing rows ------------------------------------------------------------------------------------------------------


def draw_policy(
    space: PolicySpace, source: str, row: int, seed: int, elites: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Row ``row`` of a per-row source (everything but the searches), as ``(w_bits, a_bits)``.

    :param space: the model's policy space.
    :param source: ``"uniform"``, ``"near_uniform"``, ``"rollback"`` or ``"perturbation"``.
    :param row: the row's index within its source.
    :param seed: the generation seed.
    :param elites: ``(w_bits, a_bits)`` of the elite policies (perturbations only).
    """
    pairs = uniform_pairs(space.min_bits, space.max_bits)
    if source == "uniform":
        return space.uniform(*pairs[row])
    rng = generation.row_rng(seed, SOURCES.index(source), row)
    if source == "near_uniform":
        w, a = space.uniform(*pairs[int(rng.integers(len(pairs)))])
        return space.moved(w, a, rng, max_step=1)
    if source == "rollback":
        measure = MEASURES[int(rng.integers(len(MEASURES)))]
        ratio = rng.uniform(max(PRESERVE_RANGE[0], space.floor_ratio(measure)), PRESERVE_RANGE[1])
        w, a = space.apply_rules(*rng.integers(space.min_bits, space.max_bits + 1, size=(2, space.num_layers)))
        return space.rollback(w, a, measure, ratio)
    if source == "perturbation":
        assert elites is not None, "perturbations need the elite set"
        parent = int(rng.integers(len(elites[0])))
        w, a = elites[0][parent].astype(np.int64), elites[1][parent].astype(np.int64)
        measure = MEASURES[int(rng.integers(len(MEASURES)))]
        moved = space.moved(w, a, rng, max_step=2)
        return space.rollback(*moved, measure, space.ratio(w, a, measure))
    raise ValueError(f"unknown per-row HAQ source {source!r}; valid: uniform, near_uniform, rollback, perturbation")


def search_setting(config: HAQConfig, space: PolicySpace, chunk: Chunk) -> dict[str, Any]:
    """The budget and agent seed of the search ``chunk`` is (drawn from the seed, the agent and the search's index).

    :param config: the generation config.
    :param space: the model's policy space (for the floors).
    :param chunk: the search's chunk (source: the agent's name).
    """
    source, index = chunk.source, chunk.index
    rng = generation.row_rng(config.seed, SOURCES.index(source), index)
    hardware, constraint = MEASURES[int(rng.integers(len(MEASURES)))]
    ratio = round(float(rng.uniform(*SEARCH_PRESERVE_RANGE)), 3)
    ratio = max(ratio, float(np.ceil(space.floor_ratio((hardware, constraint)) * 1e3) / 1e3))
    return {
        "agent": source,
        "index": index,
        "hardware": hardware,
        "constraint": constraint,
        "preserve_ratio": ratio,
        "agent_seed": int(rng.integers(2**31)),
        "episodes": chunk.stop - chunk.start,
    }


# -- evaluating rows (in worker processes) -----------------------------------------------------------------------------


@dataclass
class Scorer:
    """The environment that scores rows in one process, and the policy space of its model."""

    env: Any
    space: PolicySpace
    task: Task

    def accuracies(self, w: np.ndarray, a: np.ndarray) -> tuple[float, float]:
        """Validation and test accuracy of a policy, exactly as ``evaluate_solution`` gives them."""
        policy = to_policy(w, a)
        return tuple(self.env.evaluate_solution(policy, split)["accuracy"] for split in ("val", "test"))


_SCORERS: dict[tuple, Scorer] = {}
"""One scorer per (config, task) in each process: building an environment takes seconds."""


def scorer(config: HAQConfig, task: Task | None = None) -> Scorer:
    """This process's scorer for ``config`` (built on first use).

    :param config: the generation config.
    :param task: a loaded task to use instead of loading ``config.dataset`` (tests use a small one).
    """

    def build() -> Scorer:
        loaded = task if task is not None else load_task(config.dataset)
        env = cast("HAQEnv", gym.make(config.env_id(), dataset=loaded, **config.env_kwargs()).unwrapped)
        return Scorer(env, PolicySpace(env.layers, config.min_bits, config.max_bits), loaded)

    return driver.cached(_SCORERS, (config.model, config.dataset, config.min_bits, config.max_bits, id(task)), build)


def from_policy(policy: list[list[int | None]]) -> tuple[np.ndarray, np.ndarray]:
    """A policy as ``(w_bits, a_bits)`` int64 arrays, unchecked: a terminal info's, which the environment made
    (:meth:`hwenvs.envs.bit_allocation.BitAllocation.from_policy` checks a user's)."""
    w = np.asarray([p[0] for p in policy], dtype=np.int64)
    a = np.asarray([UNQUANTIZED if p[1] is None else p[1] for p in policy], dtype=np.int64)
    return w, a


@dataclass(frozen=True)
class HAQWorker:
    """Computes HAQ chunks (see :class:`hwenvs.lab.surrogate_data.chunks.ChunkWorker`).

    :param config: the generation config.
    :param folder: the cache folder (where the elite sets are).
    :param task: a loaded task to use instead of ``config.dataset`` (tests).
    """

    config: HAQConfig
    folder: Path
    task: Task | None = field(default=None, compare=False)

    def __call__(self, chunk: Chunk, rows: np.ndarray, report: Report) -> dict[str, np.ndarray]:
        """The arrays of ``rows`` of ``chunk``."""
        score = scorer(self.config, self.task)
        if chunk.source in SEARCH_AGENTS:
            return self._search(score, chunk, report)
        elites = load_elites(self.folder, chunk.tag) if chunk.source == "perturbation" else None
        out = driver.score_rows(
            rows,
            lambda row: draw_policy(score.space, chunk.source, row, self.config.seed, elites),
            score.accuracies,
            report,
        )
        return driver.chunk_arrays(RECIPE, out)

    def _search(self, score: Scorer, chunk: Chunk, report: Report) -> dict[str, np.ndarray]:
        """Every episode of search ``chunk.index`` of agent ``chunk.source`` as a row."""
        setting = search_setting(self.config, score.space, chunk)
        env = gym.make(
            self.config.env_id(setting["hardware"]),
            dataset=score.task,
            constraint=setting["constraint"],
            preserve_ratio=setting["preserve_ratio"],
            **self.config.env_kwargs(),
        )
        haq = cast("HAQEnv", env.unwrapped)  # config.env_id(): a HAQ id
        out = driver.search_rows(
            env,
            chunk,
            setting["agent_seed"],
            lambda info: from_policy(info["policy"]),
            lambda info: haq.evaluate_solution(info["policy"], "test")["accuracy"],
            report,
        )
        return driver.chunk_arrays(RECIPE, out)


# -- elites ------------------------------------------------------------------------------------------------------------


def save_elites(folder: Path, space: PolicySpace, rows: dict[str, np.ndarray]) -> str:
    """Choose the elites among ``rows`` (see :func:`hwenvs.lab.surrogate_data.generation.elite_indices`) and keep
    them in ``folder``; returns their tag (a digest of the elite policies, so other elites never reuse a chunk)."""
    w, a, val = rows["w_bits"], rows["a_bits"], rows["val_accuracy"]
    keep = generation.first_occurrences(np.concatenate([w, a], axis=1))
    w, a, val = w[keep], a[keep], val[keep]
    costs = [np.asarray([space.ratio(wi, ai, measure) for wi, ai in zip(w, a, strict=True)]) for measure in MEASURES]
    chosen = generation.elite_indices(costs, val)
    elites = {"w_bits": w[chosen], "a_bits": a[chosen]}
    return driver.keep_elites(folder, elites, generation.digest([elites["w_bits"].tolist(), elites["a_bits"].tolist()]))


def load_elites(folder: Path, tag: str) -> tuple[np.ndarray, np.ndarray]:
    """The elite set ``tag`` saved by :func:`save_elites`."""
    elites = driver.load_elites(folder, tag)
    return elites["w_bits"], elites["a_bits"]


# -- the whole run -----------------------------------------------------------------------------------------------------


def tpe_unavailable() -> str | None:
    """Why TPE searches cannot be part of the mix (no agent named ``tpe`` registered, its module does not import, or
    Optuna is missing), or None when they can."""
    if "tpe" not in AGENTS:
        return "no agent named 'tpe' is registered"
    module = AGENTS["tpe"].split(":")[0]
    try:
        importlib.import_module(module)
    except ImportError as exc:
        return f"agent 'tpe' ({AGENTS['tpe']}) does not import here ({exc})"
    if importlib.util.find_spec("optuna") is None:  # the TPE agents import it only when built
        return "agent 'tpe' needs optuna, which is not installed (pip install \"hwenvs[benchmark]\")"
    return None


def plan(config: HAQConfig, tpe: bool) -> dict[str, int]:
    """Rows asked of each source (see :data:`MIX`; without ``tpe`` its share goes to ``rollback``)."""
    shares = dict(config.mix) if config.mix is not None else dict(MIX)
    if not tpe and "tpe" in shares:
        shares["rollback"] = shares.get("rollback", 0.0) + shares.pop("tpe")
    return driver.plan(config.count, len(uniform_pairs(config.min_bits, config.max_bits)), UNIFORM_SHARE, shares)


def weights_sha256(model: str, dataset: str) -> str:
    """The sha256 of the shipped reference weights of ``model`` on ``dataset``.

    :raises ValueError: none shipped, listing the combinations that are.
    """
    entry = MODEL_WEIGHTS.entry(f"{model}/{dataset}")
    if entry is None:
        valid = ", ".join(f"--model {k.split('/')[0]} --dataset {k.split('/')[1]}" for k in MODEL_WEIGHTS.manifest())
        raise ValueError(f"no shipped reference weights for {model} on {dataset}; valid: {valid}")
    return entry["sha256"]


def generate_haq(
    config: HAQConfig,
    out: str | Path = DATA_DIR,
    cache: str | Path | None = None,
    workers: int = 1,
    progress: bool = True,
    task: Task | None = None,
) -> Path:
    """Generate (or resume) the HAQ dataset of ``config`` and write it, its manifest entry and its datasheet.

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
    config: HAQConfig, out: str | Path, cache: str | Path | None, workers: int, progress: bool, task: Task | None
) -> Path:
    """:func:`generate_haq`'s work, with one torch thread."""
    sha = weights_sha256(config.model, config.dataset)
    score = scorer(config, task)
    folder = driver.cache_folder(RECIPE, config, sha, score.task, cache)
    chunks = driver.Run(folder, HAQWorker(config, folder, task), workers, progress)
    missing_tpe = tpe_unavailable()
    requested = plan(config, tpe=missing_tpe is None)
    mix = driver.run(RECIPE, config, requested, chunks, lambda rows: save_elites(folder, score.space, rows))
    meta = _meta(config, score, mix, missing_tpe, out)
    return driver.write(config.name, _final_arrays(score.space, mix.rows), meta, out)


def _final_arrays(space: PolicySpace, merged: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    source, names = generation.source_arrays(SOURCES, merged["source_name"])
    return {
        "w_bits": merged["w_bits"].astype(np.int8),
        "a_bits": merged["a_bits"].astype(np.int8),
        "val_accuracy": merged["val_accuracy"].astype(np.float32),
        "test_accuracy": merged["test_accuracy"].astype(np.float32),
        "source": source,
        "source_names": names,
        **space.costs(merged["w_bits"], merged["a_bits"]),
    }


def _meta(
    config: HAQConfig, score: Scorer, mix: generation.MixResult, missing_tpe: str | None, out: str | Path
) -> dict[str, Any]:
    searches = [
        search_setting(config, score.space, chunk) for chunk in RECIPE.searches(mix.requested, config.chunk_size)
    ]
    command = regenerate_command("haq", config.dataset, config.count, config.seed, Path(out), model=config.model)
    env = score.env
    return {
        **generation.common_meta("haq", config.dataset, config.seed, config.count, config.chunk_size),
        "model": config.model,
        "command": command,
        "env_id": config.env_id(),
        "env_kwargs": {**config.env_kwargs(), "keep_first_layer": True, "keep_last_layer": True},
        "float_accuracy": {"val": env.float_accuracy_on("val"), "test": env.float_accuracy_on("test")},
        "weights_sha256": weights_sha256(config.model, config.dataset),
        "splits": generation.split_sizes(score.task),
        "num_layers": score.space.num_layers,
        "source_descriptions": SOURCE_DESCRIPTIONS,
        "mix": {"uniform": f"min(every pair, {UNIFORM_SHARE:.1%} of count)", **dict(config.mix or MIX)},
        "tpe": "included" if missing_tpe is None else f"{missing_tpe}: left out, its share went to rollback",
        **driver.row_meta(RECIPE, mix),
        "measures": [list(m) for m in MEASURES],
        "preserve_ratio_range": list(PRESERVE_RANGE),
        "search_preserve_ratio_range": list(SEARCH_PRESERVE_RANGE),
        "searches": searches,
        "elite_tag": mix.elite_tag,
        "costs": {
            f"cost_{h}_{m}": {"hardware": h, "metric": m, "unit": COST_UNITS[m], "batch": space_batch(score, h)}
            for h in HARDWARE
            for m in METRICS
        },
        "cost_resolution": DEFAULT_RESOLUTION,
    }


def space_batch(score: Scorer, hardware: str) -> int:
    """The batch the costs on ``hardware`` are for (the hardware model's default)."""
    return int(score.space.tables[hardware].batch)
