"""``trainlab eval ckpt_path=<file> [data.<key>=<value>] [split=test]``: score a checkpoint, any task.

``ckpt_path=[a,b,...]`` scores an ensemble (``weights=[...]``), ``tta=[...]`` test-time
augmentation, and ``choose_on=val`` chooses the decision parameters again on the validation split
with the model as evaluated (refused for an ensemble of fold models, whose members trained on each
other's validation folds); ``metrics.json`` records which checkpoints, weights, transforms and
decision parameters were used and where those were chosen.

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

    from trainlab.cli.models import check_choice_split, load_for_inference
    from trainlab.engine.config import to_plain
    from trainlab.engine.io import atomic_write_json
    from trainlab.engine.datamodule import check_split

    split = check_split(cfg.split)
    model, paths = load_for_inference(cfg)
    data = data_config(model.run_record.get("data"), to_plain(cfg.data) if cfg.get("data") else None,
                       paths[0])
    datamodule = hydra.utils.instantiate(data, _convert_="all")
    datamodule.setup("test")
    chosen = None
    if cfg.get("choose_on"):
        check_choice_split(paths, cfg.choose_on, bool(cfg.trust_checkpoint))
        if check_split(cfg.choose_on) == "test" or cfg.choose_on == split:
            raise ValueError(f"choose_on={cfg.choose_on}: decision parameters are never chosen on the split "
                             f"being scored ({split}) nor on test; use choose_on=val")
        chosen = model.choose_postprocess(model.validation_samples(datamodule, cfg.choose_on))
        chosen["split"] = cfg.choose_on
        model.postprocess_source = f"{cfg.choose_on} split, chosen by trainlab eval"
    trainer = L.Trainer(accelerator=cfg.accelerator, devices=1, logger=False, enable_checkpointing=False,
                        enable_model_summary=False)
    trainer.test(model, dataloaders=datamodule.eval_dataloader(split), verbose=False)
    logged = {k: float(v) for k, v in trainer.callback_metrics.items()}
    output_dir = Path(cfg.paths.output_dir)
    headline = model.write_evaluation(output_dir, split, logged)
    metrics = {"checkpoint": paths[0] if len(paths) == 1 else paths, "task": model.run_record.get("task"),
               "split": split, "weights": to_plain(cfg.weights) if cfg.get("weights") is not None else None,
               "tta": list(cfg.get("tta") or []), "chosen_here": chosen, "data": datamodule.fingerprint(),
               "logged": logged, **headline}
    atomic_write_json(output_dir / "metrics.json", metrics)
    print(json.dumps({"split": split, **{k: v for k, v in headline.items() if isinstance(v, (int, float, str))}}))
    log.info("wrote the evaluation of %s to %s", ", ".join(paths), output_dir)


def main(argv: list[str] | None = None) -> None:
    quiet_third_party()
    _hydra_main()
