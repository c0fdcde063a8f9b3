"""Run a trained text detector on image files: regions, submission files and drawings.

This module imports no torch at load time: the writer (:func:`predict_folder`) takes any
``detect(image) -> regions`` function, the PyTorch module's (:func:`detect_image`) or ONNX
Runtime's (:class:`~trainlab.tasks.text_detection.onnx_runtime.OnnxTextDetector`), so both write
the same files.

Submission formats (what leaderboards take; each readable by ``trainlab score --pred``):

- ``icdar``: one ``res_<name>.txt`` per image, ``x1,y1,...,xn,yn[,score]`` per line (ICDAR 2015);
- ``icdar-zip``: the same files in ``submission.zip`` (the RRC upload);
- ``json``: ``submission.json``, ``{name: [{"points": [[x, y], ...], "score": s}, ...]}``;
- ``csv``: ``submission.csv``, one row per region: ``image,points,score`` with ``points`` as
  ``x1 y1 x2 y2 ...``.

Coordinates are integer pixels of the original image in every format.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from trainlab.engine.io import atomic_write, atomic_write_json, atomic_write_text
from trainlab.tasks.text_detection.data.preprocess import read_image, resize_for_eval
from trainlab.tasks.text_detection.data.icdar_format import IMAGE_SUFFIXES, write_result_file
from trainlab.tasks.text_detection.types import TextRegion


def list_inputs(path: str | os.PathLike) -> list[Path]:
    """An image file, or the images of a folder sorted by name.

    Raises:
        FileNotFoundError: the path does not exist, or the folder has no image.
        ValueError: the file is not an image by its suffix.
    """
    path = Path(path)
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {path}")
        return images
    if not path.exists():
        raise FileNotFoundError(f"input not found: {path}")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"{path}: not an image file ({', '.join(IMAGE_SUFFIXES)})")
    return [path]


def detect_image(model: Any, image: np.ndarray, resize: Mapping[str, Any] | None = None) -> list[TextRegion]:
    """Detect text in one RGB uint8 ``(H, W, 3)`` image with PyTorch; regions in its pixel coordinates.

    Args:
        model: A :class:`~trainlab.tasks.text_detection.module.TextDetectionModule` in eval mode.
        image: The image.
        resize: Resize policy; ``None`` uses the model's stored one.
    """
    import torch

    tensor = torch.from_numpy(resize_for_eval(image, resize if resize is not None else model.resize))[None]
    with torch.no_grad():
        maps = model.predict_maps(tensor.to(model.device))[0]
    return model.detect(maps, image.shape[:2])


def draw_regions(image: np.ndarray, regions: Iterable[TextRegion], color: tuple[int, int, int] = (255, 0, 0)) -> np.ndarray:
    """A copy of an RGB image with region outlines drawn (2 px, ``color`` in RGB)."""
    canvas = image.copy()
    polygons = [np.round(r.points).astype(np.int32).reshape(-1, 1, 2) for r in regions]
    cv2.polylines(canvas, polygons, True, color, 2, lineType=cv2.LINE_AA)
    return canvas


SUBMISSION_FORMATS = ("icdar", "icdar-zip", "json", "csv")


def check_formats(formats: str | Sequence[str]) -> list[str]:
    """Submission formats as a list (a single name or a list).

    Raises:
        ValueError: an unknown format (the valid ones are listed).
    """
    names = [formats] if isinstance(formats, str) else list(formats)
    unknown = [f for f in names if f not in SUBMISSION_FORMATS]
    if unknown or not names:
        raise ValueError(f"format: unknown {', '.join(unknown) or 'empty list'}; valid: {', '.join(SUBMISSION_FORMATS)}")
    return names


def predict_folder(detect: Callable[[np.ndarray], list[TextRegion]], inputs: Iterable[Path],
                   output_dir: str | os.PathLike, *, draw: bool = True, with_scores: bool = False,
                   formats: str | Sequence[str] = ("icdar", "json")) -> dict[str, Any]:
    """Detect text in every input image and write the submission files (see the module docstring).

    Regions are in pixels of the original image; with ``draw``, ``vis/<name>.jpg`` shows them.
    All files are written atomically.

    Args:
        detect: RGB uint8 ``(H, W, 3)`` image -> regions in its pixels (e.g. :func:`detect_image`
            bound to a module, or an ONNX Runtime detector's ``detect``).
        inputs: Image files (:func:`list_inputs`).
        output_dir: Where to write.
        draw, with_scores, formats: see
            :meth:`~trainlab.tasks.text_detection.module.TextDetectionModule.write_predictions`.

    Returns:
        The submission dict (as in ``submission.json``).

    Raises:
        ValueError: an unknown format.
    """
    formats = check_formats(formats)
    output_dir = Path(output_dir)
    submission: dict[str, Any] = {}
    for path in inputs:
        image = read_image(path)
        regions = detect(image)
        if "icdar" in formats or "icdar-zip" in formats:
            write_result_file(output_dir / f"res_{path.stem}.txt", regions, with_scores=with_scores)
        # Integer pixels in every format, as in the result files (what leaderboards take).
        submission[path.stem] = [{"points": np.round(r.points).astype(int).tolist(), "score": round(float(r.score), 4)}
                                 for r in regions]
        if draw:
            drawn = cv2.cvtColor(draw_regions(image, regions), cv2.COLOR_RGB2BGR)
            ok, encoded = cv2.imencode(".jpg", drawn, [cv2.IMWRITE_JPEG_QUALITY, 90])
            if ok:
                atomic_write(output_dir / "vis" / f"{path.stem}.jpg", lambda handle: handle.write(encoded.tobytes()))
    if "json" in formats:
        atomic_write_json(output_dir / "submission.json", submission)
    if "csv" in formats:
        atomic_write_text(output_dir / "submission.csv", submission_csv(submission))
    if "icdar-zip" in formats:
        names = [f"res_{name}.txt" for name in submission]
        atomic_write(output_dir / "submission.zip", lambda handle: _zip(handle, output_dir, names))
    return submission


PREDICT_OPTIONS = ("draw", "format", "resize", "with_scores")


def write_predictions(detect: Callable[[np.ndarray], list[TextRegion]], inputs: str | os.PathLike,
                      output_dir: str | os.PathLike, options: Mapping[str, Any]) -> dict[str, Any]:
    """``trainlab predict``'s text-detection output for an image or a folder (:func:`predict_folder`),
    whichever backend ``detect`` runs.

    Args:
        detect: RGB uint8 ``(H, W, 3)`` image -> regions in its pixels (``options["resize"]``, if
            given, is the caller's to apply).
        inputs: An image file or a folder of images.
        output_dir: Where to write.
        options: :data:`PREDICT_OPTIONS` (see
            :meth:`~trainlab.tasks.text_detection.module.TextDetectionModule.write_predictions`).

    Returns:
        ``{"images": n, "text_regions": n, "output": folder}``.

    Raises:
        ValueError: an unknown option or format; FileNotFoundError: see :func:`list_inputs`.
    """
    unknown = sorted(set(options) - set(PREDICT_OPTIONS))
    if unknown:
        raise ValueError(f"unknown predict option(s) {', '.join(unknown)}; text detection takes: "
                         f"{', '.join(PREDICT_OPTIONS)}")
    images = list_inputs(inputs)
    submission = predict_folder(detect, images, output_dir, draw=bool(options.get("draw", True)),
                                with_scores=bool(options.get("with_scores", False)),
                                formats=options.get("format", ("icdar", "json")))
    regions = sum(len(v) for v in submission.values())
    return {"images": len(images), "text_regions": regions, "output": str(output_dir)}


def submission_csv(submission: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """The ``submission.csv`` text: header ``image,points,score``, one row per region."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["image", "points", "score"])
    for name, regions in submission.items():
        for region in regions:
            writer.writerow([name, " ".join(f"{v:g}" for point in region["points"] for v in point), region["score"]])
    return buffer.getvalue()


def _zip(handle: Any, folder: Path, names: Sequence[str]) -> None:
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.write(folder / name, arcname=name)
