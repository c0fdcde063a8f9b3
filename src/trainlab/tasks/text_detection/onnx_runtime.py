"""Text detection with an exported ONNX model on ONNX Runtime, without torch.

``trainlab export`` writes ``model.onnx`` and ``model.json``; this module needs nothing else:
the JSON holds the pre-processing (resize policy, ImageNet mean and std on RGB) and the decoding
parameters tuned on validation, and the pre-processing, post-processing and file writers used
here are the same functions PyTorch inference uses
(:mod:`~trainlab.tasks.text_detection.data.preprocess`,
:mod:`~trainlab.tasks.text_detection.postprocess.decoders`,
:mod:`~trainlab.tasks.text_detection.inference`), so both backends write the same files.

Imports: NumPy, OpenCV, onnxruntime, pyclipper and shapely (through the post-processing), the
standard library; never torch (a test runs it with ``import torch`` blocked).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from trainlab.engine.sidecar import ort_session, read_sidecar, sidecar_path
from trainlab.tasks.text_detection.data.preprocess import check_resize, resize_for_eval
from trainlab.tasks.text_detection.inference import write_predictions
from trainlab.tasks.text_detection.postprocess.decoders import decoder_for
from trainlab.tasks.text_detection.types import TextRegion


class OnnxTextDetector:
    """An exported text detector run by ONNX Runtime's CPU provider.

    Args:
        model_path: The ``.onnx`` file written by ``trainlab export``; its ``.json`` sidecar must
            lie beside it.
        postprocess: Decoding parameters that replace the sidecar's (e.g. ``{"box_thresh": 0.5}``).
        threads: ONNX Runtime's intra-op threads; ``None`` or 0: its default (the physical cores).
        optimization: ONNX Runtime's graph-optimisation level; ``None``: the one the export's parity
            was measured with (its sidecar's ``onnxruntime.optimization``).

    Attributes:
        timings: Seconds spent per stage, summed over :meth:`detect` calls: ``preprocess``,
            ``network``, ``postprocess``.

    Raises:
        FileNotFoundError: the model or its sidecar is missing.
        ValueError: the sidecar is not a text-detection export, or holds an unknown family,
            resize policy or decoding key (the message names the sidecar file).
    """

    def __init__(self, model_path: str | os.PathLike, postprocess: Mapping[str, Any] | None = None,
                 threads: int | None = None, optimization: str | None = None):
        self.model_path = Path(model_path)
        self.sidecar = read_sidecar(self.model_path)
        where = sidecar_path(self.model_path)
        if self.sidecar.get("task") != "text_detection":
            raise ValueError(f"{where}: task {self.sidecar.get('task')!r}, not a text_detection export")
        try:
            preprocess = self.sidecar["preprocess"]
            self.resize = check_resize(preprocess["resize"])
            self.mean, self.std = tuple(preprocess["mean"]), tuple(preprocess["std"])
            self.config, self._decode, self.map_names = decoder_for(
                self.sidecar["family"], {**self.sidecar["postprocess"], **dict(postprocess or {})})
            graph = self.sidecar["graph"]
            self.input_name = graph["input_names"][0]
            self.output_names = list(graph["output_names"])
        except KeyError as error:
            raise ValueError(f"{where}: missing key {error}") from error
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from error
        if set(self.map_names) - set(self.output_names):
            raise ValueError(f"{where}: the graph's outputs {self.output_names} lack the maps the "
                             f"{self.sidecar['family']} decoding reads ({', '.join(self.map_names)})")
        optimization = optimization or self.sidecar.get("onnxruntime", {}).get("optimization", "extended")
        self.session = ort_session(self.model_path, threads, optimization)
        self.timings = {"preprocess": 0.0, "network": 0.0, "postprocess": 0.0}

    def preprocess(self, image: np.ndarray, resize: Mapping[str, Any] | None = None) -> np.ndarray:
        """RGB uint8 ``(H, W, 3)`` -> ``(1, 3, h, w)`` float32, resized by the exported policy (or ``resize``)."""
        return resize_for_eval(image, resize or self.resize, self.mean, self.std)[None]

    def network_maps(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """ONNX Runtime's score maps for a ``(B, 3, h, w)`` float32 batch: map name -> ``(B, h', w')`` float32."""
        outputs = self.session.run(self.map_names, {self.input_name: batch})
        return {name: output[:, 0] for name, output in zip(self.map_names, outputs)}

    def detect(self, image: np.ndarray, resize: Mapping[str, Any] | None = None) -> list[TextRegion]:
        """Regions in one RGB uint8 ``(H, W, 3)`` image, in its pixels; stage times go to :attr:`timings`."""
        start = time.perf_counter()
        batch = self.preprocess(image, resize)
        mid = time.perf_counter()
        maps = {name: np.ascontiguousarray(value[0]) for name, value in self.network_maps(batch).items()}
        end = time.perf_counter()
        regions = self._decode(maps, image.shape[:2], self.config)
        self.timings["preprocess"] += mid - start
        self.timings["network"] += end - mid
        self.timings["postprocess"] += time.perf_counter() - end
        return regions

    def write_predictions(self, inputs: str | os.PathLike, output_dir: str | os.PathLike,
                          options: Mapping[str, Any]) -> dict[str, Any]:
        """The files ``trainlab predict`` writes for the PyTorch model (``res_<name>.txt``,
        ``submission.json``, drawings; :func:`~.inference.write_predictions`), from ONNX Runtime.

        Raises:
            ValueError: an unknown option or format; FileNotFoundError: no input images.
        """
        resize = dict(options).get("resize")
        summary = write_predictions(lambda image: self.detect(image, resize), inputs, output_dir, options)
        return {**summary, "backend": "onnxruntime", "model": str(self.model_path)}
