"""TFRecord framing, checked and written without TensorFlow: is a file the user named really
a TFRecord? And the records prepare writes (``frame(float_example(...))``).

A TFRecord file is a run of records, each ``length`` (uint64, little-endian), the masked
CRC-32C of those 8 bytes, the data, and the data's masked CRC-32C. Reading the first 12
bytes and checking the length's CRC tells a TFRecord from any other file in microseconds,
so the host and the trainer refuse a wrong file before TensorFlow starts; the trainer also
reads the next byte, which starts every ``tf.train.Example``. CRC-32C comes from
google-crc32c (a dependency of google-cloud-storage, on both sides).
"""

from __future__ import annotations

import struct
from pathlib import Path

import google_crc32c

from ddsp_launch.common.errors import InputError

_MASK_DELTA = 0xA282EAD8
EXAMPLE_START = 0x0A  # a serialized tf.train.Example starts with its field 1 (features), length-delimited


def masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    """One record as TensorFlow's TFRecordWriter writes it."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc(length)) + data + struct.pack("<I", masked_crc(data))


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def float_example(features: dict) -> bytes:
    """A serialized ``tf.train.Example`` whose features are float lists, encoded without
    TensorFlow: Example.features (1) -> Features.feature (1, a map entry per name: key 1,
    value 2) -> Feature.float_list (2) -> FloatList.value (1, packed little-endian float32)."""
    import numpy as np  # noqa: PLC0415 (the host's refusals need no numpy)

    entries = b"".join(
        _field(1, _field(1, name.encode()) + _field(2, _field(2, _field(1, np.asarray(values, "<f4").tobytes()))))
        for name, values in features.items())
    return _field(1, entries)


def problem(path: Path, examples: bool = False) -> str | None:
    """Why ``path`` is not a TFRecord file (None when its first record's header is sound, or
    when it is empty: a TFRecord file of no records); with ``examples``, also when its first
    record is not a ``tf.train.Example``."""
    if path.is_dir():
        return "is a folder, not a TFRecord file"
    try:
        with open(path, "rb") as fh:
            head = fh.read(13)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if head and (len(head) < 12 or struct.unpack("<I", head[8:12])[0] != masked_crc(head[:8])):
        return "is not a TFRecord file (its first bytes are not a record header)"
    if examples and len(head) == 13 and head[12] != EXAMPLE_START:
        return "holds records that are not tf.train.Example protos (what `ddsp-launch prepare` writes)"
    return None


def check(paths: list[Path], what: str, fix: str, examples: bool = False) -> None:
    """Raise ``InputError`` naming the first of ``paths`` that is not a TFRecord file; with
    ``examples`` (the trainer, about to read them), also when a first record is not a
    ``tf.train.Example`` or when the files hold no record at all."""
    for path in paths:
        why = problem(path, examples)
        if why:
            raise InputError(f"{what}: {path} {why}", fix)
    if examples and paths and all(p.stat().st_size == 0 for p in paths):
        raise InputError(f"{what}: no records in {', '.join(str(p) for p in paths[:3])} (empty files)", fix)
