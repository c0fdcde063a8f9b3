"""Fixtures of the unfair-clause tests: the embedded five-document slice and the full corpus (when present)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from trainlab.engine.config import asset_path

# As the configs: $TRAINLAB_DATA_DIR, else ../shared/data beside the repository.
SHARED_DATA = Path(os.environ.get("TRAINLAB_DATA_DIR") or Path(__file__).resolve().parents[2].parent / "shared" / "data")


@pytest.fixture(scope="session")
def tos_mini() -> Path:
    """The embedded slice (always present: it ships in the package)."""
    return Path(asset_path("unfair_tos_mini"))


@pytest.fixture(scope="session")
def tos_full() -> Path:
    """The full corpus beside the repository; skips the test when absent (as in CI)."""
    path = SHARED_DATA / "unfair_tos"
    if not (path / "sentences").is_dir():
        pytest.skip(f"{path} not available")
    return path


@pytest.fixture
def one_thread():
    """Train with one torch thread (the cheapest in CPU time on small machines), restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
