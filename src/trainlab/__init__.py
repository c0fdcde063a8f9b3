"""trainlab: train and compare deep-learning models from configuration.

The package is organised by concern:

- ``trainlab.engine``: the task-agnostic training engine (Hydra + Lightning glue,
  optimizers, schedulers, callbacks, run manifests).
- ``trainlab.tasks.<task>``: one folder per task family; ``text_detection`` is the
  flagship (DBNet targets, heads, losses, post-processing, ICDAR 2015 metric).
- ``trainlab.cli``: the ``trainlab`` command and its sub-commands.
- ``trainlab.configs``: the Hydra config tree, mirroring the code.
"""

__version__ = "0.1.0"
