"""Greedy checkpoint soups (Wortsman et al., ICML 2022, "Model soups", Algorithm 1), for any task.

Candidates are sorted by their own validation score, best first; the soup starts as the best
one, and each further candidate is kept when the uniform average of the soup plus it scores
at least as well on validation as the soup without it (otherwise it is left out and the next
one is tried). The uniform soup of :mod:`trainlab.engine.averaging` averages all candidates
instead.

Validation here means the validation split of the first checkpoint's data config, scored by
the task's own validation loop and judged by the run's optimized metric and direction. Every
candidate must have been trained without that split: epochs of one run, or runs (seeds) that
share it. Fold runs of ``trainlab kfold`` have different validation folds, each inside the
other folds' training data, so no split is held out from all of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainlab.engine.averaging import average_checkpoints
from trainlab.engine.checkpoint import load_checkpoint

log = logging.getLogger(__name__)


@dataclass
class SoupStep:
    """One candidate of a greedy soup: its own score, the soup's score with it, and whether it was kept."""

    path: str
    own_score: float
    soup_score: float
    kept: bool


@dataclass
class GreedySoup:
    """The result of :func:`greedy_soup`: the checkpoint dict, its ingredients and every step."""

    checkpoint: dict[str, Any]
    ingredients: list[str]
    score: float
    steps: list[SoupStep] = field(default_factory=list)


def _better_or_equal(a: float, b: float, direction: str) -> bool:
    return a >= b if direction == "max" else a <= b


def greedy_soup(paths: Sequence[str | Path], score: Callable[[dict[str, Any]], float], direction: str = "max",
                trust: bool = False) -> GreedySoup:
    """Build a greedy soup from checkpoints.

    Args:
        paths: Candidate checkpoints (same module class, keys and shapes).
        score: Validation score of a checkpoint dict (its ``state_dict`` loaded into the model).
        direction: ``max`` (higher is better) or ``min``.
        trust: Load with full unpickling (see :func:`~trainlab.engine.checkpoint.load_checkpoint`).

    Returns:
        The soup (a checkpoint dict that loads like any trainlab checkpoint, with
        ``trainlab.averaged_from`` = its ingredients and ``trainlab.greedy_soup`` = the steps).

    Raises:
        ValueError: no candidate, or ``direction`` not max/min; as
            :func:`~trainlab.engine.averaging.average_checkpoints` for mismatched checkpoints.
    """
    if not paths:
        raise ValueError("a greedy soup needs at least one checkpoint")
    if direction not in ("max", "min"):
        raise ValueError(f"direction must be max or min, got {direction!r}")
    own = {str(p): score(load_checkpoint(p, trust=trust)) for p in paths}
    order = sorted(own, key=lambda p: own[p], reverse=direction == "max")
    log.info("greedy soup candidates by validation score: %s", ", ".join(f"{Path(p).name} {own[p]:.4f}" for p in order))
    ingredients = [order[0]]
    soup = load_checkpoint(order[0], trust=trust)
    best = own[order[0]]
    steps = [SoupStep(order[0], own[order[0]], best, True)]
    for path in order[1:]:
        trial = average_checkpoints([*ingredients, path], trust=trust)
        value = score(trial)
        kept = _better_or_equal(value, best, direction)
        steps.append(SoupStep(path, own[path], value, kept))
        if kept:
            ingredients.append(path)
            soup, best = trial, value
    result = {k: v for k, v in soup.items()}
    record = result.setdefault("trainlab", {})
    record["averaged_from"] = list(ingredients)
    record["greedy_soup"] = [step.__dict__ for step in steps]
    return GreedySoup(result, ingredients, best, steps)


def validation_scorer(reference: str | Path, metric: str | None = None, trust: bool = False
                      ) -> tuple[Callable[[dict[str, Any]], float], str, str]:
    """A score function for :func:`greedy_soup`: the validation metric of a checkpoint's weights.

    The model and the data come from ``reference`` (its module record and data config); the
    metric and direction from its run record (``optimized``) unless ``metric`` is given
    (then higher is better unless its name says loss or error).

    Returns:
        ``(score function, metric name, direction)``.

    Raises:
        ValueError: the checkpoint records no data config or metric.
    """
    import hydra
    import lightning as L

    from trainlab.engine.checkpoint import load_module
    from trainlab.workflow.collect import metric_direction

    model = load_module(reference, trust=trust)
    record = model.run_record
    if not record.get("data"):
        raise ValueError(f"{reference}: no data config recorded; the checkpoint predates data records")
    optimized = record.get("optimized") or {}
    metric = metric or optimized.get("metric")
    if not metric:
        raise ValueError(f"{reference}: no optimized metric recorded; pass --metric")
    direction = optimized.get("direction") if metric == optimized.get("metric") else metric_direction(metric)
    datamodule = hydra.utils.instantiate(record["data"], _convert_="all")
    datamodule.setup("validate")

    def score(checkpoint: dict[str, Any]) -> float:
        model.load_state_dict(checkpoint["state_dict"])
        trainer = L.Trainer(accelerator="auto", devices=1, logger=False, enable_checkpointing=False,
                            enable_model_summary=False, enable_progress_bar=False)
        trainer.validate(model, dataloaders=datamodule.val_dataloader(), verbose=False)
        if metric not in trainer.callback_metrics:
            raise ValueError(f"validation logged no {metric!r}; logged: {sorted(trainer.callback_metrics)}")
        return float(trainer.callback_metrics[metric])

    return score, metric, str(direction)
