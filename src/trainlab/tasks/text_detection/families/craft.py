"""The CRAFT family: region and affinity scores, weakly-supervised Gaussian targets, OHEM MSE,
CRAFT post-processing with text, link and low-text thresholds.

Source: Baek et al., "Character Region Awareness for Text Detection", CVPR 2019
(https://arxiv.org/abs/1904.01941).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from trainlab.tasks.text_detection.family import DetectorFamily, register_family
from trainlab.tasks.text_detection.losses.craft_loss import CraftLoss
from trainlab.tasks.text_detection.postprocess.craft_postprocess import CraftPostprocessConfig
from trainlab.tasks.text_detection.postprocess.decoders import craft_decode
from trainlab.tasks.text_detection.targets.craft_targets import make_craft_targets


def craft_targets(polygons: Sequence[np.ndarray], dont_care: Sequence[bool], transcriptions: Sequence[str],
                  height: int, width: int, *, edge_score: float = 0.2,
                  min_text_size: float = 3.0) -> dict[str, np.ndarray]:
    """CRAFT target maps at half resolution, as a dict (see
    :func:`~trainlab.tasks.text_detection.targets.craft_targets.make_craft_targets`)."""
    maps = make_craft_targets(polygons, dont_care, transcriptions, height, width, output_stride=2,
                              edge_score=edge_score, min_text_size=min_text_size)
    return dataclasses.asdict(maps)


CRAFT_FAMILY = register_family(DetectorFamily(
    name="craft",
    make_targets=craft_targets,
    loss_class=CraftLoss,
    postprocess_config=CraftPostprocessConfig,
    decode=craft_decode,
    inference_maps=("region_map", "affinity_map"),
    tune_keys=("text_threshold", "link_threshold", "low_text", "line_gap"),
))
