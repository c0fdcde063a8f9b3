"""``trainlab batch-size-find [overrides]``: Lightning's batch-size finder on the configured run.

Composes ``configs/tuner.yaml`` (the training config plus ``batch_size_find`` options).
Writes ``batch_size_find.json`` in the run folder and prints the result as JSON. On CPU no
out-of-memory error stops the search: ``batch_size_find.max_trials`` bounds it.
"""

from __future__ import annotations

import json

import hydra
from omegaconf import DictConfig

import trainlab.engine.config  # noqa: F401  (registers the ${trainlab_asset:...} resolver)
from trainlab.engine.console import quiet_third_party


@hydra.main(version_base="1.3", config_path="../configs", config_name="tuner")
def _hydra_main(cfg: DictConfig) -> None:
    from trainlab.engine.tuning import find_batch_size

    result = find_batch_size(cfg, cfg.paths.output_dir)
    print(json.dumps({**result, "json": f"{cfg.paths.output_dir}/batch_size_find.json"}))


def main(argv: list[str] | None = None) -> None:
    """Run ``trainlab batch-size-find``; Hydra reads its overrides from ``sys.argv`` (set by the dispatcher)."""
    quiet_third_party()
    _hydra_main()
