"""The experiment workflow around the engine: sweeps, search, results.

- :mod:`~trainlab.workflow.job`: the task of one sweep job (resume or skip, CPU threads and
  GPU pinning, failures recorded and contained);
- :mod:`~trainlab.workflow.resume`, :mod:`~trainlab.workflow.resources`,
  :mod:`~trainlab.workflow.liveness`: the pieces it is made of;
- :mod:`~trainlab.workflow.sweep_check`: a sweep whose values cannot all be composed does not start;
- :mod:`~trainlab.workflow.search`: Optuna hyper-parameter search (``trainlab tune``);
- :mod:`~trainlab.workflow.collect`: one table row per run (``trainlab collect``);
- :mod:`~trainlab.workflow.ablate`, :mod:`~trainlab.workflow.plots`: comparison tables and
  plots (``trainlab ablate``).

The workflow imports the engine, never a task: it only reads the run manifests and calls
:func:`trainlab.engine.train.train`.
"""
