"""The JSON written beside an exported model (``trainlab export``) and the ONNX Runtime session
that runs the model, both without torch.

The JSON holds what inference needs besides the network (the task's pre- and post-processing, the
runtime class that runs it), the graph's names, the ONNX Runtime graph-optimisation level the
parity was measured with, and the parity figures; see :func:`trainlab.engine.export.export_onnx`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def sidecar_path(model_path: str | os.PathLike) -> Path:
    """The JSON beside an exported file: ``model.onnx`` -> ``model.json``."""
    return Path(model_path).with_suffix(".json")


def read_sidecar(model_path: str | os.PathLike) -> dict[str, Any]:
    """The sidecar of an exported model.

    Raises:
        FileNotFoundError: the model or its sidecar is missing (message names it).
        ValueError: the sidecar is not a JSON object (message names the file, line and column).
    """
    path = sidecar_path(model_path)
    if not Path(model_path).is_file():
        raise FileNotFoundError(f"exported model not found: {model_path}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the JSON that trainlab export writes beside {Path(model_path).name} is missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}:{error.colno}: not valid JSON ({error.msg})") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}:1: expected a JSON object, got {type(data).__name__}")
    return data


ORT_OPTIMIZATIONS = ("disable", "basic", "extended", "all")
"""ONNX Runtime graph-optimisation levels (``GraphOptimizationLevel.ORT_<LEVEL>``, ``disable`` = ``ORT_DISABLE_ALL``)."""

DEFAULT_ORT_OPTIMIZATION = "extended"
"""Fusions without ``all``'s NCHWc layout transform: on PP-OCRv4's probability map for three SROIE
receipts, ``all`` is 2.2e-4 from PyTorch (and 2.3e-4 from a float64 run), ``extended`` 8.6e-5."""


def ort_session(model: str | os.PathLike | bytes, threads: int | None = None,
                optimization: str = DEFAULT_ORT_OPTIMIZATION) -> Any:
    """An ONNX Runtime CPU session for an exported model.

    Args:
        model: The ``.onnx`` file, or its bytes.
        threads: Intra-op threads; ``None`` or 0: ONNX Runtime's default (the physical cores).
        optimization: One of :data:`ORT_OPTIMIZATIONS`.

    Raises:
        ValueError: an unknown optimisation level.
    """
    import onnxruntime as ort

    if optimization not in ORT_OPTIMIZATIONS:
        raise ValueError(f"ONNX Runtime optimisation must be one of {', '.join(ORT_OPTIMIZATIONS)}, got {optimization!r}")
    level = "ORT_DISABLE_ALL" if optimization == "disable" else f"ORT_ENABLE_{optimization.upper()}"
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads or 0)
    options.inter_op_num_threads = 1
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
