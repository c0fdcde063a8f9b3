"""Read and write ICDAR-format text-localisation files.

Format (ICDAR 2015 Challenge 4 Task 4.1, also used by SROIE 2019 Task 1): one region per
line, ``x1,y1,x2,y2,x3,y3,x4,y4,transcription``. The transcription is everything after the
last coordinate and may itself contain commas; ``###`` marks a don't-care region.
Result files (``res_<name>.txt``) carry coordinates only, optionally followed by a
confidence.

Tolerated quirks: a UTF-8 byte-order mark, CRLF line endings, trailing whitespace, blank
lines and non-UTF-8 bytes (decoded with replacement characters, since only coordinates and
the ``###`` mark matter to detection). Anything else that is malformed raises
:class:`AnnotationError` naming the file, the 1-based line and the problem.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from trainlab.engine.io import atomic_write_text
from trainlab.tasks.text_detection.types import DONT_CARE_LABEL, AnnotatedImage, TextRegion

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class AnnotationError(ValueError):
    """A malformed line in an ICDAR-format file.

    Attributes:
        path: The file.
        line: 1-based line number (0 when the problem concerns the whole file).
        problem: What is wrong, in words.
    """

    def __init__(self, path: str | os.PathLike, line: int, problem: str):
        self.path = Path(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line else str(self.path)
        super().__init__(f"{where}: {problem}")


def _decode(raw: bytes) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace")


def _number(token: str) -> float | None:
    try:
        value = float(token)
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def parse_icdar_line(
    text: str,
    *,
    path: str | os.PathLike = "<string>",
    line: int = 0,
    polygon_points: int | str = 4,
    with_transcription: bool = True,
    dont_care_label: str = DONT_CARE_LABEL,
) -> TextRegion:
    """Parse one ICDAR line into a :class:`TextRegion`.

    Args:
        text: The line without its line ending.
        path: File name, for error messages only.
        line: 1-based line number, for error messages and the record.
        polygon_points: Vertices per region. ``4`` (default, ICDAR 2015 and SROIE) reads
            exactly 8 coordinates, so the transcription may contain anything, commas and
            digits included. An integer ``n > 4`` reads exactly ``2n`` coordinates.
            ``"auto"`` reads every leading numeric field (an even number, at least 6), for
            curved-text sets whose polygons vary in length; a transcription that starts
            with numbers is then ambiguous, so use ``auto`` only for such sets.
        with_transcription: False for result files, whose lines hold coordinates and an
            optional trailing confidence instead of a transcription.
        dont_care_label: The transcription that marks a don't-care region.

    Returns:
        The region; ``points`` is ``(N, 2)`` float64 in pixels.

    Raises:
        AnnotationError: too few fields, a non-numeric or non-finite coordinate, an odd
            number of coordinates, or fewer than 3 vertices.
    """
    fields = text.split(",")
    if polygon_points == "auto":
        n_numeric = 0
        for token in fields:
            if _number(token.strip()) is None:
                break
            n_numeric += 1
        if with_transcription and n_numeric == len(fields):
            n_numeric -= 1  # the last field is the transcription, even if numeric
        n_coords = n_numeric - (n_numeric % 2) if with_transcription else n_numeric
        if not with_transcription and n_coords % 2 == 1:
            n_coords -= 1  # trailing confidence
        if n_coords < 6:
            raise AnnotationError(
                path, line, f"expected at least 6 numeric coordinates (3 vertices), found {n_numeric} in {text!r}"
            )
    else:
        try:
            n_points = int(polygon_points)
        except (TypeError, ValueError):
            raise ValueError(f"polygon_points must be an integer >= 3 or 'auto', got {polygon_points!r}") from None
        if n_points < 3:
            raise ValueError(f"polygon_points must be an integer >= 3 or 'auto', got {polygon_points!r}")
        n_coords = 2 * n_points
        needed = n_coords + (1 if with_transcription else 0)
        if len(fields) < needed:
            what = f"{n_coords} coordinates and a transcription" if with_transcription else f"{n_coords} coordinates"
            raise AnnotationError(path, line, f"expected {what}, found {len(fields)} comma-separated fields in {text!r}")
    coords = []
    for index, token in enumerate(fields[:n_coords]):
        value = _number(token.strip())
        if value is None:
            raise AnnotationError(path, line, f"coordinate {index + 1} is not a finite number: {token.strip()!r}")
        coords.append(value)
    rest = fields[n_coords:]
    points = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    if with_transcription:
        transcription = ",".join(rest).strip()
        return TextRegion(
            points=points, transcription=transcription, dont_care=transcription == dont_care_label, line=line
        )
    score = None
    if rest and rest[0].strip():
        score = _number(rest[0].strip())
        if score is None or len(rest) > 1:
            raise AnnotationError(path, line, f"expected an optional confidence after the coordinates, found {','.join(rest)!r}")
    return TextRegion(points=points, line=line, score=score)


def read_icdar_file(
    path: str | os.PathLike,
    *,
    polygon_points: int | str = 4,
    with_transcription: bool = True,
    dont_care_label: str = DONT_CARE_LABEL,
    errors: list[AnnotationError] | None = None,
) -> list[TextRegion]:
    """Read every region of an ICDAR ground-truth (or, with ``with_transcription=False``, result) file.

    Blank lines are skipped; see :func:`parse_icdar_line` for the arguments.

    Args:
        errors: ``None`` (default) raises at the first malformed line. A list collects every
            malformed line's :class:`AnnotationError` instead, and the regions of the other
            lines are returned (``trainlab data check`` reports them all at once).

    Returns:
        Regions in file order.

    Raises:
        FileNotFoundError: the file does not exist.
        AnnotationError: a malformed line (the message names file and line), unless ``errors``
            collects it.
    """
    path = Path(path)
    text = _decode(path.read_bytes())
    regions = []
    for lineno, raw_line in enumerate(text.splitlines(), start=1):
        stripped = raw_line.strip()
        if not stripped:
            continue
        try:
            region = parse_icdar_line(
                stripped,
                path=path,
                line=lineno,
                polygon_points=polygon_points,
                with_transcription=with_transcription,
                dont_care_label=dont_care_label,
            )
        except AnnotationError as error:
            if errors is None:
                raise
            errors.append(error)
            continue
        regions.append(region)
    return regions


def annotation_candidates(image_stem: str) -> tuple[str, str]:
    """File names an image's ground truth may have: ``gt_<stem>.txt`` (ICDAR 2015) or ``<stem>.txt`` (SROIE)."""
    return f"gt_{image_stem}.txt", f"{image_stem}.txt"


def result_stem(file_name: str) -> str | None:
    """The image stem of a result file ``res_<stem>.txt``, or ``None`` if the name does not match."""
    if file_name.startswith("res_") and file_name.endswith(".txt"):
        return file_name[4:-4]
    return None


def gt_stem(file_name: str) -> str | None:
    """The image stem of a ground-truth file ``gt_<stem>.txt`` or ``<stem>.txt``, else ``None``."""
    if not file_name.endswith(".txt"):
        return None
    stem = file_name[:-4]
    return stem[3:] if stem.startswith("gt_") else stem


def list_images(image_dir: str | os.PathLike) -> list[Path]:
    """Image files in a folder, sorted by name.

    Raises:
        FileNotFoundError: the folder does not exist or holds no image.
    """
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise FileNotFoundError(f"image folder not found: {image_dir}")
    images = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {image_dir}")
    return images


def read_split(
    image_dir: str | os.PathLike,
    annotation_dir: str | os.PathLike,
    *,
    polygon_points: int | str = 4,
    dont_care_label: str = DONT_CARE_LABEL,
) -> list[AnnotatedImage]:
    """Read an image folder and its annotation folder into :class:`AnnotatedImage` records.

    Every image must have a ground-truth file named as in :func:`annotation_candidates`.

    Raises:
        FileNotFoundError: a folder is missing, or an image has no annotation file (the
            message names the image and the file names looked for).
        AnnotationError: a malformed annotation line.
    """
    annotation_dir = Path(annotation_dir)
    if not annotation_dir.is_dir():
        raise FileNotFoundError(f"annotation folder not found: {annotation_dir}")
    records = []
    for image_path in list_images(image_dir):
        for candidate in annotation_candidates(image_path.stem):
            annotation_path = annotation_dir / candidate
            if annotation_path.is_file():
                break
        else:
            names = " or ".join(annotation_candidates(image_path.stem))
            raise FileNotFoundError(f"no annotation for {image_path}: looked for {names} in {annotation_dir}")
        regions = read_icdar_file(annotation_path, polygon_points=polygon_points, dont_care_label=dont_care_label)
        records.append(AnnotatedImage(image_path=image_path, annotation_path=annotation_path, regions=regions))
    return records


def format_result_line(points: np.ndarray, score: float | None = None) -> str:
    """One result line: integer vertex coordinates (rounded), then the confidence if given.

    Args:
        points: ``(N, 2)`` vertices in pixels of the original image.
        score: Optional confidence in ``[0, 1]``.
    """
    coords = ",".join(str(int(round(float(v)))) for v in np.asarray(points).reshape(-1))
    return coords if score is None else f"{coords},{score:.4f}"


def write_result_file(path: str | os.PathLike, regions: Iterable[TextRegion] | Sequence[np.ndarray], with_scores: bool = False) -> None:
    """Write detections as an ICDAR result file (``res_<name>.txt``), atomically.

    Args:
        path: Output file.
        regions: :class:`TextRegion` records or bare ``(N, 2)`` point arrays, in pixels.
        with_scores: Append each region's confidence (ICDAR 2015 accepts an optional one).
    """
    lines = []
    for region in regions:
        if isinstance(region, TextRegion):
            lines.append(format_result_line(region.points, region.score if with_scores else None))
        else:
            lines.append(format_result_line(region))
    atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))
