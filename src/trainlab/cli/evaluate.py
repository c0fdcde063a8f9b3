"""``trainlab eval ckpt_path=<file> [data.root=<folder>] [split=test]``: score a checkpoint.

Writes ``metrics.json`` (precision, recall, H-mean and counts, ICDAR 2015 protocol) and
``per_image.csv`` in the run folder ``outputs/eval/<timestamp>/``, and prints the metrics.
"""

from __future__ import annotations

import json
import logging

import hydra
from omegaconf import DictConfig

import trainlab.engine.config  # noqa: F401  (registers the ${trainlab_asset:...} resolver)
from trainlab.engine.console import quiet_third_party

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="../configs", config_name="eval")
def _hydra_main(cfg: DictConfig) -> None:
    from pathlib import Path

    import lightning as L

    from trainlab.engine.checkpoint import load_module
    from trainlab.engine.config import to_plain
    from trainlab.engine.io import atomic_write_json

    model = load_module(cfg.ckpt_path, trust=cfg.trust_checkpoint)
    if cfg.postprocess:
        model.override_postprocess(to_plain(cfg.postprocess))
    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    datamodule.resize = dict(to_plain(cfg.resize)) if cfg.resize else dict(model.resize)
    datamodule.setup("test")
    if cfg.split not in {"train", "val", "test"}:
        raise ValueError(f"split must be train, val or test, got {cfg.split!r}")
    loader = datamodule.eval_dataloader(cfg.split)
    trainer = L.Trainer(accelerator=cfg.accelerator, devices=1, logger=False, enable_checkpointing=False,
                        enable_model_summary=False)
    trainer.test(model, dataloaders=loader, verbose=False)
    result = model.last_results["test"]
    output_dir = Path(cfg.paths.output_dir)
    metrics = {"checkpoint": str(cfg.ckpt_path), "data_root": str(datamodule.root), "split": cfg.split,
               **result.summary(), "postprocess": model.postprocess.to_dict(), "resize": datamodule.resize}
    atomic_write_json(output_dir / "metrics.json", metrics)
    result.write_per_image_csv(output_dir / "per_image.csv")
    print(json.dumps({k: metrics[k] for k in ("split", "precision", "recall", "hmean", "num_images")}))
    log.info("wrote %s and %s", output_dir / "metrics.json", output_dir / "per_image.csv")


def main(argv: list[str] | None = None) -> None:
    quiet_third_party()
    _hydra_main()
