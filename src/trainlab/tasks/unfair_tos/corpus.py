"""Reader of the CLAUDETTE Terms-of-Service corpus, its label sets and its document-level folds.

Plain Python (no torch, no NumPy), so the reader can be tested and used by the baseline alone.

Corpus layout (Galassi et al. 2024, "Unfair clause detection in terms of service across
multiple languages", Artificial Intelligence and Law, doi:10.1007/s10506-024-09398-7; the
English part, as laid out in their repository)::

    <root>/sentences/<Doc>.txt   one sentence per line (indentation kept)
    <root>/tags/<Doc>.txt        line-aligned tags of each sentence, space separated,
                                 a non-empty line ends with a space; empty line = no tag
    <root>/lists/LIST_TRAIN_k.txt, LIST_TEST_k.txt   5-fold document lists (k = 0..4)
    <root>/list_tags.txt         the tags the authors count as unfair (levels 2 and 3)

A tag is a category code and a level digit (``ltd2``): level 1 clearly fair, 2 potentially
unfair, 3 clearly unfair (the CLAUDETTE convention, Lippi et al. 2019, "CLAUDETTE: an
automated detector of potentially unfair clauses in online terms of service", AI and Law
27:117-139). ``countrym`` marks country-specific sections: metadata, never a label.

Label sets:

- ``binary``: unfair (1) when a sentence carries any tag of ``list_tags.txt`` (the corpus
  authors' rule: every level-2/3 tag of the nine categories), fair (0) otherwise;
- ``lexglue``: multi-label over the eight UNFAIR-ToS categories of LexGLUE (Chalkidis et al.
  2022, ACL, Sec. 3: limitation of liability, unilateral termination, unilateral change,
  content removal, contract by using, choice of law, jurisdiction, arbitration); a category
  is present when it is tagged at level 2 or 3. A sentence with none of them is "fair" (the
  implicit class of the LexGLUE metric, see :mod:`.metrics`). ``pinc`` (privacy included)
  is not a LexGLUE category.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Category code -> name, in LexGLUE's label order (then ``pinc``, outside LexGLUE).
CATEGORIES: dict[str, str] = {
    "ltd": "limitation_of_liability",
    "ter": "unilateral_termination",
    "ch": "unilateral_change",
    "cr": "content_removal",
    "use": "contract_by_using",
    "law": "choice_of_law",
    "j": "jurisdiction",
    "a": "arbitration",
    "pinc": "privacy_included",
}
LEXGLUE_CODES: tuple[str, ...] = ("ltd", "ter", "ch", "cr", "use", "law", "j", "a")
#: Tags that are metadata, not unfairness annotations.
METADATA_TAGS = frozenset({"countrym"})
#: The unfair tags when ``list_tags.txt`` is absent: levels 2 and 3 of every category (its content).
DEFAULT_UNFAIR_TAGS = frozenset(f"{code}{level}" for code in CATEGORIES for level in (2, 3))
LABEL_SETS = ("binary", "lexglue")
FOLDS = 5

_TAG = re.compile(r"([a-z]+)([123])")


class CorpusError(ValueError):
    """Malformed corpus files; the message names the file, the line and what is wrong."""


@dataclass(frozen=True)
class Tag:
    """One unfairness annotation: ``category`` code (``ltd``) and ``level`` (1 fair, 2 potentially, 3 clearly unfair)."""

    category: str
    level: int

    def __str__(self) -> str:
        return f"{self.category}{self.level}"


@dataclass(frozen=True)
class Sentence:
    """One sentence of a document.

    Attributes:
        document: Document name (file stem, e.g. ``Dropbox``).
        line: 1-based line number in ``sentences/<document>.txt``.
        text: The sentence as written, leading indentation kept, line break removed.
        tags: Its unfairness tags, in file order.
        metadata: Its metadata tags (``countrym``).
    """

    document: str
    line: int
    text: str
    tags: tuple[Tag, ...] = ()
    metadata: tuple[str, ...] = ()

    def tag_names(self) -> set[str]:
        """The tags as written (``{"ltd2", "ter3"}``)."""
        return {str(tag) for tag in self.tags}


def parse_tag_line(line: str, path: Path, number: int) -> tuple[tuple[Tag, ...], tuple[str, ...]]:
    """Parse one tag line (``"use2 pinc2 "``: space separated, trailing space allowed).

    Returns:
        ``(tags, metadata)``.

    Raises:
        CorpusError: a token that is neither ``<known category><1|2|3>`` nor a metadata tag
            (``path:number`` and the token named).
    """
    tags, metadata = [], []
    for token in line.split():
        if token in METADATA_TAGS:
            metadata.append(token)
            continue
        match = _TAG.fullmatch(token)
        if not match or match.group(1) not in CATEGORIES:
            raise CorpusError(f"{path}:{number}: unknown tag {token!r} (expected a category code "
                              f"{'/'.join(CATEGORIES)} followed by a level 1-3, or {'/'.join(sorted(METADATA_TAGS))})")
        tags.append(Tag(match.group(1), int(match.group(2))))
    return tuple(tags), tuple(metadata)


def read_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 text file, line breaks (LF or CRLF) removed, everything else kept.

    Raises:
        FileNotFoundError: no such file.
        CorpusError: bytes that are not UTF-8 (file and line named).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: not found") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise CorpusError(f"{path}:{line}: not valid UTF-8 ({error.reason})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final line break ends the last line
    return [line.removesuffix("\r") for line in lines]


def read_document(root: str | Path, name: str) -> list[Sentence]:
    """Read ``sentences/<name>.txt`` and ``tags/<name>.txt`` of ``root`` as aligned sentences.

    Raises:
        FileNotFoundError: a file is missing.
        CorpusError: the two files have different line counts (both counts named), an empty
            sentence line, a malformed tag, or bytes that are not UTF-8 (file and line named).
    """
    root = Path(root)
    sentence_path, tag_path = root / "sentences" / f"{name}.txt", root / "tags" / f"{name}.txt"
    texts, tag_lines = read_lines(sentence_path), read_lines(tag_path)
    if len(texts) != len(tag_lines):
        raise CorpusError(f"{tag_path}: {len(tag_lines)} tag lines for {len(texts)} sentences in {sentence_path} "
                          "(the files must be line-aligned)")
    sentences = []
    for number, (text, tag_line) in enumerate(zip(texts, tag_lines), start=1):
        if not text.strip():
            raise CorpusError(f"{sentence_path}:{number}: empty sentence")
        tags, metadata = parse_tag_line(tag_line, tag_path, number)
        sentences.append(Sentence(name, number, text, tags, metadata))
    return sentences


def read_name_list(path: str | Path) -> list[str]:
    """Document names of a list file (``Dropbox.txt`` per line; the ``.txt`` is dropped; blank lines skipped).

    Raises:
        FileNotFoundError: no such file.
        CorpusError: a name is listed twice (line named).
    """
    path = Path(path)
    names: list[str] = []
    for number, line in enumerate(read_lines(path), start=1):
        name = line.strip().removesuffix(".txt")
        if not name:
            continue
        if name in names:
            raise CorpusError(f"{path}:{number}: {name} is listed twice")
        names.append(name)
    return names


def read_unfair_tags(root: str | Path) -> frozenset[str]:
    """The tags of ``<root>/list_tags.txt`` (the corpus authors' unfair tags), or
    :data:`DEFAULT_UNFAIR_TAGS` when the file is absent.

    Raises:
        CorpusError: a listed tag that is not ``<category><level>`` (line named).
    """
    path = Path(root) / "list_tags.txt"
    if not path.is_file():
        return DEFAULT_UNFAIR_TAGS
    tags = set()
    for number, line in enumerate(read_lines(path), start=1):
        for token in line.split():
            parse_tag_line(token, path, number)
            tags.add(token)
    return frozenset(tags)


@dataclass(frozen=True)
class Fold:
    """One cross-validation fold: training, validation and test documents (disjoint)."""

    index: int
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

    def as_dict(self) -> dict[str, list[str]]:
        return {"train": list(self.train), "val": list(self.val), "test": list(self.test)}


def read_fold(root: str | Path, fold: int, val_documents: int | Sequence[str] = 4, seed: int = 42) -> Fold:
    """The authors' fold ``fold`` with a validation set carved from its training documents.

    Args:
        root: Corpus folder (with ``lists/LIST_TRAIN_<fold>.txt`` and ``LIST_TEST_<fold>.txt``).
        fold: 0 .. 4.
        val_documents: How many training documents to hold out for validation (chosen by a
            ``seed``-ed shuffle of the sorted names), or their names.
        seed: Seed of that shuffle.

    Returns:
        The fold, each list sorted by name; no document is in two of them.

    Raises:
        ValueError: ``fold`` out of range, a bad ``val_documents`` count, or validation names
            that are not training documents of this fold.
        CorpusError: the lists overlap.
    """
    if not 0 <= int(fold) < FOLDS:
        raise ValueError(f"data.fold must be in 0..{FOLDS - 1}, got {fold}")
    lists = Path(root) / "lists"
    train_all = read_name_list(lists / f"LIST_TRAIN_{fold}.txt")
    test = read_name_list(lists / f"LIST_TEST_{fold}.txt")
    shared = sorted(set(train_all) & set(test))
    if shared:
        raise CorpusError(f"{lists}: LIST_TRAIN_{fold} and LIST_TEST_{fold} share {', '.join(shared)}")
    if isinstance(val_documents, (int, float)) and not isinstance(val_documents, bool):
        count = int(val_documents)
        if not 0 < count < len(train_all):
            raise ValueError(f"data.val_documents must be in 1..{len(train_all) - 1} (training documents of fold "
                             f"{fold}), got {count}")
        shuffled = sorted(train_all)
        random.Random(seed).shuffle(shuffled)
        val = set(shuffled[:count])
    else:
        val = set(val_documents)
        unknown = sorted(val - set(train_all))
        if unknown:
            raise ValueError(f"data.val_documents: {', '.join(unknown)} not among the training documents of fold {fold}")
    train = sorted(set(train_all) - val)
    return Fold(int(fold), tuple(train), tuple(sorted(val)), tuple(sorted(test)))


class LabelSet:
    """Maps sentences to label vectors for one of :data:`LABEL_SETS`.

    Args:
        name: ``binary`` or ``lexglue`` (see the module docstring).
        unfair_tags: The tags counted as unfair by ``binary`` (``list_tags.txt``).

    Attributes:
        names: Label names: ``("unfair",)`` for binary, the eight category names for lexglue.
        multi_label: Whether a sentence may carry several labels (lexglue).

    Raises:
        ValueError: an unknown label-set name (the valid ones listed).
    """

    def __init__(self, name: str, unfair_tags: Iterable[str] = DEFAULT_UNFAIR_TAGS):
        if name not in LABEL_SETS:
            raise ValueError(f"data.labels must be one of {', '.join(LABEL_SETS)}, got {name!r}")
        self.name = name
        self.unfair_tags = frozenset(unfair_tags)
        self.multi_label = name == "lexglue"
        self.names: tuple[str, ...] = tuple(CATEGORIES[c] for c in LEXGLUE_CODES) if self.multi_label else ("unfair",)

    def encode(self, sentence: Sentence) -> list[int]:
        """The 0/1 label vector of ``sentence``, ``len(self.names)`` long."""
        if not self.multi_label:
            return [int(bool(sentence.tag_names() & self.unfair_tags))]
        present = {tag.category for tag in sentence.tags if tag.level >= 2}
        return [int(code in present) for code in LEXGLUE_CODES]


def corpus_digest(root: str | Path, documents: Iterable[str]) -> str:
    """SHA-256 over the sentence and tag files of ``documents`` (sorted), names included."""
    root = Path(root)
    hasher = hashlib.sha256()
    for name in sorted(documents):
        for folder in ("sentences", "tags"):
            hasher.update(f"{folder}/{name}.txt\n".encode())
            hasher.update((root / folder / f"{name}.txt").read_bytes())
    return hasher.hexdigest()


def label_counts(sentences: Sequence[Sentence], labels: LabelSet) -> dict[str, int]:
    """Positive sentences per label, plus ``sentences`` and ``fair`` (no label) counts."""
    vectors = [labels.encode(s) for s in sentences]
    counts = {name: sum(v[i] for v in vectors) for i, name in enumerate(labels.names)}
    return {"sentences": len(sentences), "fair": sum(not any(v) for v in vectors), **counts}


def read_documents(root: str | Path, names: Iterable[str]) -> list[Sentence]:
    """The sentences of several documents, in the given order (see :func:`read_document`)."""
    return [sentence for name in names for sentence in read_document(root, name)]


def split_sentences(root: str | Path, fold: Fold) -> Mapping[str, list[Sentence]]:
    """``{"train": [...], "val": [...], "test": [...]}`` sentences of a fold's documents."""
    return {split: read_documents(root, getattr(fold, split)) for split in ("train", "val", "test")}
