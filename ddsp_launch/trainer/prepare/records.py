"""Sharded TFRecord writing and the atomic commit of a dataset folder.

Everything is written into a hidden staging folder beside the output
(``.NAME.partial``); the manifest is written last and the folder is renamed into place
in one step. A crash, Ctrl-C or kill leaves no folder at the output path, so a dataset
with a manifest is always complete. A rerun removes the stale staging folder first.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np

from ddsp_launch.common import destinations, presets, tfrecord
from ddsp_launch.common.errors import InputError
from ddsp_launch.common.model_files import STATISTICS  # one name for the file, shared with the tools

EXAMPLES_PER_SHARD = 200  # about 100 MB of 4-second examples per shard
MANIFEST = presets.MANIFEST


def shard_count(n_examples: int, requested: int | None = None) -> int:
    if requested:
        return max(1, min(requested, n_examples))
    return max(1, math.ceil(n_examples / EXAMPLES_PER_SHARD))


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}.tfrecord-{index:05d}-of-{count:05d}"


class Staging:
    """The hidden folder a dataset is built in, and its commit to the output path."""

    def __init__(self, output: Path, overwrite: bool = False):
        self.output = output
        self.overwrite = overwrite
        self.path = output.parent / f".{output.name}.partial"

    def check_output(self) -> None:
        try:
            self._check_output()
        except PermissionError as exc:
            raise InputError(
                f"Cannot write to {self.output.parent} ({exc.strerror})",
                "choose an output folder you can write to, or fix its permissions",
            ) from exc

    def _check_output(self) -> None:
        if self.output.exists() and not self.output.is_dir():
            raise InputError(f"Output {self.output} exists and is a file", "choose a folder path for the dataset")
        entries = destinations.listing(self.output)
        if not entries:
            return
        ours = destinations.dataset_files(self.output)
        if not self.overwrite and ours is not None:
            raise InputError(
                f"Output directory {self.output} already holds a dataset ({len(entries)} entries)",
                "choose a new folder, or pass --overwrite to replace it once the new dataset is complete",
            )
        destinations.check_replaceable(self.output, ours, "dataset", "--overwrite")

    def open(self) -> Path:
        """Create the staging folder, removing an interrupted run's leftovers first
        (``self.stale_removed`` tells whether there were any)."""
        self.check_output()
        self.stale_removed = self.path.exists()
        if self.stale_removed:
            shutil.rmtree(self.path)
        try:
            self.output.parent.mkdir(parents=True, exist_ok=True)
            self.path.mkdir()
            probe = self.path / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise InputError(
                f"Cannot write to {self.output.parent} ({exc.strerror})",
                "choose an output folder you can write to, or fix its permissions",
            ) from exc
        return self.path

    def commit(self, manifest: dict) -> Path:
        _write_json_durably(self.path / MANIFEST, manifest)
        _fsync_dir(self.path)
        old = None
        if self.output.is_dir() and any(self.output.iterdir()):
            old = self.output.parent / f".{self.output.name}.old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.output, old)
        os.replace(self.path, self.output)  # atomic; replaces an empty folder
        _fsync_dir(self.output.parent)
        if old is not None:
            shutil.rmtree(old)
        return self.output

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _write_json_durably(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ShardedWriter:
    """Round-robin writer of ddsp examples into ``count`` shards of one split: TFRecords of
    ``tf.train.Example`` protos, framed and encoded as TensorFlow writes them, without
    importing TensorFlow (common/tfrecord.py)."""

    def __init__(self, folder: Path, split: str, count: int):
        self.paths = [folder / shard_name(split, i, count) for i in range(count)]
        self._files = [open(p, "wb") for p in self.paths]  # noqa: SIM115 (closed in close())
        self.written = 0

    def write(self, example: dict[str, np.ndarray]) -> None:
        self._files[self.written % len(self._files)].write(tfrecord.frame(tfrecord.float_example(example)))
        self.written += 1

    def close(self) -> None:
        for f in self._files:
            f.close()
