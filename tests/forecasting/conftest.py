"""Fixtures of the forecasting tests: the shared CGMacros folder (skipped when absent: the data is
CC BY-NC-SA and never shipped) and a small datamodule of real subjects."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA



@pytest.fixture(scope="session")
def cgm_root() -> Path:
    """``<shared data>/cgm``; skips the test when absent (as in CI)."""
    path = SHARED_DATA / "cgm"
    if not (path / "CGMacros-001.csv.gz").is_file():
        pytest.skip(f"{path} not available (CGMacros; set TRAINLAB_DATA_DIR to the folder holding cgm/)")
    return path


@pytest.fixture(scope="session")
def small_data(cgm_root):
    """Windows of 4 real subjects: train 1 and 2, val 26 (a phase change), test 18 (the 9-day gap)."""
    from trainlab.tasks.forecasting.data import CGMDataModule

    module = CGMDataModule(str(cgm_root), subjects={"train": [1, 2], "val": [26], "test": [18]}, stride=3,
                           eval_stride=1, batch_size=64)
    module.setup()
    return module
