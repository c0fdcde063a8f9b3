"""Checkpoint averaging: several checkpoints of one run into one (an SWA-style uniform soup).

Sources: Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima and Better
Generalization" (SWA: average the weights of checkpoints along one trajectory); Wortsman
et al. 2022, "Model soups" (uniform soup). Floating-point tensors of the ``state_dict`` are
averaged (in float64, stored back in their own dtype); integer tensors (BatchNorm
``num_batches_tracked``) come from the last checkpoint. Averaged BatchNorm running
statistics approximate those of the averaged weights (SWA recomputes them with a pass over
the training data; not done here).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from trainlab.engine.checkpoint import load_checkpoint
from trainlab.engine.io import atomic_write

# Training state that does not describe the averaged weights: dropped from the result.
TRAINING_STATE_KEYS = ("optimizer_states", "lr_schedulers", "loops", "callbacks", "current_model_state",
                       "averaging_state", "MixedPrecision", "native_amp_scaling_state")
EPOCH_CHECKPOINT = re.compile(r"^epoch=(\d+)(?:-[^/]*)?\.ckpt$")


def average_checkpoints(paths: Sequence[str | os.PathLike], trust: bool = False) -> dict[str, Any]:
    """Average the ``state_dict`` of checkpoints of the same model.

    Args:
        paths: Two or more ``.ckpt`` files with the same module class, keys and shapes.
        trust: Load with full unpickling (see :func:`~trainlab.engine.checkpoint.load_checkpoint`).

    Returns:
        The last checkpoint's dict (module record, hyper-parameters, epoch, extras) with the
        averaged ``state_dict``, without optimizer/scheduler/loop state, and
        ``trainlab.averaged_from`` listing the inputs. It loads like any trainlab checkpoint
        (``trainlab eval``, ``load_module``) but does not resume training.

    Raises:
        ValueError: fewer than two paths, or a checkpoint whose module class, keys, shapes
            or dtypes differ from the first one's (file and key named).
        FileNotFoundError / RuntimeError: as :func:`~trainlab.engine.checkpoint.load_checkpoint`.
    """
    if len(paths) < 2:
        raise ValueError(f"averaging needs at least two checkpoints, got {len(paths)}")
    sums: dict[str, torch.Tensor] = {}
    first_path, reference, last = Path(paths[0]), None, None
    for path in paths:
        checkpoint = load_checkpoint(path, trust=trust)
        state = checkpoint.get("state_dict")
        if not isinstance(state, dict):
            raise ValueError(f"{path}: no state_dict")
        if reference is None:
            reference = {k: (v.shape, v.dtype) for k, v in state.items()}
            module = checkpoint.get("trainlab", {}).get("module")
        else:
            _check_same(path, first_path, reference, state)
            other = checkpoint.get("trainlab", {}).get("module")
            if other != module:
                raise ValueError(f"{path}: module {other!r} differs from {first_path}'s {module!r}")
        for key, value in state.items():
            if value.is_floating_point():
                sums[key] = sums[key] + value.double() if key in sums else value.double().clone()
        last = checkpoint
    assert last is not None
    averaged = {key: (sums[key] / len(paths)).to(value.dtype) if key in sums else value.clone()
                for key, value in last["state_dict"].items()}
    result = {k: v for k, v in last.items() if k not in TRAINING_STATE_KEYS}
    result["state_dict"] = averaged
    result.setdefault("trainlab", {})["averaged_from"] = [str(p) for p in paths]
    return result


def _check_same(path: str | os.PathLike, first: Path, reference: dict[str, Any], state: dict[str, torch.Tensor]) -> None:
    missing = sorted(set(reference) - set(state))
    extra = sorted(set(state) - set(reference))
    if missing or extra:
        raise ValueError(f"{path}: keys differ from {first} (missing {missing[:5]}, extra {extra[:5]})")
    for key, value in state.items():
        if (value.shape, value.dtype) != reference[key]:
            raise ValueError(f"{path}: {key} is {tuple(value.shape)} {value.dtype}, "
                             f"{first} has {tuple(reference[key][0])} {reference[key][1]}")


def last_epoch_checkpoints(run_dir: str | os.PathLike, k: int, every: bool = False) -> list[Path]:
    """The per-epoch checkpoints ``checkpoints/epoch=NN*.ckpt`` of the last ``k`` epochs of a run, oldest first.

    With ``every``, all of them (at least ``k``).

    Raises:
        ValueError: ``k < 2``, or the run has fewer than ``k`` per-epoch checkpoints (the
            message says how to keep them).
        FileNotFoundError: no ``checkpoints`` folder in ``run_dir``.
    """
    if k < 2:
        raise ValueError(f"--last must be at least 2, got {k}")
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} not found: pass a run folder (outputs/<exp_name>/<timestamp>)")
    found = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := EPOCH_CHECKPOINT.match(p.name)))
    if len(found) < k:
        raise ValueError(f"{folder} has {len(found)} per-epoch checkpoint(s), fewer than --last {k}; train with "
                         "callbacks=[default,epoch_checkpoints] to keep one checkpoint per epoch")
    return [path for _, path in (found if every else found[-k:])]


def save_checkpoint(checkpoint: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write a checkpoint dict atomically (temporary file, then rename)."""
    return atomic_write(path, lambda handle: torch.save(checkpoint, handle))
