"""Building the surrogate datasets that :mod:`hwenvs.surrogate` reads (``hwenvs bench-data``).

:mod:`~hwenvs.lab.surrogate_data.haq` and :mod:`~hwenvs.lab.surrogate_data.nas` say what their rows are;
:mod:`~hwenvs.lab.surrogate_data.driver` runs either (plan, chunks, elites, arrays, file), over the resumable chunk
cache of :mod:`~hwenvs.lab.surrogate_data.chunks` and the helpers of :mod:`~hwenvs.lab.surrogate_data.generation`;
:mod:`~hwenvs.lab.surrogate_data.datasheet` writes each file's datasheet.
"""
