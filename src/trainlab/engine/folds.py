"""Grouped k-fold assignment, for any task: items that must stay together share a group, and
every group goes to exactly one fold.

Source: scikit-learn's ``GroupKFold`` (greedy: the largest groups first, each into the fold
with the fewest items so far), with the groups in a seeded random order before the size sort,
so that ties are broken differently per seed. Groups are built by :func:`union_groups` from
pairs of items that must not be separated (byte-identical or near-duplicate images, sentences
of one document...).
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Iterable, Mapping, Sequence


def union_groups(items: Sequence[Hashable], pairs: Iterable[tuple[Hashable, Hashable]]) -> dict[Hashable, int]:
    """Connected components of ``items`` under ``pairs`` (union-find): item -> group number.

    Groups are numbered in the order of their first item in ``items``.

    Raises:
        KeyError: a pair names an item not in ``items``.
    """
    parent = {item: item for item in items}

    def root(item: Hashable) -> Hashable:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[rb] = ra
    numbers: dict[Hashable, int] = {}
    return {item: numbers.setdefault(root(item), len(numbers)) for item in items}


def assign_folds(groups: Mapping[Hashable, int], n_folds: int, seed: int = 0) -> dict[Hashable, int]:
    """Give every item a fold in ``0 .. n_folds-1`` so that a group never straddles two folds.

    Args:
        groups: Item -> group number (e.g. from :func:`union_groups`).
        n_folds: Number of folds, at least 2.
        seed: Seed of the shuffle that orders groups of equal size.

    Returns:
        Item -> fold, with fold sizes (in items) as even as the groups allow.

    Raises:
        ValueError: ``n_folds`` < 2, or fewer groups than folds (a fold would be empty).
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    members: dict[int, list[Hashable]] = {}
    for item, group in groups.items():
        members.setdefault(group, []).append(item)
    if len(members) < n_folds:
        raise ValueError(f"{len(members)} groups of items cannot fill {n_folds} folds")
    order = sorted(members)
    random.Random(seed).shuffle(order)
    order.sort(key=lambda g: len(members[g]), reverse=True)  # stable: equal sizes keep the shuffled order
    sizes = [0] * n_folds
    folds: dict[Hashable, int] = {}
    for group in order:
        fold = min(range(n_folds), key=lambda f: (sizes[f], f))
        sizes[fold] += len(members[group])
        for item in members[group]:
            folds[item] = fold
    return folds
