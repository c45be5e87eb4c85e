"""``hwenvs benchmark``: agents compared on a suite of environments, many seeds, with sound statistics.

* :mod:`hwenvs.benchmark.suite`: the suite file (environments and budgets, agents, seeds) and the job list.
* :mod:`hwenvs.benchmark.sweep`: the hyperparameter lottery (K settings per agent from the space it declares).
* :mod:`hwenvs.benchmark.trials`: one trial's spec, :func:`~hwenvs.benchmark.trials.run_trial` (picklable and
  self-contained: what every backend runs) and its result file.
* :mod:`hwenvs.benchmark.local`: the local process-pool backend, which resumes a killed benchmark.
* :mod:`hwenvs.benchmark.stats`: IQM, stratified-bootstrap intervals, probability of improvement, performance
  profiles.
* :mod:`hwenvs.benchmark.report`: trial files -> ``results.json`` -> ``results.md`` and PNG plots.

Importing this package imports neither torch nor the environments.
"""
