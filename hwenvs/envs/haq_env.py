"""HAQ: hardware-aware automated mixed-precision quantization as a Gymnasium environment."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torchvision.models import WeightsEnum

from hwenvs.compat import autoreset_metadata
from hwenvs.data import Task, load_task
from hwenvs.data.task import Split
from hwenvs.deprecation import moved_names
from hwenvs.envs import checks, haq_baselines
from hwenvs.envs.accuracy_source import PER_IMAGE, TRAINING, CachedAccuracy, checked_source
from hwenvs.envs.bit_allocation import BitAllocation, Policy, check_rules, check_searchable, to_policy
from hwenvs.envs.bit_budget import FREE, UNQUANTIZED, BitBudget
from hwenvs.envs.contract import ReferencePoint
from hwenvs.envs.haq_accuracy import HAQ_SOURCES, PredictedHAQAccuracy, QuantizedAccuracy
from hwenvs.envs.haq_render import render_ansi
from hwenvs.envs.layer_features import static_layer_features
from hwenvs.envs.pickling import PicklesByArguments
from hwenvs.hardware.base import MAX_BITS, CostTable, HardwareModel, LayerShape
from hwenvs.hardware.lookup_table import HAQ_TABLE_RESOLUTION
from hwenvs.models.pretrained import load_reference_model
from hwenvs.models.shapes import layer_shapes
from hwenvs.models.zoo import ARCHITECTURES, build_architecture
from hwenvs.quant.linear import MIN_BITS as MIN_LINEAR_BITS

Constraint = Literal["latency", "energy", "size"]
CONSTRAINTS = ("latency", "energy", "size")
COST_UNITS = {"latency": "s", "energy": "J", "size": "bits"}
QUANTIZERS = ("linear", "kmeans")
RENDER_MODES = ("ansi",)
MIN_RESOLUTION = 32
"""Smallest ``resolution``: the reference models downsample by 32 (five stride-2 stages), so a smaller input leaves
their last stage less than one pixel per output and gives the layer shapes (and costs) of a 32-pixel input."""
MAX_RESOLUTION = 2048
"""Largest ``resolution``: layer shapes come from one forward pass at that size, which must fit in memory."""


def check_haq_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """:class:`HAQEnv`'s constructor arguments (every one, by name) checked and normalised, before anything is
    loaded: ints as ints, reals as floats, ``quantizer`` resolved, ``dataset_kwargs`` a dict, ``device`` a string.

    What needs the model or the data (the budget's floor, a cost table's layer count, an ImageFolder's content) is
    checked when the environment is built.

    :param arguments: every constructor argument by name (``HAQEnv.check_arguments`` fills in the defaults).
    :raises TypeError: an argument of the wrong type, named, with what is valid.
    :raises ValueError: an argument out of range or not one of the choices, named, with what is valid.
    """
    checked = dict(arguments)
    checked["model"] = checks.choice("model", arguments["model"], sorted(ARCHITECTURES))
    checked["hardware"] = _checked_hardware(arguments["hardware"])
    constraint = checked["constraint"] = checks.choice("constraint", arguments["constraint"], CONSTRAINTS)
    checked["preserve_ratio"] = checks.real(
        "preserve_ratio", arguments["preserve_ratio"], low=0.0, high=1.0, low_open=True,
        valid="a real number in (0, 1] (the budget as a fraction of the cost at 8/8 bits)",
    )  # fmt: skip
    quantizer = checks.choice("quantizer", arguments["quantizer"], (None, *QUANTIZERS))
    checked["quantizer"] = quantizer or ("kmeans" if constraint == "size" else "linear")
    checked["min_bits"], checked["max_bits"] = _checked_bits(
        arguments["min_bits"], arguments["max_bits"], one_bit=constraint == "size" and checked["quantizer"] == "kmeans"
    )
    checked["dataset_kwargs"] = checks.dataset(arguments["dataset"], arguments["dataset_kwargs"])
    checked["weights"] = _checked_weights(arguments["weights"])
    checked["resolution"] = checks.integer(
        "resolution", arguments["resolution"], low=MIN_RESOLUTION, high=MAX_RESOLUTION,
        valid=f"an integer in {MIN_RESOLUTION}..{MAX_RESOLUTION} (the models downsample by 32, so they need at "
        f"least {MIN_RESOLUTION} pixels)",
    )  # fmt: skip
    named = checked["hardware"] if isinstance(checked["hardware"], str) else None  # an array compares elementwise
    if named == "haq-table" and checked["resolution"] != HAQ_TABLE_RESOLUTION:
        # HAQ's published table holds the costs of 224-pixel layers: another resolution would not change a cost
        raise ValueError(
            f"hardware='haq-table' is HAQ's table simulated at {HAQ_TABLE_RESOLUTION}x{HAQ_TABLE_RESOLUTION}: it "
            f"cannot cost resolution={checked['resolution']}; use resolution={HAQ_TABLE_RESOLUTION} or "
            "hardware='bismo-cloud'"
        )
    if arguments["batch"] is not None:
        checked["batch"] = checks.integer(
            "batch", arguments["batch"], low=1, valid="a positive integer, or None for the hardware's own batch"
        )
    for name in ("keep_first_layer", "keep_last_layer", "cache_accuracy"):
        checked[name] = checks.boolean(name, arguments[name])
    checked["finetune_steps"] = checks.integer("finetune_steps", arguments["finetune_steps"], low=0)
    checked["finetune_lr"] = checks.real("finetune_lr", arguments["finetune_lr"], low=0.0, low_open=True)
    checked["device"] = _checked_device(arguments["device"])
    checked["render_mode"] = checks.render_mode("HAQEnv", arguments["render_mode"], RENDER_MODES)
    checked["accuracy"] = checked_source(checked, HAQ_SOURCES)  # last: a source's checks read the others
    return checked


def _checked_hardware(hardware: Any) -> str | HardwareModel | CostTable | np.ndarray:
    from hwenvs.hardware import HARDWARE

    if isinstance(hardware, (HardwareModel, CostTable)):
        return hardware
    if isinstance(hardware, np.ndarray):
        if hardware.ndim != 3 or hardware.shape[1:] != (MAX_BITS, MAX_BITS) or hardware.dtype.kind not in "iuf":
            raise ValueError(
                f"hardware as an array must be a real (layers, {MAX_BITS}, {MAX_BITS}) cost table indexed "
                f"[layer, w_bits - 1, a_bits - 1], got {hardware.dtype} {hardware.shape}"
            )
        return hardware
    valid = f"one of {', '.join(map(repr, sorted(HARDWARE)))}, a HardwareModel, a CostTable or an (L, 8, 8) array"
    if not isinstance(hardware, str):
        raise TypeError(f"hardware must be {valid}, got {checks.shown(hardware)}")
    if hardware not in HARDWARE:
        raise ValueError(f"hardware must be {valid}, got {checks.shown(hardware)}")
    return hardware


def _checked_bits(min_bits: Any, max_bits: Any, one_bit: bool) -> tuple[int, int]:
    """``min_bits`` and ``max_bits`` as ints with ``floor <= min_bits <= max_bits <= 8``; the floor is 1 only for
    k-means weights under the model-size budget (linear quantization needs 2 bits)."""
    floor = 1 if one_bit else MIN_LINEAR_BITS
    why = "" if one_bit else " (1 only with constraint='size' and the k-means quantizer)"
    low = checks.integer("min_bits", min_bits, low=1, high=MAX_BITS, valid=f"an integer in {floor}..{MAX_BITS}{why}")
    if low < floor:
        raise ValueError(
            f"min_bits={low}: linear quantization supports {MIN_LINEAR_BITS}..{MAX_BITS} bits; 1-bit weights need "
            "constraint='size' with the k-means quantizer"
        )
    high = checks.integer(
        "max_bits", max_bits, low=low, high=MAX_BITS, valid=f"an integer in {low}..{MAX_BITS} (min_bits..{MAX_BITS})"
    )
    return low, high


def _checked_weights(weights: Any) -> str | WeightsEnum | None:
    if weights is None or isinstance(weights, WeightsEnum):
        return weights
    valid = "'default', a torchvision weights name ('IMAGENET1K_V1'), the path of a state dict, or None"
    name = checks.path_like("weights", weights, valid)
    if not name.strip():
        raise ValueError(f"weights must be {valid}, got {checks.shown(weights)}")
    return name


def _checked_device(device: Any) -> str:
    valid = "'cpu', 'cuda' or 'cuda:<index>' (a str or torch.device)"
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be {valid}, got {checks.shown(device)}")
    name = str(device)
    if not re.fullmatch(r"cpu|cuda(:\d+)?", name):
        raise ValueError(f"device must be {valid}, got {checks.shown(device)}")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device={name!r} was asked for but CUDA is not available here; use device='cpu'")
        index = torch.device(name).index
        if index is not None and index >= torch.cuda.device_count():
            raise ValueError(f"device={name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return name


class HAQEnv(PicklesByArguments, checks.CheckedArguments, gym.Env):
    """
    ## Description

    Mixed-precision quantization of a trained network under a hardware budget, after HAQ (Wang et al., CVPR 2019).
    An episode walks the network's quantizable layers (every Conv2d and Linear, in execution order) and chooses a
    weight bit width and an activation bit width for each. After the last step the policy is forced into the budget
    by HAQ's rollback (lower bits from the last layer backwards until the cost fits), the quantized network is
    evaluated on the task's held-out validation split, and the reward is the accuracy change.

    Costs come from a hardware model (BISMO edge or cloud, BitFusion, or any layers x 8 x 8 table) evaluated on the
    network's layer shapes at the deployment resolution (``resolution``, 224 by default as in the paper), while the
    accuracy comes from the task (the embedded MNIST task runs the same topology on 32x32 images).

    ## Action Space

    ``Box(-1, 1, (1,), float32)``. The action is mapped to ``u = (a + 1) / 2`` in [0, 1] and then to
    ``bits = min_bits + floor(u * (max_bits - min_bits + 1))`` capped at ``max_bits``: equal-width bins, one per bit
    width (HAQ's ``round((b_max - b_min + 1) * u + b_min - 0.5)`` except at bin edges). Finite actions outside
    [-1, 1] are clipped; NaN or infinite actions raise ``ValueError``. Actions on fixed layers (the first and last
    by default) are ignored: those layers keep their fixed bits.

    ``step`` takes one real floating-point number: a float array of shape ``(1,)`` or ``()`` (float16, 32 or 64), a
    Python or numpy float, or a one-float list. Anything else raises before the episode moves on: ``TypeError`` for
    strings, None, dicts, objects, complex and bool values, and integers; ``ValueError`` for another shape (such as
    ``(1, 1)``) or a non-finite value. Each message names the step, the value and the space. Integers are refused on
    purpose. They are not elements of the space: Gymnasium's ``Box.contains`` needs ``np.can_cast(dtype, float32)``,
    which is False for int32 and int64. Read as points of [-1, 1], they would turn a bit width passed by mistake (4
    for 4 bits) into ``max_bits`` without a word. :meth:`bits_to_action` gives the action of a bit width.

    ## Observation Space

    ``Box(0, 1, (10,), float32)`` describing the layer of the step about to be taken: depthwise flag, in channels,
    out channels, stride, kernel size, number of weights, input area (1 for linear), layer index (columns 1-8
    min-max normalised over the model's layers), the previous step's bits / 8 (0 at the first step; over 8, not
    ``max_bits``, since fixed layers keep 8 bits whatever the range), and 1 if this step sets weight bits, 0 if it
    sets activation bits.

    ## Rewards

    0 on every step but the last; on the last, ``0.1 * (accuracy - float_accuracy)`` with accuracies as fractions
    measured on the validation split, optionally after ``finetune_steps`` of quantization-aware fine-tuning. The
    test split is kept for reports: no reward or choice ever sees it.

    ## Starting State

    The first layer's weight step. The environment has no randomness: a policy always gets the same reward.

    ## Episode End

    Terminates after the last step: ``2 * num_layers`` steps for the latency and energy budgets (weight bits, then
    activation bits, per layer) and ``num_layers`` for the model-size budget (weights only): that step returns
    ``terminated=True`` and ``truncated=False``, through ``gym.make``'s wrappers too. The ids' ``max_episode_steps``
    (what generic tools read from ``env.spec``) is a horizon one step past the longest episode, so their
    ``TimeLimit`` never flags a natural end; the exact length is ``steps_per_episode``.
    The terminal ``info`` holds ``policy`` (``[w_bits, a_bits]`` per layer, ``a_bits`` None where the input is not
    quantized), ``cost``, ``budget``, ``reference_cost`` (all layers at 8/8), ``cost_ratio``, ``within_budget``,
    ``accuracy`` and ``float_accuracy`` (on the validation split), ``reward``, ``split`` (``"val"``),
    ``accuracy_source`` (``"real"`` or ``"surrogate"``), ``constraint`` and ``unit``. Test accuracy is never
    computed during an episode: reports ask for it with ``evaluate_solution(policy, split="test")`` (see
    :mod:`hwenvs.envs.contract`).

    ## Arguments

    Every argument is checked when the environment is made, before anything is loaded
    (``HAQEnv.check_arguments(**kwargs)`` runs the same checks alone): a wrong type is a ``TypeError``, a wrong value a
    ``ValueError``, an unknown name a ``TypeError`` listing the valid ones; each names the argument and what is valid.

    * ``model``: ``"mobilenet_v2"`` (53 layers), ``"resnet18"`` (21) or ``"mobilenet_v1"`` (28).
    * ``hardware``: a name known to :func:`hwenvs.hardware.make_hardware` (``"bismo-edge"``, ``"bismo-cloud"``,
      ``"bitfusion"``, ``"haq-table"``), a :class:`HardwareModel`, a :class:`CostTable`, or an (L, 8, 8) array of
      costs.
    * ``constraint``: ``"latency"``, ``"energy"`` or ``"size"`` (model size in weight bits; k-means weights).
    * ``preserve_ratio``: the budget as a fraction of the cost at 8/8 bits, a real number in (0, 1] (default 0.5;
      1 is the 8-bit cost, above which the budget would never bind). It must also reach the floor of every free
      layer at ``min_bits``, which the message states when it does not.
    * ``min_bits``, ``max_bits``: the bit range the agent chooses from, integers with
      ``2 <= min_bits <= max_bits <= 8`` (default 2 and 8; ``min_bits=1`` only with ``constraint="size"`` and the
      k-means quantizer). Floats are refused, not truncated.
    * ``dataset``: ``"mnist"`` (embedded), an existing ImageFolder root or a loaded :class:`~hwenvs.data.Task`;
      ``dataset_kwargs``: a dict of keyword arguments of its loader (:func:`~hwenvs.data.load_imagefolder`), checked
      against the loader's parameters.
    * ``weights``: see :func:`hwenvs.models.pretrained.load_reference_model` (``"default"``).
    * ``resolution``: deployment input side the hardware costs are computed at, an integer in 32..2048 (default
      224). The models downsample by 32, so a smaller side gives the layer shapes of a 32-pixel input.
    * ``batch``: batch size of the hardware model, a positive integer (default None: the hardware's own).
    * ``keep_first_layer``, ``keep_last_layer``: HAQ's fixed-layer rules (bools, default True), always applied.
    * ``quantizer``: ``"linear"`` or ``"kmeans"`` weights (default None: k-means for size, linear otherwise).
    * ``finetune_steps``: SGD steps of fine-tuning before evaluation, an integer >= 0 (default 0); ``finetune_lr``
      its rate, a positive number. The fine-tuned network is measured through the same fused path as any policy.
    * ``cache_accuracy``: remember the accuracy of evaluated policies (bool, default True), at most
      :data:`hwenvs.envs.accuracy_cache.MAX_ENTRIES` of them (the least recently used is forgotten first).
    * ``device``: ``"cpu"``, ``"cuda"`` or ``"cuda:<index>"`` (CUDA must be available).
    * ``accuracy``: ``"real"`` (default: run the quantized network) or ``"surrogate"``: predict validation and test
      accuracy with the predictor fit on the shipped surrogate dataset (:mod:`hwenvs.surrogate`), hundreds of
      episodes per second; spaces, rollback and costs are the same, exact. Only where a dataset exists (the message
      lists them) and only for what it measured: linear quantizer, latency or energy budget, no fine-tuning, the
      default weights and layer rules. Neither the task nor the trained network is loaded.
    * ``render_mode``: None or ``"ansi"`` (a per-layer table of bits and costs). Another string, such as the
      ``"rgb_array"`` that SB3's ``make_vec_env`` asks every environment for, is warned about (as ``gym.make`` warns)
      and renders nothing: ``render_mode`` becomes None and ``render()`` returns None. A value that is not a string
      is a ``TypeError``.

    ``reset`` takes no options: ``reset(options={...})`` with any key raises ``ValueError``.

    ## Version History

    * v0: initial release, with the public HAQ code's bugs fixed (per-episode state, feature 10 describing the
      coming step, layer rules applied to every policy, unquantized inputs charged as 8 bits, accuracy measured on
      held-out data).
    * v0, hwenvs 0.2: a test split for reports (reward unchanged: validation); reference weights retrained on the
      embedded task's smaller training split, so rewards differ from 0.1's. Strict inputs: every constructor
      argument checked up front, actions that are not one real float refused (integers included), reset options
      refused; feature 9 divides by 8 (it left the observation space when ``max_bits < 8``). A ``render_mode``
      string other than ``"ansi"`` warns and renders nothing instead of raising ``ValueError``, as Gymnasium does,
      so SB3's ``make_vec_env`` (which asks for ``"rgb_array"``) builds the environment without ``env_kwargs``.
      ``accuracy="surrogate"`` and ``info["accuracy_source"]``. An environment pickles as its arguments and the
      episode in progress (was 166 MB with the task's images and the networks) and rebuilds itself when unpickled.
      ``gym.make_vec`` builds :class:`~hwenvs.envs.haq_vector_env.HAQVectorEnv` (the same results as a
      ``SyncVectorEnv``, steps vectorised, one network shared).
    * v0, hwenvs 0.2 (episode end): the last step through ``gym.make`` is ``terminated`` only; it was also
      ``truncated``, since the registered ``max_episode_steps`` equalled the latency budget's episode length, and
      loops that read a final observation on truncation (CleanRL's) broke. ``max_episode_steps`` is now that length
      plus one. An id refuses a ``model`` or named ``hardware`` keyword that contradicts it (it built the other
      model under the id's name). Works with Gymnasium 0.29.1 as well as 1.x (``gym.make_vec`` needs 1.x).
    """

    solution_key: ClassVar[str] = "policy"
    cost_key: ClassVar[str] = "cost"
    # a class constant, but gym.Env declares metadata as an attribute, which a ClassVar may not override
    metadata: dict[str, Any] = {  # noqa: RUF012
        "render_modes": list(RENDER_MODES),
        "render_fps": 4,  # declared for the env checker; text rendering has no frame rate of its own
        **autoreset_metadata(),  # Gymnasium 1.x's declaration; 0.29 has none
    }

    @checks.checked_init(check_haq_arguments)
    def __init__(
        self,
        model: str = "mobilenet_v2",
        hardware: str | HardwareModel | CostTable | np.ndarray = "bismo-edge",
        constraint: Constraint = "latency",
        preserve_ratio: float = 0.5,
        min_bits: int = 2,
        max_bits: int = 8,
        dataset: str | Path | Task = "mnist",
        dataset_kwargs: dict[str, Any] | None = None,
        weights: str | Path | None = "default",
        resolution: int = 224,
        batch: int | None = None,
        keep_first_layer: bool = True,
        keep_last_layer: bool = True,
        quantizer: str | None = None,
        finetune_steps: int = 0,
        finetune_lr: float = 1e-3,
        cache_accuracy: bool = True,
        device: str = "cpu",
        render_mode: str | None = None,
        accuracy: str = "real",
    ) -> None:
        # the arguments arrive checked and normalised by check_haq_arguments (see checks.checked_init)
        self.constraint, self.min_bits, self.max_bits = constraint, min_bits, max_bits
        self.render_mode, self.device, self.model_name = render_mode, torch.device(device), model
        self.finetune_steps, self.finetune_lr, self.cache_accuracy = finetune_steps, finetune_lr, cache_accuracy
        source, self.layers = _load_accuracy(self._arguments)  # the checked arguments (see checks.checked_init)
        self.task, self.accuracy_source = source.task, source.name
        self.surrogate = getattr(source, "surrogate", None)  # 0.2's attribute: the fitted predictor, if predicted
        self.scorer = CachedAccuracy(source, lambda allocation: allocation.key, cache_accuracy)  # one cache for both
        self._accuracy_cache = self.scorer.cache  # (split, packed bits) -> accuracy
        self.num_layers = len(self.layers)
        self.cost_table, self.budget_model = _bit_budget(self._arguments, self.layers)
        self._references: list[ReferencePoint] | None = None
        # the spaces, the episode length, and every step's observation but feature 9 (the previous step's bits)
        self.steps_per_layer = 1 if self.constraint == "size" else 2
        self.steps_per_episode = self.steps_per_layer * self.num_layers
        self._observations = np.zeros((self.steps_per_episode, 10), dtype=np.float32)
        self._observations[:, :8] = np.repeat(static_layer_features(self.layers), self.steps_per_layer, axis=0)
        self._observations[:, 9] = np.arange(self.steps_per_episode) % self.steps_per_layer == 0
        self.observation_space = spaces.Box(0.0, 1.0, (10,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self._clear_episode()
        self._step = self.steps_per_episode  # no episode until reset()

    def _clear_episode(self) -> None:
        """A new episode at its first step, nothing chosen."""
        self._step = 0
        self._w = np.zeros(self.num_layers, dtype=np.int64)
        self._a = np.zeros(self.num_layers, dtype=np.int64)
        self._last_info: dict[str, Any] = {}

    def _episode_state(self) -> dict[str, Any]:
        return {"step": self._step, "w": self._w.copy(), "a": self._a.copy(), "last_info": self._last_info}

    def _restore_episode(self, state: dict[str, Any]) -> None:
        self._step, self._w, self._a, self._last_info = state["step"], state["w"], state["a"], state["last_info"]

    # -- the Gymnasium API ----------------------------------------------------------------------------------------

    def _observation(self, step: int) -> np.ndarray:
        """Features of ``step`` (the terminal observation repeats the last step's: there is no next layer)."""
        step = min(step, self.steps_per_episode - 1)
        observation = self._observations[step].copy()
        if step > 0:
            prev_layer, prev_kind = divmod(step - 1, self.steps_per_layer)
            bits = (self._w if prev_kind == 0 else self._a)[prev_layer]
            # over 8, not max_bits: a fixed layer keeps 8 bits even when the search's range stops lower
            observation[8] = (bits or MAX_BITS) / MAX_BITS
        return observation

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start a new episode at the first layer's weight step; ``seed`` seeds ``np_random`` (nothing here is random),
        ``options`` takes no key (any raises ``ValueError``)."""
        checks.reset_options(type(self).__name__, options)
        super().reset(seed=seed)
        self._clear_episode()
        return self._observation(0), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Set the bits of the coming step's layer side from ``action`` (one float, see Action Space; a bad one raises
        before anything moves); the last step rolls back into the budget and scores."""
        if self._step >= self.steps_per_episode:
            raise RuntimeError("step() called after the episode ended; call reset() first")
        value = checks.real_action(action, self._step, self.action_space)
        layer, kind = divmod(self._step, self.steps_per_layer)
        fixed = (self.budget_model.fixed_w if kind == 0 else self.budget_model.fixed_a)[layer]
        (self._w if kind == 0 else self._a)[layer] = self.action_to_bits(value) if fixed == FREE else fixed
        self._step += 1
        if self._step < self.steps_per_episode:
            return self._observation(self._step), 0.0, False, False, {}
        if self.steps_per_layer == 1:
            self._a[:] = UNQUANTIZED
        w, a = self._w, self._a = self.budget_model.rollback(self._w, self._a)
        info = self._last_info = self.terminal_info(w, a, self.scorer.accuracy(BitAllocation(w, a), "val"))
        return self._observation(self._step), float(info["reward"]), True, False, info

    def render(self) -> str | None:  # type: ignore[override, unused-ignore]  # Gymnasium < 1.3 types frames as a TypeVar; ansi frames are text
        """The episode so far as a per-layer table of bits, and costs once it ended (``ansi`` mode), else None."""
        return render_ansi(self) if self.render_mode == "ansi" else None

    def terminal_info(self, w: np.ndarray, a: np.ndarray, acc: float, split: Split = "val") -> dict[str, Any]:
        """The terminal ``info`` of the policy ``w``/``a`` (rolled back) whose accuracy on ``split`` is ``acc``."""
        cost = self.budget_model.cost(w, a)
        float_accuracy = self.float_accuracy_on(split)
        return {
            "policy": to_policy(w, a), "cost": cost, "budget": self.budget, "reference_cost": self.reference_cost,
            "cost_ratio": cost / self.reference_cost, "within_budget": self.budget_model.fits(cost), "accuracy": acc,
            "float_accuracy": float_accuracy, "reward": 0.1 * (acc - float_accuracy), "split": split,
            "accuracy_source": self.accuracy_source, "constraint": self.constraint, "unit": COST_UNITS[self.constraint],
        }  # fmt: skip

    float_accuracy = property(
        lambda self: self.float_accuracy_on("val"), doc="Validation accuracy of the float model (the reward's)."
    )

    def float_accuracy_on(self, split: Split) -> float:
        """Accuracy of the float model on ``split`` (measured once per split, or by the surrogate's dataset)."""
        return self.scorer.source.float_accuracy(split)

    budget = property(lambda self: self.budget_model.budget, doc="The cost a policy must not exceed.")
    reference_cost = property(
        lambda self: self.budget_model.reference_cost, doc="Cost of every layer at 8/8 bits (the layer rules applied)."
    )
    quantized = property(lambda self: self.scorer.source.quantized, doc="The quantized network (real accuracy).")
    _finetuned = property(lambda self: self.scorer.source._finetuned)  # where trained copies are measured

    def action_to_bits(self, action: float) -> int:
        """Bit width for an action in [-1, 1] (clipped)."""
        u = (min(max(float(action), -1.0), 1.0) + 1.0) / 2.0
        return min(self.max_bits, self.min_bits + math.floor(u * (self.max_bits - self.min_bits + 1)))

    def bits_to_action(self, bits: int) -> float:
        """The action :meth:`step` maps to ``bits``, the centre of its bin: what a policy thinking in bit widths
        returns (fixed layers ignore it, and the rollback may still lower bits).

        :param bits: an integer in ``min_bits..max_bits`` (TypeError for another type, ValueError outside).
        """
        bits = checks.integer("bits", bits, low=self.min_bits, high=self.max_bits)
        return 2.0 * (bits - self.min_bits + 0.5) / (self.max_bits - self.min_bits + 1) - 1.0

    # -- solutions (bit allocations): the contract of hwenvs.envs.contract ----------------------------------------

    def _allocation(self, policy: Sequence[Sequence[int | None]]) -> BitAllocation:
        return BitAllocation.from_policy(policy, self.num_layers, self.model_name)

    def uniform_policy(self, w_bits: int, a_bits: int | None = None) -> Policy:
        """Every free layer at ``w_bits``/``a_bits`` (``a_bits`` defaults to ``w_bits``; under the model-size budget
        activations stay unquantized, as in its episodes), the fixed layers as the rules say."""
        return haq_baselines.uniform(self, w_bits, w_bits if a_bits is None else a_bits).to_policy()

    def fit_to_budget(self, policy: Sequence[Sequence[int | None]]) -> Policy:
        """``policy`` with the layer rules applied and rolled back into the budget."""
        return to_policy(*self.budget_model.rollback(*self._allocation(policy)))

    def policy_cost(self, policy: Sequence[Sequence[int | None]]) -> float:
        """Total cost of ``policy`` on this environment's hardware and constraint."""
        return self.budget_model.cost(*self._allocation(policy))

    def evaluate_solution(self, solution: Sequence[Sequence[int | None]], split: Split = "val") -> dict[str, Any]:
        """The terminal info of exactly the bit allocation ``solution`` (``[w_bits, a_bits]`` per layer, no rollback),
        ``accuracy`` and ``reward`` measured on ``split`` (``"val"``: rewards, selection; ``"test"``: reports).

        :raises ValueError: wrong layer count, bits outside 1..8, or a fixed layer's rule broken.
        """
        allocation = self._allocation(solution)
        check_rules(allocation, self.budget_model, self.layers)
        return self.terminal_info(allocation.w, allocation.a, self.scorer.accuracy(allocation, split), split)

    def accuracies(self, w: np.ndarray, a: np.ndarray, split: Split = "val") -> list[float]:
        """Accuracies on ``split`` of the policies ``w``/``a`` ((K, L) bits, rules applied, ``a`` 0 where unquantized)
        through the episodes' cache, the rest scored in one call (:class:`~hwenvs.envs.haq_vector_env.HAQVectorEnv`
        uses it), each as it would be alone."""
        return self.scorer.accuracies([BitAllocation(wi, ai) for wi, ai in zip(w, a, strict=True)], split)

    def check_searchable(self, solution: Sequence[Sequence[int | None]]) -> None:
        """Refuse (``ValueError``) a policy no episode could end with, as ``hwenvs evaluate`` does with a search's
        result (:func:`~hwenvs.envs.bit_allocation.check_searchable`; :meth:`evaluate_solution` scores any)."""
        check_searchable(self._allocation(solution), self.budget_model, self.layers)

    def correct_on(self, solution: Sequence[Sequence[int | None]], split: Split = "test") -> np.ndarray:
        """Whether the quantized network at exactly ``solution`` classifies each image of ``split`` right, in order
        (``ValueError`` for what :meth:`evaluate_solution` refuses; ``RuntimeError`` in surrogate mode or with
        fine-tuning, where the accuracy source has no per-image outcomes)."""
        self.scorer.require(PER_IMAGE, "correct_on()")
        self.evaluate_solution(solution, "val")  # its checks (layer count, bits, layer rules); cached
        return self.scorer.correct_on(self._allocation(solution), split)

    def quantized_model(self, policy: Sequence[Sequence[int | None]]) -> torch.nn.Module:
        """An independent, trainable fake-quantized copy of the model at ``policy`` (``RuntimeError`` in surrogate
        mode, which has no trained network)."""
        self.scorer.require(TRAINING, "quantized_model()")
        return self.scorer.source.trainable_copy(self._allocation(policy))

    def trained_accuracy(self, model: torch.nn.Module, split: Split = "val") -> float:
        """Accuracy on ``split`` of ``model``, a :meth:`quantized_model` copy after training, measured like every
        policy (``RuntimeError`` in surrogate mode)."""
        return self.scorer.source.trained_accuracy(model, split)

    def uniform_pairs(self) -> list[tuple[int, int]]:
        """:func:`hwenvs.envs.haq_baselines.uniform_pairs`: the uniform pairs within the budget, cheapest last."""
        return haq_baselines.uniform_pairs(self)

    def best_uniform_policy(self) -> Policy | None:
        """:func:`hwenvs.envs.haq_baselines.best_uniform_policy` (the best on validation; None if none fits)."""
        return haq_baselines.best_uniform_policy(self)

    def reference_points(self) -> list[ReferencePoint]:
        """:func:`hwenvs.envs.haq_baselines.reference_points`, computed once per environment."""
        if self._references is None:
            self._references = haq_baselines.reference_points(self)
        return list(self._references)


def _load_accuracy(arguments: dict[str, Any]) -> tuple[QuantizedAccuracy | PredictedHAQAccuracy, list[LayerShape]]:
    """The accuracy source the ``accuracy`` argument names, loaded, and the model's layer shapes at ``resolution``
    (what the costs need): the one place the environment tells a measured source from a predicted one.

    :param arguments: :class:`HAQEnv`'s checked arguments.
    """
    model, dataset, resolution = arguments["model"], arguments["dataset"], arguments["resolution"]
    if arguments["accuracy"] == "surrogate":
        from hwenvs.surrogate.accuracy import load_haq_surrogate

        surrogate = load_haq_surrogate(model, dataset)
        # costs need only the layer shapes: an untrained network of the same topology has them
        layers = layer_shapes(build_architecture(model, num_classes=10), resolution)
        return PredictedHAQAccuracy(surrogate, len(layers), model), layers
    task = load_task(dataset, **arguments["dataset_kwargs"])
    network = load_reference_model(model, task, arguments["weights"])
    layers = layer_shapes(network, resolution)  # on the CPU, before the source moves the network to its device
    device = torch.device(arguments["device"])
    source = QuantizedAccuracy(
        task, network, arguments["quantizer"], device, arguments["finetune_steps"], arguments["finetune_lr"]
    )
    return source, layers


def _bit_budget(arguments: dict[str, Any], layers: list[LayerShape]) -> tuple[CostTable, BitBudget]:
    """The hardware's cost table of ``layers`` and the budget, layer rules and rollback of the constraint.

    :param arguments: :class:`HAQEnv`'s checked arguments.
    :param layers: the model's layer shapes.
    :raises ValueError: a cost table of another layer count, or a budget below the reachable floor.
    """
    table = _cost_table(arguments["hardware"], layers, arguments["batch"])
    constraint = arguments["constraint"]
    budget = BitBudget(
        _constraint_table(table, layers, constraint), min_bits=arguments["min_bits"], max_bits=arguments["max_bits"],
        preserve_ratio=arguments["preserve_ratio"], quantize_activations=constraint != "size",
        keep_first_layer=arguments["keep_first_layer"], keep_last_layer=arguments["keep_last_layer"],
    )  # fmt: skip
    return table, budget


def _cost_table(
    hardware: str | HardwareModel | CostTable | np.ndarray, layers: list[LayerShape], batch: int | None
) -> CostTable:
    if isinstance(hardware, CostTable):
        if len(hardware.layers) != len(layers):
            raise ValueError(f"cost table has {len(hardware.layers)} layers, the model has {len(layers)}")
        return hardware
    if isinstance(hardware, np.ndarray):
        from hwenvs.hardware import LookupTableHardware

        return LookupTableHardware(hardware).cost_table(layers)
    if isinstance(hardware, str):
        from hwenvs.hardware import make_hardware

        hardware = make_hardware(hardware, **({"batch": batch} if batch is not None else {}))
    return hardware.cost_table(layers)


def _constraint_table(table: CostTable, layers: list[LayerShape], constraint: str) -> np.ndarray:
    if constraint == "size":
        bits = np.arange(1, MAX_BITS + 1, dtype=np.float64)
        sizes = np.array([layer.num_weights for layer in layers], dtype=np.float64)
        return np.broadcast_to((sizes[:, None] * bits[None, :])[:, :, None], (len(layers), MAX_BITS, MAX_BITS))
    return table.metric(constraint)


__getattr__ = moved_names(__name__, "hwenvs.envs.haq_accuracy", ["SURROGATE_FIXED"])  # moved in 0.2, until 0.3
