"""Choosing DB/CRAFT post-processing thresholds on validation: score a grid of decoding
configs on cached score maps with the ICDAR 2015 protocol and keep the best.

Used after training (:meth:`~trainlab.tasks.text_detection.module.TextDetectionModule.after_fit`)
and at every validation epoch; never on the test split.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trainlab.engine.distributed import gather_objects
from trainlab.tasks.text_detection.family import DetectorFamily, grid_values
from trainlab.tasks.text_detection.metrics.icdar2015 import DatasetResult, ImageResult, evaluate_dataset
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


def score_grid(samples: Sequence[Sample], grid: Sequence[Any], family: DetectorFamily) -> list[list[ImageResult]]:
    """Per-image ICDAR 2015 results of every post-processing config: ``[config][image]``."""
    return [
        list(evaluate_dataset((name, regions, family.decode(maps, size, config))
                              for name, regions, maps, size in samples).images)
        for config in grid
    ]


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
