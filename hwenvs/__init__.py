"""hwenvs: Gymnasium environments for hardware-aware neural-network design.

Importing the package registers its environments with Gymnasium; nothing heavy (torch, data, weights) is loaded
until an environment is made.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import PackageNotFoundError, version

from hwenvs.registration import register_envs

try:
    __version__ = version("hwenvs")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

register_envs()


def _one_torch_thread_after_fork() -> None:
    """A forked child cannot use its parent's OpenMP thread pool: its first parallel torch op would wait forever for
    threads that were not copied (AsyncVectorEnv's default start method on Linux forks after Gymnasium built an env
    in the parent). One intra-op thread runs every op inline; a child can raise it again."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


os.register_at_fork(after_in_child=_one_torch_thread_after_fork)

__all__ = ["__version__", "register_envs"]
