"""``trainlab predict ckpt_path=<file> input=<file or folder>``: run a checkpoint on new inputs, any task.

The checkpoint's task reads the input and writes its predictions in ``outputs/predict/<timestamp>/``
(:meth:`~trainlab.engine.module.TrainlabModule.write_predictions`): text detection writes ICDAR
``res_<name>.txt`` files, ``submission.json`` and drawings; other tasks write their own
formats. ``+postprocess.<key>=<value>`` overrides a decision parameter tuned on validation,
``+options.<key>=<value>`` passes an option to the task's writer. ``ckpt_path=[a,b,...]``
predicts with an ensemble (``weights=[...]``), ``tta=[...]`` with test-time augmentation.
"""

from __future__ import annotations

import json
import logging

import hydra
from omegaconf import DictConfig

import trainlab.engine.config  # noqa: F401  (registers the ${trainlab_asset:...} resolver)
from trainlab.engine.console import quiet_third_party

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="../configs", config_name="predict")
def _hydra_main(cfg: DictConfig) -> None:
    from pathlib import Path

    import torch

    from trainlab.cli.models import load_for_inference
    from trainlab.engine.config import to_plain

    model, _ = load_for_inference(cfg)
    use_gpu = cfg.accelerator in {"auto", "gpu"} and torch.cuda.is_available()
    model = model.to("cuda" if use_gpu else "cpu").eval()
    options = {"draw": bool(cfg.draw), **to_plain(cfg.options)}
    summary = model.write_predictions(cfg.input, Path(cfg.paths.output_dir), options)
    print(json.dumps(summary))


def main(argv: list[str] | None = None) -> None:
    quiet_third_party()
    _hydra_main()
