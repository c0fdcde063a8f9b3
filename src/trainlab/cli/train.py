"""``trainlab train [overrides] [-m]``: train from the Hydra config tree (``configs/train.yaml``)."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

import trainlab.engine.config  # noqa: F401  (registers the ${trainlab_asset:...} resolver)
from trainlab.engine.console import quiet_third_party


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    from trainlab.engine.train import train

    metrics = train(cfg)
    monitor = cfg.get("optimized_metric")
    return float(metrics[monitor]) if monitor and metrics.get(monitor) is not None else None


def main(argv: list[str] | None = None) -> None:
    """Run ``trainlab train``; Hydra reads its overrides from ``sys.argv`` (set by the dispatcher)."""
    quiet_third_party()
    _hydra_main()
