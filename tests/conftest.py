"""Shared fixtures: paths of the embedded mini SROIE set and of the optional shared data sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainlab.engine.config import asset_path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


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
