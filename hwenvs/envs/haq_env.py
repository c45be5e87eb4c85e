"""HAQ: hardware-aware automated mixed-precision quantization as a Gymnasium environment."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from hwenvs.data import Task, load_task
from hwenvs.envs.bit_budget import FREE, UNQUANTIZED, BitBudget
from hwenvs.envs.layer_features import static_layer_features
from hwenvs.hardware.base import MAX_BITS, CostTable, HardwareModel, LayerShape
from hwenvs.models.evaluate import accuracy as model_accuracy
from hwenvs.models.pretrained import load_reference_model
from hwenvs.models.shapes import layer_shapes
from hwenvs.quant.finetune import finetune
from hwenvs.quant.linear import MIN_BITS as MIN_LINEAR_BITS
from hwenvs.quant.quantized_model import EVAL_BATCH_SIZE, QuantizedModel

Constraint = Literal["latency", "energy", "size"]
CONSTRAINTS = ("latency", "energy", "size")
COST_UNITS = {"latency": "s", "energy": "J", "size": "bits"}


class HAQEnv(gym.Env):
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

    ## Observation Space

    ``Box(0, 1, (10,), float32)`` describing the layer of the step about to be taken: depthwise flag, in channels,
    out channels, stride, kernel size, number of weights, input area (1 for linear), layer index (columns 1-8
    min-max normalised over the model's layers), the previous step's bits / max_bits (0 at the first step), and
    1 if this step sets weight bits, 0 if it sets activation bits.

    ## Rewards

    0 on every step but the last; on the last, ``0.1 * (accuracy - float_accuracy)`` with accuracies as fractions
    measured on the validation split, optionally after ``finetune_steps`` of quantization-aware fine-tuning.

    ## Starting State

    The first layer's weight step. The environment has no randomness: a policy always gets the same reward.

    ## Episode End

    Terminates after the last step: ``2 * num_layers`` steps for the latency and energy budgets (weight bits, then
    activation bits, per layer) and ``num_layers`` for the model-size budget (weights only). Never truncated.
    The terminal ``info`` holds ``policy`` (``[w_bits, a_bits]`` per layer, ``a_bits`` None where the input is not
    quantized), ``cost``, ``budget``, ``reference_cost`` (all layers at 8/8), ``cost_ratio``, ``accuracy``,
    ``float_accuracy``, ``constraint`` and ``unit``.

    ## Arguments

    * ``model``: ``"mobilenet_v2"`` (53 layers), ``"resnet18"`` (21) or ``"mobilenet_v1"`` (28).
    * ``hardware``: a name known to :func:`hwenvs.hardware.make_hardware` (``"bismo-edge"``, ``"bismo-cloud"``,
      ``"bitfusion"``, ...), a :class:`HardwareModel`, a :class:`CostTable`, or an (L, 8, 8) array of costs.
    * ``constraint``: ``"latency"``, ``"energy"`` or ``"size"`` (model size in weight bits; k-means weights).
    * ``preserve_ratio``: the budget as a fraction of the cost at 8/8 bits (default 0.5).
    * ``min_bits``, ``max_bits``: the bit range the agent chooses from (default 2 and 8).
    * ``dataset``: ``"mnist"`` (embedded) or an ImageFolder root; ``dataset_kwargs`` go to its loader.
    * ``weights``: see :func:`hwenvs.models.pretrained.load_reference_model` (``"default"``).
    * ``resolution``: deployment input side the hardware costs are computed at (default 224).
    * ``batch``: batch size of the hardware model (default: the hardware's own).
    * ``keep_first_layer``, ``keep_last_layer``: HAQ's fixed-layer rules (default True), always applied.
    * ``quantizer``: ``"linear"`` or ``"kmeans"`` weights (default: k-means for size, linear otherwise).
    * ``finetune_steps``: SGD steps of fine-tuning before evaluation (default 0); ``finetune_lr`` its rate.
    * ``cache_accuracy``: remember the accuracy of every evaluated policy (default True).
    * ``device``: ``"cpu"`` or ``"cuda"``.
    * ``render_mode``: None or ``"ansi"`` (a per-layer table of bits and costs).

    ## Version History

    * v0: initial release, with the public HAQ code's bugs fixed (per-episode state, feature 10 describing the
      coming step, layer rules applied to every policy, unquantized inputs charged as 8 bits, accuracy measured on
      held-out data).
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["ansi"],
        "render_fps": 4,  # declared for the env checker; text rendering has no frame rate of its own
        "autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP,
    }

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
    ) -> None:
        if constraint not in CONSTRAINTS:
            raise ValueError(f"unknown constraint {constraint!r}; valid: {list(CONSTRAINTS)}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"unknown render_mode {render_mode!r}; valid: None, {self.metadata['render_modes']}")
        if device not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
            raise ValueError(f"unknown device {device!r}; valid: 'cpu', 'cuda'")
        if str(device).startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("device='cuda' was asked for but CUDA is not available here; use device='cpu'")
        if quantizer is None:
            quantizer = "kmeans" if constraint == "size" else "linear"
        if int(min_bits) < MIN_LINEAR_BITS and not (constraint == "size" and quantizer == "kmeans"):
            raise ValueError(
                f"min_bits={min_bits}: linear quantization supports {MIN_LINEAR_BITS}..8 bits; 1-bit weights need "
                "constraint='size' with the k-means quantizer"
            )
        if finetune_steps < 0:
            raise ValueError(f"finetune_steps must be >= 0, got {finetune_steps}")
        self.constraint = constraint
        self.min_bits, self.max_bits = int(min_bits), int(max_bits)
        self.render_mode = render_mode
        self.device = torch.device(device)
        self.finetune_steps = int(finetune_steps)
        self.finetune_lr = float(finetune_lr)
        self.cache_accuracy = cache_accuracy

        self.task = load_task(dataset, **(dataset_kwargs or {}))
        float_model = load_reference_model(model, self.task, weights)
        self.model_name = model
        self.layers: list[LayerShape] = layer_shapes(float_model, resolution)
        self.num_layers = len(self.layers)
        self.cost_table = _cost_table(hardware, self.layers, batch)
        self.budget_model = BitBudget(
            _constraint_table(self.cost_table, self.layers, constraint),
            min_bits=self.min_bits,
            max_bits=self.max_bits,
            preserve_ratio=preserve_ratio,
            quantize_activations=constraint != "size",
            keep_first_layer=keep_first_layer,
            keep_last_layer=keep_last_layer,
        )
        self.quantized = QuantizedModel(float_model, self.task.calibration, method=quantizer, device=self.device)
        self._float_model = float_model.to(self.device)
        self._float_accuracy: float | None = None  # measured on first use: one float pass less in gym.make

        self.steps_per_layer = 1 if constraint == "size" else 2
        self.steps_per_episode = self.steps_per_layer * self.num_layers
        self._static_features = static_layer_features(self.layers)
        # Every step's observation but feature 9 (the previous step's bits), which step() fills in.
        self._observations = np.zeros((self.steps_per_episode, 10), dtype=np.float32)
        self._observations[:, :8] = np.repeat(self._static_features, self.steps_per_layer, axis=0)
        self._observations[:, 9] = np.arange(self.steps_per_episode) % self.steps_per_layer == 0
        self.observation_space = spaces.Box(0.0, 1.0, (10,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self._accuracy_cache: dict[tuple, float] = {}
        self._step = self.steps_per_episode  # no episode until reset()
        self._w = np.zeros(self.num_layers, dtype=np.int64)
        self._a = np.zeros(self.num_layers, dtype=np.int64)
        self._last_info: dict[str, Any] = {}

    # -- budget figures -------------------------------------------------------------------------------------------

    @property
    def float_accuracy(self) -> float:
        """Validation accuracy of the float model (measured once, on first use)."""
        if self._float_accuracy is None:
            self._float_accuracy = model_accuracy(self._float_model, self.task, self.device, EVAL_BATCH_SIZE)
        return self._float_accuracy

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
        """The action at the centre of ``bits``' bin (the inverse of :meth:`action_to_bits`)."""
        if not self.min_bits <= bits <= self.max_bits:
            raise ValueError(f"bits must be in {self.min_bits}..{self.max_bits}, got {bits}")
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

    def uniform_policy(self, bits: int) -> list[list[int | None]]:
        """Every free layer at ``bits``/``bits``, the fixed layers as the rules say."""
        return self._to_policy(*self.budget_model.apply_rules(*self.budget_model.uniform(bits)))

    def fit_to_budget(self, policy: Sequence[Sequence[int | None]]) -> list[list[int | None]]:
        """``policy`` with the layer rules applied and rolled back into the budget."""
        return self._to_policy(*self.budget_model.rollback(*self._from_policy(policy)))

    def policy_cost(self, policy: Sequence[Sequence[int | None]]) -> float:
        """Total cost of ``policy`` on this environment's hardware and constraint."""
        return self.budget_model.cost(*self._from_policy(policy))

    def quantized_model(self, policy: Sequence[Sequence[int | None]]) -> torch.nn.Module:
        """An independent, trainable fake-quantized copy of the model at ``policy``."""
        return self.quantized.trainable_copy(self._to_policy(*self._from_policy(policy)))

    def evaluate_policy(self, policy: Sequence[Sequence[int | None]]) -> dict[str, Any]:
        """Evaluate exactly ``policy`` (no rollback): the terminal-info dict, with ``within_budget``.

        :raises ValueError: wrong layer count, bits outside 1..8, or a fixed layer's rule broken.
        """
        w, a = self._from_policy(policy)
        fw, fa = self.budget_model.apply_rules(w, a)
        broken = np.flatnonzero((fw != w) | (fa != a))
        if broken.size:
            i = int(broken[0])
            raise ValueError(
                f"policy layer {i} ({self.layers[i].name}) must be {self._to_policy(fw, fa)[i]} under this "
                f"environment's layer rules, got {self._to_policy(w, a)[i]}"
            )
        return self._evaluate(w, a)

    def _accuracy(self, policy: list[list[int | None]]) -> float:
        key = tuple(map(tuple, policy))
        if self.cache_accuracy and key in self._accuracy_cache:
            return self._accuracy_cache[key]
        if self.finetune_steps:
            model = finetune(
                self.quantized.trainable_copy(policy),
                self.task,
                steps=self.finetune_steps,
                lr=self.finetune_lr,
                device=self.device,
            )
            acc = model_accuracy(model, self.task, self.device)
        else:
            acc = self.quantized.accuracy(self.task, policy)
        if self.cache_accuracy:
            self._accuracy_cache[key] = acc
        return acc

    def _evaluate(self, w: np.ndarray, a: np.ndarray) -> dict[str, Any]:
        policy = self._to_policy(w, a)
        cost = self.budget_model.cost(w, a)
        acc = self._accuracy(policy)
        return {
            "policy": policy,
            "cost": cost,
            "budget": self.budget,
            "reference_cost": self.reference_cost,
            "cost_ratio": cost / self.reference_cost,
            "within_budget": cost <= self.budget * (1 + 1e-9),
            "accuracy": acc,
            "float_accuracy": self.float_accuracy,
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
            observation[8] = (bits or MAX_BITS) / self.max_bits
        return observation

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._step = 0
        self._w = np.zeros(self.num_layers, dtype=np.int64)
        self._a = np.zeros(self.num_layers, dtype=np.int64)
        self._last_info = {}
        return self._observation(0), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._step >= self.steps_per_episode:
            raise RuntimeError("step() called after the episode ended; call reset() first")
        value = np.asarray(action, dtype=np.float64).reshape(-1)
        if value.size != 1:
            raise ValueError(f"step {self._step}: expected one action value, got shape {np.shape(action)}")
        if not np.isfinite(value[0]):
            raise ValueError(f"step {self._step}: action must be finite, got {value[0]}")
        layer, kind = divmod(self._step, self.steps_per_layer)
        fixed = (self.budget_model.fixed_w if kind == 0 else self.budget_model.fixed_a)[layer]
        (self._w if kind == 0 else self._a)[layer] = self.action_to_bits(value[0]) if fixed == FREE else fixed
        self._step += 1
        if self._step < self.steps_per_episode:
            return self._observation(self._step), 0.0, False, False, {}
        if self.steps_per_layer == 1:
            self._a[:] = UNQUANTIZED
        w, a = self.budget_model.rollback(self._w, self._a)
        self._w, self._a = w, a
        info = self._evaluate(w, a)
        self._last_info = info
        reward = 0.1 * (info["accuracy"] - self.float_accuracy)
        return self._observation(self._step), float(reward), True, False, info

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
