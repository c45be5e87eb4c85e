"""What differs between the Gymnasium versions hwenvs supports: 1.x, and 0.29.1 (the version CleanRL pins).

Under 0.29.1 the single-environment API works (``gym.make``, ``reset``, ``step``, Gymnasium's wrappers and its
``SyncVectorEnv`` / ``AsyncVectorEnv`` of single environments); what needs 1.x, the vector entry point that
``gym.make_vec`` builds (:class:`~hwenvs.envs.haq_vector_env.HAQVectorEnv`), says so when it is asked for.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

GYMNASIUM_1 = hasattr(gym.vector, "AutoresetMode")
"""Whether the installed Gymnasium is 1.x (0.29 has no ``gym.vector.AutoresetMode``)."""


def autoreset_metadata() -> dict[str, Any]:
    """An environment's ``metadata`` entry declaring next-step autoreset (Gymnasium 1.x's default; 0.29 has no such
    declaration and autoresets within the step)."""
    return {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP} if GYMNASIUM_1 else {}


def require_gymnasium_1(feature: str) -> None:
    """Refuse ``feature`` under Gymnasium 0.29, saying what works instead.

    :param feature: what was asked for, for the message.
    :raises ImportError: Gymnasium is older than 1.0.
    """
    if not GYMNASIUM_1:
        raise ImportError(
            f"{feature} needs Gymnasium >= 1.0 (installed: {gym.__version__}); with Gymnasium 0.29 hwenvs offers "
            "single environments (gym.make), which gym.vector.SyncVectorEnv or AsyncVectorEnv can vectorise"
        )
