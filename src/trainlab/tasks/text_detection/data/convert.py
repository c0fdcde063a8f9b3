"""Convert text-detection annotations between ICDAR folders and COCO, LabelMe, PaddleOCR and docTR.

``trainlab data convert --from FORMAT --to FORMAT SOURCE DEST`` reads every split of
``SOURCE`` into one :class:`~trainlab.tasks.text_detection.types.AnnotatedImage` per image
(vertices in pixels, transcription, don't-care flag), then writes ``DEST`` in the other
format and copies the images there unchanged. Layouts read and written (``<split>`` is
``train``, ``test``...; a single file or folder given without splits is read as one split,
``--split``, default ``train``):

``icdar`` (ICDAR 2015 Challenge 4 Task 4.1, the layout ``data.root`` reads)
    ``ROOT/images/<split>/<name>.jpg`` and ``ROOT/annotations/<split>/<name>.txt`` (or
    ``gt_<name>.txt``), one region per line ``x1,y1,...,x4,y4,transcription``; ``###``
    marks a don't-care region (:mod:`~trainlab.tasks.text_detection.data.icdar_format`).
``coco`` (COCO object detection, Lin et al. 2014; text fields of COCO-Text, Veit et al. 2016)
    ``ROOT/<split>.json`` with ``images`` (``file_name`` relative to the JSON's folder, or to
    ``--images``), ``annotations`` and ``categories``; images in ``ROOT/images/<split>/``.
    A region is an annotation's ``segmentation`` polygon (``[[x1, y1, x2, y2, ...]]``), or
    its ``bbox`` ``[x, y, width, height]`` when it has no polygon; its transcription is
    ``utf8_string`` (COCO-Text; ``text`` and ``transcription`` are read too). Don't care:
    ``iscrowd: 1`` (the MMOCR convention for ignored text), ``legibility: "illegible"``
    (COCO-Text) or the transcription ``###``; written as ``iscrowd: 1`` and ``###``.
``labelme`` (LabelMe, Wada et al.)
    One JSON per image beside it, ``ROOT/<split>/<name>.json``, ``imagePath`` relative to
    the JSON; each shape is a region (``polygon``, or a ``rectangle`` of two corners), its
    ``label`` the transcription, ``###`` for don't care.
``paddleocr`` (PaddleOCR / PPOCRLabel detection labels)
    ``ROOT/<split>/Label.txt`` beside the images, one image per line:
    ``<split>/<name>.jpg<TAB>[{"transcription": ..., "points": [[x, y], ...], "difficult": false}]``;
    paths are relative to the label file's parent folder (PPOCRLabel) or its own folder;
    ``<split>_label.txt`` files in ``ROOT`` are read too. Don't care: the transcriptions
    ``###`` and ``*`` (PaddleOCR's ``DetLabelEncode`` ignore tags); written as ``###``. A
    text region transcribed ``*`` is written as it is, with a note, since PaddleOCR will
    ignore it.
``doctr`` (docTR detection sets, ``references/detection``)
    ``ROOT/<split>/images/<name>`` and ``ROOT/<split>/labels.json``:
    ``{name: {"img_dimensions": [height, width], "img_hash": <sha256 of the file>,
    "polygons": [[[x1, y1], ...], ...]}}``. docTR's detection labels carry no
    transcriptions (regions read from them have ``""``). Don't care: an image with
    don't-care regions is written in docTR's multi-class form
    ``"polygons": {"words": [...], "###": [...]}``, and the class ``###`` is read as don't
    care (the other classes as text, in class order).

Coordinates are kept exactly: integers stay integers, other values are written with
Python's shortest round-trip representation. Converting ICDAR -> X -> ICDAR therefore gives
the same regions, but for what a format cannot hold, which the writer reports as notes:
docTR keeps no transcriptions and lists an image's don't-care regions after its text
regions; PaddleOCR takes a region transcribed ``*`` as don't care.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from trainlab.engine.io import atomic_write, atomic_write_json, atomic_write_text
from trainlab.tasks.text_detection.data.icdar_format import AnnotationError, read_split
from trainlab.tasks.text_detection.geometry import area_and_perimeter
from trainlab.tasks.text_detection.types import DONT_CARE_LABEL, AnnotatedImage, TextRegion

FORMATS = ("icdar", "coco", "labelme", "paddleocr", "doctr")
#: Transcriptions PaddleOCR's detection label encoder ignores (``DetLabelEncode``).
PADDLEOCR_IGNORE_TAGS = ("###", "*")
#: docTR class name of text regions (``doctr.file_utils.CLASS_NAME``).
DOCTR_TEXT_CLASS = "words"

#: ``{split: records}``: every split of a data set, records sorted by image name.
Dataset = dict[str, list[AnnotatedImage]]


# Small helpers ---------------------------------------------------------------------------

def coordinate_text(value: float) -> str:
    """A coordinate as ICDAR text: ``"72"`` for an integral value, else the shortest text that
    reads back to the same float (``repr``)."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _plain(value: float) -> int | float:
    """A coordinate as a JSON number: an int when integral (``72``, not ``72.0``)."""
    value = float(value)
    return int(value) if value.is_integer() else value


def _pairs(points: np.ndarray) -> list[list[int | float]]:
    return [[_plain(x), _plain(y)] for x, y in np.asarray(points).reshape(-1, 2)]


def image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of an image file in pixels, from its header (Pillow, matplotlib's
    image library; EXIF orientation ignored, as the annotations refer to the stored grid).

    Raises:
        FileNotFoundError: the file is missing or not an image (names it).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, UnidentifiedImageError) as error:
        raise FileNotFoundError(f"cannot read image {path}: {error}") from error


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as error:
        raise AnnotationError(path, error.lineno, f"not valid JSON ({error.msg})") from error


def _region(points: Any, transcription: str, dont_care: bool, where: tuple[Path, int, str]) -> TextRegion:
    """A region from ``[[x, y], ...]`` or a flat ``[x1, y1, ...]`` list.

    Raises:
        AnnotationError: not numbers, an odd count, fewer than 3 vertices (``where``: file,
            line, and which item of the file).
    """
    path, line, item = where
    try:
        array = np.asarray(points, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise AnnotationError(path, line, f"{item}: points are not a list of numbers: {points!r}") from None
    if array.size % 2 or array.size < 6 or not np.isfinite(array).all():
        raise AnnotationError(path, line, f"{item}: expected at least 3 finite (x, y) vertices, got {points!r}")
    transcription = DONT_CARE_LABEL if dont_care else str(transcription)
    return TextRegion(points=array.reshape(-1, 2), transcription=transcription, dont_care=dont_care, line=line)


def _find_image(candidates: Iterable[Path], source: Path, entry: str) -> Path:
    candidates = list(dict.fromkeys(candidates))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{source}: image {entry!r} not found (looked at {', '.join(map(str, candidates))})")


def _record(image: Path, annotation: Path, regions: list[TextRegion]) -> AnnotatedImage:
    return AnnotatedImage(image_path=image, annotation_path=annotation, regions=regions)


def _sorted(records: list[AnnotatedImage], source: Path) -> list[AnnotatedImage]:
    """Records by image name; two images of one split with the same name are an error."""
    seen: dict[str, Path] = {}
    for record in records:
        if record.name in seen:
            raise ValueError(f"{source}: two images named {record.name!r} in one split "
                             f"({seen[record.name]} and {record.image_path}); file names must be unique")
        seen[record.name] = record.image_path
    return sorted(records, key=lambda r: r.name)


def _split_folders(source: Path, has_split: Callable[[Path], bool]) -> list[Path]:
    return sorted(p for p in source.iterdir() if p.is_dir() and has_split(p)) if source.is_dir() else []


# Readers -----------------------------------------------------------------------------------

def read_icdar(source: Path, *, polygon_points: int | str = 4, **_: Any) -> Dataset:
    """Every split of an ICDAR root (``images/<split>/`` with ``annotations/<split>/``).

    Raises:
        FileNotFoundError: no split folder, or an image without its annotation file.
        AnnotationError: a malformed line.
    """
    images = source / "images"
    splits = _split_folders(images, lambda p: (source / "annotations" / p.name).is_dir())
    if not splits:
        raise FileNotFoundError(f"{source}: no ICDAR split; expected images/<split>/ and annotations/<split>/")
    return {p.name: read_split(p, source / "annotations" / p.name, polygon_points=polygon_points) for p in splits}


def _coco_points(annotation: Mapping[str, Any], where: tuple[Path, int, str]) -> Any:
    segmentation = annotation.get("segmentation")
    if isinstance(segmentation, list) and segmentation:
        polygons = segmentation if isinstance(segmentation[0], list) else [segmentation]
        if len(polygons) > 1:
            raise AnnotationError(where[0], 0, f"{where[2]}: {len(polygons)} polygons; a text region has one")
        return polygons[0]
    bbox = annotation.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4):
        raise AnnotationError(where[0], 0, f"{where[2]}: neither a segmentation polygon nor a bbox [x, y, w, h]")
    x, y, w, h = bbox
    return [x, y, x + w, y, x + w, y + h, x, y + h]


def _read_coco_file(path: Path, images: Path | None) -> list[AnnotatedImage]:
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise AnnotationError(path, 0, "not a COCO file: expected 'images' and 'annotations' lists")
    by_id: dict[Any, AnnotatedImage] = {}
    for index, entry in enumerate(data["images"]):
        if not isinstance(entry, dict) or "id" not in entry or "file_name" not in entry:
            raise AnnotationError(path, 0, f"images[{index}]: expected 'id' and 'file_name'")
        name = str(entry["file_name"])
        folders = [images] if images is not None else [path.parent]
        image = _find_image([folder / name for folder in folders], path, name)
        by_id[entry["id"]] = _record(image, path, [])
    for index, annotation in enumerate(data["annotations"]):
        item = f"annotations[{index}] (id {annotation.get('id')})" if isinstance(annotation, dict) else f"annotations[{index}]"
        if not isinstance(annotation, dict) or annotation.get("image_id") not in by_id:
            raise AnnotationError(path, 0, f"{item}: no image with its image_id")
        text = next((annotation[k] for k in ("utf8_string", "text", "transcription") if k in annotation), "")
        dont_care = bool(annotation.get("iscrowd")) or annotation.get("legibility") == "illegible" \
            or text == DONT_CARE_LABEL
        where = (path, 0, item)
        by_id[annotation["image_id"]].regions.append(_region(_coco_points(annotation, where), text, dont_care, where))
    return list(by_id.values())


def read_coco(source: Path, *, split: str | None = None, images: Path | None = None, **_: Any) -> Dataset:
    """A COCO JSON file (one split: ``split``, default the file name without ``instances_``),
    or a folder of them (one split per file, named by the file)."""
    files = [source] if source.is_file() else sorted(source.glob("*.json")) if source.is_dir() else []
    if not files:
        raise FileNotFoundError(f"{source}: no COCO JSON file (<split>.json)")
    dataset = {}
    for path in files:
        name = split if source.is_file() and split else path.stem.removeprefix("instances_")
        dataset[name] = _sorted(_read_coco_file(path, images), path)
    return dataset


def _read_labelme_file(path: Path) -> AnnotatedImage:
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list) or not data.get("imagePath"):
        raise AnnotationError(path, 0, "not a LabelMe file: expected 'shapes' and 'imagePath'")
    entry = str(data["imagePath"]).replace("\\", "/")
    image = _find_image([path.parent / entry, path.parent / Path(entry).name], path, entry)
    regions = []
    for index, shape in enumerate(data["shapes"]):
        item = f"shapes[{index}]"
        kind = shape.get("shape_type") or "polygon"
        points = shape.get("points")
        if kind == "rectangle" and isinstance(points, list) and len(points) == 2:
            (x1, y1), (x2, y2) = points
            points = [[min(x1, x2), min(y1, y2)], [max(x1, x2), min(y1, y2)], [max(x1, x2), max(y1, y2)],
                      [min(x1, x2), max(y1, y2)]]
        elif kind != "polygon":
            raise AnnotationError(path, 0, f"{item}: shape_type {kind!r}; text regions are polygons or rectangles")
        label = str(shape.get("label", ""))
        regions.append(_region(points, label, label == DONT_CARE_LABEL, (path, 0, item)))
    return _record(image, path, regions)


def read_labelme(source: Path, *, split: str | None = None, **_: Any) -> Dataset:
    """A folder of LabelMe JSON files (one split: ``split``, default ``train``), or a folder
    of such folders (one split each)."""
    if source.is_dir() and any(source.glob("*.json")):
        folders = {split or "train": source}
    else:
        folders = {p.name: p for p in _split_folders(source, lambda p: any(p.glob("*.json")))}
    if not folders:
        raise FileNotFoundError(f"{source}: no LabelMe JSON file (<split>/<name>.json)")
    return {name: _sorted([_read_labelme_file(p) for p in sorted(folder.glob("*.json"))], folder)
            for name, folder in folders.items()}


def _read_paddleocr_file(path: Path, images: Path | None) -> list[AnnotatedImage]:
    records = []
    text = path.read_text(encoding="utf-8-sig")
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        entry, tab, labels = line.rstrip("\r\n").partition("\t")
        if not tab:
            raise AnnotationError(path, lineno, "expected '<image path><TAB><JSON list of regions>'")
        try:
            items = json.loads(labels)
        except json.JSONDecodeError as error:
            raise AnnotationError(path, lineno, f"the regions are not valid JSON ({error.msg})") from None
        if not isinstance(items, list):
            raise AnnotationError(path, lineno, "the regions are not a JSON list")
        folders = ([images] if images is not None else []) + [path.parent.parent, path.parent]
        image = _find_image([folder / entry for folder in folders], path, entry)
        regions = []
        for index, item in enumerate(items):
            if not isinstance(item, dict) or "points" not in item:
                raise AnnotationError(path, lineno, f"region {index + 1}: expected an object with 'points'")
            text = str(item.get("transcription", ""))
            regions.append(_region(item["points"], text, text in PADDLEOCR_IGNORE_TAGS, (path, lineno, f"region {index + 1}")))
        records.append(_record(image, path, regions))
    return records


def read_paddleocr(source: Path, *, split: str | None = None, images: Path | None = None, **_: Any) -> Dataset:
    """A PaddleOCR label file (one split: ``split``, default its name without ``_label``), or a
    folder of ``<split>/Label.txt`` and ``<split>_label.txt`` files."""
    if source.is_file():
        files = {split or source.stem.removesuffix("_label"): source}
    elif source.is_dir():
        files = {p.name: p / "Label.txt" for p in _split_folders(source, lambda p: (p / "Label.txt").is_file())}
        files.update({p.stem.removesuffix("_label"): p for p in sorted(source.glob("*_label.txt"))})
    else:
        files = {}
    if not files:
        raise FileNotFoundError(f"{source}: no PaddleOCR label file (<split>/Label.txt or <split>_label.txt)")
    return {name: _sorted(_read_paddleocr_file(path, images), path) for name, path in files.items()}


def _read_doctr_split(folder: Path) -> list[AnnotatedImage]:
    path = folder / "labels.json"
    data = _load_json(path)
    if not isinstance(data, dict):
        raise AnnotationError(path, 0, "not a docTR label file: expected {image name: {polygons, ...}}")
    records = []
    for name, label in data.items():
        image = _find_image([folder / "images" / name], path, name)
        polygons = label.get("polygons") if isinstance(label, dict) else None
        if isinstance(polygons, list):
            classes = {DOCTR_TEXT_CLASS: polygons}
        elif isinstance(polygons, dict):
            classes = polygons
        else:
            raise AnnotationError(path, 0, f"{name!r}: 'polygons' must be a list of polygons or {{class: polygons}}")
        regions = []
        for cls, items in classes.items():
            for index, points in enumerate(items):
                where = (path, 0, f"{name!r} polygons[{cls!r}][{index}]")
                regions.append(_region(points, "", cls == DONT_CARE_LABEL, where))
        records.append(_record(image, path, regions))
    return records


def read_doctr(source: Path, *, split: str | None = None, **_: Any) -> Dataset:
    """A docTR detection folder (``images/`` and ``labels.json``; one split: ``split``, default
    ``train``), or a folder of such folders (one split each)."""
    if (source / "labels.json").is_file():
        folders = {split or "train": source}
    else:
        folders = {p.name: p for p in _split_folders(source, lambda p: (p / "labels.json").is_file())}
    if not folders:
        raise FileNotFoundError(f"{source}: no docTR label file (<split>/labels.json beside <split>/images/)")
    return {name: _sorted(_read_doctr_split(folder), folder) for name, folder in folders.items()}


# Writers ----------------------------------------------------------------------------------

def _copy_image(record: AnnotatedImage, folder: Path) -> Path:
    def copy(handle: Any) -> None:
        with open(record.image_path, "rb") as source:
            shutil.copyfileobj(source, handle)

    return atomic_write(folder / record.image_path.name, copy)


def icdar_line(region: TextRegion) -> str:
    """One ICDAR ground-truth line: the vertices (:func:`coordinate_text`), then the transcription.

    Raises:
        ValueError: the transcription holds a line break (the format is one region per line).
    """
    if "\n" in region.transcription or "\r" in region.transcription:
        raise ValueError(f"transcription {region.transcription!r} holds a line break; ICDAR files take one line per region")
    return ",".join(coordinate_text(v) for v in region.points.reshape(-1)) + "," + region.transcription


def write_icdar(dataset: Dataset, dest: Path) -> list[str]:
    """``dest/images/<split>/`` and ``dest/annotations/<split>/<name>.txt`` (UTF-8, LF, no BOM)."""
    for split, records in dataset.items():
        for record in records:
            _copy_image(record, dest / "images" / split)
            lines = [icdar_line(region) for region in record.regions]
            atomic_write_text(dest / "annotations" / split / f"{record.name}.txt", "".join(f"{line}\n" for line in lines))
    return []


def write_coco(dataset: Dataset, dest: Path) -> list[str]:
    """``dest/<split>.json`` (category 1 ``text``) and ``dest/images/<split>/``."""
    for split, records in dataset.items():
        images, annotations = [], []
        for image_id, record in enumerate(records, start=1):
            copied = _copy_image(record, dest / "images" / split)
            width, height = image_size(copied)
            images.append({"id": image_id, "file_name": f"images/{split}/{copied.name}", "width": width, "height": height})
            for region in record.regions:
                low, high = region.points.min(axis=0), region.points.max(axis=0)
                annotations.append({
                    "id": len(annotations) + 1, "image_id": image_id, "category_id": 1,
                    "segmentation": [[_plain(v) for v in region.points.reshape(-1)]],
                    "bbox": [_plain(low[0]), _plain(low[1]), _plain(high[0] - low[0]), _plain(high[1] - low[1])],
                    "area": area_and_perimeter(region.points)[0], "iscrowd": int(region.dont_care),
                    "utf8_string": region.transcription,
                })
        atomic_write_json(dest / f"{split}.json", {
            "info": {"description": f"text regions, split {split}", "version": "1.0"},
            "images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "text", "supercategory": "text"}],
        })
    return []


def write_labelme(dataset: Dataset, dest: Path) -> list[str]:
    """``dest/<split>/<name>.json`` beside a copy of each image (no embedded ``imageData``)."""
    for split, records in dataset.items():
        for record in records:
            copied = _copy_image(record, dest / split)
            width, height = image_size(copied)
            shapes = [{"label": r.transcription, "points": _pairs(r.points), "group_id": None, "description": "",
                       "shape_type": "polygon", "flags": {}} for r in record.regions]
            atomic_write_json(dest / split / f"{record.name}.json", {
                "version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": copied.name, "imageData": None,
                "imageHeight": height, "imageWidth": width,
            })
    return []


def write_paddleocr(dataset: Dataset, dest: Path) -> list[str]:
    """``dest/<split>/Label.txt`` beside the images, paths ``<split>/<file>`` (PPOCRLabel's layout).

    Returns:
        A note for every text region transcribed with another of PaddleOCR's ignore tags
        (``*``): PaddleOCR, and this module's reader, take it as don't care.
    """
    notes = []
    for split, records in dataset.items():
        lines = []
        for record in records:
            copied = _copy_image(record, dest / split)
            notes += [f"{record.annotation_path}:{r.line}: transcription {r.transcription!r} is a PaddleOCR ignore tag; "
                      f"PaddleOCR reads this region as don't care" for r in record.regions
                      if not r.dont_care and r.transcription in PADDLEOCR_IGNORE_TAGS]
            items = [{"transcription": r.transcription, "points": _pairs(r.points), "difficult": False}
                     for r in record.regions]
            lines.append(f"{split}/{copied.name}\t{json.dumps(items, ensure_ascii=False)}\n")
        atomic_write_text(dest / split / "Label.txt", "".join(lines))
    return notes


def write_doctr(dataset: Dataset, dest: Path) -> list[str]:
    """``dest/<split>/images/`` and ``dest/<split>/labels.json``.

    Returns:
        A note saying how many transcriptions were left out (docTR's detection labels have none).

    Raises:
        ValueError: an image's polygons have different vertex counts (docTR stacks them into one array).
    """
    for split, records in dataset.items():
        labels = {}
        for record in records:
            copied = _copy_image(record, dest / split / "images")
            if len({len(r.points) for r in record.regions}) > 1:
                raise ValueError(f"{record.annotation_path}: polygons with different vertex counts; docTR labels "
                                 f"need one count per image")
            width, height = image_size(copied)
            text = [_pairs(r.points) for r in record.regions if not r.dont_care]
            dont_care = [_pairs(r.points) for r in record.regions if r.dont_care]
            labels[copied.name] = {
                "img_dimensions": [height, width],
                "img_hash": hashlib.sha256(copied.read_bytes()).hexdigest(),
                "polygons": {DOCTR_TEXT_CLASS: text, DONT_CARE_LABEL: dont_care} if dont_care else text,
            }
        atomic_write_json(dest / split / "labels.json", labels)
    dropped = sum(bool(r.transcription) for records in dataset.values() for x in records for r in x.regions
                  if not r.dont_care)
    return [f"{dropped} transcriptions left out: docTR detection labels hold polygons only"] if dropped else []


READERS: dict[str, Callable[..., Dataset]] = {
    "icdar": read_icdar, "coco": read_coco, "labelme": read_labelme, "paddleocr": read_paddleocr, "doctr": read_doctr,
}
WRITERS: dict[str, Callable[[Dataset, Path], list[str]]] = {
    "icdar": write_icdar, "coco": write_coco, "labelme": write_labelme, "paddleocr": write_paddleocr, "doctr": write_doctr,
}


def read_dataset(fmt: str, source: str | os.PathLike, *, split: str | None = None, images: str | os.PathLike | None = None,
                 polygon_points: int | str = 4) -> Dataset:
    """Read every split of ``source`` in format ``fmt`` (see the module docstring for the layouts).

    Args:
        fmt: One of :data:`FORMATS`.
        source: The file or folder.
        split: Split name of a source that holds one split only.
        images: Folder the image paths of a COCO or PaddleOCR file are relative to (default:
            as described in the module docstring).
        polygon_points: ICDAR: vertices per line, ``4`` or ``"auto"``.

    Returns:
        ``{split: records}``, records sorted by image name; vertices ``(N, 2)`` float64 pixels.

    Raises:
        ValueError: unknown format, or two images of a split with the same name.
        FileNotFoundError: nothing of that format at ``source``, or a missing image.
        AnnotationError: a malformed file, line or item (names the file, the line when there is
            one, and the item).
    """
    if fmt not in READERS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return READERS[fmt](Path(source), split=split, images=Path(images) if images else None, polygon_points=polygon_points)


def write_dataset(fmt: str, dataset: Dataset, dest: str | os.PathLike) -> dict[str, Any]:
    """Write ``dataset`` in format ``fmt`` into the folder ``dest`` (created; must be empty or absent).

    Every file is written atomically; images are copied byte for byte.

    Returns:
        ``{"splits": {split: {"images": n, "regions": n, "dont_care": n}}, "notes": [...]}``:
        the counts written, and what the format could not hold as it was (``file:line: what``).

    Raises:
        ValueError: unknown format, or data the format cannot hold (see the writers).
        FileExistsError: ``dest`` exists and is not an empty folder.
    """
    if fmt not in WRITERS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"{dest}: exists and is not an empty folder; choose a new output folder")
    dest.mkdir(parents=True, exist_ok=True)
    notes = WRITERS[fmt](dataset, dest)
    splits = {split: {"images": len(records), "regions": sum(len(r.regions) for r in records),
                      "dont_care": sum(x.dont_care for r in records for x in r.regions)}
              for split, records in dataset.items()}
    return {"splits": splits, "notes": notes}


def convert(source: str | os.PathLike, dest: str | os.PathLike, from_format: str, to_format: str, **read_options: Any
            ) -> dict[str, Any]:
    """Read ``source`` as ``from_format`` and write it to ``dest`` as ``to_format``
    (:func:`read_dataset` options; :func:`write_dataset` return value and errors)."""
    return write_dataset(to_format, read_dataset(from_format, source, **read_options), dest)
