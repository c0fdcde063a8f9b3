"""Check an ICDAR text-detection folder before training on it: ``trainlab data check <root>``.

Reads every split of ``root`` (``images/<split>/`` with ``annotations/<split>/``, the layout
``data.root`` takes) and reports all it finds, without stopping at the first problem:

- counts per split: images, annotation files, regions, don't-care regions (``###``) and
  their share of the regions;
- box sizes: width, height and aspect ratio (width / height) of every region's
  minimum-area rectangle (OpenCV ``minAreaRect``; width is its longer side), all regions
  included: quantiles in the report and histograms in ``box_sizes.png``;
- byte-identical images (MD5 of the file): in more than one split (a train/test leak) and
  twice in one split;
- problems, each as ``file:line: problem`` (``file: problem`` for a whole file): every
  malformed annotation line at once, an image without an annotation file, an annotation
  file without an image, an image that cannot be read, a split without its other folder;
- warnings, in the same form: degenerate polygons (minimum-area rectangle under 1 px²),
  invalid polygons (Shapely's ``explain_validity``: self-intersection, vertices out of
  order), vertices outside the image, annotation
  files that are not UTF-8 (read with replacement characters);
- a folder of images with their boxes drawn, ``drawn/<split>/<name>.jpg``: text regions
  green, don't-care regions red, each labelled with its line number in the annotation file.

Everything goes into the output folder (``report.json``, ``box_sizes.png``, ``drawn/``),
written atomically. This module imports neither torch nor Lightning.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from trainlab.engine.io import atomic_write, atomic_write_json
from trainlab.tasks.text_detection.data.convert import image_size
from trainlab.tasks.text_detection.data.icdar_format import (
    IMAGE_SUFFIXES,
    AnnotationError,
    annotation_candidates,
    gt_stem,
    read_icdar_file,
)
from trainlab.tasks.text_detection.types import TextRegion

#: BGR colours of drawn text and don't-care regions.
TEXT_COLOR, DONT_CARE_COLOR = (0, 170, 0), (0, 0, 230)
QUANTILES = {"min": 0.0, "p5": 0.05, "median": 0.5, "p95": 0.95, "max": 1.0}


def box_size(points: np.ndarray) -> tuple[float, float]:
    """``(width, height)`` in pixels of the minimum-area rectangle around a polygon
    (OpenCV ``minAreaRect``, rotating calipers); width is the longer side.

    Args:
        points: ``(N, 2)`` vertices in pixels.
    """
    (_, _), (a, b), _ = cv2.minAreaRect(np.asarray(points, dtype=np.float32).reshape(-1, 1, 2))
    return max(a, b), min(a, b)


def region_warnings(region: TextRegion, path: Path, width: int, height: int) -> list[str]:
    """``file:line: warning`` texts for a region: degenerate (its minimum-area rectangle under
    1 px²: coincident or collinear vertices), invalid (Shapely: self-intersecting), vertices
    outside the ``width`` x ``height`` image (pixels)."""
    from shapely.geometry import Polygon
    from shapely.validation import explain_validity

    where = f"{path}:{region.line}"
    found = []
    long_side, short_side = box_size(region.points)
    if long_side * short_side < 1.0:
        found.append(f"{where}: degenerate polygon (its minimum-area rectangle is {long_side:.1f} x {short_side:.1f} px)")
    elif not (polygon := Polygon(region.points)).is_valid:
        found.append(f"{where}: invalid polygon ({explain_validity(polygon)}; vertices out of order?)")
    outside = [(x, y) for x, y in region.points if not (0 <= x <= width and 0 <= y <= height)]
    if outside:
        x, y = outside[0]
        found.append(f"{where}: vertex ({x:g}, {y:g}) outside the {width}x{height} image")
    return found


def _quantiles(values: Sequence[float]) -> dict[str, float]:
    if not len(values):
        return {}
    return {name: round(float(np.quantile(values, q)), 3) for name, q in QUANTILES.items()}


def plot_box_histograms(sizes: Mapping[str, np.ndarray], path: str | os.PathLike) -> Path:
    """Histograms of box width, height (px, log-spaced bins) and aspect ratio, one step line
    per split, written as a PNG atomically.

    Args:
        sizes: ``{split: (N, 2) float array of (width, height)}`` (:func:`box_size`).
        path: Output PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    everything = np.concatenate([s for s in sizes.values() if len(s)] or [np.ones((1, 2))])
    positive = np.clip(everything, 1.0, None)
    aspect = positive[:, 0] / positive[:, 1]
    bins = {
        "width (px)": np.geomspace(positive[:, 0].min(), positive[:, 0].max() + 1, 30),
        "height (px)": np.geomspace(positive[:, 1].min(), positive[:, 1].max() + 1, 30),
        "aspect (width / height)": np.geomspace(1.0, aspect.max() + 1, 30),
    }
    figure, axes = plt.subplots(1, 3, figsize=(15, 4), constrained_layout=True)
    for split, values in sizes.items():
        if not len(values):
            continue
        values = np.clip(values, 1.0, None)
        columns = {"width (px)": values[:, 0], "height (px)": values[:, 1], "aspect (width / height)": values[:, 0] / values[:, 1]}
        for axis, (name, column) in zip(axes, columns.items()):
            axis.hist(column, bins=bins[name], histtype="step", linewidth=1.5, label=f"{split} ({len(values)})")
    for axis, name in zip(axes, bins):
        axis.set_xscale("log")
        axis.set_xlabel(name)
        axis.set_ylabel("regions")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.suptitle("text regions: minimum-area rectangle sizes")
    target = atomic_write(path, lambda handle: figure.savefig(handle, format="png", dpi=100))
    plt.close(figure)
    return target


def draw_boxes(image_path: Path, regions: Sequence[TextRegion], path: str | os.PathLike) -> Path:
    """The image with every region outlined (text green, don't care red, 2 px) and labelled
    with its annotation line number, as JPEG (quality 90), written atomically.

    Raises:
        FileNotFoundError: the image cannot be decoded.
    """
    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise FileNotFoundError(f"cannot read image {image_path}")
    for region in regions:
        color = DONT_CARE_COLOR if region.dont_care else TEXT_COLOR
        polygon = np.round(region.points).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(image, [polygon], True, color, 2, lineType=cv2.LINE_AA)
        x, y = polygon[0, 0]
        cv2.putText(image, str(region.line), (int(x), max(10, int(y) - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1,
                    cv2.LINE_AA)
    _, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return atomic_write(path, lambda handle: handle.write(encoded.tobytes()))


def _md5(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "md5").hexdigest()


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


def _annotation_file(folder: Path, stem: str) -> Path | None:
    return next((folder / name for name in annotation_candidates(stem) if (folder / name).is_file()), None)


def check_root(root: str | os.PathLike, output: str | os.PathLike, *, polygon_points: int | str = 4,
               draw: int | None = 25) -> dict[str, Any]:
    """Check every split of an ICDAR root and write the report (see the module docstring).

    Args:
        root: The data set folder (``images/<split>/``, ``annotations/<split>/``).
        output: Folder for ``report.json``, ``box_sizes.png`` and ``drawn/``.
        polygon_points: Vertices per annotation line, ``4`` or ``"auto"``
            (:func:`~trainlab.tasks.text_detection.data.icdar_format.parse_icdar_line`).
        draw: Images drawn per split, in name order (``None``: all; ``0``: none).

    Returns:
        The report written to ``report.json``: ``root``, ``splits`` (per split: ``images``,
        ``annotation_files``, ``regions``, ``dont_care``, ``dont_care_share``, and quantiles
        ``min/p5/median/p95/max`` of ``width``, ``height``, ``aspect``),
        ``duplicates_across_splits`` and ``duplicates_within_splits`` (groups of
        ``<split>/<file>``), ``problems`` and ``warnings`` (``file:line: text``), ``drawn``.

    Raises:
        FileNotFoundError: ``root`` has no ``images/`` and no ``annotations/`` folder.
    """
    root, output = Path(root), Path(output)
    if not (root / "images").is_dir() and not (root / "annotations").is_dir():
        raise FileNotFoundError(f"{root}: no images/ or annotations/ folder; an ICDAR root holds "
                                f"images/<split>/ and annotations/<split>/")
    splits = sorted({p.name for folder in ("images", "annotations") if (root / folder).is_dir()
                     for p in (root / folder).iterdir() if p.is_dir()})
    problems: list[str] = []
    warnings: list[str] = []
    stats: dict[str, dict[str, Any]] = {}
    sizes: dict[str, np.ndarray] = {}
    digests: dict[str, list[str]] = defaultdict(list)
    drawn = 0
    for split in splits:
        image_dir, annotation_dir = root / "images" / split, root / "annotations" / split
        for folder, other in ((image_dir, annotation_dir), (annotation_dir, image_dir)):
            if not folder.is_dir():
                problems.append(f"{folder}: missing (its counterpart {other} exists)")
        images = _images(image_dir)
        annotation_files = sorted(annotation_dir.glob("*.txt")) if annotation_dir.is_dir() else []
        if image_dir.is_dir() and not images:
            problems.append(f"{image_dir}: no image ({', '.join(IMAGE_SUFFIXES)})")
        stems = {p.stem for p in images}
        problems += [f"{path}: no image named {gt_stem(path.name)}.* in {image_dir}" for path in annotation_files
                     if gt_stem(path.name) not in stems]
        regions_of_split: list[TextRegion] = []
        box_sizes = []
        for index, image in enumerate(images):
            digests[_md5(image)].append(f"{split}/{image.name}")
            annotation = _annotation_file(annotation_dir, image.stem)
            if annotation is None:
                problems.append(f"{image}: no annotation file ({' or '.join(annotation_candidates(image.stem))} "
                                f"in {annotation_dir})")
                continue
            errors: list[AnnotationError] = []
            regions = read_icdar_file(annotation, polygon_points=polygon_points, errors=errors)
            problems += [str(error) for error in errors]
            raw = annotation.read_bytes().removeprefix(b"\xef\xbb\xbf")
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as error:
                warnings.append(f"{annotation}: not UTF-8 (byte {error.start}); read with replacement characters")
            try:
                width, height = image_size(image)
            except FileNotFoundError as error:
                problems.append(str(error))
                continue
            for region in regions:
                warnings += region_warnings(region, annotation, width, height)
                box_sizes.append(box_size(region.points))
            regions_of_split += regions
            if draw is None or index < draw:
                draw_boxes(image, regions, output / "drawn" / split / f"{image.stem}.jpg")
                drawn += 1
        sizes[split] = np.asarray(box_sizes, dtype=np.float64).reshape(-1, 2)
        dont_care = sum(r.dont_care for r in regions_of_split)
        aspect = sizes[split][:, 0] / np.clip(sizes[split][:, 1], 1e-9, None)
        stats[split] = {
            "images": len(images), "annotation_files": len(annotation_files), "regions": len(regions_of_split),
            "dont_care": dont_care, "dont_care_share": round(dont_care / len(regions_of_split), 4) if regions_of_split else 0.0,
            "width": _quantiles(sizes[split][:, 0]), "height": _quantiles(sizes[split][:, 1]), "aspect": _quantiles(aspect),
        }
    groups = [sorted(names) for names in digests.values() if len(names) > 1]
    across = [g for g in groups if len({name.split("/", 1)[0] for name in g}) > 1]
    report = {
        "root": str(root), "splits": stats,
        "duplicates_across_splits": across,
        "duplicates_within_splits": [g for g in groups if g not in across],
        "problems": problems, "warnings": warnings, "drawn": drawn,
    }
    plot_box_histograms(sizes, output / "box_sizes.png")
    atomic_write_json(output / "report.json", report)
    return report
