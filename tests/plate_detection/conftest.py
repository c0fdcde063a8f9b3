"""Fixtures of the plate-detection tests: the shared OpenALPR benchmark (skipped when absent) and
small annotation folders written by the tests themselves."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_plates() -> Path:
    """``$TRAINLAB_DATA_DIR/license_plates`` or ``../shared/data/license_plates``; skips the test when absent (as in CI)."""
    base = Path(os.environ.get("TRAINLAB_DATA_DIR") or REPO.parent / "shared" / "data")
    path = base / "license_plates"
    if not (path / "us").is_dir() or not (path / "eu").is_dir():
        pytest.skip(f"{path} not available")
    return path


@pytest.fixture(scope="session")
def plates_root() -> Path:
    return shared_plates()


def write_image(path: Path, width: int = 64, height: int = 48) -> Path:
    """A small real JPEG/PNG file (random pixels) of the given size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), pixels)
    return path
