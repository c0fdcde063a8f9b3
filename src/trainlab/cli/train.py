"""``trainlab train [overrides] [-m]``: train from the Hydra config tree (``configs/train.yaml``).

With ``-m`` every combination of the swept values is a job (:mod:`trainlab.workflow.job`):
``launcher=parallel n_jobs=K`` runs K at a time, ``resume_sweep=<folder>`` re-enters an
earlier sweep, and a failed job does not stop the others (the command exits 1 at the end).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

import trainlab.engine.config  # noqa: F401  (registers the ${trainlab_asset:...} resolver)
from trainlab.engine.console import quiet_third_party


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    from trainlab.workflow.job import run_job

    quiet_third_party()  # again: parallel jobs run in fresh worker processes
    return run_job(cfg)


def main(argv: list[str] | None = None) -> None:
    """Run ``trainlab train``; Hydra reads its overrides from ``sys.argv`` (set by the dispatcher)."""
    quiet_third_party()
    _hydra_main()
