"""Deprecated: moved to :mod:`hwenvs.lab.surrogate_data.datasheet` (an offline builder, in the lab layer).

Importing a name from here still works, with a :class:`DeprecationWarning`, until 0.3.
"""

from hwenvs.deprecation import moved_names

__getattr__ = moved_names(__name__, "hwenvs.lab.surrogate_data.datasheet")

if __name__ == "__main__":  # the regeneration command the error messages quote names this module
    from hwenvs.deprecation import run_moved_main

    run_moved_main("hwenvs.lab.surrogate_data.datasheet")
