"""Shared fixtures: paths of the embedded mini SROIE set and of the optional shared data sets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from trainlab.engine.config import asset_path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Under `pytest -n N` each worker, and every run it starts in a subprocess, uses one thread,
    # so that N workers share the cores instead of oversubscribing them.
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def mini_root() -> Path:
    """The embedded mini SROIE set (always present: it ships in the package)."""
    return Path(asset_path("sroie_mini"))


def shared_dataset(name: str) -> Path:
    """A data set from the shared folder beside the repository; skips the test when absent (as in CI)."""
    path = SHARED_DATA / name
    if not (path / "images").is_dir():
        pytest.skip(f"{path} not available")
    return path
