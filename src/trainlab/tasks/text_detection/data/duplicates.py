"""Duplicate and near-duplicate images, so that k-fold splits never put one receipt on both sides.

Byte-identical files share an MD5; near-duplicates (the same document saved again, rescaled or
recompressed) share most bits of a perceptual hash. The hash is the DCT hash of Zauner (2010),
"Implementation and Benchmarking of Perceptual Image Hash Functions", as the ``imagehash``
library computes it (``imagehash.phash``); two images are near-duplicates when the Hamming
distance of their hashes is at most a threshold.

Measured on the 209 SROIE train receipts of ``../shared/data/sroie2019`` with 256-bit hashes: the
byte-identical pair is at distance 0; the next closest pairs, at 16 and more, are different
receipts printed from one shop's template, so the default threshold of 10 groups only copies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

HASH_SIZE = 16  # 16 x 16 = 256-bit hashes


def perceptual_hash(path: str | Path, hash_size: int = HASH_SIZE) -> np.ndarray:
    """The DCT perceptual hash of an image file as a ``(hash_size * hash_size,)`` bool array.

    The image is read in greyscale at a quarter of its size (OpenCV's reduced decoding: the
    hash looks at a 64 x 64 thumbnail anyway), then hashed by ``imagehash.phash``.

    Raises:
        FileNotFoundError: the file is missing or cannot be decoded.
    """
    import imagehash
    from PIL import Image

    pixels = cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_4)
    if pixels is None:
        raise FileNotFoundError(f"cannot read image {path} (missing, or not a format OpenCV decodes)")
    return np.asarray(imagehash.phash(Image.fromarray(pixels), hash_size=hash_size).hash, dtype=bool).ravel()


def duplicate_pairs(paths: Sequence[Path], digests: Mapping[Path, str] | None = None,
                    max_distance: int = 10) -> list[tuple[int, int, int]]:
    """Pairs of images that are copies of each other.

    Args:
        paths: Image files.
        digests: Path -> content hash (MD5); equal digests are copies whatever the threshold.
        max_distance: Largest Hamming distance between perceptual hashes that still counts
            as a near-duplicate; negative: byte-identical files only.

    Returns:
        ``(i, j, distance)`` with ``i < j`` indices into ``paths``; distance 0 for equal digests.
    """
    digests = digests or {}
    pairs: dict[tuple[int, int], int] = {}
    by_digest: dict[str, int] = {}
    for index, path in enumerate(paths):
        digest = digests.get(path)
        if digest is not None:
            if digest in by_digest:
                pairs[(by_digest[digest], index)] = 0
            else:
                by_digest[digest] = index
    if max_distance >= 0 and len(paths) > 1:
        hashes = np.stack([perceptual_hash(p) for p in paths])
        distances = (hashes[:, None, :] != hashes[None, :, :]).sum(axis=-1)
        for i, j in zip(*np.nonzero(np.triu(distances <= max_distance, k=1))):
            pairs.setdefault((int(i), int(j)), int(distances[i, j]))
    return [(i, j, d) for (i, j), d in sorted(pairs.items())]
