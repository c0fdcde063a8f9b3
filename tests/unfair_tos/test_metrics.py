"""The LexGLUE-style metric against scikit-learn and hand counts; threshold search against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score

from trainlab.tasks.unfair_tos.metrics import (
    apply_thresholds,
    best_f1_threshold,
    classification_report,
    tune_thresholds,
    tune_thresholds_for_macro_f1,
)

NAMES = ("a", "b", "c")


def _random_labels(seed: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gold = (rng.random((n, 3)) < [0.1, 0.05, 0.2]).astype(int)
    flip = rng.random((n, 3)) < 0.15
    return gold, np.where(flip, 1 - gold, gold)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_micro_and_macro_f1_follow_lexglue_with_the_implicit_fair_class(seed):
    gold, predicted = _random_labels(seed)
    report = classification_report(gold, predicted, NAMES)
    fair_gold, fair_pred = ~gold.any(axis=1), ~predicted.any(axis=1)
    # Micro-F1 by hand: counts pooled over the three labels and the fair column.
    tp = (gold & predicted).sum() + (fair_gold & fair_pred).sum()
    fp = ((1 - gold) & predicted).sum() + (~fair_gold & fair_pred).sum()
    fn = (gold & (1 - predicted)).sum() + (fair_gold & ~fair_pred).sum()
    assert report["micro_f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    # Macro-F1: the mean of scikit-learn's per-column binary F1, fair included.
    per_column = [f1_score(gold[:, k], predicted[:, k]) for k in range(3)] + [f1_score(fair_gold, fair_pred)]
    assert report["macro_f1"] == pytest.approx(np.mean(per_column))
    assert report["f1_b"] == pytest.approx(per_column[1]) and report["f1_fair"] == pytest.approx(per_column[3])
    assert report["precision_c"] == pytest.approx(precision_score(gold[:, 2], predicted[:, 2]))
    assert report["binary_f1"] == pytest.approx(f1_score(gold.any(axis=1), predicted.any(axis=1)))
    assert report["support_a"] == gold[:, 0].sum()


def test_a_label_never_present_nor_predicted_scores_zero_as_in_lexglue():
    gold = np.array([[1, 0], [0, 0], [0, 0]])
    report = classification_report(gold, gold.copy(), ("x", "y"))
    assert report["f1_x"] == 1.0 and report["f1_y"] == 0.0 and report["f1_fair"] == 1.0
    assert report["macro_f1"] == pytest.approx(2 / 3) and report["micro_f1"] == 1.0
    with pytest.raises(ValueError, match=r"must both be \(N, 2\)"):
        classification_report(gold, gold[:, :1], ("x", "y"))


@pytest.mark.parametrize("seed", [3, 4, 5, 6])
def test_threshold_search_finds_the_best_f1_of_a_brute_force_search(seed):
    rng = np.random.default_rng(seed)
    gold = (rng.random(200) < 0.15).astype(int)
    scores = np.round(np.clip(gold * 0.3 + rng.random(200) * 0.7, 0, 1), 2)  # ties included
    threshold, best = best_f1_threshold(gold, scores)
    brute = max(f1_score(gold, scores >= t, zero_division=0) for t in np.unique(scores))
    assert best == pytest.approx(brute)
    assert f1_score(gold, scores >= threshold) == pytest.approx(brute)
    assert threshold not in set(scores.tolist())


def test_thresholds_apply_per_class_and_default_without_positives():
    gold = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
    scores = np.array([[0.9, 0.8], [0.4, 0.1], [0.6, 0.3], [0.2, 0.2]])
    thresholds = tune_thresholds(gold, scores)
    assert thresholds[1] == 0.5  # no positive for the second label: the default stays
    assert 0.4 < thresholds[0] <= 0.6
    np.testing.assert_array_equal(apply_thresholds(scores, thresholds), [[1, 1], [0, 0], [1, 0], [0, 0]])


def test_macro_f1_thresholds_never_score_below_their_start_or_the_per_class_ones():
    rng = np.random.default_rng(3)
    names = ["a", "b", "c"]
    gold = (rng.random((300, 3)) < [0.05, 0.1, 0.03]).astype(int)
    scores = np.clip(gold * 0.35 + rng.random((300, 3)) * 0.7, 0, 1)
    start = [0.5, 0.5, 0.5]

    def macro(thresholds):
        return classification_report(gold, apply_thresholds(scores, thresholds), names)["macro_f1"]

    chosen = tune_thresholds_for_macro_f1(gold, scores, names, start)
    assert macro(chosen) >= macro(start) and macro(chosen) >= macro(tune_thresholds(gold, scores))
    # A class changes only where it raises macro-F1: already optimal thresholds stay.
    assert tune_thresholds_for_macro_f1(gold, scores, names, chosen) == chosen
