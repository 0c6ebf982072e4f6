"""Checkpoints: save every N steps (keeping the newest few), keep the best by held-out loss
(``Best``: in ``best/``, marked by ``best.json``), and resume from the newest *complete* one. A checkpoint whose files are truncated or missing is skipped, with a
warning, for the one before it. Remote (gs://) checkpoints count only once their index
file, uploaded last, exists.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from pathlib import Path

from ddsp_launch.common import gcs
from ddsp_launch.common.model_files import BEST_DIR, BEST_MARK, PREFIX, step_of
from ddsp_launch.trainer.outputs import OutputDir

log = logging.getLogger("ddsp_launch.trainer")


def local_steps(folder: Path) -> list[int]:
    """Steps of the checkpoints in a local folder, newest first."""
    if not folder.is_dir():
        return []
    return sorted((step for p in folder.iterdir() if (step := step_of(p.name)) is not None), reverse=True)


def is_loadable(prefix: str) -> str | None:
    """None when every tensor of the checkpoint reads back; otherwise the reason."""
    import tensorflow as tf  # noqa: PLC0415

    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, ValueError, RuntimeError, IndexError) as exc:  # IndexError: truncated data
        return str(exc).strip().splitlines()[0][:200]
    return None


def remote_steps(folder: OutputDir, client) -> list[int]:
    names = gcs.list_objects(folder.remote, client)
    base = folder.remote.path.rstrip("/") + "/" if folder.remote.path else ""
    steps = (step_of(name[len(base):]) for name in names if name.startswith(base))
    return sorted((s for s in steps if s is not None), reverse=True)


def fetch_remote(folder: OutputDir, step: int, client) -> None:
    """Download one remote checkpoint (all its files) into the folder's local staging."""
    uri = folder.remote
    names = gcs.list_objects(uri.child(f"{PREFIX}-{step}.*"), client)
    for name, target in zip(names, gcs.local_paths(uri.bucket, names, uri.folder, folder.local)):
        gcs.download(gcs.GcsUri(uri.bucket, name), target, client)


def find_restorable(restore: OutputDir, client_factory=gcs.make_client) -> tuple[int, str] | None:
    """The newest complete checkpoint as (step, local prefix), or None to start afresh."""
    if restore.remote is not None:
        client = client_factory()
        candidates = remote_steps(restore, client)
    else:
        client = None
        candidates = local_steps(restore.local)
    for step in candidates:
        if client is not None and not (restore.local / f"{PREFIX}-{step}.index").exists():
            fetch_remote(restore, step, client)
        prefix = str(restore.local / f"{PREFIX}-{step}")
        problem = is_loadable(prefix)
        if problem is None:
            return step, prefix
        log.warning("checkpoint %s is incomplete or corrupt (%s); trying the previous one", prefix, problem)
    return None


class Saver:
    """Writes checkpoints with tf.train.CheckpointManager and mirrors them to gs://."""

    def __init__(self, checkpoint, folder: OutputDir, keep: int):
        import tensorflow as tf  # noqa: PLC0415

        self.folder = folder
        self.manager = tf.train.CheckpointManager(checkpoint, str(folder.local), max_to_keep=keep, checkpoint_name=PREFIX)

    def save(self, step: int) -> str:
        before = set(local_steps(self.folder.local))
        path = self.manager.save(checkpoint_number=step)
        after = set(local_steps(self.folder.local))
        if self.folder.remote is not None:
            files = sorted(self.folder.local.glob(f"{PREFIX}-{step}.*"), key=lambda p: p.suffix == ".index")
            # index after data, state last; neither once a data file failed to upload
            self.folder.sync(files + [self.folder.local / "checkpoint"], group=f"{PREFIX}-{step}")
            for gone in before - after:
                self.folder.delete_remote([f"{PREFIX}-{gone}.index", f"{PREFIX}-{gone}.data-00000-of-00001"])
        return path


class Best:
    """The best checkpoint by held-out spectral loss, kept in ``best/`` beside the checkpoints
    (hard links to the saved files, so it costs no space until the Saver rotates it out) and
    marked by ``best.json`` ({step, checkpoint, metrics}). A new best is linked in and marked
    before the old one is removed: a crash in between leaves two, the newer being the best."""

    METRIC = "spectral_loss"

    def __init__(self, folder: OutputDir):
        self.folder = folder
        self.dir = folder.local / BEST_DIR
        mark = folder.local / BEST_MARK
        try:
            self.entry = json.loads(mark.read_text()) if mark.is_file() else None
        except (OSError, ValueError):
            self.entry = None

    @property
    def step(self) -> int | None:
        return self.entry["step"] if self.entry else None

    @property
    def loss(self) -> float:
        value = (self.entry or {}).get("metrics", {}).get(self.METRIC)
        return float(value) if isinstance(value, (int, float)) else math.inf

    def improves(self, metrics: dict) -> bool:
        value = metrics.get(self.METRIC)
        return isinstance(value, float) and math.isfinite(value) and value < self.loss

    def keep(self, step: int, metrics: dict) -> None:
        """Mark the saved checkpoint ``step`` as the best."""
        files = sorted(self.folder.local.glob(f"{PREFIX}-{step}.*"), key=lambda p: p.suffix == ".index")
        if not any(f.suffix == ".index" for f in files):
            raise FileNotFoundError(f"no checkpoint {PREFIX}-{step} in {self.folder.local} to keep as the best")
        self.dir.mkdir(exist_ok=True)
        old = [p for p in self.dir.iterdir() if not p.name.startswith(f"{PREFIX}-{step}.")]
        # a remote best of an earlier session (not staged here): its names, from the mark
        earlier = [f"{PREFIX}-{self.step}.index", f"{PREFIX}-{self.step}.data-00000-of-00001"] if self.step not in (None, step) else []
        kept = []
        for f in files:  # data first, index last: a best/ index means a complete checkpoint
            target = self.dir / f.name
            target.unlink(missing_ok=True)
            try:
                os.link(f, target)
            except OSError:  # a file system without hard links
                shutil.copy2(f, target)
            kept.append(target)
        self.entry = {"step": step, "checkpoint": f"{BEST_DIR}/{PREFIX}-{step}",
                      "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))}}
        mark = self.folder.local / BEST_MARK
        tmp = mark.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.entry, indent=1) + "\n")
        os.replace(tmp, mark)
        self.folder.sync(kept, group=f"{BEST_DIR}/{PREFIX}-{step}")
        self.folder.sync([mark])
        for p in old:
            p.unlink(missing_ok=True)
        self.folder.delete_remote(sorted({f"{BEST_DIR}/{n}" for n in [p.name for p in old] + earlier}))
