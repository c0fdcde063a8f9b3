"""Readers of box annotations: OpenALPR's benchmark lines, COCO json and YOLO txt.

Every reader returns :class:`BoxRecord` s (one per image) with boxes as ``(N, 4)`` float32
``x1, y1, x2, y2`` in the image's pixels (the origin at the top-left corner of the top-left
pixel, ``x2 = x + width``), 0-based class indices and the image's size read from its header.

Formats:

- OpenALPR end-to-end benchmark (github.com/openalpr/benchmarks, ``endtoend/<region>/``): one
  ``<image>.txt`` per image, one line ``name<TAB>x<TAB>y<TAB>w<TAB>h<TAB>PLATE`` (integer
  pixels, ``x, y`` the top-left corner); a file may hold several such lines.
- COCO object detection json (Lin et al., ECCV 2014; cocodataset.org "Data format"):
  ``images`` (``id``, ``file_name``, ``width``, ``height``), ``annotations`` (``image_id``,
  ``category_id``, ``bbox = [x, y, w, h]``, ``iscrowd``) and ``categories``.
- YOLO txt (Ultralytics' dataset format): ``labels/<name>.txt`` beside ``images/<name>.<ext>``,
  one line ``class cx cy w h`` per box, coordinates normalised to ``[0, 1]`` by the image size.

Malformed input raises a subclass of :class:`AnnotationError` that names the file, the 1-based
line (or the json entry) and the problem: :class:`FieldCountError` (wrong number of fields),
:class:`BadValueError` (a field that is not a number, a non-positive size, an unknown class),
:class:`BoxOutsideImageError` (a box that leaves the image by more than
:data:`OUTSIDE_TOLERANCE_PX`) and :class:`MissingImageError` (the image file is absent).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: A box may pass the image border by this many pixels (rounding in converted data sets).
OUTSIDE_TOLERANCE_PX = 1.0


class AnnotationError(ValueError):
    """A malformed annotation.

    Attributes:
        path: The annotation file.
        line: 1-based line number, or ``None`` when the problem is not on one line.
        where: For json, which entry (``"annotations[12] (id 40)"``), else ``None``.
        problem: What is wrong, in words.
    """

    def __init__(self, path: str | os.PathLike, line: int | None, problem: str, where: str | None = None):
        self.path = Path(path)
        self.line = line
        self.where = where
        self.problem = problem
        location = f"{self.path}:{line}" if line else str(self.path)
        if where:
            location += f" {where}"
        super().__init__(f"{location}: {problem}")


class FieldCountError(AnnotationError):
    """A line (or a json ``bbox``) with the wrong number of fields."""


class BadValueError(AnnotationError):
    """A field that is not a finite number, a non-positive box size, or an unknown class."""


class BoxOutsideImageError(AnnotationError):
    """A box that leaves its image by more than :data:`OUTSIDE_TOLERANCE_PX`."""


class MissingImageError(AnnotationError, FileNotFoundError):
    """The image an annotation refers to does not exist."""


@dataclass
class BoxRecord:
    """One annotated image.

    Attributes:
        name: Unique name within the data set (e.g. ``"us/wts-lg-000010"``).
        image_path: The image file.
        width, height: Image size in pixels (from the file header).
        boxes: ``(N, 4)`` float32 ``x1, y1, x2, y2`` pixels.
        labels: ``(N,)`` int64 0-based class indices.
        texts: ``N`` plate strings (``""`` where the format has none).
        group: The stratum of the split (the OpenALPR region, ``"us"`` or ``"eu"``), or ``""``.
        annotation_path: The file the boxes were read from.
    """

    name: str
    image_path: Path
    width: int
    height: int
    boxes: np.ndarray
    labels: np.ndarray
    texts: tuple[str, ...] = ()
    group: str = ""
    annotation_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def image_size(path: Path, annotation: Path, line: int | None = None, where: str | None = None) -> tuple[int, int]:
    """``(width, height)`` of an image from its header.

    Raises:
        MissingImageError: the file does not exist (named with the annotation that refers to it).
        AnnotationError: the file is not a readable image.
    """
    if not path.is_file():
        raise MissingImageError(annotation, line, f"image {path} not found", where)
    try:
        with Image.open(path) as image:
            return image.size
    except OSError as error:
        raise AnnotationError(annotation, line, f"image {path} cannot be read ({error})", where) from error


def _numbers(tokens: Sequence[str], names: Sequence[str], path: Path, line: int | None, where: str | None = None) -> list[float]:
    values = []
    for token, name in zip(tokens, names):
        try:
            value = float(token)
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value):
            raise BadValueError(path, line, f"{name} {token!r} is not a finite number", where)
        values.append(value)
    return values


def check_box(x: float, y: float, w: float, h: float, width: int, height: int, path: Path, line: int | None,
              where: str | None = None, tolerance: float = OUTSIDE_TOLERANCE_PX) -> np.ndarray:
    """A top-left/size box checked against its image; returns ``[x1, y1, x2, y2]`` float32.

    Raises:
        BadValueError: ``w`` or ``h`` not positive.
        BoxOutsideImageError: the box leaves the ``width x height`` image by more than ``tolerance`` px.
    """
    if w <= 0 or h <= 0:
        raise BadValueError(path, line, f"box size {w:g} x {h:g} is not positive", where)
    x2, y2 = x + w, y + h
    if x < -tolerance or y < -tolerance or x2 > width + tolerance or y2 > height + tolerance:
        raise BoxOutsideImageError(path, line, f"box x {x:g}..{x2:g}, y {y:g}..{y2:g} is outside the "
                                               f"{width} x {height} image", where)
    return np.array([max(x, 0.0), max(y, 0.0), min(x2, width), min(y2, height)], np.float32)


def _lines(path: Path) -> list[tuple[int, str]]:
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    return [(number, line.rstrip("\r\n")) for number, line in enumerate(text.split("\n"), start=1) if line.strip()]


def _record(name: str, image: Path, size: tuple[int, int], boxes: list, labels: list, texts: list, group: str,
            annotation: Path) -> BoxRecord:
    return BoxRecord(name=name, image_path=image, width=size[0], height=size[1],
                     boxes=np.array(boxes, np.float32).reshape(-1, 4), labels=np.array(labels, np.int64),
                     texts=tuple(texts), group=group, annotation_path=annotation)


# OpenALPR ---------------------------------------------------------------------------------
OPENALPR_FIELDS = ("image name", "x", "y", "width", "height", "plate")


def read_openalpr_file(path: str | os.PathLike, group: str = "") -> BoxRecord:
    """Read one OpenALPR benchmark annotation file (see the module docstring).

    The image is the file named on the line, in the annotation's folder; every line of one
    file must name the same image. The record's name is ``<group>/<image stem>``.

    Raises:
        FieldCountError: a line without exactly 6 tab-separated fields, or an empty file.
        BadValueError: a coordinate that is not a number, a non-positive size, an empty plate.
        BoxOutsideImageError: a box outside the image.
        MissingImageError: the image is missing; AnnotationError: lines naming different images.
    """
    path = Path(path)
    lines = _lines(path)
    if not lines:
        raise FieldCountError(path, None, f"empty file; expected one line of {len(OPENALPR_FIELDS)} tab-separated "
                                          f"fields: {', '.join(OPENALPR_FIELDS)}")
    image_name, size, boxes, texts = None, (0, 0), [], []
    for number, line in lines:
        fields = line.split("\t")
        if len(fields) != len(OPENALPR_FIELDS):
            raise FieldCountError(path, number, f"{len(fields)} tab-separated fields, expected {len(OPENALPR_FIELDS)} "
                                                f"({', '.join(OPENALPR_FIELDS)})")
        if image_name is None:
            image_name = fields[0]
            size = image_size(path.parent / image_name, path, number)
        elif fields[0] != image_name:
            raise AnnotationError(path, number, f"names image {fields[0]!r}, an earlier line names {image_name!r}")
        x, y, w, h = _numbers(fields[1:5], OPENALPR_FIELDS[1:5], path, number)
        plate = fields[5].strip()
        if not plate:
            raise BadValueError(path, number, "empty plate string")
        boxes.append(check_box(x, y, w, h, size[0], size[1], path, number))
        texts.append(plate)
    stem = Path(image_name).stem
    return _record(f"{group}/{stem}" if group else stem, path.parent / image_name, size, boxes, [0] * len(boxes),
                   texts, group, path)


def read_openalpr(root: str | os.PathLike, regions: Sequence[str] = ("us", "eu")) -> list[BoxRecord]:
    """Read ``<root>/<region>/*.txt`` of the OpenALPR end-to-end benchmark, sorted by name.

    Raises:
        FileNotFoundError: a region folder is missing or holds no annotation file.
        AnnotationError: see :func:`read_openalpr_file`.
    """
    root = Path(root).expanduser()
    records = []
    for region in regions:
        folder = root / region
        files = sorted(folder.glob("*.txt")) if folder.is_dir() else []
        if not files:
            raise FileNotFoundError(f"no OpenALPR annotation files (*.txt) in {folder}")
        records.extend(read_openalpr_file(file, group=region) for file in files)
    return sorted(records, key=lambda r: r.name)


# COCO json --------------------------------------------------------------------------------
def _entry(path: Path, kind: str, index: int, item: Any, keys: Sequence[str]) -> dict[str, Any]:
    where = f"{kind}[{index}]"
    if not isinstance(item, dict):
        raise FieldCountError(path, None, f"expected an object, got {type(item).__name__}", where)
    missing = [key for key in keys if key not in item]
    if missing:
        if "id" in item:
            where += f" (id {item['id']})"
        raise FieldCountError(path, None, f"missing field(s) {', '.join(missing)}", where)
    return item


def read_coco(annotation_file: str | os.PathLike, image_root: str | os.PathLike | None = None,
              class_names: Sequence[str] | None = None) -> tuple[list[BoxRecord], list[str]]:
    """Read a COCO object-detection json file.

    Args:
        annotation_file: The json file.
        image_root: Folder the ``file_name`` s are relative to (default: the json's folder).
        class_names: Category names to keep, in this order (their index is the label); ``None``:
            every category, in ascending ``id`` order. Annotations of other categories are skipped.

    Returns:
        ``(records sorted by name, class names)``; crowd annotations (``iscrowd: 1``) are skipped,
        images without a box are kept (negative images).

    Raises:
        AnnotationError: not valid json, or no ``images``/``annotations``/``categories`` list.
        FieldCountError: an entry without a required field, or a ``bbox`` without 4 numbers.
        BadValueError: a non-numeric or non-positive box, an unknown ``image_id``, a
            ``class_names`` entry that is not a category.
        BoxOutsideImageError: a box outside its image (by the json's ``width``/``height``).
        MissingImageError: an image file is missing.
    """
    path = Path(annotation_file).expanduser()
    image_root = Path(image_root).expanduser() if image_root else path.parent
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as error:
        raise AnnotationError(path, error.lineno, f"not valid json: {error.msg}") from error
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key) if isinstance(data, dict) else None, list):
            raise AnnotationError(path, None, f"no {key!r} list; not a COCO detection file")
    categories = {}
    for index, item in enumerate(data["categories"]):
        item = _entry(path, "categories", index, item, ("id", "name"))
        categories[item["id"]] = str(item["name"])
    if class_names is None:
        class_names = [categories[key] for key in sorted(categories)]
    unknown = sorted(set(class_names) - set(categories.values()))
    if unknown:
        raise BadValueError(path, None, f"class name(s) {', '.join(unknown)} are not categories of the file "
                                        f"({', '.join(sorted(categories.values()))})")
    label_of = {key: list(class_names).index(name) for key, name in categories.items() if name in class_names}
    images: dict[Any, dict[str, Any]] = {}
    for index, item in enumerate(data["images"]):
        item = _entry(path, "images", index, item, ("id", "file_name", "width", "height"))
        where = f"images[{index}] (id {item['id']})"
        width, height = _numbers([item["width"], item["height"]], ("width", "height"), path, None, where)
        image_path = image_root / item["file_name"]
        if not image_path.is_file():
            raise MissingImageError(path, None, f"image {image_path} not found", where)
        images[item["id"]] = {"path": image_path, "size": (int(width), int(height)), "boxes": [], "labels": []}
    for index, item in enumerate(data["annotations"]):
        item = _entry(path, "annotations", index, item, ("image_id", "category_id", "bbox"))
        where = f"annotations[{index}]" + (f" (id {item['id']})" if "id" in item else "")
        if item.get("iscrowd", 0):
            continue
        bbox = item["bbox"]
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise FieldCountError(path, None, f"bbox {bbox!r} does not have 4 numbers [x, y, width, height]", where)
        if item["image_id"] not in images:
            raise BadValueError(path, None, f"image_id {item['image_id']!r} is not in 'images'", where)
        if item["category_id"] not in categories:
            raise BadValueError(path, None, f"category_id {item['category_id']!r} is not in 'categories'", where)
        if item["category_id"] not in label_of:
            continue
        image = images[item["image_id"]]
        x, y, w, h = _numbers(bbox, ("x", "y", "width", "height"), path, None, where)
        image["boxes"].append(check_box(x, y, w, h, *image["size"], path, None, where))
        image["labels"].append(label_of[item["category_id"]])
    records = [_record(str(Path(image["path"]).relative_to(image_root).with_suffix("")), image["path"], image["size"],
                       image["boxes"], image["labels"], [""] * len(image["boxes"]), "", path)
               for image in images.values()]
    return sorted(records, key=lambda r: r.name), list(class_names)


# YOLO txt ---------------------------------------------------------------------------------
YOLO_FIELDS = ("class", "x_center", "y_center", "width", "height")


def _find_image(images_dir: Path, stem: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        for candidate in (images_dir / f"{stem}{suffix}", images_dir / f"{stem}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return None


def read_yolo_file(label_file: str | os.PathLike, image_path: str | os.PathLike | None, num_classes: int,
                   name: str | None = None) -> BoxRecord:
    """Read one YOLO label file (see the module docstring).

    Args:
        label_file: The ``.txt`` file.
        image_path: Its image (``None``: not found, which raises).
        num_classes: Number of classes; class indices must be in ``[0, num_classes)``.
        name: The record's name (default: the file's stem).

    Raises:
        MissingImageError: ``image_path`` is ``None`` or missing.
        FieldCountError: a line without exactly 5 fields.
        BadValueError: a non-numeric field, a class index outside ``[0, num_classes)``, a
            non-positive size.
        BoxOutsideImageError: a box outside ``[0, 1]`` (by more than one pixel).
    """
    path = Path(label_file)
    if image_path is None or not Path(image_path).is_file():
        raise MissingImageError(path, None, f"no image for this label file (looked for {path.stem} with suffix "
                                            f"{', '.join(IMAGE_SUFFIXES)}{'' if image_path is None else f'; {image_path}'})")
    image_path = Path(image_path)
    width, height = image_size(image_path, path)
    boxes, labels = [], []
    for number, line in _lines(path):
        fields = line.split()
        if len(fields) != len(YOLO_FIELDS):
            raise FieldCountError(path, number, f"{len(fields)} fields, expected {len(YOLO_FIELDS)} "
                                                f"({' '.join(YOLO_FIELDS)})")
        label, cx, cy, w, h = _numbers(fields, YOLO_FIELDS, path, number)
        if label != int(label) or not 0 <= label < num_classes:
            raise BadValueError(path, number, f"class {fields[0]!r} is not an integer in [0, {num_classes})")
        boxes.append(check_box((cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height, width, height,
                               path, number))
        labels.append(int(label))
    return _record(name or path.stem, image_path, (width, height), boxes, labels, [""] * len(boxes), "", path)


def read_yolo(images_dir: str | os.PathLike, labels_dir: str | os.PathLike, num_classes: int) -> list[BoxRecord]:
    """Read a YOLO folder pair: every ``labels_dir/*.txt`` with its image in ``images_dir``.

    Images without a label file are negatives (kept, no box), as in Ultralytics' loader.

    Raises:
        FileNotFoundError: a folder is missing.
        AnnotationError: see :func:`read_yolo_file`.
    """
    images_dir, labels_dir = Path(images_dir).expanduser(), Path(labels_dir).expanduser()
    for folder in (images_dir, labels_dir):
        if not folder.is_dir():
            raise FileNotFoundError(f"YOLO folder not found: {folder}")
    records = [read_yolo_file(file, _find_image(images_dir, file.stem), num_classes) for file in sorted(labels_dir.glob("*.txt"))]
    labelled = {r.name for r in records}
    for image in sorted(images_dir.iterdir()):
        if image.suffix.lower() in IMAGE_SUFFIXES and image.stem not in labelled:
            width, height = image_size(image, image)
            records.append(_record(image.stem, image, (width, height), [], [], [], "", image))
    return sorted(records, key=lambda r: r.name)
