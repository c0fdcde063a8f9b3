"""``trainlab predict`` for plate detection: boxes as CSV and COCO json, drawn images.

Each input image is read, resized as in training (long side ``image_size``), detected,
post-processed with the checkpoint's decision parameters (tuned on validation) and mapped back
to its own pixels. Outputs (written atomically):

- ``detections.csv``: ``image, x1, y1, x2, y2, score, label, class_name`` (plus ``plate_text``
  and ``text_score`` with ``read_plates``), one row per detection at the confidence threshold;
- ``detections_coco.json``: ``{"images": [...], "categories": [...], "annotations": [...]}`` with
  COCO ``bbox = [x, y, w, h]`` and ``score`` (loadable by ``pycocotools.coco.COCO.loadRes``
  through its ``annotations`` list);
- ``vis/<name>.jpg`` (with ``draw``): the image with its detections and scores.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from trainlab.engine.io import atomic_write, atomic_write_text
from trainlab.tasks.plate_detection.data.dataset import read_image, resize_long_side
from trainlab.tasks.plate_detection.data.formats import IMAGE_SUFFIXES
from trainlab.tasks.plate_detection.postprocess import confident, postprocess

TRUTH_COLOUR = (0, 200, 0)  # RGB
DETECTION_COLOUR = (230, 30, 30)


def list_inputs(inputs: str | os.PathLike) -> list[Path]:
    """An image file, or the images of a folder (sorted, not recursive).

    Raises:
        FileNotFoundError: the path does not exist, or the folder holds no image
            (suffixes :data:`~trainlab.tasks.plate_detection.data.formats.IMAGE_SUFFIXES`).
    """
    path = Path(inputs).expanduser()
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"input not found: {path}")
    images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise FileNotFoundError(f"no image ({', '.join(IMAGE_SUFFIXES)}) in {path}")
    return images


def draw_boxes(image: np.ndarray, truth: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
               texts: Sequence[str] | None = None) -> np.ndarray:
    """A copy of ``(H, W, 3)`` uint8 RGB with ground-truth boxes (green) and detections (red, score
    and optional text above); boxes ``(N, 4)`` xyxy pixels of this image."""
    canvas = image.copy()
    thickness = max(1, round(max(image.shape[:2]) / 400))
    for box in np.asarray(truth).reshape(-1, 4):
        cv2.rectangle(canvas, tuple(map(int, box[:2].round())), tuple(map(int, box[2:].round())), TRUTH_COLOUR, thickness)
    for i, (box, score) in enumerate(zip(np.asarray(boxes).reshape(-1, 4), scores)):
        x1, y1, x2, y2 = map(int, box.round())
        cv2.rectangle(canvas, (x1, y1), (x2, y2), DETECTION_COLOUR, thickness)
        label = f"{score:.2f}" + (f" {texts[i]}" if texts and texts[i] else "")
        cv2.putText(canvas, label, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45 * thickness, DETECTION_COLOUR,
                    thickness)
    return canvas


def write_image(path: Path, image: np.ndarray) -> None:
    """Write ``(H, W, 3)`` uint8 RGB as JPEG, atomically (parents created).

    Raises:
        OSError: the encoder failed.
    """
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise OSError(f"cannot encode {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda handle: handle.write(encoded.tobytes()))


def write_csv(path: Path, rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> None:
    """Write dict rows as CSV with a header, atomically (columns: the first row's keys by default)."""
    buffer = io.StringIO()
    columns = list(columns or (rows[0].keys() if rows else []))
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, buffer.getvalue())


@torch.no_grad()
def predict_images(module: Any, inputs: str | os.PathLike, output_dir: Path, draw: bool = True,
                   read_plates: bool = False, batch_size: int = 4) -> dict[str, Any]:
    """Detect, post-process and write (see the module docstring).

    Args:
        module: A :class:`~trainlab.tasks.plate_detection.module.PlateDetectionModule` in eval mode.
        inputs: An image or a folder of images.
        output_dir: Where to write.
        draw: Write ``vis/<name>.jpg``.
        read_plates: Read each box with RapidOCR's text recogniser (:mod:`~.alpr`).
        batch_size: Images per forward pass.

    Returns:
        ``{"images": n, "detections": n, "output": folder}``.

    Raises:
        FileNotFoundError: see :func:`list_inputs`; OSError: an unreadable image.
    """
    from trainlab.tasks.plate_detection.alpr import PlateReader

    paths = list_inputs(inputs)
    reader = PlateReader() if read_plates else None
    config = module.postprocess
    rows, images_json, annotations = [], [], []
    device = next(module.parameters()).device
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        originals = [read_image(p) for p in chunk]
        resized = [resize_long_side(image, module.image_size) for image in originals]
        tensors = [torch.from_numpy(np.ascontiguousarray(r[0].transpose(2, 0, 1))).float().div(255).to(device)
                   for r in resized]
        raw = module.detect_raw(tensors, [r[1] for r in resized])
        for path, image, detections in zip(chunk, originals, raw):
            kept = confident(postprocess(detections, config), config)
            boxes, scores, labels = kept["boxes"].numpy(), kept["scores"].numpy(), kept["labels"].numpy()
            texts = reader.read_boxes(image, boxes) if reader else None
            image_id = len(images_json) + 1
            images_json.append({"id": image_id, "file_name": path.name, "width": image.shape[1], "height": image.shape[0]})
            for i, (box, score, label) in enumerate(zip(boxes, scores, labels)):
                row = {"image": path.name, "x1": round(float(box[0]), 2), "y1": round(float(box[1]), 2),
                       "x2": round(float(box[2]), 2), "y2": round(float(box[3]), 2), "score": round(float(score), 4),
                       "label": int(label), "class_name": module.class_names[int(label)]}
                if texts is not None:
                    row.update(plate_text=texts[i][0], text_score=round(texts[i][1], 4))
                rows.append(row)
                annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(label) + 1,
                                    "bbox": [round(float(box[0]), 2), round(float(box[1]), 2),
                                             round(float(box[2] - box[0]), 2), round(float(box[3] - box[1]), 2)],
                                    "score": round(float(score), 4)})
            if draw:
                write_image(output_dir / "vis" / f"{path.stem}.jpg",
                            draw_boxes(image, np.zeros((0, 4)), boxes, scores, [t[0] for t in texts] if texts else None))
    columns = ["image", "x1", "y1", "x2", "y2", "score", "label", "class_name"] + (["plate_text", "text_score"] if reader else [])
    write_csv(output_dir / "detections.csv", rows, columns)
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(module.class_names)]
    atomic_write_text(output_dir / "detections_coco.json", json.dumps(
        {"images": images_json, "categories": categories, "annotations": annotations,
         "postprocess": module.postprocess_record()}, indent=1))
    return {"images": len(paths), "detections": len(rows), "output": str(output_dir)}
