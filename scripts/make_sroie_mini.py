"""Build the embedded mini SROIE set (``src/trainlab/assets/sroie_mini``) from the shared SROIE 2019 subset.

Deterministic: receipts are taken at even strides through the sorted names of each split,
after dropping the known duplicates listed in the source's SOURCE.md (the train/test leak
and the within-split duplicate pairs). Each image is downscaled with ``INTER_AREA`` so its
long side is at most ``--max-side`` pixels and re-encoded as JPEG; annotation coordinates
are scaled by the same factor and rounded to integer pixels. Transcriptions are kept
verbatim; files are written as UTF-8 with LF endings.

Usage:
    python scripts/make_sroie_mini.py --source ../shared/data/sroie2019 \
        --dest src/trainlab/assets/sroie_mini
"""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

import cv2
import numpy as np

# Known duplicates inside the shared subset (see its SOURCE.md): drop one side of each.
EXCLUDED = {
    "train": {"X51007135247", "X51005301659"},  # = test X51006401853; = train X51005268262
    "test": {"X51006401853", "X51009447842"},  # = train X51007135247; = test X51005447842
}


def pick(names: list[str], count: int) -> list[str]:
    """``count`` names at even strides through ``names`` (sorted), first one included."""
    step = len(names) / count
    return [names[int(i * step)] for i in range(count)]


def convert(source: Path, dest: Path, split: str, name: str, max_side: int, quality: int) -> dict:
    image = cv2.imread(str(source / "images" / split / f"{name}.jpg"), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise FileNotFoundError(source / "images" / split / f"{name}.jpg")
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale < 1.0:
        image = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    out_image = dest / "images" / split / f"{name}.jpg"
    out_image.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_image), image, [cv2.IMWRITE_JPEG_QUALITY, quality])

    raw = (source / "annotations" / split / f"{name}.txt").read_bytes().decode("utf-8-sig", errors="replace")
    lines = []
    for line in raw.splitlines():
        line = line.rstrip()
        if not line:
            continue
        fields = line.split(",", 8)
        coords = np.asarray([float(v) for v in fields[:8]]) * scale
        lines.append(",".join(str(int(round(v))) for v in coords) + "," + fields[8])
    out_ann = dest / "annotations" / split / f"{name}.txt"
    out_ann.parent.mkdir(parents=True, exist_ok=True)
    out_ann.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    return {
        "split": split,
        "name": name,
        "source_width": width,
        "source_height": height,
        "width": image.shape[1],
        "height": image.shape[0],
        "scale": round(scale, 6),
        "boxes": len(lines),
        "bytes": out_image.stat().st_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path("../shared/data/sroie2019"))
    parser.add_argument("--dest", type=Path, default=Path("src/trainlab/assets/sroie_mini"))
    parser.add_argument("--train", type=int, default=24)
    parser.add_argument("--test", type=int, default=8)
    parser.add_argument("--max-side", type=int, default=1600)
    parser.add_argument("--quality", type=int, default=85)
    args = parser.parse_args()

    for sub in ("images", "annotations"):
        shutil.rmtree(args.dest / sub, ignore_errors=True)
    rows = []
    for split, count in (("train", args.train), ("test", args.test)):
        names = sorted(p.stem for p in (args.source / "images" / split).glob("*.jpg"))
        names = [n for n in names if n not in EXCLUDED[split]]
        for name in pick(names, count):
            rows.append(convert(args.source, args.dest, split, name, args.max_side, args.quality))
    with open(args.dest / "MANIFEST.tsv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    total = sum(r["bytes"] for r in rows)
    print(f"{len(rows)} images, {sum(r['boxes'] for r in rows)} boxes, {total / 1e6:.2f} MB of JPEG")


if __name__ == "__main__":
    main()
