"""Rebuild ``src/trainlab/assets/unfair_tos_mini/`` from the ToS corpus beside the repository.

Five whole documents of the English CLAUDETTE corpus (Galassi et al. 2024, CC BY 4.0),
copied byte for byte, with ``list_tags.txt`` and five derived folds (each document is the
test set of one fold, the other four its training documents). The documents were chosen to
cover every LexGLUE category, level-1 (fair) tags, the ``countrym`` metadata tag and indented
sentences. The folder's ``SOURCE.md`` is kept as it is (it is written by hand).

Usage:
    python scripts/make_unfair_tos_mini.py [--source ../shared/data/unfair_tos] [--output src/trainlab/assets/unfair_tos_mini]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = ("Dropbox", "Google", "Mozilla", "Pinterest", "Rovio")


def build(source: Path, output: Path) -> None:
    """Copy the documents and ``list_tags.txt``, write the derived fold lists.

    Raises:
        FileNotFoundError: a source file is missing (named).
    """
    for name in DOCUMENTS:
        for folder in ("sentences", "tags"):
            path = source / folder / f"{name}.txt"
            if not path.is_file():
                raise FileNotFoundError(f"{path}: not found (is the corpus at {source}?)")
    for folder in ("sentences", "tags", "lists"):
        if (output / folder).is_dir():
            shutil.rmtree(output / folder)
        (output / folder).mkdir(parents=True)
    for name in DOCUMENTS:
        for folder in ("sentences", "tags"):
            shutil.copyfile(source / folder / f"{name}.txt", output / folder / f"{name}.txt")
    shutil.copyfile(source / "list_tags.txt", output / "list_tags.txt")
    for k, test in enumerate(DOCUMENTS):
        (output / "lists" / f"LIST_TEST_{k}.txt").write_text(f"{test}.txt\n")
        (output / "lists" / f"LIST_TRAIN_{k}.txt").write_text("".join(f"{n}.txt\n" for n in DOCUMENTS if n != test))
    (output / "lists" / "LIST_ALL.txt").write_text("".join(f"{n}.txt\n" for n in DOCUMENTS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=REPO.parent / "shared" / "data" / "unfair_tos")
    parser.add_argument("--output", type=Path, default=REPO / "src" / "trainlab" / "assets" / "unfair_tos_mini")
    args = parser.parse_args()
    build(args.source, args.output)
    print(f"wrote {len(DOCUMENTS)} documents and 5 folds to {args.output}")


if __name__ == "__main__":
    main()
