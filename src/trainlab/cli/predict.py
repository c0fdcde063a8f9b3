"""``trainlab predict ckpt_path=<file> input=<image or folder>``: detect text, write results.

Writes ``res_<name>.txt`` (ICDAR 2015 result files, ready for ``trainlab score`` or an RRC
submission zip), ``submission.json`` and ``vis/<name>.jpg`` drawings in
``outputs/predict/<timestamp>/``.
"""

from __future__ import annotations

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

    from trainlab.engine.checkpoint import load_module
    from trainlab.engine.config import to_plain
    from trainlab.tasks.text_detection.inference import list_inputs, predict_folder

    model = load_module(cfg.ckpt_path, trust=cfg.trust_checkpoint)
    if cfg.postprocess:
        model.override_postprocess(to_plain(cfg.postprocess))
    use_gpu = cfg.accelerator in {"auto", "gpu"} and torch.cuda.is_available()
    model = model.to("cuda" if use_gpu else "cpu")
    inputs = list_inputs(cfg.input)
    output_dir = Path(cfg.paths.output_dir)
    submission = predict_folder(model, inputs, output_dir, draw=cfg.draw, with_scores=cfg.with_scores,
                                resize=to_plain(cfg.resize) if cfg.resize else None)
    regions = sum(len(v) for v in submission.values())
    print(f"{len(inputs)} images, {regions} text regions -> {output_dir}")


def main(argv: list[str] | None = None) -> None:
    quiet_third_party()
    _hydra_main()
