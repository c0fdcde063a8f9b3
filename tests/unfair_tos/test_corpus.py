"""The corpus reader on real files: line alignment, trailing spaces, levels, metadata, folds by document."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from trainlab.tasks.unfair_tos.corpus import (
    CorpusError,
    LabelSet,
    Tag,
    read_document,
    read_fold,
    read_name_list,
    read_unfair_tags,
)


def test_sentences_and_tags_are_aligned_line_by_line(tos_mini):
    sentences = read_document(tos_mini, "Dropbox")
    raw_sentences = (tos_mini / "sentences" / "Dropbox.txt").read_text(encoding="utf-8").split("\n")[:-1]
    raw_tags = (tos_mini / "tags" / "Dropbox.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert len(sentences) == len(raw_sentences) == len(raw_tags) == 159
    tagged = [s for s in sentences if s.tags]
    # Each tagged sentence carries the tags of the same line number, and its own text.
    for sentence in tagged:
        assert sentence.text == raw_sentences[sentence.line - 1]
        assert [str(t) for t in sentence.tags] == raw_tags[sentence.line - 1].split()
    assert len(tagged) == sum(bool(line.strip()) for line in raw_tags) == 26
    # A known clause: Dropbox's arbitration agreement is tagged a2 on its own line.
    assert any(Tag("a", 2) in s.tags and "arbitration" in s.text.lower() for s in sentences)


def test_trailing_spaces_of_tag_lines_and_indentation_of_sentences_are_handled(tos_mini):
    raw = (tos_mini / "tags" / "Pinterest.txt").read_text(encoding="utf-8").split("\n")
    assert all(line.endswith(" ") for line in raw if line), "the corpus writes a space after the last tag"
    sentences = read_document(tos_mini, "Pinterest")
    assert all(str(tag) and " " not in str(tag) for s in sentences for tag in s.tags)
    indented = [s for s in read_document(tos_mini, "Mozilla") if s.text[:1].isspace()]
    assert len(indented) == 8 and all(s.text == s.text.rstrip("\n") for s in indented)


def test_levels_one_are_fair_and_countrym_is_metadata(tos_mini):
    unfair_tags = read_unfair_tags(tos_mini)
    assert "ltd1" not in unfair_tags and {"ltd2", "ltd3", "pinc2"} <= unfair_tags and len(unfair_tags) == 18
    binary, lexglue = LabelSet("binary", unfair_tags), LabelSet("lexglue", unfair_tags)
    sentences = [s for name in ("Dropbox", "Google", "Pinterest", "Rovio") for s in read_document(tos_mini, name)]
    level_one_only = [s for s in sentences if s.tags and all(t.level == 1 for t in s.tags)]
    assert level_one_only, "the slice holds fair-annotated clauses"
    assert all(binary.encode(s) == [0] and lexglue.encode(s) == [0] * 8 for s in level_one_only)
    country = [s for s in sentences if s.metadata]
    assert {m for s in country for m in s.metadata} == {"countrym"}
    assert all(binary.encode(s) == [0] for s in country if not s.tags)
    # pinc (privacy included) is unfair for the binary rule but not a LexGLUE category.
    pinc = [s for s in sentences if {str(t) for t in s.tags} == {"pinc2"}]
    assert pinc and all(binary.encode(s) == [1] and lexglue.encode(s) == [0] * 8 for s in pinc)
    assert lexglue.names[0] == "limitation_of_liability" and lexglue.names[-1] == "arbitration"


def test_bad_files_are_named_with_their_line(tmp_path, tos_mini):
    for folder in ("sentences", "tags"):
        (tmp_path / folder).mkdir()
        shutil.copy(tos_mini / folder / "Google.txt", tmp_path / folder / "Google.txt")
    tags = tmp_path / "tags" / "Google.txt"
    lines = tags.read_text(encoding="utf-8").split("\n")
    lines[4] = "ltd2 bogus7 "
    tags.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(CorpusError, match=r"tags/Google.txt:5: unknown tag 'bogus7'"):
        read_document(tmp_path, "Google")
    tags.write_text("\n".join(lines[:50]) + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"50 tag lines for 108 sentences"):
        read_document(tmp_path, "Google")
    (tmp_path / "list.txt").write_text("A.txt\nB.txt\nA.txt\n")
    with pytest.raises(CorpusError, match=r"list.txt:3: A is listed twice"):
        read_name_list(tmp_path / "list.txt")


def _check_folds(root: Path, documents: int, val_documents: int) -> None:
    tested = []
    for k in range(5):
        fold = read_fold(root, k, val_documents=val_documents, seed=7)
        train, val, test = set(fold.train), set(fold.val), set(fold.test)
        assert not (train & val or train & test or val & test)
        assert len(val) == val_documents and len(train | val | test) == documents
        # Validation comes from the fold's training list, never from its test list.
        assert val <= set(read_name_list(root / "lists" / f"LIST_TRAIN_{k}.txt"))
        tested.extend(test)
    assert sorted(tested) == sorted(set(tested)) and len(tested) == documents


def test_folds_isolate_documents_on_the_slice(tos_mini):
    _check_folds(tos_mini, 5, 1)
    assert read_fold(tos_mini, 0, val_documents=["Google"]).val == ("Google",)
    with pytest.raises(ValueError, match="Dropbox not among the training documents of fold 0"):
        read_fold(tos_mini, 0, val_documents=["Dropbox"])
    with pytest.raises(ValueError, match="data.fold must be in 0..4"):
        read_fold(tos_mini, 5)


def test_full_corpus_counts_and_folds(tos_full):
    _check_folds(tos_full, 50, 4)
    unfair_tags = read_unfair_tags(tos_full)
    binary, lexglue = LabelSet("binary", unfair_tags), LabelSet("lexglue", unfair_tags)
    names = read_name_list(tos_full / "lists" / "LIST_ALL.txt")
    sentences = [s for name in names for s in read_document(tos_full, name)]
    assert len(sentences) == 17383
    assert sum(binary.encode(s)[0] for s in sentences) == 1374  # the corpus SOURCE.md's count
    assert sum(bool(s.tags or s.metadata) for s in sentences) == 1651
    assert sum(Tag("ltd", 2) in s.tags for s in sentences) == 490
    assert sum(any(lexglue.encode(s)) for s in sentences) <= 1374
