"""Plain data records shared by the text-detection readers, targets, metrics and writers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DONT_CARE_LABEL = "###"


@dataclass(frozen=True)
class TextRegion:
    """One annotated (or detected) text region.

    Attributes:
        points: ``(N, 2)`` float64 array of vertices in pixels, ``x`` then ``y``,
            in the order written in the file (ICDAR: clockwise from top-left).
            ``N >= 3``; ICDAR 2015 quads have ``N == 4``.
        transcription: The text of the region; ``"###"`` in ICDAR files.
        dont_care: True for a don't-care region (transcription ``"###"``):
            ignored by the ICDAR 2015 protocol and masked out of training losses.
        line: 1-based line number in the source file, 0 when not read from a file.
        score: Detection confidence in ``[0, 1]`` for predictions, ``None`` for
            ground truth.
    """

    points: np.ndarray
    transcription: str = ""
    dont_care: bool = False
    line: int = 0
    score: float | None = None


@dataclass
class AnnotatedImage:
    """An image file and the text regions annotated on it.

    Attributes:
        image_path: Path of the image file.
        annotation_path: Path of the ICDAR txt file, or ``None`` for unlabelled images.
        regions: Text regions in file order (the order the ICDAR protocol matches in).
        name: Stem shared by image and annotation, e.g. ``"img_1"`` or ``"X00016469612"``.
    """

    image_path: Path
    annotation_path: Path | None
    regions: list[TextRegion] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.image_path.stem
