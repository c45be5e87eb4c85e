"""Every environment id hwenvs registers, in one place.

Ids carry no version suffix so that ``gym.make("HAQ-MobileNetV2-BISMO")`` works without Gymnasium's
"unversioned id" warning; variants beyond model x hardware are keyword arguments (``constraint``,
``preserve_ratio``, ``dataset``...), not further ids.
"""

from __future__ import annotations

import gymnasium as gym

from hwenvs.nas.search_space import NUM_BLOCKS

HAQ_MODELS = {"MobileNetV2": "mobilenet_v2", "ResNet18": "resnet18", "MobileNetV1": "mobilenet_v1"}
"""Id fragment -> model name accepted by the HAQ environment."""

HAQ_LAYERS = {"mobilenet_v2": 53, "resnet18": 21, "mobilenet_v1": 28}
"""Quantizable layers of each HAQ model (a test checks them against the built models): with the default latency
budget an episode is two steps per layer, which the EnvSpec states as ``max_episode_steps`` for generic tools."""

HAQ_HARDWARE = {"BISMO": "bismo-edge", "BISMO-Cloud": "bismo-cloud", "BitFusion": "bitfusion"}
"""Id fragment -> hardware name accepted by :func:`hwenvs.hardware.make_hardware`."""


def haq_env_ids() -> list[str]:
    """All registered HAQ ids."""
    return [f"HAQ-{m}-{h}" for m in HAQ_MODELS for h in HAQ_HARDWARE]


def _register_haq() -> None:
    for model_id, model in HAQ_MODELS.items():
        for hw_id, hardware in HAQ_HARDWARE.items():
            gym.register(
                id=f"HAQ-{model_id}-{hw_id}",
                entry_point="hwenvs.envs.haq_env:HAQEnv",
                # gym.make_vec steps all sub-environments at once and scores episodes that end together in one call
                vector_entry_point="hwenvs.envs.haq_vector_env:HAQVectorEnv",
                kwargs={"model": model, "hardware": hardware},
                # the longest episode of the id (weight and activation steps); model-size budgets take half
                max_episode_steps=2 * HAQ_LAYERS[model],
            )


PROXYLESSNAS_HARDWARE = {
    "Mobile": "mobile",
    "CPU": "cpu",
    "GPU": "gpu",
    "BISMO": "bismo-edge",
    "BitFusion": "bitfusion",
}
"""Id fragment -> latency target of the ProxylessNAS environment (see :mod:`hwenvs.nas.latency_targets`)."""


def proxylessnas_env_ids() -> list[str]:
    """All registered ProxylessNAS ids."""
    return [f"ProxylessNAS-{h}" for h in PROXYLESSNAS_HARDWARE]


def _register_proxylessnas() -> None:
    for hw_id, hardware in PROXYLESSNAS_HARDWARE.items():
        gym.register(
            id=f"ProxylessNAS-{hw_id}",
            entry_point="hwenvs.envs.proxylessnas_env:ProxylessNASEnv",
            kwargs={"hardware": hardware},
            max_episode_steps=NUM_BLOCKS,  # sequential mode, one block a step; oneshot episodes are one step
        )


def register_envs() -> None:
    """Register every hwenvs environment with Gymnasium (idempotent)."""
    if "HAQ-MobileNetV2-BISMO" in gym.registry:
        return
    _register_haq()
    _register_proxylessnas()
