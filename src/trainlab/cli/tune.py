"""``trainlab tune hparams_search=<name> [overrides]``: hyper-parameter search with Optuna.

Composes ``configs/tune.yaml`` (the training config plus a ``search`` section, filled by
``configs/hparams_search/<name>.yaml``), then runs trials until ``search.n_trials`` are done
(:mod:`trainlab.workflow.search`). Every trial is a full training run; bad ones are pruned
per epoch by the median rule; the study is stored in SQLite in the search folder
(``outputs/<exp_name>/search_<study_name>/``), so the same command continues an interrupted
search. The best trial is written as a ready-to-run experiment config.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

import trainlab.engine.config  # noqa: F401  (registers trainlab's resolvers)
from trainlab.engine.console import quiet_third_party


@hydra.main(version_base="1.3", config_path="../configs", config_name="tune")
def _hydra_main(cfg: DictConfig) -> float | None:
    from trainlab.workflow.search.runner import run_search

    return run_search(cfg)


def main(argv: list[str] | None = None) -> None:
    """Run ``trainlab tune``; Hydra reads its overrides from ``sys.argv`` (set by the dispatcher)."""
    quiet_third_party()
    _hydra_main()
