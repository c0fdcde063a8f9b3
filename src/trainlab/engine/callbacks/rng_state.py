"""Save and restore every random-number generator with the checkpoint, for exact resumes."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback


class RNGStateCallback(Callback):
    """Store Python, NumPy, torch (CPU and CUDA) RNG states in checkpoints and restore them on resume.

    Lightning restores epoch, step, optimizer and scheduler; this adds the generators, so
    shuffling and augmentation continue as if the run had not stopped. States are kept as
    tensors and plain lists, which load under ``torch.load(weights_only=True)``.

    The generators are restored as soon as the checkpoint is loaded (Lightning restores
    callbacks before it builds the training dataloader iterator, whose first batch is
    prefetched before ``on_train_start``), so the first resumed batch draws from the saved
    state. Resuming from a checkpoint written at the end of an epoch is then exact; from a
    mid-epoch checkpoint, Lightning restarts the epoch's iterator (see the README's
    "Training techniques").
    """

    def state_dict(self) -> dict[str, Any]:
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        state = {
            "python": [list(random.getstate()[1]), random.getstate()[0], random.getstate()[2]],
            "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached": float(cached)},
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the saved generator states now."""
        self.restore(state_dict)

    @staticmethod
    def restore(state: dict[str, Any]) -> None:
        """Set Python, NumPy, torch (and CUDA when present) generators from a :meth:`state_dict`."""
        internal, version, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
        numpy_state = state["numpy"]
        np.random.set_state((numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"],
                             numpy_state["has_gauss"], numpy_state["cached"]))
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
