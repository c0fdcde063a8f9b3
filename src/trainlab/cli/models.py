"""Loading what ``trainlab eval`` and ``trainlab predict`` run: one checkpoint, or several as an
ensemble, with test-time augmentation and decision-parameter overrides applied."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig, ListConfig

from trainlab.engine.checkpoint import load_checkpoint, load_module
from trainlab.engine.config import to_plain


def checkpoint_paths(ckpt_path: Any) -> list[str]:
    """``ckpt_path`` as a list of paths (one path, or a list of them).

    Raises:
        ValueError: an empty list.
    """
    paths = [str(p) for p in (list(ckpt_path) if isinstance(ckpt_path, (list, tuple, ListConfig)) else [ckpt_path])]
    if not paths:
        raise ValueError("ckpt_path: give a checkpoint, or a non-empty list of them")
    return paths


def load_for_inference(cfg: DictConfig) -> tuple[Any, list[str]]:
    """The module to run: ``cfg.ckpt_path`` loaded (an ensemble of them with ``cfg.weights``),
    with ``cfg.tta`` and ``cfg.postprocess`` overrides applied; in eval mode.

    Returns:
        ``(module, checkpoint paths)``.

    Raises:
        ValueError: bad paths or weights; NotImplementedError: the task has no ensembles or TTA.
    """
    paths = checkpoint_paths(cfg.ckpt_path)
    modules = [load_module(path, trust=cfg.trust_checkpoint).eval() for path in paths]
    weights: Sequence[float] | None = to_plain(cfg.weights) if cfg.get("weights") is not None else None
    model = modules[0] if len(modules) == 1 and weights is None else type(modules[0]).ensemble(modules, weights)
    model.configure_tta(list(cfg.get("tta") or []))
    if cfg.postprocess:
        model.override_postprocess(to_plain(cfg.postprocess))
    return model.eval(), paths


def check_choice_split(paths: Sequence[str], choose_on: str, trust: bool = False) -> None:
    """Refuse to choose an ensemble's decision parameters on a split some members trained on.

    Fold models (``data.fold``) each hold out a different part of the train split, so the
    validation split of one is training data of the others: choosing thresholds there would fit
    them to images the ensemble has seen. Their checkpoints already carry the choice made on the
    pooled out-of-fold predictions (``trainlab kfold``). Ensembles of runs with one common
    validation split (seeds, architectures) pass.

    Raises:
        ValueError: the checkpoints hold out different folds (the message names them).
    """
    if len(paths) < 2:
        return
    folds = {}
    for path in paths:
        data = (load_checkpoint(path, trust=trust).get("trainlab") or {}).get("data") or {}
        folds[path] = (data.get("n_folds"), data.get("fold"))
    if len(set(folds.values())) > 1:
        listed = ", ".join(f"{path} (fold {fold[1]} of {fold[0]})" for path, fold in folds.items())
        raise ValueError(f"choose_on={choose_on}: these checkpoints hold out different folds ({listed}), so every "
                         f"{choose_on} image is training data of another member; keep the decision parameters they "
                         "carry (trainlab kfold chose them on the pooled out-of-fold predictions)")
