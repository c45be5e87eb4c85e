"""hwenvs: Gymnasium environments for hardware-aware neural-network design.

Importing the package registers its environments with Gymnasium; nothing heavy (torch, data, weights) is loaded
until an environment is made.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from hwenvs.registration import register_envs

try:
    __version__ = version("hwenvs")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

register_envs()

__all__ = ["__version__", "register_envs"]
