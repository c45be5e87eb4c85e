"""ProxylessNAS: hardware-aware architecture search over the MobileNetV2 space as a Gymnasium environment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from hwenvs.compat import autoreset_metadata
from hwenvs.data import Task, load_task
from hwenvs.data.task import Split, dataset_size
from hwenvs.envs import checks
from hwenvs.envs.accuracy_source import PER_IMAGE, CachedAccuracy, checked_source
from hwenvs.envs.contract import ReferencePoint, measure_reference
from hwenvs.envs.nas_accuracy import NAS_SOURCES, PredictedNASAccuracy, SupernetAccuracy
from hwenvs.envs.pickling import PicklesByArguments
from hwenvs.nas.architecture import Architecture
from hwenvs.nas.latency_targets import DEPLOYMENT_SPACE, MEASURED_TARGETS, TARGETS, LatencyTable, load_latency_table
from hwenvs.nas.search_space import NUM_BLOCKS, NUM_MBCONV_OPS, OPS, STAGES, ZERO, ZERO_ALLOWED
from hwenvs.nas.supernet import SuperNet
from hwenvs.nas.train_supernet import DEFAULT_WIDTH, load_supernet, path_accuracy, weight_step

Mode = Literal["oneshot", "sequential"]
WeightsMode = Literal["frozen", "online"]
MODES = ("oneshot", "sequential")
WEIGHTS_MODES = ("frozen", "online")
RENDER_MODES = ("ansi",)
MOBILE_TARGET_MS = 80.0
"""ProxylessNAS's mobile target (Pixel 1)."""
REFERENCE_FOR_TARGET = "k3e3"
"""Other targets default to the latency of the all-``k3e3`` network on their table (76 ms on Mobile, next to 80)."""
FEATURE_NAMES = (
    "block_position",
    "stage",
    "in_width",
    "out_width",
    "stride_2",
    "input_side",
    "zero_allowed",
    "previous_kernel",
    "previous_expand",
    "previous_zero",
    "latency_so_far",
)
MAX_WIDTH = max(w for w, _, _ in STAGES)
OP_NAMES = ", ".join(f"{i} {op.name}" for i, op in enumerate(OPS))
"""Every candidate with its index, for messages about sequential actions."""
MAX_WIDTH_MULT = 2.0
MIN_BATCH = 2
"""Smallest validation or online batch: the supernet's candidate blocks normalise with the batch's own statistics,
which one image cannot give where the feature map is 1x1."""
"""Widest accuracy supernet (``width_mult``): a supernet that is not shipped is warmed up on first use, on the CPU."""


def check_proxylessnas_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """:class:`ProxylessNASEnv`'s constructor arguments (every one, by name) checked and normalised before anything
    is loaded: reals as floats, ints as ints, ``table_options`` a dict, a path ``hardware`` as a string.

    :param arguments: every constructor argument by name (``ProxylessNASEnv.check_arguments`` fills in defaults).
    :raises TypeError: an argument of the wrong type, named, with what is valid.
    :raises ValueError: an argument out of range or not one of the choices, named, with what is valid.
    :raises RuntimeError: ``hardware="gpu"`` (without ``latency_table``) on a machine without CUDA.
    """
    checked = dict(arguments)
    table = arguments["latency_table"]
    if table is not None and not isinstance(table, LatencyTable):
        raise TypeError(f"latency_table must be a LatencyTable or None, got {checks.shown(table)}")
    checked["hardware"] = _checked_target(arguments["hardware"], table)
    checked["mode"] = checks.choice("mode", arguments["mode"], MODES)
    checked["weights"] = checks.choice("weights", arguments["weights"], WEIGHTS_MODES)
    if arguments["target_ms"] is not None:
        checked["target_ms"] = checks.real(
            "target_ms", arguments["target_ms"], low=0.0, low_open=True,
            valid="a positive number of milliseconds (or None for the target's default)",
        )  # fmt: skip
    checked["latency_exponent"] = checks.real(
        "latency_exponent", arguments["latency_exponent"], high=0.0, high_open=True,
        valid="a negative number (slower networks earn less)",
    )  # fmt: skip
    checks.dataset(arguments["dataset"])
    checked["width_mult"] = checks.real(
        "width_mult", arguments["width_mult"], low=0.0, high=MAX_WIDTH_MULT, low_open=True
    )
    for name in ("val_batch_size", "online_batch_size"):
        checked[name] = checks.integer(
            name, arguments[name], low=MIN_BATCH,
            valid=f"an integer >= {MIN_BATCH} (candidate blocks normalise with the batch's own statistics)",
        )  # fmt: skip
    checked["online_lr"] = checks.real("online_lr", arguments["online_lr"], low=0.0, low_open=True)
    checked["table_options"] = _checked_table_options(arguments["table_options"], checked["hardware"], table)
    checked["cache_accuracy"] = checks.boolean("cache_accuracy", arguments["cache_accuracy"])
    checked["render_mode"] = checks.render_mode("ProxylessNASEnv", arguments["render_mode"], RENDER_MODES)
    checked["accuracy"] = checked_source(checked, NAS_SOURCES)  # last: a source's checks read the others
    return checked


_WARNED: set[tuple[Any, ...]] = set()
"""The warnings given in this process (see :func:`_warn_once`)."""


def _warn_once(key: tuple[Any, ...], message: str) -> None:
    """Warn ``message`` unless this process said it (by ``key``) already: unpickling, vector envs and env checkers
    rebuild the environment, and would say it again.

    :param key: what identifies the warning.
    :param message: the warning.
    """
    from gymnasium import logger as gym_logger

    if key not in _WARNED:
        _WARNED.add(key)
        gym_logger.warn(message)


def _check_batches_fit(task: Task, val_batch_size: int, online_batch_size: int | None) -> None:
    """Warn (once per process) where a batch is larger than the split it is drawn from: the batch is then the whole
    split (documented under Arguments), which a caller asking for more images should hear about rather than find in
    the numbers.

    :param task: the loaded task.
    :param val_batch_size: images scoring each architecture, on the validation and test splits.
    :param online_batch_size: the online weight step's batch (None with frozen weights).
    """
    sizes = {"validation": task.num_val, "test": task.num_test, "training": dataset_size(task.train)}
    asked = [("val_batch_size", val_batch_size, "validation"), ("val_batch_size", val_batch_size, "test")]
    if online_batch_size is not None:
        asked.append(("online_batch_size", online_batch_size, "training"))
    for name, batch, split in asked:
        if batch > sizes[split]:
            _warn_once(
                (task.name, name, batch, split, sizes[split]),
                f"{name}={batch} is larger than task {task.name!r}'s {split} split ({sizes[split]:,} images): its "
                f"batches are the whole split, {sizes[split]:,} images",
            )


def _check_target_reachable(table: LatencyTable, target_ms: float) -> None:
    """Warn (once per process) where ``target_ms`` lies outside the latencies the space's networks have on
    ``table``: the reward still orders networks as it would at any target (the target only scales
    ``(latency / target) ** w``), but the observation's latency-so-far feature, clipped at twice the target, says
    little, and a target no network can meet is more likely a unit slip (seconds for milliseconds) than a choice.

    :param table: the target's latency table.
    :param target_ms: the latency target.
    """
    fastest = table.fixed_ms + float(np.nanmin(table.block_ms, axis=1).sum())
    slowest = table.fixed_ms + float(np.nanmax(table.block_ms, axis=1).sum())
    if not fastest <= target_ms <= slowest:
        side = "below the fastest" if target_ms < fastest else "above the slowest"
        _warn_once(
            ("target_ms", table.name, target_ms),
            f"target_ms={target_ms:g} is {side} network of the space on {table.name!r} (its networks take "
            f"{fastest:.1f}-{slowest:.1f} ms): the reward's ranking does not change, but the observation's latency "
            "feature saturates; is the target in milliseconds?",
        )


def _load_accuracy(
    accuracy: str, dataset: str | Path | Task, width_mult: float, val_batch_size: int, online_batch_size: int | None
) -> SupernetAccuracy | PredictedNASAccuracy:
    """The accuracy source the ``accuracy`` argument names, loaded: the one place the environment tells a measured
    source from a predicted one.

    :param accuracy: ``"real"`` or ``"surrogate"``.
    :param dataset: the task (a name, an ImageFolder root or a loaded Task).
    :param width_mult: the supernet's width multiplier.
    :param val_batch_size: images per split that score a path.
    :param online_batch_size: the online weight step's batch (None with frozen weights), for the batch warning.
    """
    if accuracy == "surrogate":
        from hwenvs.surrogate.accuracy import load_nas_surrogate

        return PredictedNASAccuracy(load_nas_surrogate(dataset, width_mult))  # batch and weights checked already
    task = load_task(dataset)
    _check_batches_fit(task, val_batch_size, online_batch_size)
    # this module's path_accuracy, looked up when the environment is made (tests count its calls through it)
    return SupernetAccuracy(task, load_supernet(task, width_mult), val_batch_size, path_accuracy)


def _checked_table_options(options: Any, hardware: str, table: LatencyTable | None) -> dict[str, Any]:
    """``table_options`` as a dict of options of a measured table; only a table measured here takes any."""
    options = checks.mapping("table_options", options)
    if not options:
        return options
    if table is not None or hardware not in MEASURED_TARGETS:
        raise ValueError(
            f"table_options apply only to a table measured here (hardware {' or '.join(map(repr, MEASURED_TARGETS))} "
            f"without latency_table), got {checks.shown(options)} with hardware={hardware!r}"
        )
    from hwenvs.nas.measure_latency import MeasureConfig

    valid = [f.name for f in fields(MeasureConfig)] + ["rebuild", "progress"]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise TypeError(f"table_options has unknown key(s) {unknown}; valid: {', '.join(valid)}")
    return options


def _checked_target(hardware: Any, table: LatencyTable | None) -> str:
    """``hardware`` as a string: a known target or an existing YAML table (any label when ``table`` is given)."""
    valid = f"one of {', '.join(TARGETS)} or the path of a YAML table"
    name = checks.path_like("hardware", hardware, valid)
    if table is not None:
        return name
    if name not in TARGETS:
        if Path(name).suffix not in (".yaml", ".yml"):
            raise ValueError(f"unknown hardware {checks.shown(hardware)}; valid: {valid}")
        if not Path(name).is_file():
            raise ValueError(f"hardware {checks.shown(hardware)} is not an existing YAML table; valid: {valid}")
    if name == "gpu" and not torch.cuda.is_available():
        raise RuntimeError(
            "ProxylessNAS-GPU measures latency on a CUDA device and this machine has none; use hardware='cpu', "
            "'mobile', 'bismo-edge', 'bismo-cloud' or 'bitfusion', or pass latency_table="
        )
    return name


class ProxylessNASEnv(PicklesByArguments, checks.CheckedArguments, gym.Env):
    """
    ## Description

    Architecture search over the ProxylessNAS space (Cai, Zhu and Han, ICLR 2019) with a latency-aware reward.
    The space is MobileNetV2's backbone with 21 searchable blocks in six stages; each block picks an MBConv with
    kernel 3, 5 or 7 and expansion ratio 3 or 6, and the 15 blocks that keep their width and stride may also pick
    ``zero`` (skip the block). An architecture's accuracy is that of its path through a warmed-up weight-sharing
    supernet on one fixed validation batch of the task; its latency is that of the network deployed at the latency
    table's space (width 1, 224x224 input, 1000 classes for every built-in target), whatever the task's input size:
    the embedded task scores the same choices on 32x32 images with a width-0.35 supernet (shipped with the package;
    candidates share nested weights, see :mod:`hwenvs.nas.supernet`), while the latency is the one of the
    ImageNet-size network those choices define. Accuracy is computed on the CPU.

    ## Action Space

    ``mode="oneshot"`` (default, the paper's REINFORCE formulation): one step, ``MultiDiscrete`` with one entry per
    block, 6 candidates (``k3e3, k3e6, k5e3, k5e6, k7e3, k7e6``) or 7 where ``zero`` (index 6) is allowed.
    ``mode="sequential"``: one block per step, ``Discrete(7)``; :meth:`action_masks` gives the valid candidates for
    sb3-contrib's MaskablePPO. A ``zero`` chosen on a block that cannot be skipped (the first block of each stage)
    is replaced by ``k3e3`` and counted in ``info["invalid_zero"]`` (every step's info has the count so far); the
    terminal ``info["architecture"]``, the latency and the reward are those of the repaired architecture, so what
    is reported is what was scored.

    Choices are integers: Python or numpy ints, integer arrays of shape ``(21,)`` in oneshot mode and ``()`` or
    ``(1,)`` in sequential mode. A float (even 2.0), bool, string, None or other object raises ``TypeError``;
    another shape or an index outside the block's candidates raises ``ValueError``. Each message names the step or
    block, the value and the valid choices, and the episode does not move on.

    ## Observation Space

    ``Box(0, 1, (11,), float32)`` describing the block about to be chosen: position (index / 20), stage (/ 5),
    input and output width (deployed widths / 320), stride 2 flag, input feature-map side (/ the side after the
    stem), whether zero is allowed, the previous block's kernel (/ 7) and expansion ratio (/ 6) and zero flag (all 0
    before the first block), and the latency so far (fixed layers plus the blocks chosen) over the target, halved
    and clipped to [0, 1]. The terminal observation has position 1 and the full latency; its other block features
    are 0. In oneshot mode the observation before the step is the first block's.

    ## Rewards

    0 on every step but the last; on the last, ProxylessNAS-R's ``accuracy * (latency / target) ** w`` with the
    accuracy as a fraction, ``w = latency_exponent`` (-0.1) and ``target = target_ms``.

    ## Starting State

    The first searchable block, nothing chosen. With frozen weights the environment has no randomness: an
    architecture always gets the same reward (accuracies are cached by architecture). Accuracies are exact in one
    process; across machines or thread counts floating-point reductions may flip a borderline image.

    ## Episode End

    Terminates after the last block (one step in oneshot mode, 21 in sequential mode: ``steps_per_episode``) with
    ``terminated=True`` and ``truncated=False``, through ``gym.make``'s wrappers too: the ids' ``max_episode_steps``
    is a horizon, 22, one step past the longest episode, so their ``TimeLimit`` never flags a natural end.
    The terminal ``info`` holds ``architecture`` (canonical string), ``latency_ms``, ``accuracy``
    (validation batch), ``cost_ratio`` (latency over target), ``target_ms``, ``hardware``, ``unit`` (``"ms"``),
    ``reward``, ``split`` (``"val"``), ``accuracy_source`` (``"real"`` or ``"surrogate"``) and ``invalid_zero``.
    Reports measure the same batch size of the test split with ``evaluate_solution(architecture, split="test")``; no
    reward or choice sees it.

    ## Arguments

    Every argument is checked when the environment is made, before any table, data or supernet is loaded
    (``ProxylessNASEnv.check_arguments(**kwargs)``, :meth:`~hwenvs.envs.checks.CheckedArguments.check_arguments`, runs
    the same checks alone): a wrong type is a ``TypeError``, a wrong value a ``ValueError``, an unknown name a
    ``TypeError`` listing the valid ones; each message names the argument.

    * ``hardware``: latency target, one of ``mobile`` (ProxylessNAS's published Pixel 1 table), ``cpu`` and ``gpu``
      (measured on this machine and cached; ``gpu`` needs CUDA), ``bismo-edge``, ``bismo-cloud``, ``bitfusion`` (the
      HAQ hardware models at 8/8 bits), or the path of a YAML table in ProxylessNAS's format. ``gpu`` raises
      ``RuntimeError`` on a machine without CUDA.
    * ``mode``: ``"oneshot"`` or ``"sequential"``.
    * ``weights``: ``"frozen"`` (stationary, default) or ``"online"``: before scoring, one SGD step on the sampled
      path with the next training batch, as the paper alternates weight and architecture steps. Online episodes
      depend on every earlier episode: ``reset(seed)`` reseeds the batch order but does not restore the weights.
    * ``target_ms``: latency target, a positive number of milliseconds; default (None) 80 for mobile, else the
      latency of the all-k3e3 network on the table (BISMO edge 37.0 ms; CPU depends on the machine). A target
      outside the latencies of the space's networks on the table is warned about (once per process).
    * ``latency_exponent``: ``w``, a negative number (default -0.1).
    * ``dataset``: ``"mnist"`` (embedded), an existing ImageFolder root, or a loaded :class:`~hwenvs.data.Task`; a
      task without a shipped supernet has one warmed up on first use (progress bar) and cached.
    * ``width_mult``: width multiplier of the accuracy supernet, in (0, 2] (0.35 ships for the embedded task).
    * ``val_batch_size``: images in the validation batch that scores accuracy, an integer >= 2 (the paper's 1000;
      candidate blocks normalise with the batch's statistics); reports use as many test images. Larger than a
      split, the batch is the whole split, with a warning when the environment is made.
    * ``latency_table``: a :class:`LatencyTable` to use instead of loading ``hardware``'s (``hardware`` then only
      labels the results).
    * ``online_lr``, ``online_batch_size``: SGD learning rate (positive) and batch size (an integer >= 2) of the
      online weight step.
    * ``table_options``: a dict of keyword arguments for building a measured table (``repeats``, ``threads``...);
      only with ``hardware="cpu"`` or ``"gpu"`` and no ``latency_table``.
    * ``cache_accuracy``: remember the accuracy of scored architectures (bool, default True; only with frozen
      weights), at most :data:`hwenvs.envs.accuracy_cache.MAX_ENTRIES` of them (the least recently used is forgotten
      first).
    * ``render_mode``: None or ``"ansi"`` (the architecture so far as text). Another string, such as the
      ``"rgb_array"`` that SB3's ``make_vec_env`` asks every environment for, is warned about (as ``gym.make`` warns)
      and renders nothing: ``render_mode`` becomes None and ``render()`` returns None. A value that is not a string
      is a ``TypeError``.
    * ``accuracy``: ``"real"`` (default: run the supernet path) or ``"surrogate"``: predict the path's validation
      and test accuracy with the predictor fit on the shipped surrogate dataset (:mod:`hwenvs.surrogate`); latency
      and reward are computed as usual. Only where a dataset exists (the message lists them), with frozen weights
      and the batch size it measured; neither the task nor the supernet is loaded.

    ``reset`` takes no options: ``reset(options={...})`` with any key raises ``ValueError``.

    ## Version History

    * v0: initial version (registered without a version suffix).
    * v0, hwenvs 0.2: a test batch for reports; the supernet retrained on the embedded task's smaller training
      split; ``reward`` stays in the terminal info. Strict inputs: every constructor argument checked up front
      (batches of at least 2), float, bool and string choices refused, reset options refused. ``cache_accuracy``
      (was always on); the cache forgets the least recently used score instead of refusing new ones when full. A
      ``render_mode`` string other than ``"ansi"`` warns and renders nothing instead of raising ``ValueError``, as
      Gymnasium does, so SB3's ``make_vec_env`` (which asks for ``"rgb_array"``) builds the environment without
      ``env_kwargs``. ``accuracy="surrogate"`` and ``info["accuracy_source"]``. An environment pickles as its
      arguments and the episode in progress (was 93 MB) and rebuilds itself when unpickled; with online weights the
      supernet's weights and optimizer travel too, and the order of training batches starts a new pass.
    * v0, hwenvs 0.2 (episode end): the last sequential step through ``gym.make`` is ``terminated`` only; it was
      also ``truncated``, since the registered ``max_episode_steps`` was 21, the sequential episode's length (now 22).
      An id refuses a named ``hardware`` keyword that contradicts it (``ProxylessNAS-BISMO`` with
      ``hardware="mobile"`` built the Mobile target); a YAML table or ``latency_table`` is still accepted. Works
      with Gymnasium 0.29.1 as well as 1.x.
    """

    solution_key: ClassVar[str] = "architecture"
    cost_key: ClassVar[str] = "latency_ms"
    # a class constant, but gym.Env declares metadata as an attribute, which a ClassVar may not override
    metadata: dict[str, Any] = {  # noqa: RUF012
        "render_modes": list(RENDER_MODES),
        **autoreset_metadata(),  # Gymnasium 1.x's declaration; 0.29 has none
    }

    @checks.checked_init(check_proxylessnas_arguments)
    def __init__(
        self,
        hardware: str = "mobile",
        mode: Mode = "oneshot",
        weights: WeightsMode = "frozen",
        target_ms: float | None = None,
        latency_exponent: float = -0.1,
        dataset: str | Path | Task = "mnist",
        width_mult: float = DEFAULT_WIDTH,
        val_batch_size: int = 1000,
        latency_table: LatencyTable | None = None,
        online_lr: float = 0.01,
        online_batch_size: int = 128,
        table_options: dict[str, Any] | None = None,
        cache_accuracy: bool = True,
        render_mode: str | None = None,
        accuracy: str = "real",
    ) -> None:
        # the arguments arrive checked and normalised by check_proxylessnas_arguments (see checks.checked_init)
        self.hardware = hardware
        self.mode = mode
        self.weights = weights
        self.latency_exponent = latency_exponent
        self.render_mode = render_mode
        self.table = latency_table or load_latency_table(hardware, DEPLOYMENT_SPACE, **(table_options or {}))
        self.target_ms = self._default_target() if target_ms is None else target_ms
        _check_target_reachable(self.table, self.target_ms)

        online = online_batch_size if weights == "online" else None
        source = _load_accuracy(accuracy, dataset, width_mult, val_batch_size, online)
        self.accuracy_source, self.task, self.supernet, self.space = (
            source.name,
            source.task,
            source.supernet,
            source.space,
        )
        self.surrogate = getattr(source, "surrogate", None)  # 0.2's attribute: the fitted predictor, if predicted
        self.val_batch_size = val_batch_size
        # online weights change every episode: an old score would be stale
        self.scorer = CachedAccuracy(source, lambda arch: arch.choices, cache_accuracy and weights == "frozen")
        self._accuracy_cache = self.scorer.cache  # (split, op indices) -> accuracy
        self._references: list[ReferencePoint] | None = None
        self.online_lr = online_lr
        self.online_batch_size = online_batch_size
        self._optimizer: torch.optim.Optimizer | None = None
        self._train_iter: Any = None
        self._build_spaces()
        self._clear_episode()
        self._done = True  # no episode until reset()

    def _default_target(self) -> float:
        """80 ms on Mobile (the paper's), else the table's latency of the all-``k3e3`` network."""
        if self.hardware == "mobile":
            return MOBILE_TARGET_MS
        target = self.table.latency_ms(Architecture.from_names([REFERENCE_FOR_TARGET] * NUM_BLOCKS))
        if not 0 < target < float("inf"):
            raise ValueError(
                f"the {self.hardware} table gives the all-{REFERENCE_FOR_TARGET} network {target} ms, which cannot be "
                "a target; pass target_ms"
            )
        return float(target)

    def _build_spaces(self) -> None:
        """The action space of the mode, the observation space and the blocks' static features."""
        self.nvec = np.array([NUM_MBCONV_OPS + int(z) for z in ZERO_ALLOWED], dtype=np.int64)
        if self.mode == "oneshot":
            self.action_space: spaces.Space = spaces.MultiDiscrete(self.nvec)
        else:
            self.action_space = spaces.Discrete(len(OPS))
        # every episode's length, stated as HAQ's environment states it (agents size their budgets with it)
        self.steps_per_episode = 1 if self.mode == "oneshot" else NUM_BLOCKS
        self.observation_space = spaces.Box(0.0, 1.0, (len(FEATURE_NAMES),), np.float32)
        self._static = self._static_features()

    def _clear_episode(self) -> None:
        """A new episode at the first block, nothing chosen."""
        self._choices: list[int] = []
        self._invalid_zero = 0
        self._done = False

    def _episode_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"choices": list(self._choices), "invalid_zero": self._invalid_zero, "done": self._done}
        if self.weights == "online":  # trained weights are the environment's history, not a function of its arguments
            state["supernet"] = self._trained_supernet().state_dict()
            state["optimizer"] = None if self._optimizer is None else self._optimizer.state_dict()
        return state

    def _restore_episode(self, state: dict[str, Any]) -> None:
        self._choices, self._invalid_zero, self._done = state["choices"], state["invalid_zero"], state["done"]
        if "supernet" in state:
            self._trained_supernet().load_state_dict(state["supernet"])
            if state["optimizer"] is not None:
                self._make_optimizer().load_state_dict(state["optimizer"])

    def _make_optimizer(self) -> torch.optim.Optimizer:
        self._optimizer = torch.optim.SGD(self._trained_supernet().parameters(), lr=self.online_lr, momentum=0.9)
        return self._optimizer

    def _trained_supernet(self) -> SuperNet:
        """The supernet online weights train: there is one, as online weights need real accuracy (the checks)."""
        assert self.supernet is not None
        return self.supernet

    # -- features ----------------------------------------------------------------------------------------------------

    def _static_features(self) -> np.ndarray:
        deployed = self.table.space
        rows = []
        for b in deployed.blocks:
            rows.append(
                [
                    b.index / (NUM_BLOCKS - 1),
                    b.stage / (len(STAGES) - 1),
                    b.in_channels / deployed.width(MAX_WIDTH),
                    b.out_channels / deployed.width(MAX_WIDTH),
                    float(b.stride == 2),
                    b.in_hw / deployed.stem_out_hw,
                    float(b.zero_allowed),
                ]
            )
        return np.asarray(rows, dtype=np.float32)

    def _observation(self) -> np.ndarray:
        step = len(self._choices)
        obs = np.zeros(len(FEATURE_NAMES), dtype=np.float32)
        if step < NUM_BLOCKS:
            obs[:7] = self._static[step]
        else:
            obs[0] = 1.0
        if step:
            prev = OPS[self._choices[-1]]
            obs[7:10] = (prev.kernel / 7, prev.expand / 6, float(prev.is_zero))
        obs[10] = min(self.table.partial_ms(self._choices) / self.target_ms / 2, 1.0)
        return obs

    # -- scoring -----------------------------------------------------------------------------------------------------

    def reward_of(self, accuracy: float, latency_ms: float) -> float:
        """ProxylessNAS-R's reward ``accuracy * (latency / target) ** w``.

        :param accuracy: top-1 as a fraction.
        :param latency_ms: the deployed network's latency.
        """
        return float(accuracy * (latency_ms / self.target_ms) ** self.latency_exponent)

    def _eval_batch(self, split: Split) -> tuple[torch.Tensor, torch.Tensor]:
        """The fixed first ``val_batch_size`` images of ``split`` (real accuracy; loaded on first use)."""
        return self.scorer.source.eval_batch(split)  # type: ignore[union-attr]  # real accuracy only, as before

    def accuracy_of(self, arch: Architecture, split: Split = "val") -> float:
        """Accuracy of ``arch``'s supernet path on ``split``'s fixed batch (remembered with ``cache_accuracy`` and
        frozen weights).

        :param arch: the architecture.
        :param split: ``"val"`` (the reward's) or ``"test"`` (reports only).
        """
        return self.scorer.accuracy(arch, split)

    def correct_on(self, solution: Architecture | str, split: Split = "test") -> np.ndarray:
        """Whether ``solution``'s supernet path classifies each image of ``split``'s fixed batch right (bools in the
        batch's order; their mean is :meth:`accuracy_of`): what paired tests on the test images need.

        :raises RuntimeError: in surrogate mode (no supernet), where the accuracy source has no per-image outcomes.
        """
        self.scorer.require(PER_IMAGE, "correct_on()")
        return self.scorer.correct_on(
            Architecture.from_string(solution) if isinstance(solution, str) else solution, split
        )

    def evaluate_solution(self, solution: Architecture | str, split: Split = "val") -> dict[str, Any]:
        """Score an architecture without stepping (no online weight step): the terminal info an episode would give,
        with ``reward`` and ``accuracy`` measured on ``split``.

        :param solution: an :class:`Architecture` or its string form.
        :param split: ``"val"`` (what rewards and selection use) or ``"test"`` (what reports show).
        :raises TypeError: a solution of another type (a list of indices...).
        :raises ValueError: a string that is not an architecture.
        """
        if isinstance(solution, str):
            arch = Architecture.from_string(solution)
        elif isinstance(solution, Architecture):
            arch = solution
        else:
            raise TypeError(
                f"solution must be an Architecture or its string form ('k3e3-zero-...'), got {checks.shown(solution)}; "
                "for op indices use Architecture.from_indices"
            )
        latency = self.table.latency_ms(arch)
        accuracy = self.accuracy_of(arch, split)
        return {
            "architecture": arch.to_string(),
            "latency_ms": latency,
            "accuracy": accuracy,
            "cost_ratio": latency / self.target_ms,
            "target_ms": self.target_ms,
            "hardware": self.hardware,
            "unit": "ms",
            "reward": self.reward_of(accuracy, latency),
            "split": split,
            "accuracy_source": self.accuracy_source,
        }

    def uniform_architectures(self) -> dict[str, Architecture]:
        """The obvious answers: every block the same candidate, at full depth and at the least depth (``zero``
        wherever a block may be skipped), by name."""
        archs = {}
        for op in OPS[:NUM_MBCONV_OPS]:
            archs[f"uniform {op.name}"] = Architecture.from_names([op.name] * NUM_BLOCKS)
            shallow = [ZERO if allowed else OPS.index(op) for allowed in ZERO_ALLOWED]
            archs[f"uniform {op.name}, shallowest"] = Architecture(tuple(shallow))
        return archs

    def reference_points(self) -> list[ReferencePoint]:
        """The all-``k3e3`` network (the reference latency targets are set from) and the uniform architecture with
        the best validation reward (see :meth:`uniform_architectures`); computed once per environment."""
        if self._references is None:
            uniform = self.uniform_architectures()
            best = max(uniform, key=lambda name: self.evaluate_solution(uniform[name])["reward"])
            self._references = [
                measure_reference(self, f"uniform {REFERENCE_FOR_TARGET}", uniform[f"uniform {REFERENCE_FOR_TARGET}"]),
                measure_reference(self, f"best {best}", uniform[best], to_beat=True),
            ]
        return list(self._references)

    def _online_step(self, arch: Architecture) -> None:
        optimizer = self._optimizer if self._optimizer is not None else self._make_optimizer()
        supernet = self._trained_supernet()
        assert self.task is not None  # real accuracy, as the supernet: the task trains it
        batch = next(self._train_iter, None) if self._train_iter is not None else None
        if batch is None:
            # each pass over the training split gets its order from the episode generator that reset(seed) seeds
            seed = int(self.np_random.integers(2**31))
            self._train_iter = iter(self.task.train_loader(self.online_batch_size, seed=seed))
            batch = next(self._train_iter)
        x, y = batch
        supernet.train()
        weight_step(supernet, optimizer, x.contiguous(memory_format=torch.channels_last), y, arch)
        supernet.eval()

    # -- gymnasium API -----------------------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start a new episode at the first block.

        :param seed: in online mode, reseeds the order of the training batches; otherwise nothing is random.
        :param options: none are known: any key raises ``ValueError``.
        """
        checks.reset_options(type(self).__name__, options)
        super().reset(seed=seed)
        if seed is not None:
            self._train_iter = None
        self._clear_episode()
        return self._observation(), {}

    @staticmethod
    def _integers(action: Any, where: str, expected: Callable[[], str]) -> np.ndarray:
        """``action`` as an integer array, or a TypeError naming ``where``, the value and what is ``expected``
        (a function: the message is built only on failure, since a space's repr costs more than a whole step)."""
        try:
            arr = np.asarray(action)
        except (TypeError, ValueError, OverflowError):  # ragged nesting and the like
            raise TypeError(f"{where} {checks.shown(action)} is not made of integers; {expected()}") from None
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{where} {checks.shown(action)} must hold integers, not {arr.dtype}; {expected()}")
        return arr

    def _oneshot_expected(self) -> str:
        return f"expected an element of {self.action_space}: {NUM_BLOCKS} integer op indices, one per block"

    def _check_oneshot_action(self, action: Any) -> list[int]:
        arr = self._integers(action, "oneshot action", self._oneshot_expected)
        if arr.shape != (NUM_BLOCKS,):
            raise ValueError(f"oneshot action {checks.shown(action)} has shape {arr.shape}; {self._oneshot_expected()}")
        bad = np.flatnonzero((arr < 0) | (arr >= self.nvec))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"oneshot action {arr.tolist()}: block {i} got {arr[i]}, valid 0..{self.nvec[i] - 1} "
                f"({', '.join(op.name for op in OPS[: self.nvec[i]])})"
            )
        return [int(a) for a in arr]

    def _sequential_expected(self) -> str:
        return f"expected one integer op index of {self.action_space} ({OP_NAMES})"

    def _check_sequential_action(self, action: Any) -> int:
        block = len(self._choices)
        arr = self._integers(action, f"step {block} (block {block}): sequential action", self._sequential_expected)
        if arr.shape not in ((), (1,)):
            raise ValueError(
                f"step {block}: sequential action {checks.shown(action)} must be one integer op index, got shape "
                f"{arr.shape}; {self._sequential_expected()}"
            )
        value = int(arr.reshape(-1)[0])
        if not 0 <= value < len(OPS):
            raise ValueError(f"step {block}: sequential action {value} out of range 0..{len(OPS) - 1} ({OP_NAMES})")
        if value == ZERO and not ZERO_ALLOWED[block]:
            self._invalid_zero += 1  # the documented repair: the block cannot be skipped, so it gets k3e3
            return 0
        return value

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Choose the candidate of the next block (sequential) or of every block (oneshot).

        :param action: see the class docstring's Action Space.
        """
        if self._done:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        if self.mode == "oneshot":
            self._choices = self._check_oneshot_action(action)
        else:
            self._choices.append(self._check_sequential_action(action))
            if len(self._choices) < NUM_BLOCKS:
                info = {
                    "block": len(self._choices) - 1,
                    "latency_so_far_ms": self.table.partial_ms(self._choices),
                    "invalid_zero": self._invalid_zero,
                }
                return self._observation(), 0.0, False, False, info
        self._done = True
        arch = Architecture(tuple(self._choices))
        if self.weights == "online":
            self._online_step(arch)
        info = self.evaluate_solution(arch)
        info["invalid_zero"] = self._invalid_zero
        return self._observation(), float(info["reward"]), True, False, info

    def action_masks(self) -> np.ndarray:
        """Valid actions now: in sequential mode, 7 flags for the block about to be chosen (zero only where
        allowed); in oneshot mode, the concatenated flags of every block's candidates (all valid)."""
        if self.mode == "oneshot":
            return np.ones(int(self.nvec.sum()), dtype=bool)
        mask = np.ones(len(OPS), dtype=bool)
        mask[ZERO] = ZERO_ALLOWED[min(len(self._choices), NUM_BLOCKS - 1)]
        return mask

    def render(self) -> str | None:  # type: ignore[override, unused-ignore]  # Gymnasium < 1.3 types frames as a TypeVar; ansi frames are text
        """The blocks chosen so far (``ansi`` mode)."""
        if self.render_mode != "ansi":
            return None
        names = [OPS[c].name for c in self._choices]
        return " ".join(names) + f"  ({self.table.partial_ms(self._choices):.1f} ms of {self.target_ms:.1f})"
