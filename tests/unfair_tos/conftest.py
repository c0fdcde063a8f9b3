"""Fixtures of the unfair-clause tests: the embedded five-document slice and the full corpus (when present)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA
from trainlab.engine.config import asset_path



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
