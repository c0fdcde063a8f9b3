"""``trainlab export ckpt_path=<file> [format=onnx] [opset=17] [dynamic_shapes=true] [output=<file.onnx>]``.

Writes the checkpoint's network as ONNX and, beside it, a JSON with what inference needs besides
the network (the task's pre-processing and the decision parameters tuned on validation) and the
parity figures: ONNX Runtime's outputs against PyTorch's on real inputs, whose largest absolute
difference is printed; the export fails when it reaches ``parity_tolerance`` (1e-4). Any task whose
module defines the export hooks can be exported (:mod:`trainlab.engine.export`); the others stop
with a message saying so. ``trainlab predict backend=onnxruntime model=<file.onnx> input=<...>``
runs the result without torch.
"""

from __future__ import annotations

import json
import logging

import hydra
from omegaconf import DictConfig

import trainlab.engine.config  # noqa: F401  (registers the ${trainlab_asset:...} resolver)
from trainlab.engine.console import quiet_third_party

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="../configs", config_name="export")
def _hydra_main(cfg: DictConfig) -> None:
    from pathlib import Path

    from trainlab.engine.checkpoint import load_module
    from trainlab.engine.config import to_plain
    from trainlab.engine.export import FORMATS, export_onnx

    if cfg.format not in FORMATS:
        raise ValueError(f"format={cfg.format}: trainlab export writes {', '.join(FORMATS)}")
    model = load_module(cfg.ckpt_path, trust=cfg.trust_checkpoint).eval()
    if cfg.postprocess:
        model.override_postprocess(to_plain(cfg.postprocess))
    output = Path(cfg.output) if cfg.output else Path(cfg.paths.output_dir) / "model.onnx"
    sidecar = export_onnx(model, output, opset=int(cfg.opset), dynamic_shapes=bool(cfg.dynamic_shapes),
                          exporter=str(cfg.exporter), parity_source=cfg.parity_inputs,
                          parity_limit=int(cfg.parity_limit), tolerance=float(cfg.parity_tolerance),
                          optimization=str(cfg.ort_optimization),
                          record={"checkpoint": str(Path(cfg.ckpt_path).resolve())})
    parity = sidecar["parity"]
    log.info("ONNX Runtime vs PyTorch on %d real inputs: max abs difference %.3g", parity["inputs"], parity["max_abs_diff"])
    print(json.dumps({"model": str(output), "sidecar": str(output.with_suffix(".json")),
                      "max_abs_diff": parity["max_abs_diff"], "parity_inputs": parity["inputs"]}))


def main(argv: list[str] | None = None) -> None:
    """Run ``trainlab export`` (a Hydra app: ``argv`` comes from ``sys.argv``)."""
    quiet_third_party()
    _hydra_main()
