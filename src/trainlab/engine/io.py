"""Atomic file writes: results, manifests and checkpoints are never left half-written.

Every writer here writes to a temporary file in the destination folder, flushes it to
disk, then renames it over the destination (``os.replace`` is atomic on POSIX and
Windows for files on the same filesystem). A reader therefore sees either the old
file or the complete new one, even if the process is killed mid-write.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(handle)`` on a temporary binary file, then rename it to ``path``.

    Args:
        path: Destination; its parent folders are created.
        write: Writes the content to the open binary handle.

    Returns:
        The destination path.

    Raises:
        OSError: the folder is not writable; the destination is then untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text (LF line endings kept as given) atomically."""
    return atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def atomic_write_json(path: str | os.PathLike, data: Any, indent: int = 2) -> Path:
    """Write ``data`` as JSON atomically; non-JSON values (paths, numpy scalars) are stringified."""

    def default(value: Any) -> Any:
        if hasattr(value, "item") and callable(value.item):
            return value.item()
        if hasattr(value, "tolist") and callable(value.tolist):
            return value.tolist()
        return str(value)

    return atomic_write_text(path, json.dumps(data, indent=indent, default=default, ensure_ascii=False) + "\n")
