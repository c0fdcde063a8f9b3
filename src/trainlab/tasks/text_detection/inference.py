"""Run a trained text detector on image files: regions, ICDAR result files, JSON and drawings."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from trainlab.engine.io import atomic_write, atomic_write_json
from trainlab.tasks.text_detection.data.dataset import read_image, resize_for_eval
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


@torch.no_grad()
def detect_image(model: Any, image: np.ndarray, resize: Mapping[str, Any] | None = None) -> list[TextRegion]:
    """Detect text in one RGB uint8 ``(H, W, 3)`` image; regions in its pixel coordinates.

    Args:
        model: A :class:`~trainlab.tasks.text_detection.module.TextDetectionModule` in eval mode.
        image: The image.
        resize: Resize policy; ``None`` uses the model's stored one.
    """
    tensor = torch.from_numpy(resize_for_eval(image, resize if resize is not None else model.resize))[None]
    maps = model.predict_maps(tensor.to(model.device))[0]
    return model.detect(maps, image.shape[:2])


def draw_regions(image: np.ndarray, regions: Iterable[TextRegion], color: tuple[int, int, int] = (255, 0, 0)) -> np.ndarray:
    """A copy of an RGB image with region outlines drawn (2 px, ``color`` in RGB)."""
    canvas = image.copy()
    polygons = [np.round(r.points).astype(np.int32).reshape(-1, 1, 2) for r in regions]
    cv2.polylines(canvas, polygons, True, color, 2, lineType=cv2.LINE_AA)
    return canvas


def predict_folder(model: Any, inputs: Iterable[Path], output_dir: str | os.PathLike, *, draw: bool = True,
                   with_scores: bool = False, resize: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Detect text in every input image and write the results.

    Writes ``res_<name>.txt`` (ICDAR 2015 result format) for each image, ``submission.json``
    (``{name: [{"points": [[x, y], ...], "score": s}, ...]}``, pixels of the original
    image) and, with ``draw``, ``vis/<name>.jpg``. All files are written atomically.

    Returns:
        The submission dict.
    """
    output_dir = Path(output_dir)
    submission: dict[str, Any] = {}
    model.eval()
    for path in inputs:
        image = read_image(path)
        regions = detect_image(model, image, resize)
        write_result_file(output_dir / f"res_{path.stem}.txt", regions, with_scores=with_scores)
        submission[path.stem] = [{"points": np.round(r.points, 1).tolist(), "score": round(float(r.score), 4)}
                                 for r in regions]
        if draw:
            drawn = cv2.cvtColor(draw_regions(image, regions), cv2.COLOR_RGB2BGR)
            ok, encoded = cv2.imencode(".jpg", drawn, [cv2.IMWRITE_JPEG_QUALITY, 90])
            if ok:
                atomic_write(output_dir / "vis" / f"{path.stem}.jpg", lambda handle: handle.write(encoded.tobytes()))
    atomic_write_json(output_dir / "submission.json", submission)
    return submission
