"""What a data location holds, asked of the file system: a prepared dataset (and the TFRecord
glob the trainer reads from it), or a folder of audio that must be prepared first."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from ddsp_launch.common import audio, tfrecord
from ddsp_launch.common.errors import InputError
from ddsp_launch.common.gcs import GcsUri

TRAIN_SHARDS = "train.tfrecord*"  # what `ddsp-launch prepare` writes (ddsp's TFRecordProvider reads it)
_PREPARE_FIX = "give a folder written by `ddsp-launch prepare` (prepare audio first: ddsp-launch prepare AUDIO DATASET_DIR)"


def needs_preparing(data: GcsUri | Path) -> bool:
    """True for a local folder of audio files without TFRecords."""
    if isinstance(data, GcsUri) or not data.is_dir():
        return False
    if glob.glob(str(data / "*.tfrecord*")):
        return False
    return any(p.suffix.lower() in audio.EXTENSIONS for p in data.rglob("*") if p.is_file())


def pattern(data: GcsUri | Path) -> str:
    """``data`` as the TFRecord glob the trainer reads: a dataset folder means its training
    shards. A local one must hold TFRecords (their first record's header is read)."""
    if isinstance(data, GcsUri):
        return str(data) if data.has_glob or ".tfrecord" in data.path else str(data.child(TRAIN_SHARDS))
    text = str(data)
    if data.is_dir():
        if glob.glob(str(data / TRAIN_SHARDS)):
            found = str(data.resolve() / TRAIN_SHARDS)
        elif glob.glob(str(data / "*.tfrecord*")):
            found = str(data.resolve() / "*.tfrecord*")
        else:
            raise InputError(f"{text} holds no TFRecords (train.tfrecord*)",
                             f"prepare your audio first: ddsp-launch prepare {text} DATASET_DIR, then train on DATASET_DIR")
    elif glob.glob(text):
        found = str(data.resolve()) if not any(c in text for c in "*?[") else os.path.abspath(text)
    else:
        raise InputError(f"no data at {text}: it does not exist",
                         "give a folder written by `ddsp-launch prepare`, a folder of audio with --prepare-to, or gs://BUCKET/PATH")
    tfrecord.check([Path(p) for p in sorted(glob.glob(found))], f"data {text}", _PREPARE_FIX)
    return found


def planned_pattern(folder: Path) -> str:
    """The glob of a dataset `prepare` has yet to write into ``folder``."""
    return str(folder / TRAIN_SHARDS)
