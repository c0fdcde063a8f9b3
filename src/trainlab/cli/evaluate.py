"""``trainlab eval ckpt_path=<file> [data.<key>=<value>] [split=test]``: score a checkpoint, any task.

The checkpoint names its LightningModule and carries the data config it was trained with:
the module is rebuilt (``weights_only`` loading), the datamodule is rebuilt from that config
with the command's ``data.*`` overrides, the test loop runs on the chosen split, and the task
writes its report (:meth:`~trainlab.engine.module.TrainlabModule.write_evaluation`: text
detection's ``per_image.csv``, forecasting's per-horizon table...). ``metrics.json`` holds the
checkpoint, task, split, data fingerprint, every logged test metric and the task's headline
figures, which are also printed as one JSON line. Outputs go to ``outputs/eval/<timestamp>/``.
"""

from __future__ import annotations

import json
import logging

import hydra
from omegaconf import DictConfig

import trainlab.engine.config  # noqa: F401  (registers the ${trainlab_asset:...} resolver)
from trainlab.engine.console import quiet_third_party

log = logging.getLogger(__name__)


def data_config(recorded: dict | None, given: dict | None, ckpt_path: str) -> dict:
    """The data config to evaluate on: the checkpoint's, with the command's ``data`` keys merged in.

    A given config with its own ``_target_`` (``data=<task>/<name>``) replaces the recorded one.

    Raises:
        ValueError: the checkpoint records no data config (written before checkpoints carried
            one) and the command gives no complete one.
    """
    from omegaconf import OmegaConf

    given = dict(given or {})
    if "_target_" in given:
        return given
    if not recorded:
        raise ValueError(f"{ckpt_path}: the checkpoint records no data config; choose one with data=<task>/<name> "
                         "(e.g. data=text_detection/sroie data.root=<folder>)")
    return OmegaConf.to_container(OmegaConf.merge(recorded, given), resolve=True)


@hydra.main(version_base="1.3", config_path="../configs", config_name="eval")
def _hydra_main(cfg: DictConfig) -> None:
    from pathlib import Path

    import lightning as L

    from trainlab.engine.checkpoint import load_module
    from trainlab.engine.config import to_plain
    from trainlab.engine.io import atomic_write_json
    from trainlab.engine.datamodule import check_split

    split = check_split(cfg.split)
    model = load_module(cfg.ckpt_path, trust=cfg.trust_checkpoint)
    if cfg.postprocess:
        model.override_postprocess(to_plain(cfg.postprocess))
    data = data_config(model.run_record.get("data"), to_plain(cfg.data) if cfg.get("data") else None,
                       str(cfg.ckpt_path))
    datamodule = hydra.utils.instantiate(data, _convert_="all")
    datamodule.setup("test")
    trainer = L.Trainer(accelerator=cfg.accelerator, devices=1, logger=False, enable_checkpointing=False,
                        enable_model_summary=False)
    trainer.test(model, dataloaders=datamodule.eval_dataloader(split), verbose=False)
    logged = {k: float(v) for k, v in trainer.callback_metrics.items()}
    output_dir = Path(cfg.paths.output_dir)
    headline = model.write_evaluation(output_dir, split, logged)
    metrics = {"checkpoint": str(cfg.ckpt_path), "task": model.run_record.get("task"), "split": split,
               "data": datamodule.fingerprint(), "logged": logged, **headline}
    atomic_write_json(output_dir / "metrics.json", metrics)
    print(json.dumps({"split": split, **{k: v for k, v in headline.items() if isinstance(v, (int, float, str))}}))
    log.info("wrote the evaluation of %s to %s", cfg.ckpt_path, output_dir)


def main(argv: list[str] | None = None) -> None:
    quiet_third_party()
    _hydra_main()
