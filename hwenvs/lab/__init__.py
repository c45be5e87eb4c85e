"""The lab: offline builders of what the package ships or caches, above the runtime they build for.

Nothing in the runtime imports this package; the builders import the runtime (the environments score their rows,
the agents run their searches). ``tests/test_layers.py`` checks both directions over every import, deferred ones
included. The layers, lowest first (a module imports only its own layer and those below it):

1. base: ``hwenvs`` (the package, which registers the ids), ``cache``, ``compat``, ``deprecation``,
   ``reference_data``, ``threads``, ``weights``;
2. core: ``data``, ``hardware``, ``quant``, ``models``, ``nas`` (search space, supernet, latency tables),
   ``training``;
3. the surrogate predictor: ``surrogate``;
4. the environments: ``envs``, ``registration``;
5. the agents: ``agents`` (``hwenvs.agents``, the repository's ``agents/``), ``rllib``, ``zoo``;
6. benchmarking: ``benchmark``;
7. the lab: ``lab``;
8. the command line: ``cli``, ``__main__``.

What is here:

* :mod:`~hwenvs.lab.surrogate_data`: the surrogate datasets (``hwenvs bench-data``): one shared driver
  (:mod:`~hwenvs.lab.surrogate_data.driver`) for the HAQ and ProxylessNAS builders, their chunk cache and datasheets;
* :mod:`~hwenvs.lab.train_models`: the shipped reference models;
* :mod:`~hwenvs.lab.train_supernet`: the shipped supernets;
* :mod:`~hwenvs.lab.retrain`: training an exported architecture from scratch (``hwenvs nas train``);
* :mod:`~hwenvs.lab.nas_reference_set`: the from-scratch reference set of the ProxylessNAS space;
* :mod:`~hwenvs.lab.supernet_recipes`: supernet training recipes (uniform, sandwich), ranked against that set;
* :mod:`~hwenvs.lab.latency_validation`: timing whole networks against a measured latency table.

What an environment needs at run time stays below: loading (and, for a width or task not shipped, warming up and
caching) a supernet is :mod:`hwenvs.nas.train_supernet`; reading (and, on first use, measuring and caching) this
machine's latency table is :mod:`hwenvs.nas.measure_latency`.
"""
