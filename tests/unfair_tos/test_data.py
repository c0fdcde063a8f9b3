"""The datamodule on the embedded slice: fold isolation, fingerprint, truncation, length-grouped batches."""

from __future__ import annotations

import pytest

from trainlab.tasks.unfair_tos.data import LengthGroupedBatchSampler, UnfairTosDataModule


@pytest.fixture(scope="module")
def data(tos_mini):
    module = UnfairTosDataModule(str(tos_mini), fold=2, val_documents=1, labels="lexglue", max_sequence_length=32,
                                 negative_ratio=1.0, batch_size=8, eval_batch_size=16, seed=3)
    module.setup()
    return module


def test_no_document_is_in_two_splits_and_the_fingerprint_says_which(data):
    documents = {split: {s.document for s in data.dataset(split).sentences} for split in ("train", "val", "test")}
    assert documents["test"] == {"Mozilla"}  # fold 2 of the slice tests on its third document
    assert not (documents["train"] & documents["val"]) and len(documents["val"]) == 1
    print_ = data.fingerprint()
    assert print_["fold"] == 2 and print_["documents"]["test"] == ["Mozilla"]
    assert set(print_["documents"]["train"]) == documents["train"] and len(print_["sha256"]) == 64
    assert print_["splits"]["test"]["sentences"] == 108 and print_["labels"] == "lexglue"
    assert sum(print_["splits"][s]["sentences"] for s in ("train", "val", "test")) == 759
    assert UnfairTosDataModule(data.root, fold=3, val_documents=1).fingerprint()["sha256"] == print_["sha256"], \
        "the same five documents, another fold: same files"


def test_long_sentences_are_truncated_keeping_the_closing_token(data):
    train = data.dataset("train")
    assert max(train.lengths()) == 32 and data.truncated["train"] > 0
    sep = data.tokenizer.sep_token_id
    assert all(ids[-1] == sep and ids[0] == data.tokenizer.cls_token_id for ids in train.input_ids)


def test_each_epoch_keeps_every_positive_and_draws_new_negatives(data):
    train = data.dataset("train")
    positive = train.labels.any(axis=1)
    sampler = data.train_dataloader().batch_sampler
    epochs = []
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        chosen = [i for batch in batches for i in batch]
        assert len(chosen) == len(set(chosen)) == 2 * positive.sum()
        assert {i for i in chosen if positive[i]} == set(positive.nonzero()[0])
        epochs.append(chosen)
    assert set(epochs[0]) != set(epochs[1])
    sampler.set_epoch(0)
    assert [i for batch in sampler for i in batch] == epochs[0], "an epoch's sample is fixed by seed and epoch"
    # Length grouping: batches are far more uniform than a random cut would be.
    lengths = train.lengths()
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in sampler) / len(sampler)
    assert spread < 4


def test_a_padded_batch_carries_labels_and_indices(data):
    batch = next(iter(data.val_dataloader()))
    assert batch["input_ids"].shape == batch["attention_mask"].shape and batch["labels"].shape[1] == 8
    assert batch["input_ids"].shape[0] == 16 and batch["index"].dtype.is_floating_point is False


def test_evaluation_batches_cover_every_sentence_once():
    sampler = LengthGroupedBatchSampler([5, 1, 9, 3, 7], [True, False, False, True, False], 2, negative_ratio=0.0,
                                        shuffle=False)
    assert list(sampler) == [[2, 4], [0, 3], [1]]
    with pytest.raises(ValueError, match="negative_ratio must be >= 0"):
        LengthGroupedBatchSampler([1], [True], 2, negative_ratio=-1)


def test_the_label_prior_is_each_labels_share_of_an_epochs_draw(data):
    train = data.dataset("train")
    sampler = data.train_dataloader().batch_sampler
    sampler.set_epoch(0)
    drawn = [i for batch in sampler for i in batch]
    assert data.label_prior() == pytest.approx(train.labels[drawn].mean(axis=0))
    # Under-sampling the fair sentences raises every label's share above its share in the documents.
    assert (data.label_prior() >= train.labels.mean(axis=0)).all()
    assert (data.label_prior() > train.labels.mean(axis=0)).any()
