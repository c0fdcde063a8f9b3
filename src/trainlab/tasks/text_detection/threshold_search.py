"""Choosing DB/CRAFT post-processing thresholds on validation: score a grid of decoding
configs on cached score maps with the ICDAR 2015 protocol and keep the best.

Used after training (:meth:`~trainlab.tasks.text_detection.module.TextDetectionModule.after_fit`)
and at every validation epoch; never on the test split.

For the DB family the grid shares work between configs, with results identical to decoding
and scoring each config alone: a map's contours and scores are computed once for all
configs that differ only in ``box_thresh`` and ``unclip_ratio``
(:func:`~trainlab.tasks.text_detection.postprocess.db_postprocess.db_candidates`), and the
configs that differ only in ``box_thresh`` keep nested subsets of one decoding (the
regions scoring at least each threshold), scored together by
:func:`~trainlab.tasks.text_detection.metrics.icdar2015.evaluate_score_thresholds`.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trainlab.engine.distributed import gather_objects
from trainlab.tasks.text_detection.family import DetectorFamily, grid_values
from trainlab.tasks.text_detection.metrics.icdar2015 import (
    DatasetResult,
    ImageResult,
    evaluate_dataset,
    evaluate_score_thresholds,
)
from trainlab.tasks.text_detection.postprocess.db_postprocess import (
    DBPostprocessConfig,
    db_candidates,
    expand_candidates,
)
from trainlab.tasks.text_detection.types import TextRegion

# One image's cached inference: name, ground truth, score maps ``(h, w)``, original (H, W).
Sample = tuple[str, Sequence[TextRegion], dict[str, np.ndarray], tuple[int, int]]


def search_postprocess(samples: Sequence[Sample], grid: Sequence[Any], family: DetectorFamily) -> tuple[Any, DatasetResult, DatasetResult]:
    """Score every post-processing config on cached score maps (ICDAR 2015 H-mean).

    Args:
        samples: ``(name, ground-truth regions, score maps, original (H, W))`` per image.
        grid: Post-processing configs of ``family`` to try; the first is the configured one.
        family: The detector family that decodes the maps.

    Returns:
        ``(best config, its result, the first config's result)``; ties keep the earlier config.
    """
    return select_best(grid, score_grid(samples, grid, family))


def score_grid(samples: Sequence[Sample], grid: Sequence[Any], family: DetectorFamily,
               shared: bool = True) -> list[list[ImageResult]]:
    """Per-image ICDAR 2015 results of every post-processing config: ``[config][image]``.

    Args:
        samples: ``(name, ground-truth regions, score maps, original (H, W))`` per image.
        grid: Post-processing configs of ``family``.
        family: The detector family that decodes the maps.
        shared: Share decoding and scoring between configs where the family allows it
            (DB, module docstring); ``False`` decodes and scores each config alone. The
            results are identical.
    """
    if shared and grid and all(isinstance(config, DBPostprocessConfig) for config in grid):
        return _score_db_grid(samples, grid)
    return [
        list(evaluate_dataset((name, regions, family.decode(maps, size, config))
                              for name, regions, maps, size in samples).images)
        for config in grid
    ]


def _vertices(regions: Sequence[TextRegion]) -> np.ndarray | list[np.ndarray]:
    """The regions' vertices, stacked ``(K, 4, 2)`` for quads (faster to score)."""
    if all(region.points.shape == (4, 2) for region in regions):
        return np.array([region.points for region in regions]).reshape(-1, 4, 2)
    return [region.points for region in regions]


def _score_db_grid(samples: Sequence[Sample], grid: Sequence[DBPostprocessConfig]) -> list[list[ImageResult]]:
    """:func:`score_grid` for DB configs, sharing candidates and nested ``box_thresh`` subsets."""
    groups: dict[tuple, list[int]] = {}  # configs equal but for box_thresh
    for index, config in enumerate(grid):
        groups.setdefault(config.candidate_key() + (config.unclip_ratio,), []).append(index)
    lowest = {key: dataclasses.replace(grid[members[0]], box_thresh=min(grid[m].box_thresh for m in members))
              for key, members in groups.items()}
    decoded: dict[tuple, list[list[TextRegion]]] = {key: [] for key in groups}
    for _, _, maps, size in samples:
        candidates: dict[tuple, Any] = {}
        for key, config in lowest.items():
            if config.candidate_key() not in candidates:
                candidates[config.candidate_key()] = db_candidates(maps["prob_map"], config)
            decoded[key].append(expand_candidates(candidates[config.candidate_key()], size, config))
    names = [name for name, _, _, _ in samples]
    ground_truth = [regions for _, regions, _, _ in samples]
    per_config: list[list[ImageResult]] = [[] for _ in grid]
    for key, members in groups.items():
        results = evaluate_score_thresholds(
            names, ground_truth, [_vertices(regions) for regions in decoded[key]],
            [[region.score for region in regions] for regions in decoded[key]], [grid[m].box_thresh for m in members])
        for member, result in zip(members, results):
            per_config[member] = list(result.images)
    return per_config


def select_best(grid: Sequence[Any], per_config: Sequence[Sequence[ImageResult]]) -> tuple[Any, DatasetResult, DatasetResult]:
    """Pool each config's per-image results; ``(best config, its result, the first config's result)``,
    ties keep the earlier config."""
    results = [DatasetResult.from_images(images) for images in per_config]
    best = max(range(len(grid)), key=lambda i: (results[i].hmean, -i))
    return grid[best], results[best], results[0]


def pool_across_processes(per_config: Sequence[Sequence[ImageResult]]) -> list[list[ImageResult]]:
    """Gather per-image results from every DDP process; an image seen by several processes
    (the distributed sampler pads the last batch with repeats) is counted once.

    Returns:
        ``[config][image]`` with the images of all processes, sorted by name.
    """
    pooled: list[dict[str, ImageResult]] = [{} for _ in per_config]
    for rank_results in gather_objects([list(images) for images in per_config]):
        for index, images in enumerate(rank_results):
            for image in images:
                pooled[index].setdefault(image.name, image)
    return [[images[name] for name in sorted(images)] for images in pooled]


def tune_grid(family: DetectorFamily, base: Any, tune_config: Mapping[str, Any]) -> list[Any]:
    """All combinations of the family's tuned parameters listed in ``tune_config``, the base config first.

    Parameters missing from ``tune_config`` keep the base value.
    """
    values = grid_values(family, tune_config)
    grid = [base]
    for combo in itertools.product(*(v for _, v in values)):
        config = family.postprocess_config(**{**base.to_dict(), **{k: c for (k, _), c in zip(values, combo)}})
        if config not in grid:
            grid.append(config)
    return grid
