"""Export a trained module's network to ONNX, check it, and prove that ONNX Runtime computes the same.

Task-agnostic: the module's export hooks (:meth:`~trainlab.engine.module.TrainlabModule.export_network`,
``export_example_inputs``, ``export_signature``, ``export_sidecar``) say what to trace, on which
real inputs, under which names, and what inference needs besides the network. :func:`export_onnx`

1. traces the network with ``torch.onnx.export`` on the first real input;
2. runs ``onnx.checker.check_model`` (``full_check``: shape inference included) on the result;
3. runs every real input through PyTorch and through ONNX Runtime (CPU) and takes the largest
   absolute difference over all outputs; the export fails at or above ``tolerance`` (1e-4 for
   float32), and nothing is written then;
   The session is built as inference builds it (:func:`~trainlab.engine.sidecar.ort_session`,
   the graph-optimisation level recorded in the sidecar);
4. writes the ``.onnx`` file and, beside it, a ``.json`` sidecar (the task's pre- and
   post-processing, the parity figures, the versions), both atomically.

Exporter: the TorchScript-based one (``torch.onnx.export(..., dynamo=False)``) by default. With
torch 2.14 the dynamo exporter (``dynamo=True``, ``torch.export`` then onnxscript) fails on the
converted PP-OCRv4 detector (onnx2torch's ``Resize`` guards on a data-dependent scale) and takes
15 s where the TorchScript one takes 1 s for a DBNet-R18 on 2 CPU cores; ``exporter=dynamo``
selects it for networks it handles (it needs the ``onnxscript`` package).
"""

from __future__ import annotations

import inspect
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from trainlab.engine.io import atomic_write, atomic_write_json
from trainlab.engine.sidecar import DEFAULT_ORT_OPTIMIZATION, ort_session, sidecar_path

PARITY_TOLERANCE = 1e-4
"""Largest absolute difference allowed between PyTorch's and ONNX Runtime's float32 outputs."""

EXPORTERS = ("torchscript", "dynamo")
FORMATS = ("onnx",)


class ExportError(RuntimeError):
    """The exported graph is invalid, or ONNX Runtime's outputs differ from PyTorch's."""


def _as_tuple(outputs: Any) -> tuple[torch.Tensor, ...]:
    if isinstance(outputs, torch.Tensor):
        return (outputs,)
    if isinstance(outputs, Mapping):
        return tuple(outputs.values())
    return tuple(outputs)


def _trace(network: nn.Module, example: tuple[torch.Tensor, ...], signature: Mapping[str, Any], opset: int,
           dynamic_shapes: bool, exporter: str) -> bytes:
    """The serialised ONNX model of ``network`` traced on ``example``."""
    names = {"input_names": list(signature["input_names"]), "output_names": list(signature["output_names"])}
    axes = dict(signature.get("dynamic_axes") or {}) if dynamic_shapes else {}
    if exporter == "torchscript":
        buffer = io.BytesIO()
        torch.onnx.export(network, example, buffer, dynamo=False, opset_version=opset, do_constant_folding=True,
                          dynamic_axes=axes or None, **names)
        return buffer.getvalue()
    from torch.export import Dim

    arguments = list(inspect.signature(network.forward).parameters)[: len(example)]
    shapes = {arg: {int(axis): Dim.DYNAMIC for axis in axes.get(name, {})}
              for arg, name in zip(arguments, names["input_names"])} if axes else None
    program = torch.onnx.export(network, example, dynamo=True, opset_version=opset, dynamic_shapes=shapes,
                                verbose=False, **names)
    return program.model_proto.SerializeToString()


def check_parity(model_bytes: bytes, network: nn.Module, inputs: Sequence[tuple[torch.Tensor, ...]],
                 input_names: Sequence[str], output_names: Sequence[str],
                 optimization: str = DEFAULT_ORT_OPTIMIZATION) -> dict[str, Any]:
    """Run each input through PyTorch and ONNX Runtime (CPU provider) and compare the outputs.

    Args:
        model_bytes: The serialised ONNX model.
        network: The PyTorch network it was exported from (eval mode).
        inputs: Tuples of input tensors, as the network takes them.
        input_names, output_names: The graph's names, in the network's argument and output order.
        optimization: ONNX Runtime's graph-optimisation level (:func:`~trainlab.engine.sidecar.ort_session`),
            the one inference will use.

    Returns:
        ``{"max_abs_diff": float, "per_output": {name: max abs diff}, "inputs": n, "shapes": [input
        shapes], "dtype": the first input's dtype}``.

    Raises:
        ExportError: ONNX Runtime returns a different number of outputs or other shapes.
    """
    session = ort_session(model_bytes, torch.get_num_threads(), optimization)
    per_output = dict.fromkeys(output_names, 0.0)
    for example in inputs:
        with torch.no_grad():
            expected = [t.float().cpu().numpy() for t in _as_tuple(network(*example))]
        got = session.run(list(output_names), {n: t.cpu().numpy() for n, t in zip(input_names, example)})
        if len(got) != len(expected):
            raise ExportError(f"ONNX Runtime returned {len(got)} outputs, PyTorch {len(expected)}")
        for name, ours, theirs in zip(output_names, got, expected):
            if ours.shape != theirs.shape:
                raise ExportError(f"output {name}: ONNX Runtime shape {ours.shape}, PyTorch {theirs.shape}")
            per_output[name] = max(per_output[name], float(np.abs(ours.astype(np.float64) - theirs).max(initial=0.0)))
    return {"max_abs_diff": max(per_output.values(), default=0.0), "per_output": per_output, "inputs": len(inputs),
            "shapes": [[list(t.shape) for t in example] for example in inputs], "dtype": str(inputs[0][0].dtype),
            "onnxruntime_optimization": optimization}


def export_onnx(module: Any, output: str | os.PathLike, *, opset: int = 17, dynamic_shapes: bool = True,
                exporter: str = "torchscript", parity_source: str | os.PathLike | None = None,
                parity_limit: int = 3, tolerance: float = PARITY_TOLERANCE,
                optimization: str = DEFAULT_ORT_OPTIMIZATION, record: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Export ``module``'s network to ONNX with a parity check against ONNX Runtime (module docstring).

    Args:
        module: A :class:`~trainlab.engine.module.TrainlabModule` (eval mode is set here).
        output: The ``.onnx`` file to write; the sidecar goes to :func:`sidecar_path`.
        opset: ONNX opset version.
        dynamic_shapes: Export the signature's dynamic axes (batch, image height and width...);
            ``False`` fixes the shapes of the first example, and parity runs on the inputs of that
            shape only.
        exporter: ``"torchscript"`` or ``"dynamo"`` (see the module docstring).
        parity_source: The task's inputs to trace and compare on (a file or folder); ``None``:
            the task's own real examples.
        parity_limit: At most this many inputs.
        tolerance: The export fails when the largest absolute difference reaches it.
        optimization: ONNX Runtime's graph-optimisation level for the parity check, recorded in the
            sidecar for inference to use (:data:`~trainlab.engine.sidecar.DEFAULT_ORT_OPTIMIZATION`).
        record: Extra facts for the sidecar (e.g. the checkpoint path).

    Returns:
        The sidecar's content (also written).

    Raises:
        ValueError: unknown exporter, or no example input.
        NotImplementedError: the task cannot export (from its hooks).
        ExportError: the checker rejects the graph or the parity check fails (nothing written).
    """
    import onnx
    import onnxruntime

    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {', '.join(EXPORTERS)}, got {exporter!r}")
    module.eval()
    network = module.export_network().eval()
    examples = [tuple(example) for example in module.export_example_inputs(parity_source, parity_limit)]
    if not examples:
        raise ValueError(f"no example input to export with (parity inputs: {parity_source or 'the task default'})")
    signature = module.export_signature()
    model_bytes = _trace(network, examples[0], signature, opset, dynamic_shapes, exporter)
    try:
        onnx.checker.check_model(onnx.load_from_string(model_bytes), full_check=True)
    except onnx.checker.ValidationError as error:
        raise ExportError(f"onnx.checker rejected the exported graph: {error}") from error
    if not dynamic_shapes:
        first = [tuple(t.shape) for t in examples[0]]
        examples = [e for e in examples if [tuple(t.shape) for t in e] == first]
    parity = check_parity(model_bytes, network, examples, signature["input_names"], signature["output_names"],
                          optimization)
    parity["tolerance"] = tolerance
    if not parity["max_abs_diff"] < tolerance:
        raise ExportError(f"ONNX Runtime differs from PyTorch by {parity['max_abs_diff']:.3g} (tolerance {tolerance:g}) "
                          f"on {parity['inputs']} real inputs; per output: {parity['per_output']}")
    output = Path(output)
    sidecar = {
        "format": "onnx",
        "model": output.name,
        **module.export_sidecar(),
        "graph": {**signature, "opset": opset, "dynamic_shapes": bool(dynamic_shapes), "exporter": exporter},
        "onnxruntime": {"optimization": optimization},
        "parity": parity,
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
        **dict(record or {}),
    }
    atomic_write(output, lambda handle: handle.write(model_bytes))
    atomic_write_json(sidecar_path(output), sidecar)
    return sidecar

