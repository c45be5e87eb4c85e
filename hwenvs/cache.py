"""Where hwenvs keeps what it downloads or derives once (reference tables, decoded data sets, measured tables)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """The cache folder (``$HWENVS_CACHE``, else ``$XDG_CACHE_HOME/hwenvs``, else ``~/.cache/hwenvs``), created.

    :param parts: sub-folders to append.
    """
    root = os.environ.get("HWENVS_CACHE")
    if root is None:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "hwenvs")
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, so a crash or a concurrent reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
