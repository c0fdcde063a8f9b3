"""``trainlab score``: score ICDAR result files against ground truth, with no model.

Usage::

    trainlab score --gt GT_DIR --pred RESULTS [--per-image per_image.csv] [--polygon-points 4|auto]
                   [--metrics iou cleval]

Scores the output of any detector by the ICDAR 2015 Challenge 4 Task 4.1 protocol
(:mod:`trainlab.tasks.text_detection.metrics.icdar2015`) and, with ``--metrics iou cleval``,
by CLEval too (:mod:`trainlab.tasks.text_detection.metrics.cleval_metric`; the ``cleval``
package imports torch and numba, which costs about 10 s, so it is not the default). Ground-truth files are named ``gt_<name>.txt``
(ICDAR 2015) or ``<name>.txt`` (SROIE). ``RESULTS`` is a folder of result files
``res_<name>.txt`` (one region per line: coordinates, optionally a confidence), or one of the
submission files ``trainlab predict`` writes: ``submission.zip`` (those files zipped),
``submission.json`` or ``submission.csv``.

- A ground-truth file without a result file counts as an image with no detections (a
  warning on stderr gives how many).
- A result file without ground truth, or a ``.txt`` file in the result folder not named
  ``res_<name>.txt``, is an error.

Prints one JSON object on stdout: ``precision``, ``recall``, ``hmean``, ``matched``,
``num_gt_care``, ``num_det_care``, ``num_images``, ``num_images_without_results``, and with
CLEval a ``cleval`` object (``precision``, ``recall``, ``hmean``, character counts).
``--per-image`` also writes a CSV (columns ``name, num_gt_care, num_det_care, matched,
precision, recall, hmean``), atomically. Exit status: 0 on success, 2 on a usage error, a
missing folder or a malformed file (one line on stderr, ``file:line: problem``).

Without ``cleval`` in ``--metrics`` this command never imports torch.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from trainlab.tasks.text_detection.data.icdar_format import (
    AnnotationError,
    gt_stem,
    read_icdar_file,
    result_stem,
)
from trainlab.tasks.text_detection.metrics.icdar2015 import (
    DatasetResult,
    evaluate_images,
)
from trainlab.tasks.text_detection.types import DONT_CARE_LABEL, TextRegion

PROG = "trainlab score"


class ScoreError(Exception):
    """A problem with the command's input, reported as one line on stderr (exit 2)."""


def _polygon_points(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 3:
        raise argparse.ArgumentTypeError(f"expected an integer >= 3 or 'auto', got {value!r}")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Score ICDAR result files (res_<name>.txt) against ground truth (gt_<name>.txt or "
            "<name>.txt) by the ICDAR 2015 Task 4.1 IoU protocol. Prints one JSON object."
        ),
    )
    parser.add_argument("--gt", required=True, type=Path, help="folder of ground-truth files")
    parser.add_argument("--pred", required=True, type=Path,
                        help="folder of result files res_<name>.txt, or submission.zip / .json / .csv")
    parser.add_argument("--per-image", type=Path, default=None, metavar="CSV", help="also write per-image figures here")
    parser.add_argument(
        "--polygon-points",
        type=_polygon_points,
        default=4,
        metavar="4|auto",
        help="vertices per region: 4 (ICDAR 2015, SROIE; default), another integer, or 'auto' for varying polygons",
    )
    parser.add_argument("--metrics", nargs="+", choices=("iou", "cleval"), default=["iou"],
                        help="iou: the ICDAR 2015 protocol (always); cleval: also CLEval (the cleval package; "
                             "its import loads torch and numba, about 10 s)")
    return parser


def _natural_key(name: str) -> list[int | str]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _txt_files(folder: Path, role: str) -> list[Path]:
    if not folder.exists():
        raise ScoreError(f"{role} folder not found: {folder}")
    if not folder.is_dir():
        raise ScoreError(f"{role} path is not a folder: {folder}")
    return [p for p in folder.iterdir() if p.suffix == ".txt" and not p.name.startswith(".") and p.is_file()]


def pair_files(gt_dir: Path, pred_dir: Path) -> list[tuple[str, Path, Path | None]]:
    """Pair ground-truth and result files by image name.

    Returns:
        ``(name, gt_path, result_path or None)`` sorted by name (numbers in natural order).

    Raises:
        ScoreError: a folder is missing, the ground-truth folder has no ``.txt`` file, two
            ground-truth files claim one image, a result file name is not
            ``res_<name>.txt``, or a result file has no ground truth.
    """
    gt_files: dict[str, Path] = {}
    for path in _txt_files(gt_dir, "ground-truth"):
        name = gt_stem(path.name)
        if name in gt_files:
            raise ScoreError(f"{path}: ground truth for image {name!r} is also in {gt_files[name].name}")
        gt_files[name] = path
    if not gt_files:
        raise ScoreError(f"no ground-truth files (gt_<name>.txt or <name>.txt) in {gt_dir}")
    results: dict[str, Path] = {}
    for path in sorted(_txt_files(pred_dir, "result")):
        name = result_stem(path.name)
        if name is None:
            raise ScoreError(f"{path}: not a result file name (expected res_<name>.txt)")
        if name not in gt_files:
            raise ScoreError(f"{path}: no ground truth for image {name!r} (looked for gt_{name}.txt or {name}.txt in {gt_dir})")
        results[name] = path
    return [(name, gt_files[name], results.get(name)) for name in sorted(gt_files, key=_natural_key)]


_PLAIN_NUMBERS = re.compile(r"[0-9eE+\-. \t,]*")


def parse_numbers(tokens: list[str]) -> np.ndarray:
    """``float(token)`` of every token, as a ``(len(tokens),)`` float64 array.

    Tokens that are plain JSON numbers (the usual case) are converted by the JSON parser in
    one call: JSON's number syntax is a subset of ``float``'s and :mod:`json` converts with
    ``float`` and ``int``, so the values are the same; any other token set goes through
    ``float`` one by one.

    Raises:
        ValueError: a token is not a number for ``float``.
    """
    joined = ",".join(tokens)
    if _PLAIN_NUMBERS.fullmatch(joined):
        try:
            values = json.loads(f"[{joined}]")
        except ValueError:
            pass
        else:
            if len(values) == len(tokens):  # else a token held a comma
                return np.array(values, dtype=np.float64)
    return np.array([float(token) for token in tokens], dtype=np.float64)


def read_regions(path: Path, polygon_points: int | str = 4, with_transcription: bool = True,
                 ) -> tuple[np.ndarray | list[TextRegion], np.ndarray | None]:
    """The regions of one ICDAR file, as :func:`~trainlab.tasks.text_detection.data.icdar_format.read_icdar_file`
    reads them, for scoring.

    A file whose every line has ``polygon_points`` finite coordinates, then a transcription
    (ground truth) or nothing or one finite confidence (results), is read at once
    (:func:`parse_numbers`); any other file (``polygon_points="auto"``, a malformed line, an
    empty or non-numeric confidence) is read by ``read_icdar_file``, which gives the same
    coordinates or names the problem.

    Args:
        path: The file (UTF-8, optional byte-order mark; undecodable bytes are replaced).
        polygon_points: Vertices per region, or ``"auto"``.
        with_transcription: Ground truth (True) or result file (False).

    Returns:
        ``(points, dont_care)``: a ``(K, polygon_points, 2)`` float64 array of vertices in
        pixels and ``(K,)`` don't-care flags (``###`` transcriptions; all False for results),
        or the :class:`TextRegion` list and ``None`` when read by ``read_icdar_file``.

    Raises:
        OSError: the file cannot be read.
        AnnotationError: a malformed line (names file and line).
    """
    if polygon_points != "auto":
        text = path.read_bytes().decode("utf-8-sig", errors="replace")
        n_coords = 2 * int(polygon_points)
        fields = [line.split(",", n_coords) for line in map(str.strip, text.splitlines()) if line]
        if all(len(f) >= n_coords + with_transcription for f in fields):
            try:
                coords = parse_numbers([value for f in fields for value in f[:n_coords]])
                extra = [] if with_transcription else parse_numbers([f[n_coords] for f in fields if len(f) > n_coords])
            except ValueError:
                coords = extra = np.array([np.nan])
            if np.isfinite(coords).all() and np.isfinite(extra).all():
                dont_care = np.zeros(len(fields), dtype=bool)
                if with_transcription and DONT_CARE_LABEL in text:
                    dont_care[:] = [f[n_coords].strip() == DONT_CARE_LABEL for f in fields]
                return coords.reshape(-1, int(polygon_points), 2), dont_care
    return read_icdar_file(path, polygon_points=polygon_points, with_transcription=with_transcription), None


def submission_to_folder(path: Path, folder: Path) -> Path:
    """Write a submission file's regions as ICDAR result files ``res_<name>.txt`` in ``folder``.

    ``.zip``: the ``res_*.txt`` entries (an RRC upload); ``.json``: ``{name: [{"points": [[x, y],
    ...], "score": s}, ...]}``; ``.csv``: rows ``image,points,score`` with ``points`` as
    ``x1 y1 x2 y2 ...`` (what ``trainlab predict`` writes). Coordinates are kept as written.

    Raises:
        ScoreError: an unknown suffix, an unreadable file, or a malformed entry (file and entry named).
    """
    folder.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    try:
        if suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    name = Path(member).name
                    if member.endswith("/") or not name.endswith(".txt"):
                        continue
                    (folder / name).write_bytes(archive.read(member))
            return folder
        regions: dict[str, list[list[float]]] = {}
        if suffix == ".json":
            for name, items in json.loads(path.read_text(encoding="utf-8")).items():
                regions[str(name)] = [_polygon([float(v) for point in item["points"] for v in point],
                                               f"{path}: {name} region {index}") for index, item in enumerate(items)]
        elif suffix == ".csv":
            with path.open(encoding="utf-8", newline="") as handle:
                for line, row in enumerate(csv.DictReader(handle), start=2):
                    if not row.get("image") or row.get("points") is None:
                        raise ScoreError(f"{path}:{line}: expected columns image,points,score")
                    polygon = _polygon([float(v) for v in row["points"].split()], f"{path}:{line}")
                    regions.setdefault(row["image"], []).append(polygon)
        else:
            raise ScoreError(f"{path}: a result folder, or a submission .zip, .json or .csv file, was expected")
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
        raise ScoreError(f"{path}: cannot read the submission ({type(error).__name__}: {error})") from error
    for name, polygons in regions.items():
        text = "".join(",".join(f"{v:g}" for v in polygon) + "\n" for polygon in polygons)
        (folder / f"res_{name}.txt").write_text(text, encoding="utf-8")
    return folder


def _polygon(values: list[float], where: str) -> list[float]:
    if len(values) < 6 or len(values) % 2:
        raise ScoreError(f"{where}: a region needs x y pairs of at least 3 vertices, got {len(values)} numbers")
    return values


def cleval_of(pairs: list[tuple[str, Path, Path | None]], polygon_points: int | str) -> dict:
    """CLEval detection scores (:func:`~trainlab.tasks.text_detection.metrics.cleval_metric.cleval_detection`)
    of paired ground-truth and result files; ground truth read with its transcriptions."""
    from trainlab.tasks.text_detection.metrics.cleval_metric import cleval_detection

    def images():
        for name, gt_path, result_path in pairs:
            truth = read_icdar_file(gt_path, polygon_points=polygon_points, with_transcription=True)
            detected = [] if result_path is None else read_icdar_file(result_path, polygon_points=polygon_points,
                                                                      with_transcription=False)
            yield name, truth, detected

    return cleval_detection(images())


def score(gt_dir: Path, pred_dir: Path, polygon_points: int | str = 4) -> tuple[DatasetResult, list[str]]:
    """Score a result folder against a ground-truth folder.

    All files are read first (:func:`read_regions`), then every image is evaluated in one
    batch (:func:`~trainlab.tasks.text_detection.metrics.icdar2015.evaluate_images`).

    Returns:
        ``(DatasetResult, names of the images without a result file)``.

    Raises:
        ScoreError: see :func:`pair_files`.
        AnnotationError: a malformed line (names file and line).
    """
    names, gts, flags, dets, missing = [], [], [], [], []
    for name, gt_path, result_path in pair_files(gt_dir, pred_dir):
        gt, dont_care = read_regions(gt_path, polygon_points)
        if result_path is None:
            missing.append(name)
            detections = []
        else:
            detections, _ = read_regions(result_path, polygon_points, with_transcription=False)
        names.append(name)
        gts.append(gt)
        flags.append(dont_care)
        dets.append(detections)
    return evaluate_images(names, gts, dets, gt_dont_care=flags), missing


def main(argv: list[str]) -> int:
    """Run ``trainlab score``.

    Args:
        argv: The command's arguments (without ``trainlab score``).

    Returns:
        0 on success; 2 on a usage error, a missing folder, a naming problem or a
        malformed file (one line on stderr); 0 after ``--help``.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse has printed usage or help
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        with tempfile.TemporaryDirectory() as temporary:
            pred = args.pred if args.pred.is_dir() or not args.pred.exists() else \
                submission_to_folder(args.pred, Path(temporary) / "results")
            result, missing = score(args.gt, pred, args.polygon_points)
            cleval = None
            if "cleval" in args.metrics:
                try:
                    cleval = cleval_of(pair_files(args.gt, pred), args.polygon_points)
                except ImportError as error:
                    print(f"{PROG}: warning: CLEval not computed: {error}", file=sys.stderr)
        if missing:
            example = ", ".join(f"res_{name}.txt" for name in missing[:3]) + (", ..." if len(missing) > 3 else "")
            print(
                f"{PROG}: warning: {len(missing)} of {result.num_images} ground-truth files have no result file "
                f"(counted as images with no detections): {example}",
                file=sys.stderr,
            )
        if args.per_image is not None:
            result.write_per_image_csv(args.per_image)
    except (ScoreError, AnnotationError, OSError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    summary = result.summary()
    summary["num_images_without_results"] = len(missing)
    if cleval is not None:
        summary["cleval"] = cleval
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
