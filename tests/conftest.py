"""Shared fixtures: paths of the embedded mini SROIE set and of the optional shared data sets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from trainlab.engine.config import asset_path
from trainlab.workflow.resources import threads_per_job

REPO = Path(__file__).resolve().parents[1]
# As the configs: $TRAINLAB_DATA_DIR, else ../shared/data beside the repository.
SHARED_DATA = Path(os.environ.get("TRAINLAB_DATA_DIR") or REPO.parent / "shared" / "data")

if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    # Under `pytest -n N` each worker, and every run it starts in a subprocess, takes its share of
    # the cores, as the jobs of a parallel sweep do, instead of oversubscribing them.
    _threads = str(threads_per_job(int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = _threads
    torch.set_num_threads(int(_threads))


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


@pytest.fixture
def one_thread():
    """Train with one torch thread (the cheapest in CPU time on small machines), restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
