"""PP-OCRv4 probability maps of real receipts, computed once with ONNX Runtime and cached.

The detector is the ONNX export that ``rapidocr-onnxruntime`` ships
(``ch_PP-OCRv4_det_infer.onnx``). Each image is prepared as RapidOCR prepares it: the BGR
image resized by :func:`~trainlab.tasks.text_detection.data.transforms.target_size` in
mode ``min_side_limit`` (short side at least 736 px, long side at most 2000 px, multiples
of 32) and normalised with PaddleOCR's mean and standard deviation, which PaddleOCR applies
to the channels in BGR order. Maps are ``(h, w)`` float32 in ``[0, 1]`` at the network
input size, cached as ``.npy`` files (the cache is never part of the repository).

Usage (fills the cache for every image of a data set in ICDAR layout)::

    python benchmarks/ppocr_maps.py [--data-root /work/shared/data/sroie2019] [--cache DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from trainlab.tasks.text_detection.data.dataset import resize_for_eval
from trainlab.tasks.text_detection.data.icdar_format import read_split
from trainlab.tasks.text_detection.models.ppocr_convert import ppocr_det_onnx_path
from trainlab.tasks.text_detection.types import AnnotatedImage

RAPIDOCR_RESIZE = {"mode": "min_side_limit", "size": 736, "max_side": 2000}
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "trainlab_ppocr_v4_maps"
DEFAULT_ROOT = Path("/work/shared/data/sroie2019")


def records(root: Path, splits: tuple[str, ...] = ("train", "test")) -> list[AnnotatedImage]:
    """The annotated images of ``splits`` of an ICDAR-layout data set, split by split, sorted by name."""
    return [record for split in splits for record in read_split(root / "images" / split, root / "annotations" / split)]


class MapCache:
    """PP-OCRv4 probability maps of images, computed on first use and kept in ``cache_dir``.

    Args:
        cache_dir: Folder of the ``<image stem>.npy`` files (created if missing).

    Raises:
        PPOCRUnavailableError: on first computation, when ``rapidocr-onnxruntime`` is missing.
    """

    def __init__(self, cache_dir: Path = DEFAULT_CACHE):
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._session = None

    def _run(self, image_path: Path) -> tuple[np.ndarray, tuple[int, int]]:
        if self._session is None:
            import onnxruntime

            self._session = onnxruntime.InferenceSession(str(ppocr_det_onnx_path()),
                                                         providers=["CPUExecutionProvider"])
        bgr = cv2.imread(str(image_path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        batch = resize_for_eval(bgr, RAPIDOCR_RESIZE)[None]  # BGR order, as PaddleOCR normalises
        return self._session.run(None, {"x": batch})[0][0, 0].astype(np.float32), bgr.shape[:2]

    def get(self, image_path: Path) -> tuple[np.ndarray, tuple[int, int]]:
        """``(prob_map (h, w) float32, original (height, width) in pixels)`` of one image."""
        path = self.cache_dir / f"{Path(image_path).stem}.npz"
        if path.is_file():
            with np.load(path) as stored:
                return stored["prob_map"], tuple(int(v) for v in stored["original_size"])
        prob_map, size = self._run(Path(image_path))
        partial = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(partial, prob_map=prob_map, original_size=np.asarray(size))
        partial.replace(path)
        return prob_map, size

    def iter(self, items: list[AnnotatedImage]) -> Iterator[tuple[AnnotatedImage, np.ndarray, tuple[int, int]]]:
        """``(record, prob_map, original size)`` for each record, in order."""
        for record in items:
            prob_map, size = self.get(record.image_path)
            yield record, prob_map, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()
    cache = MapCache(args.cache)
    items = records(args.data_root)
    for index, (record, prob_map, size) in enumerate(cache.iter(items), start=1):
        print(f"{index}/{len(items)} {record.name} {size} -> {prob_map.shape}", flush=True)


if __name__ == "__main__":
    main()
