"""A model whose every Conv2d and Linear runs at its own (weight bits, activation bits): a mixed-precision policy."""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence

import torch
import torch.fx
from torch import nn

from hwenvs.data import Task
from hwenvs.data.task import Split
from hwenvs.models.evaluate import accuracy, correct
from hwenvs.models.shapes import quantizable_layers
from hwenvs.quant.quantized_layer import FoldedBatchNorm, Method, QuantizedLayer

Policy = Sequence[Sequence[int | None]]
"""One ``(w_bits, a_bits)`` per quantizable layer; None leaves that side in float."""

EVAL_BATCH_SIZE = 200
"""Validation images per forward in :meth:`QuantizedModel.accuracy`: small enough that a MobileNetV2 block's
activations stay in the CPU caches on the embedded task (500 was about 1.5x slower), large enough to amortise the
per-layer Python overhead."""


class QuantizedModel:
    """Wraps a float model so that mixed-precision policies can be applied and evaluated cheaply.

    The float model is copied once; its quantizable layers are replaced by :class:`QuantizedLayer` wrappers and
    calibrated on one batch. Applying a policy only sets bit widths; quantized weights are computed on first use of
    each (layer, bits) and reused by every later policy.

    :meth:`accuracy` evaluates through a fused path (see :mod:`hwenvs.quant.quantized_layer`): BatchNorms that
    follow a quantized layer are folded into its cached quantized weights and ReLU / ReLU6 in front of a quantized
    input are absorbed into the input quantizer. The fusible pairs are found once with ``torch.fx``; a model that
    cannot be traced is evaluated unfused, with a warning that gives the reason. Outside :meth:`accuracy`,
    :attr:`model` is the plain unfused model.

    :param model: the float model (left untouched).
    :param calibration: a batch of inputs for the activation ranges.
    :param method: ``"linear"`` or ``"kmeans"`` weight quantization.
    :param device: where the model runs.
    :param seed: seeds calibration sub-sampling and k-means initialisation.
    """

    def __init__(
        self,
        model: nn.Module,
        calibration: torch.Tensor,
        method: Method = "linear",
        device: str | torch.device = "cpu",
        seed: int = 0,
    ) -> None:
        self.device = torch.device(device)
        self.model = copy.deepcopy(model).to(self.device).eval()
        self.layers: list[QuantizedLayer] = []
        self.names: list[str] = []
        for name, module in quantizable_layers(self.model):
            wrapper = QuantizedLayer(module, method=method, seed=seed)
            parent, _, child = name.rpartition(".")
            setattr(self.model.get_submodule(parent) if parent else self.model, child, wrapper)
            self.layers.append(wrapper)
            self.names.append(name)
        self.model.eval()  # the new wrappers too: eval mode caches quantized weights
        self._calibrate(calibration, seed)
        self._swaps = _find_fusions(self.model)
        """(parent, child name, module in the model, stand-in during fused evaluation)."""

    @contextlib.contextmanager
    def fused(self) -> Iterator[nn.Module]:
        """The model with its fused inference path switched on (eval, no autograd); restored on exit."""
        for parent, child, _, stand_in in self._swaps:
            setattr(parent, child, stand_in)
        for layer in self.layers:
            layer.fused = True
        try:
            with torch.no_grad():
                yield self.model
        finally:
            for layer in self.layers:
                layer.fused = False
            for parent, child, original, _ in self._swaps:
                setattr(parent, child, original)

    @torch.no_grad()
    def _calibrate(self, calibration: torch.Tensor, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        handles = [
            layer.register_forward_pre_hook(lambda mod, inputs: mod.calibrate(inputs[0], generator))
            for layer in self.layers
        ]
        self.set_policy([(None, None)] * len(self.layers))
        try:
            self.model(calibration.to(self.device))
        finally:
            for handle in handles:
                handle.remove()

    def __len__(self) -> int:
        return len(self.layers)

    def set_policy(self, policy: Policy) -> None:
        """Set every layer's (w_bits, a_bits)."""
        if len(policy) != len(self.layers):
            raise ValueError(f"policy has {len(policy)} entries, the model has {len(self.layers)} quantizable layers")
        for layer, (w_bits, a_bits) in zip(self.layers, policy, strict=True):
            layer.w_bits, layer.a_bits = w_bits, a_bits

    def accuracy(
        self, task: Task, policy: Policy | None = None, batch_size: int = EVAL_BATCH_SIZE, split: Split = "val"
    ) -> float:
        """Accuracy on ``split`` of the current policy (or of ``policy``, which then stays set), fused path."""
        if policy is not None:
            self.set_policy(policy)
        with self.fused() as model:
            return accuracy(model, task, self.device, batch_size=batch_size, split=split)

    def correct(
        self, task: Task, policy: Policy | None = None, batch_size: int = EVAL_BATCH_SIZE, split: Split = "val"
    ) -> torch.Tensor:
        """Per-image correctness (:func:`hwenvs.models.evaluate.correct`) of the current policy (or of ``policy``,
        which then stays set) on ``split``, fused path: the images behind :meth:`accuracy`."""
        if policy is not None:
            self.set_policy(policy)
        with self.fused() as model:
            return correct(model, task, self.device, batch_size=batch_size, split=split)

    def trainable_copy(self, policy: Policy) -> nn.Module:
        """An independent copy of the model at ``policy``, ready for quantization-aware training."""
        caches = [(layer._weights, layer._folded) for layer in self.layers]
        for layer in self.layers:
            layer._weights, layer._folded = {}, {}
        try:
            clone = copy.deepcopy(self.model)
        finally:
            for layer, (weights, folded) in zip(self.layers, caches, strict=True):
                layer._weights, layer._folded = weights, folded
        for layer, (w_bits, a_bits) in zip(_wrappers(clone), policy, strict=True):
            layer.w_bits, layer.a_bits = w_bits, a_bits
            layer.fold = None  # the copy trains unfused
            layer.absorb_input_activation(None)
        return clone

    def load_trained(self, trained: nn.Module) -> None:
        """Take over the weights of ``trained``, a :meth:`trainable_copy` of a model built like this one after
        training, so that :meth:`accuracy` measures it through the fused path, as it measures a policy without
        training. Call it on a copy of the environment's model, never on the original: the float weights change.

        Loaded: the policy, every parameter and buffer (BatchNorm affine parameters move during fine-tuning, so the
        folds are recomputed) and the quantizer state training fixed at its first step (weight clipping ratios,
        k-means codebooks); cached quantized weights are dropped. The activation ranges stay: training does not change
        them.

        :param trained: the trained copy.
        :raises ValueError: if ``trained`` does not have this model's quantized layers.
        """
        wrappers = _wrappers(trained)
        if len(wrappers) != len(self.layers):
            raise ValueError(f"the trained model has {len(wrappers)} quantized layers, this one {len(self.layers)}")
        self.model.load_state_dict(trained.state_dict())
        for mine, theirs in zip(self.layers, wrappers, strict=True):
            mine.w_bits, mine.a_bits = theirs.w_bits, theirs.a_bits
            mine._clip_ratios, mine._codebooks = dict(theirs._clip_ratios), dict(theirs._codebooks)
            mine.forget_quantized_weights()
        for _, _, _, stand_in in self._swaps:
            if isinstance(stand_in, FoldedBatchNorm):
                _fold_into(stand_in.bn, stand_in.producer[0])


def _wrappers(model: nn.Module) -> list[QuantizedLayer]:
    return [m for m in model.modules() if isinstance(m, QuantizedLayer)]


def forget_quantized_weights(model: nn.Module) -> None:
    """Drop the cached quantized weights of every wrapped layer of ``model`` (after its float weights changed)."""
    for layer in _wrappers(model):
        layer.forget_quantized_weights()


class _Tracer(torch.fx.Tracer):
    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, QuantizedLayer) or super().is_leaf_module(m, module_qualified_name)


Swap = tuple[nn.Module, str, nn.Module, nn.Module]
"""(parent, child name, module in the model, stand-in during fused evaluation)."""


def _find_fusions(model: nn.Module) -> list[Swap]:
    """Set up BatchNorm folding and activation absorption on ``model``'s wrapped layers; return the module swaps.

    A BatchNorm2d (eval, running statistics) folds into a wrapped Conv2d whose output only it reads; a ReLU, ReLU6
    or Hardtanh is absorbed by a wrapped layer that is its only reader. Patterns are read off a ``torch.fx`` trace.
    A model that cannot be traced gets no fusions and is evaluated unfused, with a warning that says why: the
    unfused path computes the same function, only slower, and a silent switch would hide a 2-3x slowdown.
    """
    try:
        graph = _Tracer().trace(model)
    except Exception as exc:  # data-dependent control flow, unsupported ops...
        warnings.warn(
            f"torch.fx cannot trace {type(model).__name__} ({type(exc).__name__}: {exc}); the model is evaluated "
            "unfused (no BatchNorm folding, no activation absorption), which is 2-3x slower",
            RuntimeWarning,
            stacklevel=3,
        )
        return []
    modules = dict(model.named_modules())
    calls = Counter(str(node.target) for node in graph.nodes if node.op == "call_module")
    swaps = []
    for node in graph.nodes:
        stand_in = _stand_in(node, modules, calls)
        if stand_in is not None:
            parent_name, _, child = str(node.target).rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            swaps.append((parent, child, modules[str(node.target)], stand_in))
    return swaps


def _stand_in(node: torch.fx.Node, modules: dict[str, nn.Module], calls: Counter[str]) -> nn.Module | None:
    """What replaces ``node``'s module during fused evaluation (setting up its fused partner), or None to keep it.

    A module called more than once (shared) cannot be swapped for one of its calls only, hence the call counts.
    """

    def module_of(n: object) -> nn.Module | None:
        if not isinstance(n, torch.fx.Node) or n.op != "call_module" or calls[str(n.target)] != 1:
            return None
        return modules.get(str(n.target))

    module = module_of(node)
    if module is None or len(node.args) != 1 or node.kwargs:
        return None
    source = node.args[0]
    if not isinstance(source, torch.fx.Node):
        return None
    producer = module_of(source)
    if _folds_into(module, producer) and len(source.users) == 1:
        assert isinstance(module, nn.BatchNorm2d) and isinstance(producer, QuantizedLayer)  # as _folds_into checked
        return _fold_batchnorm(module, producer)
    users = list(node.users)
    consumer = module_of(users[0]) if len(users) == 1 else None
    if (
        type(module) in (nn.ReLU, nn.ReLU6, nn.Hardtanh)
        and isinstance(consumer, QuantizedLayer)
        and users[0].args[:1] == (node,)
    ):
        consumer.absorb_input_activation(module)
        return nn.Identity()
    return None


def _folds_into(module: nn.Module, producer: nn.Module | None) -> bool:
    """Whether ``module`` is an eval-mode BatchNorm2d with running statistics after a wrapped Conv2d."""
    return (
        isinstance(module, nn.BatchNorm2d)
        and isinstance(producer, QuantizedLayer)
        and isinstance(producer.layer, nn.Conv2d)
        and module.running_mean is not None
        and module.running_var is not None
        and not module.training
    )


def _fold_batchnorm(bn: nn.BatchNorm2d, producer: QuantizedLayer) -> FoldedBatchNorm:
    """Fold ``bn`` into ``producer`` and return ``bn``'s stand-in."""
    _fold_into(bn, producer)
    return FoldedBatchNorm(bn, producer)


def _fold_into(bn: nn.modules.batchnorm._BatchNorm, producer: QuantizedLayer) -> None:
    """Give ``producer`` the per-channel (scale, shift) of ``bn`` (in float64) as it is now."""
    mean, var = bn.running_mean, bn.running_var
    assert mean is not None and var is not None  # a folded batch norm has running statistics (_folds_into)
    mean, var = mean.double(), var.double()
    gamma = bn.weight.detach().double() if bn.weight is not None else torch.ones_like(mean)
    beta = bn.bias.detach().double() if bn.bias is not None else torch.zeros_like(mean)
    scale = gamma / torch.sqrt(var + bn.eps)
    producer.fold = (scale, beta - mean * scale)
