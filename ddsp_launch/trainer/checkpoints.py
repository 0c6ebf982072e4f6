"""Checkpoints: save every N steps (keeping the newest few), and resume from the newest
*complete* one. A checkpoint whose files are truncated or missing is skipped, with a
warning, for the one before it. Remote (gs://) checkpoints count only once their index
file, uploaded last, exists.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ddsp_launch.common import gcs
from ddsp_launch.common.model_files import PREFIX, step_of
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
