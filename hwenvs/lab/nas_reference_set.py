"""The from-scratch reference set of the ProxylessNAS space: architectures spread over depth, kernel, expansion and
latency, each trained from scratch with one recipe and scored on validation and test, some with a second seed.

It is what a reward's accuracy term is measured against: a supernet (or any predictor) is worth as much as its rank
correlation with the from-scratch test accuracies here, and the seed-to-seed rank correlation of the twice-trained
architectures is the ceiling any predictor can reach. Whether capacity pays on the task (slower networks more
accurate) is read from the same rows.

* :func:`plan` fixes the queue: ``per_stratum`` architectures in each of 16 strata (total depth x share of
  expand-6 blocks x mean kernel, drawn from a generator whose skip, expansion and kernel rates vary per architecture so
  that every stratum fills), spread over each stratum's compute by taking its smallest, largest and middle candidates,
  plus the four corners of the space (the shallowest and the deepest network, each all-k3e3 and all-k7e6). Strata are
  interleaved so that any prefix of the queue covers the space; second seeds start after the first
  :data:`FIRST_SEED_PREFIX` trainings, on architectures already trained.
* :func:`run` trains the queue in order, appending one JSON line per finished (architecture, seed) to one file
  (:func:`append_row`: the complete line written, flushed and fsynced at once), so a killed run resumes at the next
  unfinished training; a torn last line (a write cut short) is flagged when read and dropped before the next append.
* :func:`write_datasheet` renders the file's markdown datasheet from the rows alone.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hwenvs import __version__
from hwenvs.cache import atomic_write_bytes
from hwenvs.nas.architecture import Architecture, shallowest, uniform
from hwenvs.nas.latency_tables import DEPLOYMENT_SPACE, LatencyTable
from hwenvs.nas.latency_targets import MEASURED_TARGETS, TARGETS, load_latency_table
from hwenvs.nas.search_space import ZERO, ZERO_ALLOWED, SearchSpace
from hwenvs.reference_data import ChecksumError

# torch (with the task, the training recipe and the training itself) is imported inside the functions that train:
# planning, reading the rows and writing the datasheet run without loading it

FORMAT = "nas-reference/1"
"""The ``format`` field of every row (the layout below; a reader refuses rows of another format)."""

FIRST_SEED_PREFIX = 40
"""First-seed trainings queued before any second seed, so that an early cut of the run already spans the space."""

DEPTH_BINS: tuple[tuple[int, int], ...] = ((6, 9), (10, 13), (14, 17), (18, 21))
"""Total depth (searchable blocks not skipped; 6..21) of the four depth strata, both ends included."""

E6_SPLIT = 0.5
"""Share of expand-6 blocks (among the blocks not skipped) that separates the low- and high-expansion strata."""
KERNEL_SPLIT = 5.0
"""Mean depthwise kernel (among the blocks not skipped) that separates the small- and large-kernel strata."""

CORNERS: tuple[tuple[str, Callable[[], Architecture]], ...] = (
    ("shallowest k3e3", lambda: shallowest("k3e3")),
    ("deepest k7e6", lambda: uniform("k7e6")),
    ("shallowest k7e6", lambda: shallowest("k7e6")),
    ("deepest k3e3", lambda: uniform("k3e3")),
)
"""The extremes every plan starts with: the smallest (fastest) and the largest network first."""

RESAMPLES = 2000
"""Bootstrap resamples of every interval in the datasheet."""
MIN_INTERVAL_ROWS = 10
"""Fewer pairs get a point estimate without an interval: resamples of a handful of rows are mostly ties."""


# ----------------------------------------------------------------------------------------------------------------
# Architectures: features, strata, sampling


def features(arch: Architecture) -> dict[str, float]:
    """The coordinates the plan stratifies on.

    :param arch: the architecture.
    :return: ``depth`` (blocks not skipped), ``e6_share`` (share of them with expansion 6), ``mean_expand`` and
        ``mean_kernel`` (over them).
    """
    kept = [op for op in arch.ops if not op.is_zero]
    return {
        "depth": len(kept),
        "e6_share": sum(op.expand == 6 for op in kept) / len(kept),
        "mean_expand": float(np.mean([op.expand for op in kept])),
        "mean_kernel": float(np.mean([op.kernel for op in kept])),
    }


def stratum(arch: Architecture) -> str:
    """The stratum of ``arch``: its depth bin, expansion class and kernel class, as ``"d10-13/e-high/k-low"``.

    :param arch: the architecture.
    """
    f = features(arch)
    low, high = next((lo, hi) for lo, hi in DEPTH_BINS if lo <= f["depth"] <= hi)
    expand = "high" if f["e6_share"] >= E6_SPLIT else "low"
    kernel = "high" if f["mean_kernel"] >= KERNEL_SPLIT else "low"
    return f"d{low}-{high}/e-{expand}/k-{kernel}"


STRATA: tuple[str, ...] = tuple(
    f"d{lo}-{hi}/e-{e}/k-{k}" for lo, hi in DEPTH_BINS for e in ("low", "high") for k in ("low", "high")
)
"""Every stratum, in the order the plan interleaves them."""


def block_macs(arch: Architecture, space: SearchSpace = DEPLOYMENT_SPACE) -> int:
    """Multiply-accumulates of the searchable blocks of ``arch`` deployed in ``space`` (the part that differs between
    architectures; a latency proxy that needs no table).

    :param arch: the architecture.
    :param space: widths and resolution (default: the deployed width-1, 224x224 network the latency tables cost).
    """
    total = 0
    for spec, op in zip(space.blocks, arch.ops, strict=True):
        if op.is_zero:
            continue
        hidden = spec.in_channels * op.expand
        total += spec.in_channels * hidden * spec.in_hw**2  # 1x1 expansion
        total += hidden * op.kernel**2 * spec.out_hw**2  # depthwise
        total += hidden * spec.out_channels * spec.out_hw**2  # 1x1 projection
    return total


def draw(rng: np.random.Generator) -> Architecture:
    """One architecture from a generator whose rates vary per draw: a skip rate, an expand-6 rate and kernel
    probabilities are drawn first, then every block from them. Uniform sampling puts almost every architecture at
    depth 17-21 with mixed kernels; this one reaches every stratum.

    :param rng: the random source.
    """
    skip_rate, e6_rate = rng.uniform(0.0, 1.0, size=2)
    kernel_probs = rng.dirichlet(np.ones(3))
    choices = []
    for allowed in ZERO_ALLOWED:
        if allowed and rng.random() < skip_rate:
            choices.append(ZERO)
            continue
        kernel = int(rng.choice(3, p=kernel_probs))
        choices.append(2 * kernel + int(rng.random() < e6_rate))  # OPS order: k3e3, k3e6, k5e3, k5e6, k7e3, k7e6
    return Architecture(tuple(choices))


def spread_indices(count: int, size: int) -> list[int]:
    """``count`` distinct indices into a sorted list of ``size``, evenly spaced, both ends included.

    :param count: how many to pick (at most ``size``).
    :param size: the list's length.
    """
    return sorted({int(i) for i in np.round(np.linspace(0, size - 1, count))})


def _spread_order(count: int) -> list[int]:
    """The order a stratum's picks (sorted by compute) enter the queue: smallest, largest, then the middle ones."""
    return [0, count - 1, *range(1, count - 1)] if count > 1 else [0]


@dataclass(frozen=True)
class Job:
    """One training of the queue.

    :param index: position in the queue.
    :param architecture: the architecture.
    :param seed: the training seed (initialisation, batch order, shifts).
    :param stratum: the architecture's stratum, or the corner's name.
    """

    index: int
    architecture: Architecture
    seed: int
    stratum: str


@dataclass(frozen=True)
class PlanConfig:
    """What fixes the queue (recorded in every row, so the datasheet can rebuild the plan).

    :param sample_seed: seed of the architecture sampler.
    :param per_stratum: architectures per stratum (16 strata, plus the 4 corners).
    :param pool: candidates drawn per stratum to pick them from (spread over block MACs).
    :param second_seeds: architectures trained with a second seed.
    :param seeds: the first and second training seeds.
    """

    sample_seed: int = 0
    per_stratum: int = 4
    pool: int = 12
    second_seeds: int = 20
    seeds: tuple[int, int] = (0, 1)

    def __post_init__(self) -> None:
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        if not 1 <= self.per_stratum <= self.pool:
            raise ValueError(f"per_stratum must be in 1..pool ({self.pool}), got {self.per_stratum}")
        if len(self.seeds) != 2 or self.seeds[0] == self.seeds[1]:
            raise ValueError(f"seeds must be two different seeds, got {self.seeds}")

    def record(self) -> dict[str, Any]:
        """The fields as stored in rows."""
        return {**asdict(self), "seeds": list(self.seeds)}


def sample_architectures(config: PlanConfig = PlanConfig(), max_draws: int = 200_000) -> list[tuple[str, Architecture]]:
    """The plan's architectures (first-seed order, without duplicates): the corners, then the strata interleaved.

    Each stratum keeps the first ``pool`` distinct draws that fall in it (corners excluded), sorted by block MACs,
    and picks ``per_stratum`` of them evenly over that order (its smallest and largest included).

    :param config: the plan.
    :param max_draws: a bound on the draws (a stratum that stays short of ``pool`` raises).
    :return: ``(stratum or corner name, architecture)`` in queue order.
    :raises RuntimeError: a stratum did not fill within ``max_draws``.
    """
    rng = np.random.default_rng(config.sample_seed)
    corners = [(name, make()) for name, make in CORNERS]
    seen = {arch for _, arch in corners}
    pools: dict[str, list[Architecture]] = {s: [] for s in STRATA}
    for _ in range(max_draws):
        if all(len(p) >= config.pool for p in pools.values()):
            break
        arch = draw(rng)
        members = pools[stratum(arch)]
        if arch not in seen and len(members) < config.pool:
            seen.add(arch)
            members.append(arch)
    short = {s: len(p) for s, p in pools.items() if len(p) < config.pool}
    if short:
        raise RuntimeError(f"strata {short} got fewer than {config.pool} candidates in {max_draws} draws")
    picks = {}
    for name, members in pools.items():
        ordered = sorted(members, key=lambda a: (block_macs(a), a.choices))
        chosen = [ordered[i] for i in spread_indices(config.per_stratum, len(ordered))]
        picks[name] = [chosen[i] for i in _spread_order(len(chosen))]
    interleaved = [(name, picks[name][r]) for r in range(config.per_stratum) for name in STRATA]
    return corners + interleaved


def plan(config: PlanConfig = PlanConfig()) -> list[Job]:
    """The training queue: every architecture with the first seed, and ``second_seeds`` of them again with the
    second seed, the second seeds alternating with first seeds after the first :data:`FIRST_SEED_PREFIX` trainings.

    The twice-trained architectures are spread over block MACs among the first :data:`FIRST_SEED_PREFIX` (smallest
    and largest included), so each is trained once before its second seed is queued.

    :param config: the plan.
    """
    archs = sample_architectures(config)
    first, again = config.seeds
    head, tail = archs[:FIRST_SEED_PREFIX], archs[FIRST_SEED_PREFIX:]
    by_macs = sorted(range(len(head)), key=lambda i: (block_macs(head[i][1]), i))
    count = min(config.second_seeds, len(head))
    repeats = [head[by_macs[i]] for i in sorted(spread_indices(count, len(head)))] if count else []
    repeats.sort(key=lambda item: archs.index(item))  # the queue's own order: an early cut still spreads
    order = [(name, arch, first) for name, arch in head]
    rest = [(name, arch, first) for name, arch in tail]
    seconds = [(name, arch, again) for name, arch in repeats]
    while rest or seconds:
        if seconds:
            order.append(seconds.pop(0))
        if rest:
            order.append(rest.pop(0))
    return [Job(i, arch, seed, name) for i, (name, arch, seed) in enumerate(order)]


# ----------------------------------------------------------------------------------------------------------------
# The training recipe


@dataclass(frozen=True)
class Regime:
    """The one recipe every network of the set is trained with (recorded in every row).

    :param dataset: the named task.
    :param num_train: training images (Fashion-MNIST's ``num_train``; validation and test never change).
    :param width_mult: width multiplier of the trained network.
    :param epochs: passes over the training images (the retraining recipe's schedule otherwise).
    :param stem_stride: stride of the stem convolution (2 is the supernet's; 1 keeps 32x32 inputs at full
        resolution through the stem, so that the late stages work on 2x2 maps rather than 1x1 ones).
    :param zero_init: start every block with an identity shortcut as the identity
        (:func:`hwenvs.lab.retrain.zero_init_residual`).
    """

    dataset: str = "fashion-mnist"
    num_train: int = 12000
    width_mult: float = 0.35
    epochs: int = 10
    stem_stride: int = 2
    zero_init: bool = False

    def space(self, resolution: int = 32, num_classes: int = 10) -> SearchSpace:
        """The trained network's space.

        :param resolution: the task's input side.
        :param num_classes: the task's classes.
        """
        return SearchSpace(self.width_mult, resolution, num_classes, self.stem_stride)

    def train_config(self, seed: int) -> Any:
        """The :class:`~hwenvs.training.TrainConfig` of a training with ``seed``.

        :param seed: the training seed.
        """
        from hwenvs.lab.retrain import RetrainConfig  # torch: see the note above

        return RetrainConfig(epochs=self.epochs, seed=seed)

    def record(self) -> dict[str, Any]:
        """The regime as stored in rows: its fields and the training recipe (without the seed, stored apart)."""
        train = {k: v for k, v in self.train_config(0).record().items() if k != "seed"}
        return {**asdict(self), "train": train}

    def load_task(self) -> Any:
        """The task with this regime's training images."""
        from hwenvs.data import load_task  # torch: see the note above

        return load_task(self.dataset, num_train=self.num_train)


# ----------------------------------------------------------------------------------------------------------------
# Rows: one JSON line per finished training


@dataclass
class ReadResult:
    """The rows of a reference file, and what was wrong with it.

    :param rows: the complete rows, in file order.
    :param torn: the torn last line (a write cut short), if any.
    :param bad_lines: 1-based numbers of complete lines that are not rows (never written by :func:`append_row`).
    """

    rows: list[dict[str, Any]]
    torn: str | None = None
    bad_lines: list[int] = field(default_factory=list)


def read_rows(path: str | Path) -> ReadResult:
    """The rows of ``path`` (none if it does not exist); a last line without its newline is torn and skipped.

    :param path: the JSON Lines file.
    """
    path = Path(path)
    if not path.is_file():
        return ReadResult([])
    text = path.read_bytes().decode("utf-8", errors="replace")
    lines = text.split("\n")
    torn = lines.pop() or None  # what follows the last newline: empty when the file ends with a complete line
    result = ReadResult([], torn)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            result.bad_lines.append(number)
            continue
        if not isinstance(row, dict) or row.get("format") != FORMAT:
            result.bad_lines.append(number)
            continue
        result.rows.append(row)
    return result


def append_row(path: str | Path, row: dict[str, Any]) -> None:
    """Append ``row`` as one complete JSON line, durably: a torn last line left by a killed writer is cut first, then
    the line is written with one ``write`` on an append-only descriptor and fsynced before returning.

    :param path: the JSON Lines file (created with its folder).
    :param row: the row (finite numbers only).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(row, sort_keys=True, allow_nan=False) + "\n").encode()
    if "\n" in data[:-1].decode():
        raise ValueError("a row must serialise to one line")
    _cut_torn_tail(path)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, data)
        if written != len(data):  # a short write leaves a torn line, which the next read flags
            raise OSError(f"{path}: wrote {written} of {len(data)} bytes")
        os.fsync(fd)
    finally:
        os.close(fd)


def _cut_torn_tail(path: Path) -> None:
    """Truncate ``path`` after its last newline (a torn line is an unfinished row: nothing in it was complete)."""
    if not path.is_file():
        return
    with open(path, "r+b") as f:
        data = f.read()
        if not data or data.endswith(b"\n"):
            return
        f.truncate(data.rfind(b"\n") + 1)
        f.flush()
        os.fsync(f.fileno())


def row_key(row: dict[str, Any]) -> tuple[str, int]:
    """``(architecture string, seed)``: what a row finishes."""
    return row["architecture"], int(row["seed"])


# ----------------------------------------------------------------------------------------------------------------
# Latency


def table_sha256(table: LatencyTable) -> str:
    """A sha256 of a table's entries (which table a latency came from; a measured CPU table differs per machine).

    :param table: the table.
    """
    text = json.dumps({str(k): v for k, v in table.to_mapping().items()}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def latency_tables(targets: Iterable[str] | None = None) -> tuple[dict[str, LatencyTable], dict[str, str]]:
    """The table of every target that loads here, and why each other did not (no CUDA, no Mobile table offline).

    The CPU table is measured on first use (one thread, cached by :mod:`hwenvs.nas.measure_latency`); the Mobile
    table is read from ``$HWENVS_REFERENCE_DATA`` when set, else fetched.

    :param targets: the targets to try (default: every built-in target).
    """

    tables, absent = {}, {}
    for target in targets or TARGETS:
        options: dict[str, Any] = {"progress": False} if target in MEASURED_TARGETS else {}
        try:
            tables[target] = load_latency_table(target, **options)
        except (RuntimeError, OSError, KeyError, ValueError, ChecksumError) as exc:
            absent[target] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
    return tables, absent


# ----------------------------------------------------------------------------------------------------------------
# Running the queue


class RegimeMismatch(ValueError):
    """The file holds rows of another recipe or plan: adding rows of this one would mix them."""


def row_plan(row: dict[str, Any]) -> list[Job]:
    """The queue a row was trained from: each row records its plan's settings.

    :param row: a row of the set.
    """
    return plan(PlanConfig(**{**row["plan"], "seeds": tuple(row["plan"]["seeds"])}))


def pending(jobs: Sequence[Job], rows: Sequence[dict[str, Any]]) -> list[Job]:
    """The jobs no row finishes yet, in queue order.

    :param jobs: the queue.
    :param rows: the rows read so far.
    """
    done = {row_key(row) for row in rows}
    return [job for job in jobs if (job.architecture.to_string(), job.seed) not in done]


def check_rows(rows: Sequence[dict[str, Any]], regime: Regime, config: PlanConfig) -> None:
    """Refuse to extend rows made with another regime or plan.

    :param rows: the rows read.
    :param regime: this run's regime.
    :param config: this run's plan.
    :raises RegimeMismatch: naming the first differing row.
    """
    want_regime, want_plan = regime.record(), config.record()
    for row in rows:
        if row.get("regime") != want_regime or row.get("plan") != want_plan:
            raise RegimeMismatch(
                f"row {row_key(row)} was made with regime {row.get('regime')} and plan {row.get('plan')}, "
                f"not {want_regime} and {want_plan}: use another file (or the same options)"
            )


def train_job(job: Job, task: Any, regime: Regime) -> dict[str, Any]:
    """Train one job from scratch; the measured part of its row.

    :param job: the job.
    :param task: the regime's task (loaded once per run).
    :param regime: the recipe.
    """
    import torch  # see the note above

    from hwenvs.lab.retrain import train_from_scratch

    trained = train_from_scratch(
        job.architecture,
        task,
        regime.width_mult,
        config=regime.train_config(job.seed),
        progress=False,
        stem_stride=regime.stem_stride,
        zero_init=regime.zero_init,
    )
    return {
        "val_accuracy": trained.val_accuracy,
        "test_accuracy": trained.test_accuracy,
        "train_seconds": round(trained.seconds, 2),
        "params": sum(p.numel() for p in trained.net.parameters()),
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
    }


def make_row(job: Job, measured: dict[str, Any], regime: Regime, config: PlanConfig, tables: dict) -> dict[str, Any]:
    """The complete row of a finished job.

    :param job: the job.
    :param measured: what :func:`train_job` returned.
    :param regime: the recipe.
    :param config: the plan.
    :param tables: target -> latency table.
    """
    arch = job.architecture
    return {
        "format": FORMAT,
        "architecture": arch.to_string(),
        "seed": job.seed,
        "job": job.index,
        "stratum": job.stratum,
        **features(arch),
        "block_macs": block_macs(arch),
        **measured,
        "latency_ms": {target: table.latency_ms(arch) for target, table in sorted(tables.items())},
        "latency_tables": {target: table_sha256(table)[:16] for target, table in sorted(tables.items())},
        "regime": regime.record(),
        "plan": config.record(),
        "hwenvs_version": __version__,
        "host": platform.node(),
        "finished": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def run(
    path: str | Path,
    regime: Regime = Regime(),
    config: PlanConfig = PlanConfig(),
    *,
    limit: int | None = None,
    tables: dict[str, LatencyTable] | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    log: Callable[[str], None] = print,
) -> int:
    """Train the plan's pending jobs in queue order, appending each finished row to ``path``; returns how many
    were trained. Killed at any moment, a rerun continues with the first unfinished job.

    :param path: the JSON Lines file.
    :param regime: the recipe.
    :param config: the plan.
    :param limit: stop after this many trainings (None: the whole queue).
    :param tables: latency tables by target (default: :func:`latency_tables`).
    :param on_row: called after each appended row (the CLI rewrites the datasheet).
    :param log: where progress lines go.
    """
    read = read_rows(path)
    if read.torn is not None:
        log(f"{path}: dropping a torn last line ({len(read.torn)} characters): its training is redone")
    if read.bad_lines:
        log(f"{path}: skipping lines {read.bad_lines}: not rows of {FORMAT}")
    check_rows(read.rows, regime, config)
    jobs = plan(config)
    todo = pending(jobs, read.rows)
    log(f"{len(jobs) - len(todo)} of {len(jobs)} trainings done; {len(todo)} to go")
    if not todo or limit == 0:
        return 0
    if tables is None:
        tables, absent = latency_tables()
        for target, why in absent.items():
            log(f"latency target {target} unavailable: {why}")
    task = regime.load_task()
    trained = 0
    for job in todo[:limit]:
        start = time.perf_counter()
        row = make_row(job, train_job(job, task, regime), regime, config, tables)
        append_row(path, row)
        trained += 1
        log(
            f"[{job.index + 1}/{len(jobs)}] seed {job.seed} {row['architecture']}: test {row['test_accuracy']:.4f} "
            f"val {row['val_accuracy']:.4f}, {row['train_seconds']:.0f} s ({time.perf_counter() - start:.0f} s)"
        )
        if on_row is not None:
            on_row(row)
    return trained


# ----------------------------------------------------------------------------------------------------------------
# Statistics and the datasheet


def rank_correlation(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    statistic: str = "spearman",
    resamples: int | None = None,
    seed: int = 0,
) -> tuple[float, float, float]:
    """A rank correlation and its 95% paired percentile-bootstrap interval (NaN bounds under
    :data:`MIN_INTERVAL_ROWS` pairs).

    :param x: one variable.
    :param y: the other, paired with ``x``.
    :param statistic: ``"spearman"`` or ``"kendall"``.
    :param resamples: bootstrap resamples (default :data:`RESAMPLES`).
    :param seed: the resampling seed.
    :return: ``(point, low, high)``.
    """
    from scipy.stats import bootstrap, kendalltau, spearmanr

    function = {"spearman": spearmanr, "kendall": kendalltau}[statistic]
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 3:
        return float("nan"), float("nan"), float("nan")
    point = float(function(x, y).statistic)
    if len(x) < MIN_INTERVAL_ROWS:
        return point, float("nan"), float("nan")
    with warnings.catch_warnings():  # a resample of few rows can be constant: its NaN shows as a missing interval
        warnings.simplefilter("ignore")
        interval = bootstrap(
            (x, y),
            lambda a, b: function(a, b).statistic,
            paired=True,
            vectorized=False,
            n_resamples=RESAMPLES if resamples is None else resamples,
            method="percentile",
            rng=np.random.default_rng(seed),
        ).confidence_interval
    return point, float(interval.low), float(interval.high)


def first_seed_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per architecture: the one with its smallest seed (so every architecture counts once, with the same
    noise), in file order.

    :param rows: the rows.
    """
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        kept = best.get(row["architecture"])
        if kept is None or int(row["seed"]) < int(kept["seed"]):
            best[row["architecture"]] = row
    return list(best.values())


def seed_pairs(rows: Sequence[dict[str, Any]], key: str = "test_accuracy") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The architectures trained with two or more seeds: ``key`` under the smallest and the second-smallest seed.

    :param rows: the rows.
    :param key: the measured field.
    :return: two paired arrays and the architectures, in order of first appearance.
    """
    by_arch: dict[str, dict[int, float]] = {}
    for row in rows:
        by_arch.setdefault(row["architecture"], {})[int(row["seed"])] = float(row[key])
    archs = [a for a, seeds in by_arch.items() if len(seeds) >= 2]
    first = np.array([by_arch[a][sorted(by_arch[a])[0]] for a in archs])
    second = np.array([by_arch[a][sorted(by_arch[a])[1]] for a in archs])
    return first, second, archs


def accuracy_range(
    latency: Sequence[float] | np.ndarray, accuracy: Sequence[float] | np.ndarray
) -> dict[str, float | int]:
    """The fastest architecture beside the most accurate one (ties: the first in order).

    :param latency: latency per architecture.
    :param accuracy: accuracy per architecture.
    :return: indices, latencies and accuracies of both, and the accuracy gained going from the first to the second.
    """
    latency, accuracy = np.asarray(latency, dtype=np.float64), np.asarray(accuracy, dtype=np.float64)
    fastest, best = int(np.argmin(latency)), int(np.argmax(accuracy))
    return {
        "fastest": fastest,
        "fastest_ms": float(latency[fastest]),
        "fastest_accuracy": float(accuracy[fastest]),
        "best": best,
        "best_ms": float(latency[best]),
        "best_accuracy": float(accuracy[best]),
        "gain": float(accuracy[best] - accuracy[fastest]),
    }


def projected_seconds(rows: Sequence[dict[str, Any]], jobs: Sequence[Job], regime: Regime) -> float | None:
    """Training seconds of the jobs no row finishes yet, from a least-squares line of the finished rows' training
    seconds on their training networks' block MACs (None until three rows of different MACs exist).

    :param rows: the finished rows.
    :param jobs: the whole queue.
    :param regime: the recipe (its width and the task's resolution give the training network).
    """
    space = regime.space()
    macs = np.array([block_macs(Architecture.from_string(r["architecture"]), space) for r in rows], dtype=np.float64)
    seconds = np.array([r["train_seconds"] for r in rows], dtype=np.float64)
    if len(np.unique(macs)) < 3:
        return None
    slope, intercept = np.polyfit(macs, seconds, 1)
    todo = pending(jobs, rows)
    return float(sum(max(intercept + slope * block_macs(j.architecture, space), 0.0) for j in todo))


def _interval(values: tuple[float, float, float]) -> str:
    point, low, high = values
    if np.isnan(point):
        return "n/a"
    return f"{point:.3f}" if np.isnan(low) else f"{point:.3f} [{low:.3f}, {high:.3f}]"


def datasheet_text(path: Path, read: ReadResult, command: str) -> str:
    """The datasheet of the reference file ``path``, computed from its rows alone.

    :param path: the JSON Lines file (named and hashed in the header).
    :param read: its rows.
    :param command: the command that regenerates (resumes) the file and this page.
    """
    sha = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "(no file)"
    rows = read.rows
    lines = [
        f"# Datasheet: {path.stem} (ProxylessNAS reference set, trained from scratch)",
        "",
        f"Written by `hwenvs.lab.nas_reference_set` from `{path.name}` (sha256 `{sha}`); every number below is "
        "computed from that file's rows. Train the remaining networks (it resumes where the file stops) and rewrite "
        "this page:",
        "",
        f"```bash\n{command}\n```",
        "",
    ]
    if not rows:
        return "\n".join([*lines, "No row yet.", ""])
    regime, jobs = rows[0]["regime"], row_plan(rows[0])
    firsts = first_seed_rows(rows)
    lines += _holds(rows, read, jobs, firsts, regime)
    lines += _cost(rows, jobs, regime)
    lines += _capacity(firsts)
    lines += _ceiling(rows, firsts)
    lines += _table(rows)
    lines += [
        "## Licences of the inputs",
        "",
        "* Fashion-MNIST by Zalando Research (H. Xiao, K. Rasul, R. Vollgraf), MIT licence, read from its standard idx "
        "files.",
        "* `mobile` latencies, where present, are sums over ProxylessNAS's published Pixel 1 table (Cai, Zhu and Han, "
        "ICLR 2019; github.com/han-cai/files), read at generation time; only the per-architecture sums are stored.",
        "",
    ]
    return "\n".join(lines)


def _holds(
    rows: list[dict[str, Any]], read: ReadResult, jobs: list[Job], firsts: list[dict[str, Any]], regime: dict
) -> list[str]:
    _, _, twice = seed_pairs(rows)
    seconds_planned = sum(j.seed != jobs[0].seed for j in jobs)
    train = regime["train"]
    recipe = ", ".join(f"{k} {v}" for k, v in train.items())
    lines = [
        "## What it holds",
        "",
        f"{len(rows)} trainings of {len(firsts)} distinct architectures of the ProxylessNAS space (21 blocks), "
        f"{len(twice)} of them trained with two seeds; the plan has {len(jobs)} trainings "
        f"({len(jobs) - seconds_planned} architectures, {seconds_planned} second seeds). Architectures come from "
        f"16 strata (total depth x share of expand-6 blocks x mean kernel) with {rows[0]['plan']['per_stratum']} "
        "each, spread over block MACs, plus the four corners of the space (see `hwenvs.lab.nas_reference_set.plan`).",
        "",
        f"Recipe (the same for every row): `{regime['dataset']}` with {regime['num_train']:,} training images "
        f"(validation 2,000 and test 10,000 images, the task's fixed splits), width multiplier "
        f"{regime['width_mult']:g} at the task's 32x32 input with stem stride {regime.get('stem_stride', 2)}"
        f"{', residual blocks starting as the identity' if regime.get('zero_init') else ''}, "
        f"{regime['epochs']} epoch(s) of SGD-Nesterov with a "
        f"one-cycle schedule ({recipe}), one torch thread per training. Latencies are those of the deployed network "
        "(width 1, 224x224, 1000 classes) on each target whose table was available.",
        "",
    ]
    if read.torn is not None or read.bad_lines:
        lines += [
            f"Flagged while reading: torn last line: {'yes' if read.torn is not None else 'no'}; lines that are not "
            f"rows: {read.bad_lines or 'none'} (skipped).",
            "",
        ]
    tables: dict[str, set[str]] = {}
    for row in rows:
        for target, sha in row["latency_tables"].items():
            tables.setdefault(target, set()).add(sha)
    for target, shas in sorted(tables.items()):
        if len(shas) > 1:
            lines += [
                f"`{target}` latencies come from {len(shas)} different tables (rows made on different machines).",
                "",
            ]
    return lines


def _cost(rows: list[dict[str, Any]], jobs: list[Job], regime: dict) -> list[str]:
    seconds = [r["train_seconds"] for r in rows]
    spent = sum(seconds) / 3600
    lines = [
        "## Cost",
        "",
        f"Training so far: {spent:.2f} core-hours ({np.mean(seconds):.0f} s per training on average, "
        f"{min(seconds):.0f}-{max(seconds):.0f} s; training only, without scoring), one torch thread each, on "
        f"host(s) {', '.join(sorted({str(r.get('host')) for r in rows}))}.",
    ]
    fields = ("dataset", "num_train", "width_mult", "epochs", "stem_stride", "zero_init")
    remaining = projected_seconds(rows, jobs, Regime(**{k: regime[k] for k in fields if k in regime}))
    if remaining is not None and len(rows) < len(jobs):
        lines.append(
            f"Projected for the {len(pending(jobs, rows))} remaining trainings (seconds fitted linearly on the "
            f"training network's block MACs): {remaining / 3600:.2f} core-hours; whole plan "
            f"{spent + remaining / 3600:.2f} core-hours."
        )
    return [*lines, ""]


def _capacity(firsts: list[dict[str, Any]]) -> list[str]:
    test = np.array([r["test_accuracy"] for r in firsts])
    val = np.array([r["val_accuracy"] for r in firsts])
    targets = sorted({t for r in firsts for t in r["latency_ms"]})
    lines = [
        "## Does capacity pay?",
        "",
        f"Over the {len(firsts)} architectures (first seed each), from-scratch test accuracy ranges over "
        f"{test.min():.4f}-{test.max():.4f} (median {np.median(test):.4f}); validation {val.min():.4f}-"
        f"{val.max():.4f}. Rank correlation of test accuracy with each latency (positive: slower networks are more "
        f"accurate), 95% percentile-bootstrap intervals over the architectures ({RESAMPLES} resamples), and the "
        "fastest architecture beside the most accurate one:",
        "",
        "| test accuracy vs | Spearman | Kendall tau | fastest: ms | fastest: test acc. | most accurate: ms | "
        "most accurate: test acc. | gain (points) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for target in targets:
        have = [r for r in firsts if target in r["latency_ms"]]
        latency = [r["latency_ms"][target] for r in have]
        acc = [r["test_accuracy"] for r in have]
        spread = accuracy_range(latency, acc)
        lines.append(
            f"| `{target}` latency | {_interval(rank_correlation(latency, acc))} | "
            f"{_interval(rank_correlation(latency, acc, 'kendall'))} | {spread['fastest_ms']:.2f} | "
            f"{spread['fastest_accuracy']:.4f} | {spread['best_ms']:.2f} | {spread['best_accuracy']:.4f} | "
            f"{100 * spread['gain']:+.2f} |"
        )
    for name in ("depth", "mean_expand", "mean_kernel", "params"):
        values = [r[name] for r in firsts]
        lines.append(
            f"| {name} | {_interval(rank_correlation(values, test))} | "
            f"{_interval(rank_correlation(values, test, 'kendall'))} | | | | | |"
        )
    lines += [
        "",
        f"Spearman of validation with test accuracy over the same architectures: "
        f"{_interval(rank_correlation(val, test))}.",
        "",
    ]
    return lines


def _ceiling(rows: list[dict[str, Any]], firsts: list[dict[str, Any]]) -> list[str]:
    first, second, archs = seed_pairs(rows)
    lines = ["## Seed-to-seed agreement (the ceiling of any predictor)", ""]
    if len(archs) < 3:
        return [*lines, f"{len(archs)} architecture(s) trained with two seeds so far: too few to rank.", ""]
    vfirst, vsecond, _ = seed_pairs(rows, "val_accuracy")
    lines += [
        f"{len(archs)} architectures trained with two seeds. Test accuracy of one seed against the other: Spearman "
        f"{_interval(rank_correlation(first, second))}, Kendall tau "
        f"{_interval(rank_correlation(first, second, 'kendall'))}; "
        f"mean |difference| {100 * np.mean(np.abs(first - second)):.2f} points (max "
        f"{100 * np.max(np.abs(first - second)):.2f}). Validation accuracy, seed against seed: Spearman "
        f"{_interval(rank_correlation(vfirst, vsecond))}.",
        "",
    ]
    return lines


def _table(rows: list[dict[str, Any]]) -> list[str]:
    targets = sorted({t for r in rows for t in r["latency_ms"]})
    header = " | ".join(f"{t} ms" for t in targets)
    lines = [
        "## Rows",
        "",
        f"| job | seed | architecture | depth | test acc. | val acc. | {header} | train s |",
        "|---:|---:|---|---:|---:|---:|" + "---:|" * len(targets) + "---:|",
    ]
    for r in sorted(rows, key=lambda r: r["job"]):
        cells = " | ".join(f"{r['latency_ms'][t]:.2f}" if t in r["latency_ms"] else "" for t in targets)
        lines.append(
            f"| {r['job']} | {r['seed']} | `{r['architecture']}` | {r['depth']} | {r['test_accuracy']:.4f} | "
            f"{r['val_accuracy']:.4f} | {cells} | {r['train_seconds']:.0f} |"
        )
    return [*lines, ""]


def write_datasheet(path: str | Path, command: str, out: str | Path | None = None) -> Path:
    """Write the datasheet of the reference file ``path`` (atomically); returns its path.

    :param path: the JSON Lines file.
    :param command: the regenerating command shown in the header.
    :param out: the markdown file (default: ``path`` with ``.md``).
    """
    path = Path(path)
    out = Path(out) if out is not None else path.with_suffix(".md")
    atomic_write_bytes(out, datasheet_text(path, read_rows(path), command).encode())
    return out
