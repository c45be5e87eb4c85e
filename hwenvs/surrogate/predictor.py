"""Accuracy predictors for surrogate mode: features of a solution, two model families, and their held-out metrics.

A predictor maps a HAQ bit allocation (or a ProxylessNAS architecture) to the validation and test accuracy the real
environment would measure. Costs need no predicting: they are exact table look-ups in both environments.

The model families are a gradient-boosted tree ensemble (scikit-learn's ``HistGradientBoostingRegressor``, one per
split) and a small neural network (a torch MLP with both splits as outputs, run in numpy once trained). Both are fit
on the same training part of a dataset (:func:`holdout_split`, fixed by seed) and scored on the rest, so the error a
results file reports is the error of exactly the predictor the environments use.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from hwenvs.nas.search_space import OPS, STAGES

Split = Literal["val", "test"]
SPLITS: tuple[Split, Split] = ("val", "test")
FAMILIES = ("gbm", "mlp")
HOLDOUT_FRACTION = 0.2
"""Share of a dataset's rows kept out of fitting, to measure the error on."""
SPLIT_SEED = 0
TOP_FRACTION = 0.01
"""What "the top" is in the top-precision metric: the best 1% of held-out rows by measured accuracy."""
FORMAT_VERSION = 4
"""Bumped whenever a fitted predictor's pickled form changes, so caches of older fits are refit, not misread."""
UNQUANTIZED_AS = 9
"""An unquantized input (``a_bits`` 0) reads as one more than 8 bits, so more bits always means closer to float."""


# -- features -------------------------------------------------------------------------------------------------------


def haq_features(w_bits: np.ndarray, a_bits: np.ndarray) -> np.ndarray:
    """(N, 2L + 9) float32 features of N bit allocations: every layer's bits, then summaries of the whole policy.

    Single layers at 2 or 3 bits are what break a network, so the summaries count them; trees split on counts far
    more easily than they add up 106 columns.

    :param w_bits: (N, L) weight bits.
    :param a_bits: (N, L) activation bits, 0 where the input is not quantized.
    """
    w = np.asarray(w_bits, dtype=np.float32)
    a = np.where(np.asarray(a_bits) == 0, UNQUANTIZED_AS, a_bits).astype(np.float32)
    summaries = [w.min(1), a.min(1), w.mean(1), a.mean(1)]
    summaries += [(w <= b).sum(1) for b in (2, 3)] + [(a <= b).sum(1) for b in (2, 3, 4)]
    return np.concatenate([w, a, np.stack(summaries, axis=1).astype(np.float32)], axis=1)


def nas_features(choices: np.ndarray) -> np.ndarray:
    """(N, 21 * 7 + 3 * 21 + 6) float32 features of N architectures: one-hot candidate per block, each block's kernel,
    expansion and skip flag, the number of blocks kept in each of the five stages with skippable blocks, and the depth.

    :param choices: (N, 21) op indices (see :data:`hwenvs.nas.search_space.OPS`).
    """
    choices = np.asarray(choices, dtype=np.int64)
    one_hot = np.eye(len(OPS), dtype=np.float32)[choices].reshape(len(choices), -1)
    kernel = np.array([op.kernel for op in OPS], dtype=np.float32)[choices]
    expand = np.array([op.expand for op in OPS], dtype=np.float32)[choices]
    skipped = np.array([op.is_zero for op in OPS], dtype=np.float32)[choices]
    bounds = np.cumsum([0] + [n for _, n, _ in STAGES])
    kept = [(1 - skipped[:, lo:hi]).sum(1) for lo, hi in itertools.pairwise(bounds) if hi - lo > 1]
    depth = (1 - skipped).sum(1, keepdims=True)
    return np.concatenate([one_hot, kernel, expand, skipped, np.stack(kept, axis=1), depth], axis=1)


# -- model families -------------------------------------------------------------------------------------------------


class Regressor(Protocol):
    """A fitted model of both splits' accuracy."""

    def predict(self, features: np.ndarray) -> np.ndarray:
        """(N, 2) predicted accuracy on (val, test) for (N, D) features."""

    def predict_split(self, features: np.ndarray, column: int) -> np.ndarray:
        """(N,) predicted accuracy on one split (0 val, 1 test): what an episode needs, at half the work."""


@dataclass
class CompiledForest:
    """A fitted ``HistGradientBoostingRegressor``'s trees as flat arrays, walked one level at a time for every tree
    and row at once.

    scikit-learn's ``predict`` visits its trees one Python call at a time, about 30 us each: a few hundred trees made
    every surrogate episode cost milliseconds, so the environments could not reach hundreds of episodes per second.
    The arrays come from the fitted model's ``_predictors`` (private, so ``tests/test_surrogate_predictor.py``
    checks this against ``predict`` on every fit it makes); only numerical splits on features without missing
    values, which is what :func:`haq_features` and :func:`nas_features` give.

    :param baseline: the model's constant start.
    :param roots: (T,) each tree's root in the flat node arrays.
    :param feature: (nodes,) split feature.
    :param threshold: (nodes,) split threshold: a row goes left when its feature is at most this.
    :param children: (2 * nodes,) left then right child of each node, flat indices (a leaf's are itself).
    :param value: (nodes,) a leaf's contribution (0 at split nodes).
    :param depth: the deepest leaf's depth (levels to walk).
    """

    baseline: float
    roots: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    children: np.ndarray
    value: np.ndarray
    depth: int

    @classmethod
    def from_sklearn(cls, model: Any) -> CompiledForest:
        """Flatten a fitted ``HistGradientBoostingRegressor`` (squared error, no categorical features).

        :raises ValueError: a tree with a categorical split.
        """
        trees = [tree.nodes for (tree,) in model._predictors]
        offsets = np.cumsum([0] + [len(nodes) for nodes in trees[:-1]])
        nodes = np.concatenate(trees)
        if nodes["is_categorical"].any():
            raise ValueError("categorical splits are not supported by CompiledForest")
        shift = np.repeat(offsets, [len(t) for t in trees])
        index = np.arange(len(nodes))
        is_leaf = nodes["is_leaf"].astype(bool)
        # A leaf is its own child on both sides, so walking past it changes nothing and needs no leaf test.
        left = np.where(is_leaf, index, nodes["left"] + shift)
        right = np.where(is_leaf, index, nodes["right"] + shift)
        return cls(
            baseline=float(np.asarray(model._baseline_prediction).reshape(-1)[0]),
            roots=offsets.astype(np.int64),
            feature=np.where(is_leaf, 0, nodes["feature_idx"]).astype(np.int64),
            threshold=nodes["num_threshold"].astype(np.float64),
            children=np.stack([left, right], axis=1).reshape(-1).astype(np.int64),
            value=np.where(is_leaf, nodes["value"], 0.0).astype(np.float64),
            depth=int(nodes["depth"].max()),
        )

    def predict(self, features: np.ndarray) -> np.ndarray:
        """(N,) predictions for (N, D) features."""
        x = np.asarray(features, dtype=np.float64)
        if len(x) == 1:  # one episode's policy: a flat walk, a few microseconds a level
            row = x[0]
            node = self.roots
            for _ in range(self.depth):
                node = self.children[2 * node + (row[self.feature[node]] > self.threshold[node])]
            return self.baseline + self.value[node][None].sum(axis=1)  # the batch's sum, to the last bit
        rows = np.arange(len(x))[:, None]
        node = np.broadcast_to(self.roots, (len(x), len(self.roots)))
        for _ in range(self.depth):
            node = self.children[2 * node + (x[rows, self.feature[node]] > self.threshold[node])]
        return self.baseline + self.value[node].sum(axis=1)


@dataclass
class GradientBoosting:
    """One ``HistGradientBoostingRegressor`` per split (scikit-learn), with early stopping on an inner split, run
    through :class:`CompiledForest`.

    :param models: the fitted regressors, val then test.
    :param forests: the same models compiled.
    """

    models: list[Any]
    forests: list[CompiledForest]

    @classmethod
    def fit(cls, features: np.ndarray, targets: np.ndarray, seed: int = 0) -> GradientBoosting:
        """Fit on (N, D) features and (N, 2) targets.

        :param seed: seeds the inner early-stopping split (the fit is otherwise deterministic).
        """
        from sklearn.ensemble import HistGradientBoostingRegressor

        models = []
        for column in range(targets.shape[1]):
            model = HistGradientBoostingRegressor(
                max_iter=1000, learning_rate=0.05, max_leaf_nodes=31, min_samples_leaf=10, l2_regularization=1e-3,
                early_stopping=True, validation_fraction=0.1, n_iter_no_change=30, random_state=seed,
            )  # fmt: skip
            models.append(model.fit(features, targets[:, column]))
        return cls(models, [CompiledForest.from_sklearn(m) for m in models])

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.stack([forest.predict(features) for forest in self.forests], axis=1)

    def predict_split(self, features: np.ndarray, column: int) -> np.ndarray:
        return self.forests[column].predict(features)


def _standardiser(columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, standard deviation) of each column, the deviation 1 where a column is constant."""
    std = columns.std(0)
    return columns.mean(0), np.where(std > 0, std, 1.0)


@dataclass
class NeuralNet:
    """A two-hidden-layer MLP (ReLU) on standardised features and targets, trained with torch and run in numpy.

    Targets are standardised too: a supernet's accuracies span a few points, and an MSE that small on raw accuracy
    gives Adam (and the weight decay) nothing to fit.

    :param mean: feature means of the training rows.
    :param scale: feature standard deviations (1 where constant).
    :param layers: ``(weight, bias)`` per layer, weights as (in, out).
    :param target_mean: (2,) means of the training targets.
    :param target_scale: (2,) standard deviations of the training targets (1 where constant).
    """

    mean: np.ndarray
    scale: np.ndarray
    layers: list[tuple[np.ndarray, np.ndarray]]
    target_mean: np.ndarray
    target_scale: np.ndarray

    HIDDEN = 256
    EPOCHS = 300
    BATCH = 256
    LR = 1e-3
    WEIGHT_DECAY = 1e-4

    @classmethod
    def fit(cls, features: np.ndarray, targets: np.ndarray, seed: int = 0) -> NeuralNet:
        """Fit on (N, D) features and (N, 2) targets with Adam and a cosine schedule, one torch thread.

        :param seed: seeds the initial weights and the batch order.
        """
        import torch

        mean, scale = _standardiser(features)
        target_mean, target_scale = _standardiser(targets)
        x = torch.from_numpy(((features - mean) / scale).astype(np.float32))
        y = torch.from_numpy(((targets - target_mean) / target_scale).astype(np.float32))
        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        net = torch.nn.Sequential(
            torch.nn.Linear(x.shape[1], cls.HIDDEN), torch.nn.ReLU(),
            torch.nn.Linear(cls.HIDDEN, cls.HIDDEN), torch.nn.ReLU(),
            torch.nn.Linear(cls.HIDDEN, y.shape[1]),
        )  # fmt: skip
        optimizer = torch.optim.AdamW(net.parameters(), lr=cls.LR, weight_decay=cls.WEIGHT_DECAY)
        steps = cls.EPOCHS * -(-len(x) // cls.BATCH)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
        for _ in range(cls.EPOCHS):
            for batch in torch.randperm(len(x), generator=generator).split(cls.BATCH):
                loss = torch.nn.functional.mse_loss(net(x[batch]), y[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
        linear = [m for m in net if isinstance(m, torch.nn.Linear)]
        layers = [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy()) for m in linear]
        f32 = np.float32
        return cls(mean.astype(f32), scale.astype(f32), layers, target_mean.astype(f32), target_scale.astype(f32))

    def predict(self, features: np.ndarray) -> np.ndarray:
        h = (np.asarray(features, dtype=np.float32) - self.mean) / self.scale
        for i, (weight, bias) in enumerate(self.layers):
            h = h @ weight + bias
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return h * self.target_scale + self.target_mean

    def predict_split(self, features: np.ndarray, column: int) -> np.ndarray:
        return self.predict(features)[:, column]


FITTERS: dict[str, Callable[..., Regressor]] = {"gbm": GradientBoosting.fit, "mlp": NeuralNet.fit}


# -- fitting and scoring --------------------------------------------------------------------------------------------


def holdout_split(rows: int, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Row indices to fit on and to measure the error on (:data:`HOLDOUT_FRACTION` of them), fixed by ``seed``."""
    order = np.random.default_rng(seed).permutation(rows)
    held_out = round(rows * HOLDOUT_FRACTION)
    return np.sort(order[held_out:]), np.sort(order[:held_out])


def fit(family: str, features: np.ndarray, targets: np.ndarray, seed: int = 0) -> Regressor:
    """Fit a predictor of ``family`` (one of :data:`FAMILIES`).

    :param features: (N, D) features.
    :param targets: (N, 2) measured accuracy on (val, test).
    :raises ValueError: an unknown family, naming the valid ones.
    """
    if family not in FITTERS:
        raise ValueError(f"unknown surrogate family {family!r}; valid: {', '.join(FAMILIES)}")
    return FITTERS[family](features, targets, seed=seed)


def clipped(predictions: np.ndarray) -> np.ndarray:
    """Predictions as accuracies: within [0, 1]."""
    return np.clip(predictions, 0.0, 1.0)


def error_metrics(predicted: np.ndarray, measured: np.ndarray) -> dict[str, float]:
    """How well ``predicted`` tracks ``measured`` (both (N,) accuracies as fractions).

    ``rmse`` in accuracy points (percent); ``kendall_tau`` and ``spearman`` rank agreement; ``top_precision`` the
    share of the best :data:`TOP_FRACTION` of rows by measured accuracy that are also in the best
    :data:`TOP_FRACTION` by prediction (ties broken by row order, so a constant predictor scores by chance).
    """
    from scipy.stats import kendalltau, spearmanr

    top = max(1, round(len(measured) * TOP_FRACTION))
    best_measured = set(np.argsort(-measured, kind="stable")[:top].tolist())
    best_predicted = set(np.argsort(-predicted, kind="stable")[:top].tolist())
    return {
        "rmse_points": float(100 * np.sqrt(np.mean((predicted - measured) ** 2))),
        "mae_points": float(100 * np.mean(np.abs(predicted - measured))),
        "kendall_tau": float(kendalltau(predicted, measured).statistic),
        "spearman": float(spearmanr(predicted, measured).statistic),
        "top_precision": len(best_measured & best_predicted) / top,
        "top_rows": top,
        "rows": len(measured),
    }


@dataclass
class FittedSurrogate:
    """A predictor with what it was fit on: enough to score a solution and to say where its numbers came from.

    :param name: the dataset's name (``haq-mobilenet_v2-mnist``).
    :param family: the model family (:data:`FAMILIES`).
    :param regressor: the fitted model.
    :param dataset_sha256: the dataset file it was fit on.
    :param train_rows: how many rows it was fit on (the rest were held out).
    """

    name: str
    family: str
    regressor: Regressor
    dataset_sha256: str
    train_rows: int

    def predict(self, features: np.ndarray) -> np.ndarray:
        """(N, 2) accuracies on (val, test), clipped to [0, 1]."""
        return clipped(self.regressor.predict(np.atleast_2d(features)))

    def predict_split(self, features: np.ndarray, split: Split) -> np.ndarray:
        """(N,) accuracies on ``split``, clipped to [0, 1]."""
        return clipped(self.regressor.predict_split(np.atleast_2d(features), SPLITS.index(split)))
