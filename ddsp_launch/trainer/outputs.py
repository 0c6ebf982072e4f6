"""Output folders that may live on gs://, written locally and uploaded in the background.

TensorFlow writes checkpoints and summaries to a local folder; for a gs:// destination a
background thread uploads them with google-cloud-storage, so the training loop never
waits on the network (TensorFlow's own gs:// filesystem also ignores the GCS emulator).
A checkpoint's index file is uploaded after its data files, and not at all when one of them
failed to upload, so a remote checkpoint whose index exists is complete.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from ddsp_launch.common import gcs

log = logging.getLogger("ddsp_launch.trainer")


class Uploader:
    """One background thread running upload/delete jobs in order. Jobs of one ``group`` (the
    files of one checkpoint) stop at the first that fails: the files after it are not sent."""

    def __init__(self, client_factory: Callable = gcs.make_client):
        self._client_factory = client_factory
        self._client = None
        self._jobs: queue.Queue = queue.Queue()
        self.errors: list[str] = []
        self.uploaded_bytes = 0
        self._failed_groups: set[str] = set()
        self._retry = gcs.upload_retry()  # a bad DDSP_LAUNCH_GCS_RETRY_SECS stops the trainer before it starts
        self._thread = threading.Thread(target=self._work, name="gcs-uploader", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                action, local, uri, group = job
                if group in self._failed_groups:
                    self.errors.append(f"{action} {uri}: not sent, an earlier file of {group} failed")
                    continue
                if self._client is None:
                    self._client = self._client_factory()
                blob = self._client.bucket(uri.bucket).blob(uri.path)
                if action == "upload":
                    blob.upload_from_filename(str(local), retry=self._retry)
                    self.uploaded_bytes += local.stat().st_size
                else:
                    blob.delete()
            except Exception as exc:  # noqa: BLE001 - reported by flush(), never lost
                self.errors.append(f"{job[0]} {job[2]}: {exc}")
                if job[3] is not None:
                    self._failed_groups.add(job[3])
            finally:
                self._jobs.task_done()

    def upload(self, local: Path, uri: gcs.GcsUri, group: str | None = None) -> None:
        self._jobs.put(("upload", Path(local), uri, group))

    def delete(self, uri: gcs.GcsUri) -> None:
        self._jobs.put(("delete", None, uri, None))

    def pending(self) -> int:
        return self._jobs.unfinished_tasks

    def flush(self, timeout: float | None = None) -> bool:
        """Wait for every queued job; False if the timeout passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._jobs.unfinished_tasks:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def close(self, timeout: float | None = None) -> bool:
        done = self.flush(timeout)
        self._jobs.put(None)
        return done


class OutputDir:
    """A destination (local path or gs:// URI) and the local folder TensorFlow writes to."""

    def __init__(self, destination: str, uploader: Uploader | None = None, staging_root: Path | None = None):
        self.destination = destination
        self.remote = gcs.GcsUri.parse(destination) if gcs.is_gcs(destination) else None
        if self.remote is None:
            self.local = Path(destination).expanduser()
        else:
            root = staging_root or Path(tempfile.gettempdir()) / "ddsp-launch-staging"
            self.local = root / hashlib.sha256(destination.encode()).hexdigest()[:16]
        self.local.mkdir(parents=True, exist_ok=True)
        self.uploader = uploader
        self._sent: dict[str, tuple[int, float]] = {}

    def remote_uri(self, local_file: Path) -> gcs.GcsUri:
        return self.remote.child(local_file.relative_to(self.local).as_posix())

    def sync(self, files: list[Path] | None = None, group: str | None = None) -> None:
        """Queue uploads of new or changed files (all files under the folder by default), in
        this order; with ``group``, a file is sent only if those before it in the group were."""
        if self.remote is None:
            return
        for path in files if files is not None else sorted(p for p in self.local.rglob("*") if p.is_file()):
            stat = path.stat()
            key = str(path)
            if self._sent.get(key) != (stat.st_size, stat.st_mtime):
                self._sent[key] = (stat.st_size, stat.st_mtime)
                self.uploader.upload(path, self.remote_uri(path), group)

    def delete_remote(self, names: list[str]) -> None:
        if self.remote is not None:
            for name in names:
                self.uploader.delete(self.remote.child(name))
                self._sent.pop(str(self.local / name), None)
