"""Surrogate accuracy for the environments: which (model, task) pairs have one, and the fitted predictor, cached.

``gym.make("HAQ-MobileNetV2-BISMO", accuracy="surrogate")`` (and the ProxylessNAS ids) score episodes with the
predictor of :mod:`hwenvs.surrogate.predictor` fit on the training part of the shipped dataset, instead of running
the quantized network. The fit happens once per machine and dataset version: it is cached under the hwenvs cache
(``surrogates/``) keyed by the dataset's sha256, the family and the library versions, and refit when any changes.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwenvs import __version__
from hwenvs.cache import atomic_write_bytes, cache_dir
from hwenvs.surrogate import predictor
from hwenvs.surrogate.dataset import available_datasets, haq_name, load_haq_dataset, load_nas_dataset, nas_name, store

ACCURACY_SOURCES = ("real", "surrogate")
"""What an environment's ``accuracy`` argument takes: measure the network, or predict from the surrogate dataset."""
FAMILY = "gbm"
"""The family the environments use: the better one on held-out rows in benchmarks/results/surrogate_error.md (a test
checks the committed results still say so)."""


@dataclass
class HAQSurrogate:
    """Predicted accuracy of HAQ bit allocations of one model on one task.

    :param fitted: the predictor.
    :param float_accuracy: the float model's measured accuracy per split (the reward subtracts it).
    :param num_layers: the model's quantizable layers.
    """

    fitted: predictor.FittedSurrogate
    float_accuracy: dict[str, float]
    num_layers: int

    def accuracy(self, w_bits: np.ndarray, a_bits: np.ndarray, split: predictor.Split) -> float:
        """Predicted accuracy of one allocation on ``split``.

        :param w_bits: (L,) weight bits.
        :param a_bits: (L,) activation bits, 0 where unquantized.
        :param split: ``"val"`` or ``"test"``.
        """
        return float(self.fitted.predict_split(predictor.haq_features(w_bits[None], a_bits[None]), split)[0])

    def accuracies(self, w_bits: np.ndarray, a_bits: np.ndarray, split: predictor.Split) -> list[float]:
        """Predicted accuracies of many allocations in one call (each as :meth:`accuracy` gives it alone).

        :param w_bits: (N, L) weight bits.
        :param a_bits: (N, L) activation bits, 0 where unquantized.
        :param split: ``"val"`` or ``"test"``.
        """
        return self.fitted.predict_split(predictor.haq_features(w_bits, a_bits), split).tolist()


@dataclass
class NASSurrogate:
    """Predicted supernet-path accuracy of ProxylessNAS architectures on one task.

    :param fitted: the predictor.
    :param meta: how the dataset was made (width, evaluation batch...).
    """

    fitted: predictor.FittedSurrogate
    meta: dict[str, Any]

    def accuracy(self, choices: tuple[int, ...], split: predictor.Split) -> float:
        """Predicted accuracy of one architecture on ``split``.

        :param choices: the 21 op indices.
        :param split: ``"val"`` or ``"test"``.
        """
        return float(self.fitted.predict_split(predictor.nas_features(np.asarray(choices)[None]), split)[0])


def dataset_sha256(name: str) -> str:
    """The sha256 of the shipped surrogate dataset ``name`` (what a surrogate result was predicted from).

    :raises ValueError: no such dataset (listing those that exist).
    """
    if name not in available_datasets():
        raise unavailable(name, name.split("-")[0])
    entry = store().entry(name)
    assert entry is not None  # available_datasets() lists the store's entries
    return str(entry["sha256"])


def unavailable(name: str, kind: str) -> ValueError:
    """The error for a (model, task) pair without a surrogate dataset, listing those that exist."""
    existing = [n for n in available_datasets() if n.startswith(f"{kind}-")] or ["none"]
    return ValueError(
        f"no surrogate for {name!r}: accuracy='surrogate' needs a surrogate dataset, and the ones that exist are "
        f"{', '.join(existing)}; use accuracy='real', or make one with `hwenvs bench-data {kind} ...`"
    )


@functools.cache
def load_haq_surrogate(model: str, dataset: str, family: str = FAMILY) -> HAQSurrogate:
    """The HAQ surrogate of ``model`` on ``dataset`` (fit once per machine, then read from the cache).

    :param model: the HAQ model name (``"mobilenet_v2"``).
    :param dataset: the task name (``"mnist"``).
    :param family: the predictor family (:data:`hwenvs.surrogate.predictor.FAMILIES`).
    :raises ValueError: no surrogate dataset for the pair (listing those that exist).
    """
    name = haq_name(model, dataset)
    if name not in available_datasets():
        raise unavailable(name, "haq")
    data = load_haq_dataset(model, dataset)
    fitted = _fitted(name, family, lambda: predictor.haq_features(data.w_bits, data.a_bits), data)
    return HAQSurrogate(fitted, dict(data.meta["float_accuracy"]), data.w_bits.shape[1])


@functools.cache
def load_nas_surrogate(dataset: str, width_mult: float, family: str = FAMILY) -> NASSurrogate:
    """The ProxylessNAS surrogate of the supernet of ``width_mult`` on ``dataset`` (fit once, then cached).

    :param dataset: the task name (``"mnist"``).
    :param width_mult: the supernet's width multiplier.
    :param family: the predictor family.
    :raises ValueError: no surrogate dataset for the pair (listing those that exist).
    """
    name = nas_name(dataset, width_mult)
    if name not in available_datasets():
        raise unavailable(name, "nas")
    data = load_nas_dataset(dataset, width_mult)
    fitted = _fitted(name, family, lambda: predictor.nas_features(data.choices), data)
    return NASSurrogate(fitted, dict(data.meta))


def fit_on_training_rows(
    name: str, family: str, features: np.ndarray, data: Any, sha: str
) -> predictor.FittedSurrogate:
    """Fit ``family`` on the training part of a dataset (:func:`~hwenvs.surrogate.predictor.holdout_split`).

    :param name: the dataset's name.
    :param features: (N, D) features of every row.
    :param data: the dataset (its ``val_accuracy`` and ``test_accuracy`` are the targets).
    :param sha: the dataset file's sha256.
    """
    train, _ = predictor.holdout_split(len(features))
    targets = np.stack([data.val_accuracy, data.test_accuracy], axis=1)[train]
    regressor = predictor.fit(family, features[train], targets)
    return predictor.FittedSurrogate(name, family, regressor, sha, len(train))


def _fitted(name: str, family: str, features: Callable[[], np.ndarray], data: Any) -> predictor.FittedSurrogate:
    sha = dataset_sha256(name)
    path = cache_dir("surrogates") / f"{name}-{family}-{_versions_key(sha)}.pkl"
    if path.is_file():
        try:
            cached = pickle.loads(path.read_bytes())
        except Exception:  # unreadable: a cache, so it is fit again (a second or two)
            cached = None
        # a readable pickle of something else (another object written there) would fail later, far from here
        if isinstance(cached, predictor.FittedSurrogate) and (cached.name, cached.family) == (name, family):
            return cached
        warnings.warn(
            f"the cached surrogate {path} is corrupt or not a {family} fit of {name}: fitting it again", stacklevel=2
        )
        path.unlink(missing_ok=True)
    fitted = fit_on_training_rows(name, family, features(), data, sha)
    atomic_write_bytes(path, pickle.dumps(fitted))
    return fitted


def _versions_key(sha: str) -> str:
    """What a cached fit depends on besides the family: the data and the libraries that pickle the model."""
    import sklearn
    import torch

    text = f"{sha}|{predictor.FORMAT_VERSION}|{np.__version__}|{sklearn.__version__}|{torch.__version__}|{__version__}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]
