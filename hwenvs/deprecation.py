"""Old import paths of moved public names: they keep working for one release, with a :class:`DeprecationWarning`.

A module that moved leaves a shim at its old path whose module-level ``__getattr__`` (PEP 562) is
:func:`moved_names`; a module that kept part of its names forwards the rest the same way. The shim names its new
home by string and imports it only when an old name is used, so a runtime module that shims a name now in
:mod:`hwenvs.lab` does not load the lab (the import-graph test, ``tests/test_layers.py``, lists these shims).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterable
from typing import Any

REMOVED_IN = "0.3"
"""The release that drops the old paths."""


def moved_names(old: str, new: str, names: Iterable[str] | None = None) -> Callable[[str], Any]:
    """A module ``__getattr__`` that forwards names of ``old`` to module ``new`` with a deprecation warning.

    :param old: the old module's name (its ``__name__``).
    :param new: the module the names live in now.
    :param names: the names that moved (None: every public name of ``new``, as a whole-module shim).
    :returns: the function to bind as the old module's ``__getattr__``.
    """
    only = frozenset(names) if names is not None else None

    def __getattr__(name: str) -> Any:
        if name.startswith("__") or (only is not None and name not in only):
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(new), name)  # AttributeError for a name new lacks too
        warnings.warn(
            f"{old}.{name} moved to {new}.{name}; the old path is removed in {REMOVED_IN}",
            DeprecationWarning,
            stacklevel=2,
        )
        return value

    return __getattr__


def run_moved_main(new: str) -> None:
    """Run ``new``'s ``main()`` for ``python -m <old module>``. No warning: the regeneration commands recorded in the
    shipped manifests (and quoted by error messages) name the old module, so that command stays supported.

    :param new: the module whose ``main`` runs.
    """
    importlib.import_module(new).main()
