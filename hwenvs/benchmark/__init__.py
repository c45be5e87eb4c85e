"""``hwenvs benchmark``: agents compared on a suite of environments, many seeds, with sound statistics.

* :mod:`hwenvs.benchmark.suite`: the suite file (environments and budgets, agents, seeds) and the job list.
* :mod:`hwenvs.benchmark.sweep`: the hyperparameter lottery (K settings per agent from the space it declares).
* :mod:`hwenvs.benchmark.trials`: one trial's spec, :func:`~hwenvs.benchmark.trials.run_trial` (picklable and
  self-contained: what every backend runs) and its result record.
* :mod:`hwenvs.benchmark.local`: the local process-pool backend, which resumes a killed benchmark.
* :mod:`hwenvs.benchmark.stats`: IQM, stratified-bootstrap intervals, probability of improvement, performance
  profiles.
* :mod:`hwenvs.benchmark.store`: the trial store, one JSON Lines file per benchmark (``OUT/trials.jsonl``).
* :mod:`hwenvs.benchmark.report`: stored trials -> ``results.json`` -> ``results.md`` and PNG plots, from
  :mod:`~hwenvs.benchmark.results` (collect, combine), :mod:`~hwenvs.benchmark.summary` (the statistics),
  :mod:`~hwenvs.benchmark.markdown` (render) and :mod:`~hwenvs.benchmark.plots` (plot).

Importing this package imports neither torch nor the environments.
"""
