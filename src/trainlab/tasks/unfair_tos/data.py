"""Datamodule of unfair-clause classification: a fold of the ToS corpus, tokenized, in length-grouped batches."""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from trainlab.engine.datamodule import SPLITS, TaskDataModule, check_split
from trainlab.tasks.unfair_tos.corpus import (
    Fold,
    LabelSet,
    Sentence,
    corpus_digest,
    label_counts,
    read_fold,
    read_unfair_tags,
    split_sentences,
)
from trainlab.tasks.unfair_tos.encoder import load_tokenizer

log = logging.getLogger(__name__)


class SentenceDataset(Dataset):
    """Tokenized sentences and their labels.

    Items: ``{"input_ids": list[int] (at most max_sequence_length ids, special tokens
    included), "labels": float32 tensor (K,), "index": int}``.
    """

    def __init__(self, sentences: Sequence[Sentence], input_ids: Sequence[Sequence[int]], labels: np.ndarray):
        self.sentences = list(sentences)
        self.input_ids = [list(ids) for ids in input_ids]
        self.labels = np.asarray(labels, dtype=np.int64).reshape(len(self.sentences), -1)

    def __len__(self) -> int:
        return len(self.sentences)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"input_ids": self.input_ids[index], "labels": torch.tensor(self.labels[index], dtype=torch.float32),
                "index": index}

    def lengths(self) -> list[int]:
        """Token count of each sentence (after truncation)."""
        return [len(ids) for ids in self.input_ids]


class PadCollator:
    """Pads a list of items to the longest one with the tokenizer (``tokenizer.pad``).

    Returns a batch ``{"input_ids": (B, T) int64, "attention_mask": (B, T) int64, "labels":
    (B, K) float32, "index": (B,) int64}`` (``token_type_ids`` too when the tokenizer has them).
    """

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = dict(self.tokenizer.pad({"input_ids": [item["input_ids"] for item in items]}, return_tensors="pt"))
        batch["labels"] = torch.stack([item["labels"] for item in items])
        batch["index"] = torch.tensor([item["index"] for item in items], dtype=torch.int64)
        return batch


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Batches of sentences of similar length, optionally with a fresh sample of negatives per epoch.

    Each epoch: all positive sentences (any label) and, with ``negative_ratio``, a random
    ``negative_ratio x positives`` of the negatives (all of them otherwise) are shuffled,
    cut into groups of ``group_batches`` batches, sorted by length inside each group, cut into
    batches, and the batches shuffled (the "group by length" of Hugging Face's Trainer: less
    padding, random order). Negative subsampling per epoch is random under-sampling of the
    majority class (He & Garcia 2009, "Learning from Imbalanced Data", Sec. 3.1.1), drawn anew
    each epoch so that every negative is seen over a run.

    Args:
        lengths: Token count per sentence.
        positive: Whether each sentence has a label.
        batch_size: Sentences per batch.
        negative_ratio: Negatives per positive per epoch; ``None``: every sentence, every epoch.
        shuffle: Random order (training); ``False``: batches sorted by length, fixed (evaluation).
        seed: Base seed; epoch ``e`` uses ``seed + e``.
        group_batches: Batches per length-sorting group.

    Raises:
        ValueError: a non-positive ``batch_size`` or a negative ``negative_ratio``.
    """

    def __init__(self, lengths: Sequence[int], positive: Sequence[bool], batch_size: int,
                 negative_ratio: float | None = None, shuffle: bool = True, seed: int = 0, group_batches: int = 50):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if negative_ratio is not None and negative_ratio < 0:
            raise ValueError(f"data.negative_ratio must be >= 0 or null, got {negative_ratio}")
        self.lengths = list(lengths)
        self.positive = [i for i, p in enumerate(positive) if p]
        self.negative = [i for i, p in enumerate(positive) if not p]
        self.batch_size, self.shuffle, self.seed = int(batch_size), bool(shuffle), int(seed)
        self.group = max(1, int(group_batches)) * self.batch_size
        self.negatives_per_epoch = len(self.negative) if negative_ratio is None or not shuffle else \
            min(len(self.negative), round(negative_ratio * len(self.positive)))
        self.epoch = 0
        self.sampler = self  # Lightning calls ``batch_sampler.sampler.set_epoch(epoch)`` before each epoch

    def set_epoch(self, epoch: int) -> None:
        """Draw epoch ``epoch``'s sample and order next (Lightning calls it before each epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return math.ceil((len(self.positive) + self.negatives_per_epoch) / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        if not self.shuffle:
            order = sorted(range(len(self.lengths)), key=lambda i: (-self.lengths[i], i))
            yield from (order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size))
            return
        rng = random.Random(self.seed + self.epoch)
        self.epoch += 1
        chosen = self.positive + rng.sample(self.negative, self.negatives_per_epoch)
        rng.shuffle(chosen)
        batches = []
        for start in range(0, len(chosen), self.group):
            group = sorted(chosen[start:start + self.group], key=lambda i: -self.lengths[i])
            batches.extend(group[i:i + self.batch_size] for i in range(0, len(group), self.batch_size))
        rng.shuffle(batches)
        yield from batches


class UnfairTosDataModule(TaskDataModule):
    """One fold of the ToS corpus (:mod:`.corpus`): documents split as the authors' lists say,
    validation documents carved from the fold's training documents, sentences tokenized once.

    Args:
        root: Corpus folder (``sentences/``, ``tags/``, ``lists/``, optional ``list_tags.txt``).
        fold: The cross-validation fold, 0 .. 4 (``LIST_TRAIN_<fold>`` / ``LIST_TEST_<fold>``).
        val_documents: Training documents held out for validation: a count (seeded choice) or names.
        labels: Label set, ``lexglue`` (8 categories, multi-label) or ``binary`` (unfair or not).
        encoder: The encoder whose tokenizer is used (configs pass ``${model.encoder.name}``).
        max_sequence_length: Tokens per sentence, special tokens included; longer ones are truncated.
        negative_ratio: Fair sentences per unfair one drawn for each training epoch; ``null``: all.
        group_by_length: Training batches of similar lengths (less padding); else plain shuffling.
        batch_size, eval_batch_size, num_workers: Loader settings (:class:`TaskDataModule`).
        seed: Seed of the validation choice and of the batch order.

    Raises:
        ValueError: a bad fold, label set or validation choice (at ``setup``).
        FileNotFoundError, CorpusError: missing or malformed corpus files, file and line named (at ``setup``).
    """

    # Each fold tests on its own documents (cross-validation over the corpus): a fold ensemble has
    # no test split that none of its members trained on.
    folds_partition_test = True

    def __init__(self, root: str, fold: int = 0, val_documents: int | Sequence[str] = 4, labels: str = "lexglue",
                 encoder: str = "all-MiniLM-L6-v2", max_sequence_length: int = 128,
                 negative_ratio: float | None = None, group_by_length: bool = True, batch_size: int = 32,
                 eval_batch_size: int | None = 64, num_workers: int = 0, seed: int = 42, n_folds: int | None = None):
        super().__init__(batch_size=batch_size, num_workers=num_workers, eval_batch_size=eval_batch_size)
        if n_folds is not None and int(n_folds) != 5:
            raise ValueError(f"data.n_folds={n_folds}: the corpus comes with the authors' 5 folds (lists/LIST_TEST_0..4)")
        self.root = Path(root).expanduser()
        self.fold_index = int(fold)
        self.val_documents = val_documents if isinstance(val_documents, int) else list(val_documents)
        self.label_set_name = labels
        self.encoder = encoder
        self.max_sequence_length = int(max_sequence_length)
        self.negative_ratio = None if negative_ratio is None else float(negative_ratio)
        self.group_by_length = bool(group_by_length)
        self.seed = int(seed)
        self.fold: Fold | None = None
        self.label_set: LabelSet | None = None
        self.tokenizer: Any = None
        self._datasets: dict[str, SentenceDataset] = {}
        self.truncated: dict[str, int] = {}

    def setup(self, stage: str | None = None) -> None:
        """Read the fold's documents, encode labels and tokenize (idempotent)."""
        if self._datasets:
            return
        if not self.root.is_dir():
            raise FileNotFoundError(f"data.root not found: {self.root}")
        self.fold = read_fold(self.root, self.fold_index, self.val_documents, self.seed)
        self.label_set = LabelSet(self.label_set_name, read_unfair_tags(self.root))
        self.tokenizer = load_tokenizer(self.encoder)
        for split, sentences in split_sentences(self.root, self.fold).items():
            encoded = self.tokenizer([s.text for s in sentences], truncation=False, add_special_tokens=True)["input_ids"]
            self.truncated[split] = sum(len(ids) > self.max_sequence_length for ids in encoded)
            ids = [self._truncate(seq) for seq in encoded]
            labels = np.array([self.label_set.encode(s) for s in sentences], dtype=np.int64).reshape(len(sentences), -1)
            self._datasets[split] = SentenceDataset(sentences, ids, labels)
        log.info("fold %d: %s", self.fold_index, {s: len(d) for s, d in self._datasets.items()})

    def _truncate(self, ids: list[int]) -> list[int]:
        """Keep the first tokens and the final special token (as the tokenizer's ``truncation=True`` does)."""
        if len(ids) <= self.max_sequence_length:
            return ids
        return ids[: self.max_sequence_length - 1] + ids[-1:]

    def dataset(self, split: str) -> SentenceDataset:
        """The tokenized sentences of ``"train"``, ``"val"`` or ``"test"``."""
        self.setup()
        return self._datasets[check_split(split)]

    def label_names(self) -> tuple[str, ...]:
        """The label set's names (``("unfair",)`` or the eight LexGLUE categories)."""
        self.setup()
        return self.label_set.names

    def label_prior(self) -> np.ndarray:
        """Share of the training items of one epoch that carry each label, as the training loader draws them.

        With ``negative_ratio`` every positive sentence and ``negative_ratio`` x as many negatives
        (no label) are drawn per epoch (:class:`LengthGroupedBatchSampler`), so label ``k``'s share
        is ``positives_k / (positives + negatives per epoch)``, above its share in the documents;
        without it, its share in the training documents.

        Returns:
            ``(K,)`` float64 in ``[0, 1]`` (``K`` = number of labels).
        """
        labels = self.dataset("train").labels
        positive = int(labels.any(axis=1).sum())
        negative = len(labels) - positive
        if self.negative_ratio is not None and self.group_by_length:
            negative = min(negative, round(self.negative_ratio * positive))
        return labels.sum(axis=0).astype(np.float64) / max(1, positive + negative)

    def loader(self, split: str, shuffle: bool = False) -> DataLoader:
        """Length-grouped batches (:class:`LengthGroupedBatchSampler`); the training split shuffles and subsamples negatives."""
        dataset = self.dataset(split)
        train = split == "train" and shuffle
        if train and not self.group_by_length:
            return DataLoader(dataset, batch_size=self.batch_size, shuffle=True, num_workers=self.num_workers,
                              collate_fn=PadCollator(self.tokenizer))
        sampler = LengthGroupedBatchSampler(
            dataset.lengths(), dataset.labels.any(axis=1), self.batch_size if train else self.eval_batch_size,
            negative_ratio=self.negative_ratio if train else None, shuffle=train, seed=self.seed)
        return DataLoader(dataset, batch_sampler=sampler, num_workers=self.num_workers,
                          collate_fn=PadCollator(self.tokenizer))

    def fingerprint(self) -> dict[str, Any]:
        """What the run read: a SHA-256 over the fold's files, the fold and its document lists,
        per-split label counts and truncations, the label set and its unfair tags."""
        self.setup()
        documents = [name for split in SPLITS for name in getattr(self.fold, split)]
        return {
            "sha256": corpus_digest(self.root, documents),
            "root": str(self.root),
            "fold": self.fold_index,
            "documents": self.fold.as_dict(),
            "labels": self.label_set_name,
            "unfair_tags": sorted(self.label_set.unfair_tags),
            "max_sequence_length": self.max_sequence_length,
            "negative_ratio": self.negative_ratio,
            "splits": {split: {**label_counts(self._datasets[split].sentences, self.label_set),
                               "documents": len(getattr(self.fold, split)), "truncated": self.truncated[split]}
                       for split in SPLITS},
        }
