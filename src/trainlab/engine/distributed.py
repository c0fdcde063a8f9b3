"""Helpers for code that runs in every process of a distributed (DDP) run."""

from __future__ import annotations

from typing import Any

import torch.distributed as dist


def world_size() -> int:
    """Number of processes of the initialised default process group (1 when not distributed)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather_objects(obj: Any) -> list[Any]:
    """Every process's ``obj``, in rank order (``[obj]`` when not distributed).

    Uses ``torch.distributed.all_gather_object`` (pickles ``obj``; fine for per-image result
    records, not for large tensors). Every process must call it.

    Raises:
        RuntimeError: from torch.distributed when a process does not take part.
    """
    size = world_size()
    if size == 1:
        return [obj]
    gathered: list[Any] = [None] * size
    dist.all_gather_object(gathered, obj)
    return gathered
