"""Checkpoint saving and loading: atomic writes and safe (``weights_only``) loads.

Saving: :class:`AtomicCheckpointIO` writes each checkpoint to a temporary file in the
same folder and renames it over the destination, so a run killed mid-save leaves the
previous checkpoint intact.

Loading: :func:`load_checkpoint` uses ``torch.load(weights_only=True)`` (tensors and plain
containers only) unless the caller passes ``trust=True``; :func:`load_module` rebuilds the
LightningModule class recorded in the checkpoint.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from trainlab.engine.io import atomic_write


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO that saves with a temporary file and an atomic rename."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        atomic_write(path, lambda handle: torch.save(checkpoint, handle))


def load_checkpoint(path: str | os.PathLike, trust: bool = False, map_location: str = "cpu") -> dict[str, Any]:
    """Load a checkpoint dict.

    Args:
        path: The ``.ckpt`` file.
        trust: Allow arbitrary pickled objects (``weights_only=False``). Only for files
            you made or trust: unpickling can run code.
        map_location: Device to load tensors to.

    Raises:
        FileNotFoundError: no such file.
        RuntimeError: the file holds objects that need ``trust=True`` (message says so).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=not trust)
    except Exception as error:
        if trust:
            raise
        raise RuntimeError(
            f"{path}: cannot be loaded with weights_only=True ({type(error).__name__}: {error}). "
            "If you trust this file, pass trust_checkpoint=true."
        ) from error


def load_module(path: str | os.PathLike, trust: bool = False, map_location: str = "cpu") -> Any:
    """Rebuild the LightningModule saved in a trainlab checkpoint, weights included.

    The module's model options are applied (``configure_model``) and its ``run_record``
    (task name, data config, optimized metric) is the checkpoint's, so that a module saved
    again keeps them.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the checkpoint was not written by trainlab (no module record).
        RuntimeError: see :func:`load_checkpoint`.
    """
    checkpoint = load_checkpoint(path, trust=trust, map_location=map_location)
    record = checkpoint.get("trainlab", {})
    module_path = record.get("module")
    if not module_path:
        raise ValueError(f"{path}: not a trainlab checkpoint (no 'trainlab.module' record)")
    module_name, _, class_name = module_path.rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    hparams = dict(checkpoint.get("hyper_parameters", {}))
    if hasattr(cls, "hparams_for_loading"):
        hparams = cls.hparams_for_loading(hparams)
    model = cls(**hparams)
    model.load_state_dict(checkpoint["state_dict"])
    model.on_load_checkpoint(checkpoint)
    if hasattr(model, "run_record"):
        model.run_record = {k: record[k] for k in ("task", "data", "optimized") if k in record}
    if hasattr(model, "configure_model"):
        model.configure_model()
    return model

