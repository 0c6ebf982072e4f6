"""gs:// URIs and the few google-cloud-storage calls both sides need.

TensorFlow's own gs:// filesystem ignores STORAGE_EMULATOR_HOST, so bytes move through
google-cloud-storage only. The client library is imported lazily.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import re
from pathlib import Path

from ddsp_launch.common.errors import StorageError

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_GLOB_CHARS = set("*?[")


def is_gcs(path: str | os.PathLike) -> bool:
    return str(path).startswith("gs://")


@dataclasses.dataclass(frozen=True)
class GcsUri:
    bucket: str
    path: str = ""  # object name or prefix, no leading slash

    @classmethod
    def parse(cls, uri: str) -> "GcsUri":
        if not is_gcs(uri):
            raise StorageError(f"{uri!r} is not a gs:// URI", "write it as gs://BUCKET/PATH")
        bucket, _, path = uri[len("gs://"):].partition("/")
        if not _BUCKET_RE.match(bucket) or ".." in bucket:
            raise StorageError(
                f"{uri!r}: {bucket!r} is not a valid bucket name",
                "bucket names are 3-222 characters: lowercase letters, digits, '-', '_' and '.'",
            )
        return cls(bucket, path)

    def __str__(self) -> str:
        return f"gs://{self.bucket}/{self.path}"

    def child(self, name: str) -> "GcsUri":
        base = self.path.rstrip("/")
        return GcsUri(self.bucket, f"{base}/{name}" if base else name)

    @property
    def has_glob(self) -> bool:
        return any(c in _GLOB_CHARS for c in self.path)


def make_client(project: str | None = None):
    """A storage client: Application Default Credentials, or anonymous for an emulator."""
    try:
        from google.cloud import storage  # noqa: PLC0415
        from google.auth.exceptions import DefaultCredentialsError  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise StorageError(f"google-cloud-storage is not installed ({exc})", "pip install google-cloud-storage") from exc
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials  # noqa: PLC0415

        return storage.Client(project=project or "emulator", credentials=AnonymousCredentials())
    try:
        return storage.Client(project=project)
    except DefaultCredentialsError as exc:
        raise StorageError(
            "No Google Cloud credentials found for reading gs:// paths",
            "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS "
            "to a service-account key file",
        ) from exc


def explain(exc: Exception, uri: GcsUri, doing: str) -> StorageError:
    from google.api_core import exceptions as gexc  # noqa: PLC0415

    if isinstance(exc, gexc.NotFound):
        return StorageError(
            f"Bucket gs://{uri.bucket} does not exist (while {doing} {uri})",
            f"check the spelling, or create it: gcloud storage buckets create gs://{uri.bucket}",
        )
    if isinstance(exc, gexc.Forbidden):
        return StorageError(
            f"Access denied to gs://{uri.bucket} (while {doing} {uri}): {exc.message}",
            "ask the bucket's owner for roles/storage.objectViewer (reading) or "
            "roles/storage.objectAdmin (writing), or log in as an account that has it: "
            "gcloud auth application-default login",
        )
    return StorageError(f"Google Cloud Storage failed while {doing} {uri}: {exc}")


def list_objects(uri: GcsUri, client) -> list[str]:
    """Object names under a prefix (``gs://b/dir``) or matching a glob (``gs://b/dir/*.wav``)."""
    from google.api_core import exceptions as gexc  # noqa: PLC0415

    if uri.has_glob:
        head = re.split(r"[*?\[]", uri.path, maxsplit=1)[0]
        prefix, pattern = head, uri.path
    else:
        prefix = uri.path.rstrip("/") + "/" if uri.path else ""
        pattern = None
    try:
        bucket = client.bucket(uri.bucket)
        if not bucket.exists():
            raise gexc.NotFound(f"bucket {uri.bucket}")
        names = [b.name for b in client.list_blobs(uri.bucket, prefix=prefix) if not b.name.endswith("/")]
        if not names and uri.path and not uri.has_glob and bucket.blob(uri.path).exists():
            names = [uri.path]  # a single object
    except gexc.GoogleAPICallError as exc:
        raise explain(exc, uri, "listing") from exc
    if pattern is not None:
        names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    return sorted(names)


def download(uri: GcsUri, dest: Path, client) -> Path:
    """Download one object to ``dest`` (written to a temporary name, then renamed)."""
    from google.api_core import exceptions as gexc  # noqa: PLC0415

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    try:
        client.bucket(uri.bucket).blob(uri.path).download_to_filename(str(tmp))
    except gexc.GoogleAPICallError as exc:
        tmp.unlink(missing_ok=True)
        raise explain(exc, uri, "downloading") from exc
    os.replace(tmp, dest)
    return dest
