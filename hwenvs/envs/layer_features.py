"""HAQ's per-layer observation: ten features, each in [0, 1].

Static features (1-8) are min-max normalised across the model's layers; a column that is constant across layers
(for example stride in a model without strided layers) is set to 0 so the observation stays inside its box. The two
dynamic features (9: previous step's bits / max bits, 10: whether the step about to be taken sets weight bits) are
filled in per step by the environment. Unlike HAQ's public code, nothing here is mutated between episodes.
"""

from __future__ import annotations

import numpy as np

from hwenvs.hardware.base import LayerShape

FEATURE_NAMES = (
    "depthwise",
    "in_channels",
    "out_channels",
    "stride",
    "kernel_size",
    "num_weights",
    "input_area",
    "layer_index",
    "previous_bits",
    "sets_weight_bits",
)


def static_layer_features(layers: list[LayerShape]) -> np.ndarray:
    """The normalised static features (columns 1-8), shape (L, 8), float32."""
    raw = np.array(
        [
            [
                float(layer.depthwise),
                layer.in_channels,
                layer.out_channels,
                layer.stride if layer.kind == "conv" else 0,
                layer.kernel_size,
                layer.num_weights,
                layer.in_hw[0] * layer.in_hw[1] if layer.kind == "conv" else 1,
                index,
            ]
            for index, layer in enumerate(layers)
        ],
        dtype=np.float64,
    )
    low, high = raw.min(axis=0), raw.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    normalised = np.where(high > low, (raw - low) / span, 0.0)
    return normalised.astype(np.float32)
