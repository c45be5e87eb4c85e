"""Deprecated: moved to :mod:`hwenvs.lab.surrogate_data.generation` (an offline builder, in the lab layer).

Importing a name from here still works, with a :class:`DeprecationWarning`, until 0.3.
"""

from hwenvs.deprecation import moved_names

__getattr__ = moved_names(__name__, "hwenvs.lab.surrogate_data.generation")
