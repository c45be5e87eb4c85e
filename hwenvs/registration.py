"""Every environment id hwenvs registers, in one place.

Ids carry no version suffix so that ``gym.make("HAQ-MobileNetV2-BISMO")`` works without Gymnasium's
"unversioned id" warning; variants beyond model x hardware are keyword arguments (``constraint``,
``preserve_ratio``, ``dataset``...), not further ids.
"""

from __future__ import annotations

import gymnasium as gym

HAQ_MODELS = {"MobileNetV2": "mobilenet_v2", "ResNet18": "resnet18", "MobileNetV1": "mobilenet_v1"}
"""Id fragment -> model name accepted by the HAQ environment."""

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
                kwargs={"model": model, "hardware": hardware},
            )


PROXYLESSNAS_HARDWARE = {
    "Mobile": "mobile",
    "CPU": "cpu",
    "GPU": "gpu",
    "BISMO": "bismo-edge",
    "BitFusion": "bitfusion",
}
"""Id fragment -> latency target of the ProxylessNAS environment (see :mod:`hwenvs.nas.latency_tables`)."""


def proxylessnas_env_ids() -> list[str]:
    """All registered ProxylessNAS ids."""
    return [f"ProxylessNAS-{h}" for h in PROXYLESSNAS_HARDWARE]


def _register_proxylessnas() -> None:
    for hw_id, hardware in PROXYLESSNAS_HARDWARE.items():
        gym.register(
            id=f"ProxylessNAS-{hw_id}",
            entry_point="hwenvs.envs.proxylessnas_env:ProxylessNASEnv",
            kwargs={"hardware": hardware},
        )


def register_envs() -> None:
    """Register every hwenvs environment with Gymnasium (idempotent)."""
    if "HAQ-MobileNetV2-BISMO" in gym.registry:
        return
    _register_haq()
    _register_proxylessnas()
