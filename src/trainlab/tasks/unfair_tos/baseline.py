"""The CLAUDETTE baseline: TF-IDF n-grams and a linear SVM per label (scikit-learn).

Lippi et al. 2019 ("CLAUDETTE: an automated detector of potentially unfair clauses in online
terms of service", AI and Law 27, Sec. 5) classify sentences with an SVM over bag-of-words
n-gram features; here unigrams and bigrams weighted by TF-IDF (sublinear term frequency),
``sklearn.svm.LinearSVC`` one-vs-rest per label, class-balanced weights. It is trained on the
same training documents as the network; its per-class thresholds on the SVM margin are chosen
on the same validation documents to maximise macro-F1 (:func:`~.metrics.tune_thresholds_for_macro_f1`,
starting from margin 0), margin 0 otherwise.
"""

from __future__ import annotations

import resource
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from trainlab.tasks.unfair_tos.metrics import apply_thresholds, classification_report, tune_thresholds_for_macro_f1


@dataclass
class SvmBaseline:
    """TF-IDF + linear SVM, one binary SVM per label.

    Args:
        ngram_range: Word n-gram range of the TF-IDF features.
        min_df: Minimum document frequency (in training sentences) of a feature.
        C: SVM regularisation (inverse strength).
        class_weight: ``balanced`` or ``None`` (``LinearSVC``'s option).

    Shapes: texts ``N`` strings; labels ``(N, K)`` int 0/1; :meth:`decision` ``(N, K)`` float64 margins.
    """

    ngram_range: tuple[int, int] = (1, 2)
    min_df: int = 1
    C: float = 1.0
    class_weight: str | None = "balanced"
    vectorizer: TfidfVectorizer | None = field(default=None, init=False)
    svms: list[LinearSVC | float] = field(default_factory=list, init=False)

    def fit(self, texts: Sequence[str], labels: np.ndarray) -> SvmBaseline:
        """Fit the features and one SVM per label column (a column without positives predicts never)."""
        labels = np.asarray(labels).reshape(len(texts), -1)
        self.vectorizer = TfidfVectorizer(ngram_range=tuple(self.ngram_range), min_df=self.min_df, sublinear_tf=True)
        features = self.vectorizer.fit_transform(texts)
        self.svms = []
        for k in range(labels.shape[1]):
            if labels[:, k].min() == labels[:, k].max():
                self.svms.append(1.0 if labels[0, k] else -1.0)  # constant margin: one class only
                continue
            self.svms.append(LinearSVC(C=self.C, class_weight=self.class_weight, random_state=0).fit(features, labels[:, k]))
        return self

    def decision(self, texts: Sequence[str]) -> np.ndarray:
        """SVM margins ``(N, K)``; positive means the label is predicted at threshold 0."""
        if self.vectorizer is None:
            raise RuntimeError("SvmBaseline.decision before fit")
        features = self.vectorizer.transform(texts)
        columns = [svm.decision_function(features) if isinstance(svm, LinearSVC) else np.full(features.shape[0], svm)
                   for svm in self.svms]
        return np.stack(columns, axis=1)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def evaluate_baseline(splits: Mapping[str, tuple[Sequence[str], np.ndarray]], names: Sequence[str],
                      baseline: SvmBaseline | None = None, tune: bool = True) -> dict[str, Any]:
    """Train on ``train``, choose thresholds on ``val``, report on ``test``.

    Args:
        splits: ``{"train"|"val"|"test": (texts, labels (N, K) 0/1)}``.
        names: The ``K`` label names.
        baseline: The model (default :class:`SvmBaseline`).
        tune: Choose per-class margin thresholds on ``val``; else 0.

    Returns:
        ``{"test": report at the chosen thresholds, "test_default": report at margin 0,
        "thresholds": [K floats], "cpu_seconds": fit + predict CPU time}`` (reports as in
        :func:`~.metrics.classification_report`).
    """
    baseline = baseline or SvmBaseline()
    start = cpu_seconds()
    baseline.fit(*splits["train"])
    thresholds = [0.0] * len(names)
    if tune and len(splits["val"][0]):
        thresholds = tune_thresholds_for_macro_f1(splits["val"][1], baseline.decision(splits["val"][0]), names,
                                                  thresholds)
    margins = baseline.decision(splits["test"][0])
    gold = np.asarray(splits["test"][1]).reshape(len(margins), -1)
    return {"test": classification_report(gold, apply_thresholds(margins, thresholds), names),
            "test_default": classification_report(gold, apply_thresholds(margins, [0.0] * len(names)), names),
            "thresholds": thresholds, "cpu_seconds": cpu_seconds() - start}
