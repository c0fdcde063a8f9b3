"""CLEval (Baek et al., 2020, "CLEval: Character-Level Evaluation for Text Detection and
Recognition Tasks"), detection only, computed by the ``cleval`` package (PyPI, MIT licence).

Receipt leaderboards report it beside ICDAR 2015's IoU protocol: it splits each ground-truth box
into pseudo characters by its transcription length and scores character coverage, so a
detection that joins or splits boxes along a line loses only the granularity penalty, not the
whole match. This module only turns trainlab's regions into the package's boxes and runs the
package's own per-image ``evaluation``, ``accumulate_result`` and ``calculate_global_rph``
with the settings of its command-line defaults (``cleval -g gt.zip -s res.zip``: quadrilateral
boxes, case-sensitive, area-precision constraint 0.3, granularity penalty weights 1.0, vertical
aspect-ratio threshold 0.5, no transcriptions in the detections); nothing of the algorithm is
reimplemented. Coordinates are rounded to integer pixels, as the command reads them from files.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from trainlab.tasks.text_detection.types import TextRegion

#: The ``cleval`` command's defaults for detection-only evaluation (its ``arg_parser.get_params``).
CLI_DEFAULTS = {
    "E2E": False, "TRANSCRIPTION": False, "CONFIDENCES": False, "ORIENTATION": False, "CASE_SENSITIVE": True,
    "AREA_PRECISION_CONSTRAINT": 0.3, "RECALL_GRANULARITY_PENALTY_WEIGHT": 1.0,
    "PRECISION_GRANULARITY_PENALTY_WEIGHT": 1.0, "VERTICAL_ASPECT_RATIO_THRESH": 0.5, "DUMP_SAMPLE_RESULT": False,
}


class CLEvalUnavailableError(ImportError):
    """The ``cleval`` package is not installed (the message says how to install it)."""


def _package() -> Any:
    try:
        from cleval import box_types, data, eval_functions
    except ImportError as error:
        raise CLEvalUnavailableError('CLEval needs the package "cleval": pip install -e ".[cleval]" '
                                     "(or pip install cleval)") from error
    return box_types, data, eval_functions


def _box(box_types: Any, region: TextRegion, ground_truth: bool) -> Any:
    points = np.round(np.asarray(region.points, dtype=np.float64)).ravel().tolist()
    transcription = (region.transcription or "") if ground_truth else ""
    is_dc = True if ground_truth and region.dont_care else None  # None: the package decides ("###")
    if len(points) == 8:
        return box_types.QUAD(points, transcription=transcription, is_dc=is_dc)
    return box_types.POLY(points, transcription=transcription, is_dc=is_dc)


def cleval_detection(images: Iterable[tuple[str, Sequence[TextRegion], Sequence[TextRegion]]]) -> dict[str, Any]:
    """CLEval detection scores of a data set.

    Args:
        images: ``(name, ground-truth regions, detected regions)`` per image, in pixels; ground
            truth carries transcriptions (their length sets the pseudo characters) and
            ``dont_care`` flags (``###``).

    Returns:
        ``{"precision", "recall", "hmean", "num_char_gt", "num_char_det", "num_char_tp_recall",
        "num_char_tp_precision", "num_char_fp", "num_splitted", "num_merged", "images"}``.

    Raises:
        CLEvalUnavailableError: the package is missing.
    """
    box_types, data, eval_functions = _package()
    options = argparse.Namespace(**CLI_DEFAULTS)
    total = data.GlobalResult()
    count = 0
    for name, truth, detected in images:
        gt_boxes = [_box(box_types, r, True) for r in truth]
        det_boxes = [_box(box_types, r, False) for r in detected]
        sample = eval_functions.evaluation(options, gt_boxes, det_boxes)
        sample.img_id = name
        data.accumulate_result(total, sample, options.E2E, False)
        count += 1
    data.calculate_global_rph(total, options.E2E)
    stats = asdict(total.stats)
    det = stats["det"]
    keys = ("precision", "recall", "hmean", "num_char_gt", "num_char_det", "num_char_tp_recall",
            "num_char_tp_precision", "num_char_fp")
    return {**{k: det[k] for k in keys}, "num_splitted": stats["num_splitted"], "num_merged": stats["num_merged"],
            "images": count}
