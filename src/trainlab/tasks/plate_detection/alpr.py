"""Optional end-to-end ALPR step: read each detected plate with RapidOCR's text recogniser.

The recogniser is PaddleOCR's PP-OCRv4 CRNN-style text recogniser (SVTR-LCNet with CTC,
``ch_PP-OCRv4_rec_infer.onnx``, Apache-2.0) as the PyPI package ``rapidocr-onnxruntime`` 1.4
ships and runs it (``RapidOCR()(crop, use_det=False, use_cls=False, use_rec=True)``). It is a
general text reader, not trained on plates: the figures it gives are a baseline for the
end-to-end pipeline, off by default (``trainlab predict ... +options.read_plates=true``,
``benchmarks/plates.py --alpr``).

Plate strings are compared after :func:`normalise_plate` (upper case, only ``A-Z`` and ``0-9``),
the convention of the OpenALPR benchmark's ground truth.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

INSTALL_HINT = "pip install 'trainlab[ppocr]'  (rapidocr-onnxruntime~=1.4.4)"


def normalise_plate(text: str) -> str:
    """Upper case with everything but ``A-Z`` and ``0-9`` removed (``"ab-12 3"`` -> ``"AB123"``)."""
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def crop_box(image: np.ndarray, box: Sequence[float], margin: float = 0.08) -> np.ndarray:
    """The ``(h, w, 3)`` crop of ``box`` (xyxy pixels) grown by ``margin`` of its height on every side, clipped to the image."""
    x1, y1, x2, y2 = (float(v) for v in box)
    pad = margin * (y2 - y1)
    height, width = image.shape[:2]
    left, top = max(0, int(x1 - pad)), max(0, int(y1 - pad))
    right, bottom = min(width, int(np.ceil(x2 + pad))), min(height, int(np.ceil(y2 + pad)))
    return image[top:max(bottom, top + 1), left:max(right, left + 1)]


class PlateReader:
    """RapidOCR's recogniser on plate crops.

    Raises:
        ImportError: ``rapidocr-onnxruntime`` is not installed (the message says how to install it).
    """

    def __init__(self) -> None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as error:
            raise ImportError(f"reading plates needs rapidocr-onnxruntime: {INSTALL_HINT}") from error
        self.engine = RapidOCR()

    def read(self, crop: np.ndarray) -> tuple[str, float]:
        """``(normalised text, recogniser confidence)`` of one RGB crop (``("", 0.0)`` when nothing is read)."""
        result, _ = self.engine(np.ascontiguousarray(crop[:, :, ::-1]), use_det=False, use_cls=False, use_rec=True)
        if not result:
            return "", 0.0
        text, score = result[0][0], result[0][1]
        return normalise_plate(str(text)), float(score)

    def read_boxes(self, image: np.ndarray, boxes: np.ndarray) -> list[tuple[str, float]]:
        """:meth:`read` for each box ``(N, 4)`` xyxy of an ``(H, W, 3)`` uint8 RGB image."""
        return [self.read(crop_box(image, box)) for box in np.asarray(boxes).reshape(-1, 4)]


def plate_accuracy(predicted: Sequence[str], truth: Sequence[str]) -> dict[str, float]:
    """Exact-match accuracy of normalised plate strings and mean character error rate
    (Levenshtein distance / length of the truth).

    Raises:
        ValueError: lists of different lengths, or empty.
    """
    if len(predicted) != len(truth) or not truth:
        raise ValueError(f"need equal, non-empty lists; got {len(predicted)} predictions for {len(truth)} plates")
    exact = [normalise_plate(p) == normalise_plate(t) for p, t in zip(predicted, truth)]
    cer = [_levenshtein(normalise_plate(p), normalise_plate(t)) / max(1, len(normalise_plate(t)))
           for p, t in zip(predicted, truth)]
    return {"plate_accuracy": float(np.mean(exact)), "character_error_rate": float(np.mean(cer)), "plates": len(truth)}


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
