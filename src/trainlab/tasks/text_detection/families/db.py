"""The DB family: probability map + threshold map, DB targets, DB loss, DB post-processing.

Source: Liao et al., "Real-time Scene Text Detection with Differentiable Binarization",
AAAI 2020. Used by DBNet and every architecture that predicts a DB probability map.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from trainlab.tasks.text_detection.family import DetectorFamily, register_family
from trainlab.tasks.text_detection.losses.db_loss import DBLoss
from trainlab.tasks.text_detection.postprocess.db_postprocess import DBPostprocessConfig
from trainlab.tasks.text_detection.postprocess.decoders import db_decode
from trainlab.tasks.text_detection.targets.db_targets import make_db_targets


def db_targets(polygons: Sequence[np.ndarray], dont_care: Sequence[bool], transcriptions: Sequence[str],
               height: int, width: int, *, shrink_ratio: float = 0.4, thresh_min: float = 0.3,
               thresh_max: float = 0.7, min_text_size: float = 3.0) -> dict[str, np.ndarray]:
    """DB target maps as a dict (see :func:`~trainlab.tasks.text_detection.targets.db_targets.make_db_targets`);
    transcriptions are not used."""
    maps = make_db_targets(polygons, dont_care, height, width, shrink_ratio=shrink_ratio, thresh_min=thresh_min,
                           thresh_max=thresh_max, min_text_size=min_text_size)
    return dataclasses.asdict(maps)


DB_FAMILY = register_family(DetectorFamily(
    name="db",
    make_targets=db_targets,
    loss_class=DBLoss,
    postprocess_config=DBPostprocessConfig,
    decode=db_decode,
    inference_maps=("prob_map",),
    tune_keys=("thresh", "box_thresh", "unclip_ratio"),
))
