"""``trainlab lr-find [overrides]``: Lightning's LR range test on the configured run.

Composes ``configs/tuner.yaml`` (the training config plus ``lr_find`` options), so any
experiment and override applies. Writes ``lr_find.png`` (loss against LR, suggestion
marked) and ``lr_find.json`` in the run folder and prints the suggestion as JSON.
"""

from __future__ import annotations

import json

import hydra
from omegaconf import DictConfig

import trainlab.engine.config  # noqa: F401  (registers the ${trainlab_asset:...} resolver)
from trainlab.engine.console import quiet_third_party


@hydra.main(version_base="1.3", config_path="../configs", config_name="tuner")
def _hydra_main(cfg: DictConfig) -> None:
    from trainlab.engine.tuning import find_lr

    result = find_lr(cfg, cfg.paths.output_dir)
    print(json.dumps({"suggestion": result["suggestion"], "configured_lr": result["configured_lr"],
                      "png": f"{cfg.paths.output_dir}/lr_find.png", "json": f"{cfg.paths.output_dir}/lr_find.json"}))


def main(argv: list[str] | None = None) -> None:
    """Run ``trainlab lr-find``; Hydra reads its overrides from ``sys.argv`` (set by the dispatcher)."""
    quiet_third_party()
    _hydra_main()
