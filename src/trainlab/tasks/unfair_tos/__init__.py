"""Unfair-clause classification of Terms-of-Service sentences (CLAUDETTE corpus, LexGLUE UNFAIR-ToS labels).

A fine-tuned transformer encoder (all-MiniLM-L6-v2 by default, from a local folder or the
package that ships it) and the corpus authors' TF-IDF + linear SVM baseline
(:mod:`.baseline`), on the authors' 5 document-level folds. ``corpus`` and ``metrics`` are
plain Python/NumPy/scikit-learn, testable without a model.
"""

from trainlab.engine.task import Task

TASK = Task(
    name="unfair_tos",
    summary="unfair-clause classification of ToS sentences (fine-tuned MiniLM, TF-IDF + SVM baseline); "
            "LexGLUE micro/macro-F1, binary unfair F1",
    module="trainlab.tasks.unfair_tos.module.UnfairTosModule",
    datamodule="trainlab.tasks.unfair_tos.data.UnfairTosDataModule",
    requires=("transformers", "sklearn"),
    extra="unfair_tos",
)
