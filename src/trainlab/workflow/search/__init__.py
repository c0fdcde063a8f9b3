"""Hyper-parameter search with Optuna (``trainlab tune``).

- :mod:`.space`: the search space written in YAML (float, log-float, int, categorical) and
  how sampled values become Hydra overrides;
- :mod:`.study`: storage (SQLite in the search folder by default, any SQLAlchemy URL to share
  a study between machines), sampler (TPE by default), pruner (median by default), and the
  recovery of trials whose process died;
- :mod:`.pruning`: the Lightning callback that reports each epoch's metric to the trial and
  stops a trial the pruner rejects;
- :mod:`.best`: the best trial as a ready-to-run experiment config;
- :mod:`.runner`: the search loop; every trial is a full ``trainlab train`` run in its own folder.
"""
