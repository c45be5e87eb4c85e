"""HAQ: hardware-aware automated mixed-precision quantization as a Gymnasium environment."""

from __future__ import annotations

import copy
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
from hwenvs.envs import checks
from hwenvs.envs.accuracy_cache import AccuracyCache
from hwenvs.envs.bit_budget import FREE, UNQUANTIZED, BitBudget
from hwenvs.envs.contract import ReferencePoint, measure_reference
from hwenvs.envs.layer_features import static_layer_features
from hwenvs.envs.pickling import PicklesByArguments
from hwenvs.hardware.base import MAX_BITS, CostTable, HardwareModel, LayerShape
from hwenvs.hardware.lookup_table import HAQ_TABLE_RESOLUTION
from hwenvs.models.evaluate import accuracy as model_accuracy
from hwenvs.models.pretrained import load_reference_model
from hwenvs.models.shapes import layer_shapes
from hwenvs.models.zoo import ARCHITECTURES, build_architecture
from hwenvs.quant.finetune import finetune
from hwenvs.quant.linear import MIN_BITS as MIN_LINEAR_BITS
from hwenvs.quant.quantized_model import EVAL_BATCH_SIZE, QuantizedModel
from hwenvs.surrogate.accuracy import ACCURACY_SOURCES

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
"""Most ``(split, policy)`` accuracies an environment remembers; past it the least recently used is forgotten. An
entry takes about 300 bytes for MobileNetV2 (the policy is packed into bytes), so a full cache holds about 30 MB."""


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
    checked["accuracy"] = checks.choice("accuracy", arguments["accuracy"], ACCURACY_SOURCES)
    if checked["accuracy"] == "surrogate":
        _check_surrogate_arguments(checked)
    return checked


SURROGATE_FIXED = {
    "quantizer": "linear", "finetune_steps": 0, "weights": "default", "keep_first_layer": True,
    "keep_last_layer": True, "dataset_kwargs": {},
}  # fmt: skip
"""What the surrogate datasets were measured with: a predictor of other settings' accuracy would be extrapolating."""


def _check_surrogate_arguments(checked: dict[str, Any]) -> None:
    """Refuse settings the surrogate cannot stand for, naming the setting and what the surrogate supports."""
    from hwenvs.surrogate.accuracy import unavailable
    from hwenvs.surrogate.dataset import available_datasets, haq_name

    dataset = checked["dataset"]
    if not isinstance(dataset, str) or haq_name(checked["model"], dataset) not in available_datasets():
        raise unavailable(haq_name(checked["model"], str(getattr(dataset, "name", dataset))), "haq")
    if checked["constraint"] == "size":
        raise ValueError(
            "accuracy='surrogate' supports the latency and energy budgets (weights and activations quantized), not "
            "constraint='size'; use accuracy='real'"
        )
    for name, value in SURROGATE_FIXED.items():
        if checked[name] != value:
            raise ValueError(
                f"accuracy='surrogate' predicts the accuracy of {name}={value!r} only (what its dataset measured), "
                f"got {name}={checked[name]!r}; use accuracy='real' for that setting"
            )


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


class HAQEnv(PicklesByArguments, gym.Env):
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

    Every argument is checked when the environment is made, before anything is loaded (:meth:`check_arguments` runs
    the same checks alone): a wrong type is a ``TypeError``, a wrong value a ``ValueError``, an unknown name a
    ``TypeError`` listing the valid ones; each message names the argument and what is valid.

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
    metadata: ClassVar[dict[str, Any]] = {
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
        self.constraint = constraint
        self.min_bits, self.max_bits = min_bits, max_bits
        self.render_mode = render_mode
        self.device = torch.device(device)
        self.finetune_steps = finetune_steps
        self.finetune_lr = finetune_lr
        self.cache_accuracy = cache_accuracy
        self.model_name = model
        self.accuracy_source = accuracy
        if accuracy == "surrogate":
            from hwenvs.surrogate.accuracy import load_haq_surrogate

            self.surrogate = load_haq_surrogate(model, dataset)
            self.task = None
            # costs need only the layer shapes: an untrained network of the same topology has them
            float_model = build_architecture(model, num_classes=10)
        else:
            self.surrogate = None
            self.task = load_task(dataset, **dataset_kwargs)
            float_model = load_reference_model(model, self.task, weights)
        self.layers: list[LayerShape] = layer_shapes(float_model, resolution)
        self.num_layers = len(self.layers)
        self.cost_table = _cost_table(hardware, self.layers, batch)
        self.budget_model = BitBudget(
            _constraint_table(self.cost_table, self.layers, constraint),
            min_bits=min_bits,
            max_bits=max_bits,
            preserve_ratio=preserve_ratio,
            quantize_activations=constraint != "size",
            keep_first_layer=keep_first_layer,
            keep_last_layer=keep_last_layer,
        )
        if self.surrogate is None:
            self.quantized = QuantizedModel(float_model, self.task.calibration, method=quantizer, device=self.device)
            self._finetuned: QuantizedModel | None = None  # where fine-tuned copies are measured, made on first use
            self._float_model = float_model.to(self.device)
        elif self.surrogate.num_layers != self.num_layers:
            raise ValueError(
                f"the {model} surrogate has {self.surrogate.num_layers} layers, the model {self.num_layers}"
            )
        self._float_accuracy: dict[str, float] = {}  # measured on first use: one float pass less in gym.make
        self._references: list[ReferencePoint] | None = None
        self._accuracy_cache = AccuracyCache(enabled=cache_accuracy)  # (split, packed policy) -> accuracy
        self._build_spaces()
        self._clear_episode()
        self._step = self.steps_per_episode  # no episode until reset()

    @staticmethod
    def check_arguments(**kwargs: Any) -> dict[str, Any]:
        """Check constructor arguments without building anything (what construction checks first).

        :param kwargs: constructor arguments by name; the others take their defaults.
        :returns: every argument, checked and normalised.
        :raises TypeError: an unknown argument (listing the valid ones) or one of the wrong type.
        :raises ValueError: an argument out of range or not one of the choices.
        """
        return check_haq_arguments(checks.bind_arguments(HAQEnv.__init__, (), kwargs))

    def _build_spaces(self) -> None:
        """The spaces, the episode length and every step's observation but feature 9 (the previous step's bits),
        which :meth:`step` fills in."""
        self.steps_per_layer = 1 if self.constraint == "size" else 2
        self.steps_per_episode = self.steps_per_layer * self.num_layers
        self._static_features = static_layer_features(self.layers)
        self._observations = np.zeros((self.steps_per_episode, 10), dtype=np.float32)
        self._observations[:, :8] = np.repeat(self._static_features, self.steps_per_layer, axis=0)
        self._observations[:, 9] = np.arange(self.steps_per_episode) % self.steps_per_layer == 0
        self.observation_space = spaces.Box(0.0, 1.0, (10,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

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

    # -- budget figures -------------------------------------------------------------------------------------------

    @property
    def float_accuracy(self) -> float:
        """Validation accuracy of the float model (what the reward subtracts; measured once, on first use)."""
        return self.float_accuracy_on("val")

    def float_accuracy_on(self, split: Split) -> float:
        """Accuracy of the float model on ``split`` (measured once per split, on first use)."""
        if self.surrogate is not None:
            return float(self.surrogate.float_accuracy[split])  # measured when the dataset was made
        if split not in self._float_accuracy:
            self._float_accuracy[split] = model_accuracy(
                self._float_model, self.task, self.device, EVAL_BATCH_SIZE, split=split
            )
        return self._float_accuracy[split]

    @property
    def budget(self) -> float:
        """The cost a policy must not exceed."""
        return self.budget_model.budget

    @property
    def reference_cost(self) -> float:
        """Cost of the policy with every layer at 8/8 bits (the layer rules applied)."""
        return self.budget_model.reference_cost

    # -- actions and bits -----------------------------------------------------------------------------------------

    def action_to_bits(self, action: float) -> int:
        """Bit width for an action in [-1, 1] (clipped)."""
        u = (min(max(float(action), -1.0), 1.0) + 1.0) / 2.0
        levels = self.max_bits - self.min_bits + 1
        return min(self.max_bits, self.min_bits + math.floor(u * levels))

    def bits_to_action(self, bits: int) -> float:
        """The action :meth:`step` maps to ``bits``: the centre of its bin (the inverse of :meth:`action_to_bits`).

        What a policy that thinks in bit widths returns from its ``act`` (``PolicyAgent`` gives a
        :class:`~hwenvs.agents.policy.Policy` this environment as ``self.env``). Fixed layers ignore the action, and
        the rollback after the last step may still lower bits to meet the budget.

        :param bits: an integer in ``min_bits..max_bits``.
        :raises TypeError: not an integer (a float or bool would hide a mistaken argument).
        :raises ValueError: outside ``min_bits..max_bits``.
        """
        bits = checks.integer("bits", bits, low=self.min_bits, high=self.max_bits)
        levels = self.max_bits - self.min_bits + 1
        return 2.0 * (bits - self.min_bits + 0.5) / levels - 1.0

    # -- policies -------------------------------------------------------------------------------------------------

    def _to_policy(self, w: np.ndarray, a: np.ndarray) -> list[list[int | None]]:
        return [[int(wb), None if ab == UNQUANTIZED else int(ab)] for wb, ab in zip(w, a, strict=True)]

    def _from_policy(self, policy: Sequence[Sequence[int | None]]) -> tuple[np.ndarray, np.ndarray]:
        if len(policy) != self.num_layers:
            raise ValueError(f"policy has {len(policy)} layers, {self.model_name} has {self.num_layers}")
        w = np.empty(self.num_layers, dtype=np.int64)
        a = np.empty(self.num_layers, dtype=np.int64)
        for i, entry in enumerate(policy):
            if len(entry) != 2:
                raise ValueError(f"policy layer {i}: expected [w_bits, a_bits], got {entry!r}")
            for arr, value in ((w, entry[0]), (a, entry[1])):
                if value is not None and (int(value) != value or not 1 <= value <= MAX_BITS):
                    raise ValueError(f"policy layer {i}: bits must be integers in 1..{MAX_BITS}, got {entry!r}")
                arr[i] = UNQUANTIZED if value is None else int(value)
        if (w == UNQUANTIZED).any():
            raise ValueError("policy: every layer needs integer weight bits")
        return w, a

    def uniform_policy(self, w_bits: int, a_bits: int | None = None) -> list[list[int | None]]:
        """Every free layer at ``w_bits``/``a_bits`` (``a_bits`` defaults to ``w_bits``; under the model-size budget
        activations stay unquantized, as in its episodes), the fixed layers as the rules say."""
        return self._to_policy(*self._uniform(w_bits, w_bits if a_bits is None else a_bits))

    def fit_to_budget(self, policy: Sequence[Sequence[int | None]]) -> list[list[int | None]]:
        """``policy`` with the layer rules applied and rolled back into the budget."""
        return self._to_policy(*self.budget_model.rollback(*self._from_policy(policy)))

    def policy_cost(self, policy: Sequence[Sequence[int | None]]) -> float:
        """Total cost of ``policy`` on this environment's hardware and constraint."""
        return self.budget_model.cost(*self._from_policy(policy))

    def quantized_model(self, policy: Sequence[Sequence[int | None]]) -> torch.nn.Module:
        """An independent, trainable fake-quantized copy of the model at ``policy``.

        :raises RuntimeError: in surrogate mode, which has no trained network.
        """
        if self.surrogate is not None:
            raise RuntimeError("quantized_model() needs the trained network: make the environment with accuracy='real'")
        return self.quantized.trainable_copy(self._to_policy(*self._from_policy(policy)))

    def trained_accuracy(self, model: torch.nn.Module, split: Split = "val") -> float:
        """Accuracy on ``split`` of ``model``, a :meth:`quantized_model` copy after training (fine-tuning), at its
        policy, measured like every policy: through the fused path (2-3x faster than the trained copy's own), on a
        second copy of the quantized network made on first use, so that the environment's own stays untouched.

        :raises RuntimeError: in surrogate mode, which has no trained network.
        """
        if self.surrogate is not None:
            raise RuntimeError(
                "trained_accuracy() needs the trained network: make the environment with accuracy='real'"
            )
        if self._finetuned is None:
            self._finetuned = copy.deepcopy(self.quantized)
        self._finetuned.load_trained(model)
        return self._finetuned.accuracy(self.task, split=split)

    def evaluate_solution(self, solution: Sequence[Sequence[int | None]], split: Split = "val") -> dict[str, Any]:
        """Evaluate exactly the bit allocation ``solution`` (no rollback): the terminal-info dict, with
        ``within_budget``, ``reward`` and ``split``; ``accuracy`` and ``reward`` are measured on ``split``.

        :param solution: ``[w_bits, a_bits]`` per layer.
        :param split: ``"val"`` (what rewards and selection use) or ``"test"`` (what reports show).
        :raises ValueError: wrong layer count, bits outside 1..8, or a fixed layer's rule broken.
        """
        w, a = self._from_policy(solution)
        fw, fa = self.budget_model.apply_rules(w, a)
        broken = np.flatnonzero((fw != w) | (fa != a))
        if broken.size:
            i = int(broken[0])
            raise ValueError(
                f"policy layer {i} ({self.layers[i].name}) must be {self._to_policy(fw, fa)[i]} under this "
                f"environment's layer rules, got {self._to_policy(w, a)[i]}"
            )
        return self._evaluate(w, a, split)

    def check_searchable(self, solution: Sequence[Sequence[int | None]]) -> None:
        """Refuse a policy no episode of this environment could end with: a free layer side outside
        ``min_bits..max_bits`` (or a free activation left unquantized). What ``hwenvs evaluate`` asks of a search's
        result; :meth:`evaluate_solution` itself scores such policies, as the reference points need (fixed 8-bit
        under ``max_bits=5``).

        :param solution: ``[w_bits, a_bits]`` per layer.
        :raises ValueError: naming the layer, the side, the range and the value.
        """
        w, a = self.budget_model.apply_rules(*self._from_policy(solution))
        rules = self.budget_model
        for kind, bits, fixed in (("weight", w, rules.fixed_w), ("activation", a, rules.fixed_a)):
            outside = np.flatnonzero((fixed == FREE) & ((bits < self.min_bits) | (bits > self.max_bits)))
            if outside.size:
                i = int(outside[0])
                got = "None (unquantized)" if bits[i] == UNQUANTIZED else int(bits[i])
                raise ValueError(
                    f"policy layer {i} ({self.layers[i].name}): {kind} bits must be in "
                    f"{self.min_bits}..{self.max_bits} (this environment's min_bits..max_bits), got {got}"
                )

    def correct_on(self, solution: Sequence[Sequence[int | None]], split: Split = "test") -> np.ndarray:
        """Whether the quantized network at exactly ``solution`` classifies each image of ``split`` right (bools in
        the split's order; their mean is :meth:`evaluate_solution`'s accuracy without fine-tuning): what paired
        tests on the test images need.

        :raises ValueError: a solution :meth:`evaluate_solution` refuses.
        :raises RuntimeError: in surrogate mode (no network) or with fine-tuning (each evaluation trains a copy).
        """
        if self.surrogate is not None or self.finetune_steps:
            raise RuntimeError("correct_on() needs the trained network without fine-tuning (accuracy='real')")
        self.evaluate_solution(solution, "val")  # its checks (layer count, bits, layer rules); cached
        return self.quantized.correct(self.task, self._to_policy(*self._from_policy(solution)), split=split).numpy()

    def uniform_pairs(self) -> list[tuple[int, int]]:
        """Every uniform ``(w_bits, a_bits)`` pair whose policy fits the budget, cheapest last.

        The model-size budget quantizes weights only, so its pairs have ``a_bits`` equal to ``w_bits``.
        """
        bits = range(self.min_bits, self.max_bits + 1)
        pairs = [(w, a) for w in bits for a in bits] if self.steps_per_layer == 2 else [(b, b) for b in bits]
        fitting = [(w, a) for w, a in pairs if self.budget_model.cost(*self._uniform(w, a)) <= self._budget_limit]
        return sorted(fitting, key=lambda p: -self.budget_model.cost(*self._uniform(*p)))

    def best_uniform_policy(self) -> list[list[int | None]] | None:
        """The uniform policy within the budget with the best validation accuracy (ties: the cheaper), or None if
        no uniform policy fits. Each candidate costs one evaluation (cached)."""
        best, best_acc = None, -1.0
        for w, a in self.uniform_pairs():
            acc = self._accuracy(*self._uniform(w, a), "val")
            if acc >= best_acc:
                best, best_acc = self.uniform_policy(w, a), acc
        return best

    def reference_points(self) -> list[ReferencePoint]:
        """Float, fixed 8-bit and the best uniform policy within the budget (chosen on validation), each measured
        on validation and test; computed once per environment."""
        if self._references is None:
            float_point = ReferencePoint("float", self.float_accuracy, self.float_accuracy_on("test"), None, None, 0, 0)
            self._references = [float_point, measure_reference(self, "fixed 8-bit", self.uniform_policy(8))]
            best = self.best_uniform_policy()
            if best is not None:
                w, a = self._from_policy(best)
                name = f"best uniform {self._bits_label(int(w[1]), int(a[1]))}"
                self._references.append(measure_reference(self, name, best, to_beat=True))
        return list(self._references)

    def _bits_label(self, w_bits: int, a_bits: int) -> str:
        return f"{w_bits}-bit weights" if self.steps_per_layer == 1 else f"{w_bits}/{a_bits}"

    def _uniform(self, w_bits: int, a_bits: int) -> tuple[np.ndarray, np.ndarray]:
        w = np.full(self.num_layers, w_bits, dtype=np.int64)
        a = np.full(self.num_layers, a_bits if self.steps_per_layer == 2 else UNQUANTIZED, dtype=np.int64)
        return self.budget_model.apply_rules(w, a)

    @property
    def _budget_limit(self) -> float:
        return self.budget * (1 + 1e-9)

    def _accuracy(self, w: np.ndarray, a: np.ndarray, split: Split = "val") -> float:
        """Accuracy of the policy ``w``/``a`` on ``split``, remembered (when ``cache_accuracy``) in the bounded cache,
        keyed by the policy packed into bytes."""
        return self._accuracy_cache.get_or_compute(_cache_key(w, a, split), lambda: self._measure_accuracy(w, a, split))

    def accuracies(self, w: np.ndarray, a: np.ndarray, split: Split = "val") -> list[float]:
        """Accuracies of many policies on ``split``, through the same cache as one episode's: in surrogate mode the
        ones not remembered are predicted in one batched call (what :class:`~hwenvs.envs.haq_vector_env.HAQVectorEnv`
        uses when episodes end together), with exactly the values one at a time would give.

        :param w: (K, L) weight bits, the layer rules applied.
        :param a: (K, L) activation bits, 0 where unquantized.
        :param split: ``"val"`` or ``"test"``.
        """
        keys = [_cache_key(wi, ai, split) for wi, ai in zip(w, a, strict=True)]
        if self.surrogate is not None:
            return self._accuracy_cache.get_or_compute_many(
                keys, lambda rows: self.surrogate.accuracies(w[rows], a[rows], split)
            )
        return self._accuracy_cache.get_or_compute_many(
            keys, lambda rows: [self._measure_accuracy(w[i], a[i], split) for i in rows]
        )

    def _measure_accuracy(self, w: np.ndarray, a: np.ndarray, split: Split) -> float:
        if self.surrogate is not None:
            return self.surrogate.accuracy(w, a, split)
        policy = self._to_policy(w, a)
        if not self.finetune_steps:
            return self.quantized.accuracy(self.task, policy, split=split)
        model = finetune(
            self.quantized.trainable_copy(policy),
            self.task,
            steps=self.finetune_steps,
            lr=self.finetune_lr,
            device=self.device,
        )
        return self.trained_accuracy(model, split)

    def _evaluate(self, w: np.ndarray, a: np.ndarray, split: Split = "val") -> dict[str, Any]:
        return self.terminal_info(w, a, self._accuracy(w, a, split), split)

    def terminal_info(self, w: np.ndarray, a: np.ndarray, acc: float, split: Split = "val") -> dict[str, Any]:
        """The terminal ``info`` of the policy ``w``/``a`` (rolled back) whose accuracy on ``split`` is ``acc``."""
        cost = self.budget_model.cost(w, a)
        float_accuracy = self.float_accuracy_on(split)
        return {
            "policy": self._to_policy(w, a),
            "cost": cost,
            "budget": self.budget,
            "reference_cost": self.reference_cost,
            "cost_ratio": cost / self.reference_cost,
            "within_budget": cost <= self._budget_limit,
            "accuracy": acc,
            "float_accuracy": float_accuracy,
            "reward": 0.1 * (acc - float_accuracy),
            "split": split,
            "accuracy_source": self.accuracy_source,
            "constraint": self.constraint,
            "unit": COST_UNITS[self.constraint],
        }

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
        """Start a new episode at the first layer's weight step.

        :param seed: seeds ``np_random`` (the environment itself draws nothing at random).
        :param options: none are known: any key raises ``ValueError``.
        """
        checks.reset_options(type(self).__name__, options)
        super().reset(seed=seed)
        self._clear_episode()
        return self._observation(0), {}

    def _action_value(self, action: Any) -> float:
        """The one real number ``action`` holds (see the class docstring's Action Space).

        :raises TypeError: not a real floating-point number (a string, None, an object, complex, bool or integer).
        :raises ValueError: a shape other than ``(1,)`` or ``()``, or a non-finite value.
        """
        # What agents pass almost always: checked in a few attribute reads, since a step costs microseconds.
        if type(action) is np.ndarray and action.dtype.kind == "f" and action.shape in ((1,), ()):
            value = action.item()
            if math.isfinite(value):
                return value
        try:
            arr = np.asarray(action)
        except (TypeError, ValueError, OverflowError):  # ragged nesting and the like
            raise TypeError(self._action_problem(action, "is not a number")) from None
        if arr.dtype.kind in "iu":
            raise TypeError(
                self._action_problem(action, "is an integer")
                + ". Integers are refused, not read as points of [-1, 1]: for a bit width use bits_to_action(bits)"
            )
        if arr.dtype.kind != "f":
            raise TypeError(self._action_problem(action, f"is not a real number (dtype {arr.dtype})"))
        if arr.shape not in ((), (1,)):
            raise ValueError(self._action_problem(action, f"has shape {arr.shape}"))
        value = float(arr.reshape(-1)[0])
        if not math.isfinite(value):
            raise ValueError(
                self._action_problem(action, "is not finite") + " (finite values outside [-1, 1] are clipped)"
            )
        return value

    def _action_problem(self, action: Any, problem: str) -> str:
        """The message for a refused action; built only on failure, since a repr costs more than a whole step."""
        return (
            f"step {self._step}: action {checks.shown(action)} {problem}; expected an element of "
            f"{self.action_space}: a float array of shape (1,), or one float"
        )

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Set the bits of the coming step's layer side; the last step rolls back into the budget and scores.

        :param action: one float (see the class docstring's Action Space); a bad one raises before anything moves.
        """
        if self._step >= self.steps_per_episode:
            raise RuntimeError("step() called after the episode ended; call reset() first")
        value = self._action_value(action)
        layer, kind = divmod(self._step, self.steps_per_layer)
        fixed = (self.budget_model.fixed_w if kind == 0 else self.budget_model.fixed_a)[layer]
        (self._w if kind == 0 else self._a)[layer] = self.action_to_bits(value) if fixed == FREE else fixed
        self._step += 1
        if self._step < self.steps_per_episode:
            return self._observation(self._step), 0.0, False, False, {}
        if self.steps_per_layer == 1:
            self._a[:] = UNQUANTIZED
        w, a = self.budget_model.rollback(self._w, self._a)
        self._w, self._a = w, a
        info = self._evaluate(w, a)
        self._last_info = info
        return self._observation(self._step), float(info["reward"]), True, False, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        w, a = self._w, self._a
        done = self._step >= self.steps_per_episode
        costs = self.budget_model.layer_costs(np.maximum(w, 1), a) if done else None
        lines = [f"{'#':>3} {'layer':<28} {'type':<9} {'W':>2} {'A':>2} {'cost':>11} {'share':>6}"]
        for i, layer in enumerate(self.layers):
            kind = "dw-conv" if layer.depthwise else layer.kind
            wb = str(w[i]) if w[i] else "-"
            ab = "f" if done and a[i] == UNQUANTIZED else (str(a[i]) if a[i] else "-")
            cost = f"{costs[i]:11.4g} {100 * costs[i] / costs.sum():5.1f}%" if costs is not None else ""
            lines.append(f"{i:>3} {layer.name[:28]:<28} {kind:<9} {wb:>2} {ab:>2} {cost}")
        if done:
            info = self._last_info
            lines.append(
                f"{self.constraint}: {info['cost']:.4g} {info['unit']} = {info['cost_ratio']:.3f} x 8-bit "
                f"(budget {self.budget_model.preserve_ratio:.3f}); accuracy {info['accuracy']:.4f} "
                f"(float {self.float_accuracy:.4f})"
            )
        return "\n".join(lines)


def _cache_key(w: np.ndarray, a: np.ndarray, split: Split) -> tuple[str, bytes]:
    """A policy's accuracy-cache key: the split and the bits packed into bytes (about 300 bytes for MobileNetV2)."""
    return split, w.astype(np.int8).tobytes() + a.astype(np.int8).tobytes()


def _cost_table(hardware: str | HardwareModel | CostTable | np.ndarray, layers: list[LayerShape], batch: int | None):
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
