"""ProxylessNAS: hardware-aware architecture search over the MobileNetV2 space as a Gymnasium environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from hwenvs.data import Task, load_task
from hwenvs.nas.architecture import Architecture
from hwenvs.nas.latency_tables import DEPLOYMENT_SPACE, TARGETS, LatencyTable, load_latency_table
from hwenvs.nas.search_space import NUM_BLOCKS, NUM_MBCONV_OPS, OPS, STAGES, ZERO, ZERO_ALLOWED
from hwenvs.nas.train_supernet import DEFAULT_WIDTH, load_supernet, path_accuracy, weight_step

Mode = Literal["oneshot", "sequential"]
WeightsMode = Literal["frozen", "online"]
MODES = ("oneshot", "sequential")
WEIGHTS_MODES = ("frozen", "online")
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
MAX_ACCURACY_CACHE = 100_000


class ProxylessNASEnv(gym.Env):
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
    is replaced by ``k3e3`` and counted in ``info["invalid_zero"]``. Actions of the wrong shape, type or range raise
    ``ValueError``.

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

    Terminates after the last block (one step in oneshot mode, 21 in sequential mode: ``steps_per_episode``); never
    truncated. The terminal
    ``info`` holds ``architecture`` (canonical string), ``latency_ms``, ``accuracy``, ``cost_ratio`` (latency over
    target), ``target_ms``, ``hardware``, ``unit`` (``"ms"``) and ``invalid_zero``.

    ## Arguments

    * ``hardware``: latency target, one of ``mobile`` (ProxylessNAS's published Pixel 1 table), ``cpu`` and ``gpu``
      (measured on this machine and cached; ``gpu`` needs CUDA), ``bismo-edge``, ``bismo-cloud``, ``bitfusion`` (the
      HAQ hardware models at 8/8 bits), or the path of a YAML table in ProxylessNAS's format. ``gpu`` raises
      ``RuntimeError`` on a machine without CUDA.
    * ``mode``: ``"oneshot"`` or ``"sequential"``.
    * ``weights``: ``"frozen"`` (stationary, default) or ``"online"``: before scoring, one SGD step on the sampled
      path with the next training batch, as the paper alternates weight and architecture steps. Online episodes
      depend on every earlier episode: ``reset(seed)`` reseeds the batch order but does not restore the weights.
    * ``target_ms``: latency target; default 80 for mobile, else the latency of the all-k3e3 network on the table
      (BISMO edge 37.0 ms; CPU depends on the machine).
    * ``latency_exponent``: ``w``, negative (default -0.1).
    * ``dataset``: ``"mnist"`` (embedded), an ImageFolder root, or a loaded :class:`~hwenvs.data.Task`; a task
      without a shipped supernet has one warmed up on first use (progress bar) and cached.
    * ``width_mult``: width multiplier of the accuracy supernet (0.35 ships for the embedded task).
    * ``val_batch_size``: images in the validation batch that scores accuracy (the paper's 1000).
    * ``latency_table``: a :class:`LatencyTable` to use instead of loading ``hardware``'s.
    * ``online_lr``, ``online_batch_size``: SGD learning rate and batch size of the online weight step.
    * ``table_options``: keyword arguments for building a measured table (``repeats``, ``threads``...).
    * ``render_mode``: None or ``"ansi"`` (the architecture so far as text).

    ## Version History

    * v0: initial version (registered without a version suffix).
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["ansi"],
        "autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP,
    }

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
        render_mode: str | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if weights not in WEIGHTS_MODES:
            raise ValueError(f"weights must be one of {WEIGHTS_MODES}, got {weights!r}")
        if not np.isfinite(latency_exponent) or latency_exponent >= 0:
            raise ValueError(f"latency_exponent must be negative (slower networks earn less), got {latency_exponent}")
        if val_batch_size < 1:
            raise ValueError(f"val_batch_size must be positive, got {val_batch_size}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        if hardware == "gpu" and latency_table is None and not torch.cuda.is_available():
            raise RuntimeError(
                "ProxylessNAS-GPU measures latency on a CUDA device and this machine has none; use hardware='cpu', "
                "'mobile', 'bismo-edge', 'bismo-cloud' or 'bitfusion', or pass latency_table="
            )
        self.hardware = hardware
        self.mode = mode
        self.weights = weights
        self.latency_exponent = float(latency_exponent)
        self.render_mode = render_mode

        if latency_table is None:
            if hardware not in TARGETS and Path(hardware).suffix not in (".yaml", ".yml"):
                raise ValueError(f"unknown hardware {hardware!r}; valid: {', '.join(TARGETS)} or a YAML table path")
            latency_table = load_latency_table(hardware, DEPLOYMENT_SPACE, **(table_options or {}))
        self.table = latency_table
        if target_ms is None:
            if hardware == "mobile":
                target_ms = MOBILE_TARGET_MS
            else:
                target_ms = self.table.latency_ms(Architecture.from_names([REFERENCE_FOR_TARGET] * NUM_BLOCKS))
        try:
            target = float(target_ms)
        except (TypeError, ValueError):
            target = float("nan")
        if not 0 < target < float("inf"):
            raise ValueError(f"target_ms must be a positive number of milliseconds, got {target_ms!r}")
        self.target_ms = target

        self.task = load_task(dataset)
        self.supernet = load_supernet(self.task, width_mult)
        self.space = self.supernet.space
        x, y = next(iter(self.task.val_batches(val_batch_size)))
        self._val_x = x.contiguous(memory_format=torch.channels_last)
        self._val_y = y
        self._accuracy_cache: dict[tuple[int, ...], float] = {}
        self.online_lr = float(online_lr)
        self.online_batch_size = int(online_batch_size)
        self._optimizer: torch.optim.Optimizer | None = None
        self._train_iter: Any = None

        self.nvec = np.array([NUM_MBCONV_OPS + int(z) for z in ZERO_ALLOWED], dtype=np.int64)
        if mode == "oneshot":
            self.action_space: spaces.Space = spaces.MultiDiscrete(self.nvec)
        else:
            self.action_space = spaces.Discrete(len(OPS))
        # every episode's length, stated as HAQ's environment states it (agents size their budgets with it)
        self.steps_per_episode = 1 if mode == "oneshot" else NUM_BLOCKS
        self.observation_space = spaces.Box(0.0, 1.0, (len(FEATURE_NAMES),), np.float32)
        self._static = self._static_features()
        self._choices: list[int] = []
        self._invalid_zero = 0
        self._done = True

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

    def accuracy_of(self, arch: Architecture) -> float:
        """Accuracy of ``arch``'s supernet path on the validation batch (cached by architecture when frozen).

        :param arch: the architecture.
        """
        if self.weights == "frozen":
            cached = self._accuracy_cache.get(arch.choices)
            if cached is not None:
                return cached
        acc = path_accuracy(self.supernet, self._val_x, self._val_y, arch)
        if self.weights == "frozen" and len(self._accuracy_cache) < MAX_ACCURACY_CACHE:
            self._accuracy_cache[arch.choices] = acc
        return acc

    def evaluate(self, arch: Architecture | str) -> dict[str, Any]:
        """Score an architecture without stepping (no online weight step): the terminal info an episode would give.

        :param arch: an :class:`Architecture` or its string form.
        """
        if isinstance(arch, str):
            arch = Architecture.from_string(arch)
        latency = self.table.latency_ms(arch)
        accuracy = self.accuracy_of(arch)
        return {
            "architecture": arch.to_string(),
            "latency_ms": latency,
            "accuracy": accuracy,
            "cost_ratio": latency / self.target_ms,
            "target_ms": self.target_ms,
            "hardware": self.hardware,
            "unit": "ms",
            "reward": self.reward_of(accuracy, latency),
        }

    def _online_step(self, arch: Architecture) -> None:
        if self._optimizer is None:
            self._optimizer = torch.optim.SGD(self.supernet.parameters(), lr=self.online_lr, momentum=0.9)
        batch = next(self._train_iter, None) if self._train_iter is not None else None
        if batch is None:
            # each pass over the training split gets its order from the episode generator that reset(seed) seeds
            seed = int(self.np_random.integers(2**31))
            self._train_iter = iter(self.task.train_loader(self.online_batch_size, seed=seed))
            batch = next(self._train_iter)
        x, y = batch
        self.supernet.train()
        weight_step(self.supernet, self._optimizer, x.contiguous(memory_format=torch.channels_last), y, arch)
        self.supernet.eval()

    # -- gymnasium API -----------------------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start a new episode at the first block.

        :param seed: in online mode, reseeds the order of the training batches; otherwise nothing is random.
        :param options: unused.
        """
        super().reset(seed=seed)
        if seed is not None:
            self._train_iter = None
        self._choices = []
        self._invalid_zero = 0
        self._done = False
        return self._observation(), {}

    def _check_oneshot_action(self, action: Any) -> list[int]:
        arr = np.asarray(action)
        if arr.shape != (NUM_BLOCKS,):
            raise ValueError(f"oneshot action must have shape ({NUM_BLOCKS},), one op index per block; got {arr.shape}")
        if not np.issubdtype(arr.dtype, np.integer):
            if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.isfinite(arr)) or np.any(arr != arr.round()):
                raise ValueError(f"oneshot action must hold integers, got {arr.dtype} {arr.tolist()}")
        bad = np.flatnonzero((arr < 0) | (arr >= self.nvec))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"oneshot action {arr.tolist()}: block {i} got {arr[i]}, valid 0..{self.nvec[i] - 1} "
                f"({', '.join(op.name for op in OPS[: self.nvec[i]])})"
            )
        return [int(a) for a in arr]

    def _check_sequential_action(self, action: Any) -> int:
        arr = np.asarray(action)
        if arr.size != 1 or not (np.issubdtype(arr.dtype, np.integer) or float(arr.reshape(-1)[0]).is_integer()):
            raise ValueError(f"sequential action must be one integer op index, got {action!r}")
        value = int(arr.reshape(-1)[0])
        if not 0 <= value < len(OPS):
            names = ", ".join(o.name for o in OPS)
            raise ValueError(f"sequential action {value} out of range 0..{len(OPS) - 1} ({names})")
        if value == ZERO and not ZERO_ALLOWED[len(self._choices)]:
            self._invalid_zero += 1
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
                info = {"block": len(self._choices) - 1, "latency_so_far_ms": self.table.partial_ms(self._choices)}
                return self._observation(), 0.0, False, False, info
        self._done = True
        arch = Architecture(tuple(self._choices))
        if self.weights == "online":
            self._online_step(arch)
        info = self.evaluate(arch)
        info["invalid_zero"] = self._invalid_zero
        return self._observation(), float(info.pop("reward")), True, False, info

    def action_masks(self) -> np.ndarray:
        """Valid actions now: in sequential mode, 7 flags for the block about to be chosen (zero only where
        allowed); in oneshot mode, the concatenated flags of every block's candidates (all valid)."""
        if self.mode == "oneshot":
            return np.ones(int(self.nvec.sum()), dtype=bool)
        mask = np.ones(len(OPS), dtype=bool)
        mask[ZERO] = ZERO_ALLOWED[min(len(self._choices), NUM_BLOCKS - 1)]
        return mask

    def render(self) -> str | None:
        """The blocks chosen so far (``ansi`` mode)."""
        if self.render_mode != "ansi":
            return None
        names = [OPS[c].name for c in self._choices]
        return " ".join(names) + f"  ({self.table.partial_ms(self._choices):.1f} ms of {self.target_ms:.1f})"
