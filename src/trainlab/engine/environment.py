"""Facts about the code and the machine a run used, for its manifest.

Every function here is cheap (no network) and never raises: a fact that cannot be read is
recorded as ``None``.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

PACKAGES = (
    "trainlab", "torch", "torchvision", "lightning", "timm", "hydra-core", "omegaconf", "numpy",
    "opencv-python-headless", "albumentations", "pyclipper", "shapely", "pandas", "matplotlib",
)


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution (``None`` if absent), plus ``python``."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the git checkout holding ``path`` (default: the trainlab sources).

    Returns:
        ``{"commit": sha or None, "dirty": bool or None, "root": str or None}``; all ``None``
        when trainlab is installed from a wheel rather than a checkout.
    """
    where = Path(path) if path else Path(__file__).resolve().parent

    def run(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    status = run("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status), "root": run("rev-parse", "--show-toplevel")}


def hardware() -> dict[str, Any]:
    """CPU model and count, memory, GPUs and torch's thread count."""
    cpu = platform.processor() or None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    gpus = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            gpus.append({"name": props.name, "memory_gb": round(props.total_memory / 2**30, 1)})
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gb": memory_gb,
        "gpus": gpus,
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "hostname": platform.node(),
        "argv": list(sys.argv),
    }
