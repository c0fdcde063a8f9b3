"""Metrics of unfair-clause classification and per-class decision thresholds.

The LexGLUE convention (Chalkidis et al. 2022, "LexGLUE: A Benchmark Dataset for Legal
Language Understanding in English", ACL, Sec. 4; their ``experiments/unfair_tos.py``): the
label matrix gets one more column, the implicit "fair" class, which is 1 where a sentence
has no label, in gold and prediction alike; micro- and macro-F1 are
``sklearn.metrics.f1_score`` over all ``K + 1`` columns (``zero_division=0``). With the binary
label set the same construction gives the two classes fair and unfair. The binary
unfair-clause F1 is the F1 of "any label" (for the binary label set, of the unfair class).

Thresholds (Fan & Lin 2007, "A study on threshold selection for multi-label classification",
the SCut strategy): each class gets the score threshold that maximises its own F1 on the
validation split; a class without validation positives keeps the default.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import f1_score, precision_recall_fscore_support

FAIR = "fair"


def with_fair_column(labels: np.ndarray) -> np.ndarray:
    """``(N, K)`` 0/1 labels -> ``(N, K + 1)`` int64, the last column 1 where a row has no label."""
    labels = np.asarray(labels).astype(np.int64).reshape(len(labels), -1)
    return np.concatenate([labels, (labels.sum(axis=1) == 0)[:, None].astype(np.int64)], axis=1)


def classification_report(gold: np.ndarray, predicted: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """Every figure of a split, from 0/1 label matrices.

    Args:
        gold: ``(N, K)`` int 0/1 gold labels.
        predicted: ``(N, K)`` int 0/1 predicted labels.
        names: The ``K`` label names.

    Returns:
        ``micro_f1``, ``macro_f1`` (LexGLUE: over the K labels and the implicit fair class),
        ``binary_f1`` (any label vs none, the unfair-clause detector's F1), and per class
        ``precision_<name>``, ``recall_<name>``, ``f1_<name>``, ``support_<name>`` (the fair
        class included); all floats, F1 and co. in ``[0, 1]``.

    Raises:
        ValueError: shapes differ or do not match ``names``.
    """
    gold, predicted = np.asarray(gold), np.asarray(predicted)
    if gold.shape != predicted.shape or gold.ndim != 2 or gold.shape[1] != len(names):
        raise ValueError(f"gold {gold.shape} and predicted {predicted.shape} must both be (N, {len(names)})")
    full_gold, full_pred = with_fair_column(gold), with_fair_column(predicted)
    report = {
        "micro_f1": float(f1_score(full_gold, full_pred, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(full_gold, full_pred, average="macro", zero_division=0)),
        "binary_f1": float(f1_score(gold.any(axis=1), predicted.any(axis=1), zero_division=0)),
    }
    precision, recall, f1, support = precision_recall_fscore_support(full_gold, full_pred, average=None, zero_division=0)
    for index, name in enumerate([*names, FAIR]):
        report[f"precision_{name}"] = float(precision[index])
        report[f"recall_{name}"] = float(recall[index])
        report[f"f1_{name}"] = float(f1[index])
        report[f"support_{name}"] = float(support[index])
    return report


def best_f1_threshold(gold: np.ndarray, scores: np.ndarray, default: float = 0.5) -> tuple[float, float]:
    """The score threshold that maximises F1 of one class (predict positive when ``score >= t``).

    Every distinct score is a candidate; the threshold returned is the midpoint between the
    chosen score and the next lower one, so it does not sit on a training-set value. Ties
    go to the candidate closest to ``default``.

    Args:
        gold: ``(N,)`` 0/1 labels.
        scores: ``(N,)`` float scores (probabilities or SVM margins).
        default: Returned (with its F1) when ``gold`` has no positive.

    Returns:
        ``(threshold, f1 at that threshold)``.
    """
    gold = np.asarray(gold).astype(bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if not gold.any():
        return float(default), float(f1_score(gold, scores >= default, zero_division=0))
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_gold = scores[order], gold[order]
    # Predicting the top i+1 scores positive: true positives and predictions at each distinct cut.
    last = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    tp = np.cumsum(sorted_gold)[last]
    predicted = (np.arange(len(scores)) + 1)[last]
    f1 = 2 * tp / (predicted + gold.sum())
    cut_scores = sorted_scores[last]
    below = np.r_[cut_scores[1:], cut_scores[-1] - 1.0]
    thresholds = (cut_scores + below) / 2
    best = np.flatnonzero(np.isclose(f1, f1.max()))
    chosen = best[np.argmin(np.abs(thresholds[best] - default))]
    return float(thresholds[chosen]), float(f1[chosen])


def tune_thresholds(gold: np.ndarray, scores: np.ndarray, default: float = 0.5) -> list[float]:
    """Per-class thresholds (:func:`best_f1_threshold`) for ``(N, K)`` gold labels and scores."""
    gold, scores = np.asarray(gold).reshape(len(gold), -1), np.asarray(scores).reshape(len(scores), -1)
    return [best_f1_threshold(gold[:, k], scores[:, k], default)[0] for k in range(gold.shape[1])]


def tune_thresholds_for_macro_f1(gold: np.ndarray, scores: np.ndarray, names: Sequence[str],
                                 start: Sequence[float], rounds: int = 3) -> list[float]:
    """Thresholds that maximise the data set's macro-F1 (LexGLUE's, implicit "fair" class included).

    Coordinate ascent: starting from ``start``, each class in turn takes the candidate threshold
    (its own F1-optimal one, :func:`best_f1_threshold`, and every midpoint between its distinct
    scores) that gives the highest overall macro-F1 with the other classes fixed, for ``rounds``
    passes or until nothing changes. Tuning each class on its own F1 ignores the fair column,
    which depends on all thresholds at once, and measurably lowered macro-F1 on few validation
    positives. The result never scores below ``start`` on the data it was tuned on.

    Args:
        gold: ``(N, K)`` 0/1 labels; scores: ``(N, K)`` scores; names: the K class names;
        start: ``(K,)`` starting thresholds (e.g. the configured ones).

    Returns:
        ``(K,)`` thresholds.
    """
    gold, scores = np.asarray(gold).reshape(len(gold), -1), np.asarray(scores).reshape(len(scores), -1)
    thresholds = [float(t) for t in start]

    def macro(values: Sequence[float]) -> float:
        return classification_report(gold, apply_thresholds(scores, values), names)["macro_f1"]

    best = macro(thresholds)
    for _ in range(rounds):
        changed = False
        for k in range(gold.shape[1]):
            distinct = np.unique(scores[:, k])
            candidates = {best_f1_threshold(gold[:, k], scores[:, k], thresholds[k])[0],
                          *((distinct[1:] + distinct[:-1]) / 2).tolist()}
            if len(candidates) > 64:  # a grid over the score quantiles keeps this cheap
                candidates = {*np.quantile(scores[:, k], np.linspace(0.5, 1.0, 64)).tolist(),
                              best_f1_threshold(gold[:, k], scores[:, k], thresholds[k])[0]}
            for candidate in sorted(candidates):
                trial = thresholds[:k] + [float(candidate)] + thresholds[k + 1:]
                value = macro(trial)
                if value > best + 1e-12:
                    best, thresholds, changed = value, trial, True
        if not changed:
            break
    return thresholds


def apply_thresholds(scores: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """``(N, K)`` scores -> ``(N, K)`` int64 0/1 predictions (``score >= threshold`` per class)."""
    scores = np.asarray(scores).reshape(len(scores), -1)
    return (scores >= np.asarray(thresholds, dtype=np.float64)[None, :]).astype(np.int64)
