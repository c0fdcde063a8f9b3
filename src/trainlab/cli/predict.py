"""``trainlab predict ckpt_path=<file> input=<file or folder>``: run a checkpoint on new inputs, any task.

The checkpoint's task reads the input and writes its predictions in ``outputs/predict/<timestamp>/``
(:meth:`~trainlab.engine.module.TrainlabModule.write_predictions`): text detection writes ICDAR
``res_<name>.txt`` files, ``submission.json`` and drawings; other tasks write their own
formats. ``+postprocess.<key>=<value>`` overrides a decision parameter tuned on validation,
``+options.<key>=<value>`` passes an option to the task's writer. ``ckpt_path=[a,b,...]``
predicts with an ensemble (``weights=[...]``), ``tta=[...]`` with test-time augmentation.

``trainlab predict backend=onnxruntime model=<file.onnx> input=<...>`` runs a model written by
``trainlab export`` on ONNX Runtime instead: the runtime class named in the JSON beside it
(text detection: :class:`~trainlab.tasks.text_detection.onnx_runtime.OnnxTextDetector`) applies the
same pre- and post-processing and writes the same files; this path imports no torch.
"""

from __future__ import annotations

import json
import logging

import hydra
from omegaconf import DictConfig

import trainlab.engine.config  # noqa: F401  (registers the ${trainlab_asset:...} resolver)
from trainlab.engine.console import quiet_third_party

log = logging.getLogger(__name__)


BACKENDS = ("torch", "onnxruntime")


def predict_onnxruntime(cfg: DictConfig) -> dict:
    """``backend=onnxruntime``: the exported model ``cfg.onnx_model`` (``model=`` on the command line) run by the runtime class its JSON names.

    Raises:
        ValueError: no ``model``, or a ``ckpt_path`` given as well; FileNotFoundError: the model or its
            JSON is missing.
    """
    import importlib
    from pathlib import Path

    from trainlab.engine.config import to_plain
    from trainlab.engine.sidecar import read_sidecar

    if not cfg.get("onnx_model"):
        raise ValueError("backend=onnxruntime needs model=<file.onnx> (written by trainlab export)")
    if cfg.get("ckpt_path") or cfg.get("tta") or cfg.get("weights") is not None:
        raise ValueError("backend=onnxruntime runs one exported model: give model=<file.onnx>, without ckpt_path, "
                         "weights or tta")
    module_name, _, class_name = str(read_sidecar(cfg.onnx_model).get("runtime", "")).rpartition(".")
    if not module_name:
        raise ValueError(f"{Path(cfg.onnx_model).with_suffix('.json')}: no 'runtime' entry; this task's exports have no "
                         "ONNX Runtime predict path")
    runtime = getattr(importlib.import_module(module_name), class_name)
    detector = runtime(cfg.onnx_model, postprocess=to_plain(cfg.postprocess), threads=cfg.get("threads"),
                       optimization=cfg.get("ort_optimization"))
    options = {"draw": bool(cfg.draw), **to_plain(cfg.options)}
    return detector.write_predictions(cfg.input, Path(cfg.paths.output_dir), options)


@hydra.main(version_base="1.3", config_path="../configs", config_name="predict")
def _hydra_main(cfg: DictConfig) -> None:
    from pathlib import Path

    if cfg.backend not in BACKENDS:
        raise ValueError(f"backend={cfg.backend}: choose one of {', '.join(BACKENDS)}")
    if cfg.backend == "onnxruntime":
        print(json.dumps(predict_onnxruntime(cfg)))
        return
    if not cfg.get("ckpt_path"):
        raise ValueError("ckpt_path=<checkpoint> is required (or backend=onnxruntime model=<file.onnx>)")

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
    """Run ``trainlab predict`` (a Hydra app: ``argv`` comes from ``sys.argv``)."""
    quiet_third_party()
    _hydra_main()
