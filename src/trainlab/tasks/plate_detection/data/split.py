"""A fixed, recorded train/val/test split: stratified by region, grouped by plate string.

The split is made once (:func:`make_split`), written to a json file that lives in the
repository (``tasks/plate_detection/splits/openalpr_e2e.json``) and read back by every run
(:func:`read_split_file`), so the test images never change with a seed or a library version.

Grouping: images that share a plate string (13 strings occur twice in the OpenALPR benchmark,
e.g. consecutive video frames) always land in the same split, so no test plate was seen in
training (grouped hold-out, as scikit-learn's ``GroupShuffleSplit``). Stratification: each
region (``us``, ``eu``) is split on its own with the same fractions, so every split holds
both in the data set's proportions (as ``StratifiedGroupKFold`` aims to).
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trainlab.engine.io import atomic_write_json
from trainlab.tasks.plate_detection.data.formats import BoxRecord

SPLIT_NAMES = ("train", "val", "test")


class SplitFileError(ValueError):
    """A split file that does not fit the data (names missing, unknown or listed twice)."""


def plate_groups(records: Sequence[BoxRecord]) -> list[list[BoxRecord]]:
    """Connected groups of records that share a plate string (records without text stand alone).

    Returns:
        Groups sorted by their first record's name, each sorted by name.
    """
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_with: dict[str, int] = {}
    for index, record in enumerate(records):
        for text in record.texts:
            if not text:
                continue
            if text in first_with:
                parent[find(index)] = find(first_with[text])
            else:
                first_with[text] = index
    groups: dict[int, list[BoxRecord]] = {}
    for index, record in enumerate(records):
        groups.setdefault(find(index), []).append(record)
    return sorted((sorted(g, key=lambda r: r.name) for g in groups.values()), key=lambda g: g[0].name)


def make_split(records: Sequence[BoxRecord], fractions: Sequence[float] = (0.7, 0.15, 0.15),
               seed: int = 0) -> dict[str, list[str]]:
    """Split records into train/val/test, stratified by ``record.group`` and grouped by plate string.

    Within each stratum the plate groups are shuffled with ``seed``; test is filled first, then
    validation, each until it holds ``round(fraction * images in the stratum)`` images (a group
    is never cut, so a split may hold one image more), the rest is train.

    Args:
        records: The annotated images.
        fractions: ``(train, val, test)`` fractions, positive, summing to 1.
        seed: Seed of the shuffle.

    Returns:
        ``{"train": names, "val": names, "test": names}``, each sorted.

    Raises:
        ValueError: fractions that are not three positive numbers summing to 1.
    """
    if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must be three positive numbers (train, val, test) summing to 1, got {fractions}")
    rng = random.Random(seed)
    split: dict[str, list[str]] = {name: [] for name in SPLIT_NAMES}
    for stratum in sorted({r.group for r in records}):
        groups = plate_groups([r for r in records if r.group == stratum])
        rng.shuffle(groups)
        total = sum(len(g) for g in groups)
        targets = {"test": round(fractions[2] * total), "val": round(fractions[1] * total)}
        counts = {"test": 0, "val": 0}
        for group in groups:
            target = next((name for name in ("test", "val") if counts[name] < targets[name]), "train")
            if target != "train":
                counts[target] += len(group)
            split[target].extend(r.name for r in group)
    return {name: sorted(names) for name, names in split.items()}


def write_split_file(path: str | os.PathLike, split: Mapping[str, Sequence[str]], **record: Any) -> Path:
    """Write a split (and what made it: ``record``, e.g. seed, fractions, source) as json, atomically."""
    return atomic_write_json(path, {**record, "splits": {name: list(split[name]) for name in SPLIT_NAMES}})


def read_split_file(path: str | os.PathLike, records: Sequence[BoxRecord]) -> dict[str, list[BoxRecord]]:
    """Assign records to splits by a split file.

    Raises:
        FileNotFoundError: no such file.
        SplitFileError: the file lacks a split, lists a name twice, names an image that was not
            read, or leaves a read image out (each named).
    """
    import json

    path = Path(path)
    data = json.loads(path.read_text())
    splits = data.get("splits") if isinstance(data, dict) else None
    if not isinstance(splits, dict) or any(not isinstance(splits.get(n), list) for n in SPLIT_NAMES):
        raise SplitFileError(f"{path}: expected {{'splits': {{'train': [...], 'val': [...], 'test': [...]}}}}")
    by_name = {r.name: r for r in records}
    seen: dict[str, str] = {}
    result: dict[str, list[BoxRecord]] = {}
    for split_name in SPLIT_NAMES:
        for name in splits[split_name]:
            if name in seen:
                raise SplitFileError(f"{path}: {name!r} is listed in {seen[name]} and in {split_name}")
            if name not in by_name:
                raise SplitFileError(f"{path}: {split_name} lists {name!r}, which is not in the data that was read")
            seen[name] = split_name
        result[split_name] = [by_name[n] for n in sorted(splits[split_name])]
    left_out = sorted(set(by_name) - set(seen))
    if left_out:
        raise SplitFileError(f"{path}: {len(left_out)} image(s) in no split, e.g. {', '.join(left_out[:5])}")
    return result
