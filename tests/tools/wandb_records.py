"""Read the records of an offline W&B run (``run-<id>.wandb``), for the tests.

wandb 0.31 ships no Python reader for its transaction log. The file is a 7-byte header
(``:W&B``, magic ``0xBEE1``, version) followed by LevelDB log blocks of 32 KiB whose chunks
(4-byte checksum, 2-byte little-endian length, 1-byte type: full, first, middle, last) carry
serialised ``wandb_internal_pb2.Record`` protobuf messages (wandb's ``datastore`` format).
Checksums are not verified.
"""

from __future__ import annotations

import struct
from pathlib import Path

BLOCK = 32768
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def read_records(path: Path) -> list:
    """The ``Record`` messages of a ``.wandb`` file, in order.

    Raises:
        ValueError: the file does not start with the W&B header, or a chunk has an unknown type.
    """
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    ident, magic, _version = struct.unpack("<4sHB", data[:7])
    if ident != b":W&B" or magic != 0xBEE1:
        raise ValueError(f"{path}: not a W&B transaction log (header {data[:7]!r})")
    records, pending, offset = [], b"", 7
    while offset + 7 <= len(data):
        left_in_block = BLOCK - offset % BLOCK
        if left_in_block < 7:  # block trailer: zero padding
            offset += left_in_block
            continue
        _checksum, length, kind = struct.unpack("<IHB", data[offset:offset + 7])
        if length == 0 and kind == 0:  # zero padding up to the end of the block or file
            offset += left_in_block
            continue
        chunk = data[offset + 7:offset + 7 + length]
        offset += 7 + length
        if kind not in (FULL, FIRST, MIDDLE, LAST):
            raise ValueError(f"{path}: chunk of unknown type {kind} at byte {offset - 7 - length}")
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records
