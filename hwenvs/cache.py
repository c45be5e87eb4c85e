"""Where hwenvs keeps what it downloads or derives once (reference tables, decoded data sets, measured tables), and
the error for a cached file that turns out corrupt."""

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
    """Write ``data`` to ``path`` through a temporary file, so a crash or a concurrent reader never sees half a file.

    :param path: the file to (re)write.
    :param data: its new content.
    :raises OSError: the write failed (a full disk, a read-only folder...): of the same type and errno as the
        system's, saying which file and that its previous content, if any, is unchanged; the temporary file is gone.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        # a half-written temporary would fill what space is left and be mistaken for a file of ours
        tmp.unlink(missing_ok=True)
        raise write_error(path, exc) from exc
    except BaseException:  # Ctrl-C mid-write: the same cleanup, and the interruption goes on
        tmp.unlink(missing_ok=True)
        raise


def write_error(path: Path, exc: OSError) -> OSError:
    """``exc`` (a failed write of ``path``) restated: which file, why, and that what was there is unchanged.

    ``OSError(errno, ...)`` gives the subclass of the errno (``PermissionError`` for EACCES), so callers that catch a
    subclass still do.

    :param path: the file that could not be written.
    :param exc: the system's error.
    """
    previous = "its previous content is unchanged" if path.exists() else "nothing was written"
    reason = exc.strerror or str(exc)
    return OSError(exc.errno, f"cannot write {path}: {reason} ({previous})", str(path))


class CorruptCacheError(ValueError):
    """A file in the hwenvs cache cannot be used (unreadable, truncated, or not what it should hold). Deleting it
    makes hwenvs rebuild or fetch it on next use; the message says which file and how."""


def corrupt_cache_error(path: Path, what: str, problem: str, remedy: str = "rebuilt") -> CorruptCacheError:
    """The error for a corrupt cached file, naming it and saying to delete it.

    :param path: the cached file.
    :param what: what it holds (``"supernet"``, ``"latency table"``...).
    :param problem: what is wrong with it (the reader's error).
    :param remedy: what happens on next use once it is deleted (``"rebuilt"``, ``"fetched again"``...), with how
        long it takes where that matters.
    """
    return CorruptCacheError(
        f"the cached {what} {path} is corrupt ({' '.join(problem.split())}); delete it and it will be {remedy} on "
        "next use"
    )
