"""Surrogate benchmarks: tables of real environment evaluations (HAQ bit allocations, ProxylessNAS architectures)
with their validation and test accuracy and their hardware costs, for fast search experiments and predictors.

:mod:`hwenvs.surrogate.dataset` defines the file format and loads the shipped files; ``hwenvs bench-data`` (see
:mod:`hwenvs.lab.surrogate_data.haq` and :mod:`hwenvs.lab.surrogate_data.nas`) regenerates them.
"""
