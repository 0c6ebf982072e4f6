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

from ddsp_launch.common.errors import InputError, MissingDependencyError, NothingThere, StorageError  # noqa: F401 (NothingThere: for callers)

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
            raise InputError(f"{uri!r} is not a gs:// URI", "write it as gs://BUCKET/PATH")
        bucket, _, path = uri[len("gs://"):].partition("/")
        if not _BUCKET_RE.match(bucket) or ".." in bucket:
            raise InputError(
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

    @property
    def folder(self) -> str:
        """The prefix its objects are below: "" or ending in "/" (for a glob, up to the last '/' before it)."""
        if self.has_glob:
            head = self.glob_head
            return head[:head.rfind("/") + 1]
        return self.path.rstrip("/") + "/" if self.path else ""

    @property
    def glob_head(self) -> str:
        """The part of the path before its first glob character."""
        return re.split(r"[*?\[]", self.path, maxsplit=1)[0]


def _name_problem(part: str) -> str | None:
    """Why this part of an object name cannot be a path below a folder (None when it can)."""
    if "\\" in part or "\0" in part:
        return "a backslash or NUL"
    if part.startswith("/"):
        return "a leading '/'"
    if any(seg in ("", ".", "..") for seg in part.split("/")):
        return "an empty, '.' or '..' part"
    return None


def local_paths(bucket: str, names: list[str], base: str, dest: Path) -> list[Path]:
    """Where each object goes in ``dest``: at the part of its name below ``base`` (a prefix, "" or
    ending in "/"), or under its last part when it is not below ``base``.

    The one rule for every object name that becomes a local path. Every name is checked before
    anything is written: a part with empty, '.' or '..' segments, a leading '/', a backslash or
    NUL, or one that resolves outside ``dest`` is refused with an error naming each such object.
    Writes nothing."""
    root = dest.resolve()
    targets, refused = [], []
    for name in names:
        part = name[len(base):] if name.startswith(base) else name
        problem = _name_problem(part)
        target = dest / (part if name.startswith(base) else part.rsplit("/", 1)[-1])
        if problem is None and root not in target.resolve().parents:
            problem = f"a path outside {dest}"
        if problem:
            refused.append(f"gs://{bucket}/{name} ({problem})")
        targets.append(target)
    if refused:
        raise InputError(
            f"refusing {len(refused)} object(s) whose names do not map to a file inside {dest}; nothing was "
            "downloaded:\n    " + "\n    ".join(refused[:20]) + ("\n    ..." if len(refused) > 20 else ""),
            "an object name with '//', '.' or '..' parts, a leading '/', a backslash or NUL could write anywhere "
            "on this machine: rename or delete those objects (gcloud storage mv / rm), or name another folder",
        )
    return targets


RETRY_ENV = "DDSP_LAUNCH_GCS_RETRY_SECS"


def upload_retry():
    """How long an upload keeps retrying a dropped connection or a 5xx answer: google-cloud-storage's
    own policy, with its 120 s deadline unless DDSP_LAUNCH_GCS_RETRY_SECS names another."""
    from google.cloud.storage.retry import DEFAULT_RETRY  # noqa: PLC0415

    raw = os.environ.get(RETRY_ENV)
    if not raw:
        return DEFAULT_RETRY
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise InputError(f"{RETRY_ENV}={raw!r} is not a positive number of seconds", f"e.g. {RETRY_ENV}=300 on a flaky network")
    return DEFAULT_RETRY.with_timeout(seconds)


def make_client(project: str | None = None):
    """A storage client: Application Default Credentials, or anonymous for an emulator."""
    try:
        from google.cloud import storage  # noqa: PLC0415
        from google.auth.exceptions import DefaultCredentialsError  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise MissingDependencyError(f"google-cloud-storage is not installed ({exc})", "pip install google-cloud-storage") from exc
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials  # noqa: PLC0415

        return storage.Client(project=project or "emulator", credentials=AnonymousCredentials())
    try:
        return storage.Client(project=project)
    except DefaultCredentialsError as exc:
        raise MissingDependencyError(
            "No Google Cloud credentials found for reading gs:// paths",
            "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS "
            "to a service-account key file",
        ) from exc


def explain(exc: Exception, uri: GcsUri, doing: str) -> StorageError:
    from google.api_core import exceptions as gexc  # noqa: PLC0415

    if isinstance(exc, gexc.RetryError):  # no answer at all, retried until the deadline
        return StorageError(f"Cloud Storage did not answer while {doing} {uri} ({exc.cause or exc})",
                            "check the network connection (or STORAGE_EMULATOR_HOST), then try again")
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
    return [name for name, _, _ in describe_objects(uri, client)]


def describe_objects(uri: GcsUri, client) -> list[tuple[str, int, str | None]]:
    """(name, size, crc32c) of the objects ``list_objects`` names, sorted by name."""
    from google.api_core import exceptions as gexc  # noqa: PLC0415

    prefix = uri.glob_head if uri.has_glob else uri.folder
    pattern = uri.path if uri.has_glob else None
    try:
        bucket = client.bucket(uri.bucket)
        if not bucket.exists():
            raise gexc.NotFound(f"bucket {uri.bucket}")
        found = [(b.name, b.size or 0, b.crc32c) for b in client.list_blobs(uri.bucket, prefix=prefix) if not b.name.endswith("/")]
        if not found and uri.path and not uri.has_glob:
            single = bucket.get_blob(uri.path)
            found = [(single.name, single.size or 0, single.crc32c)] if single is not None else []
    except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
        raise explain(exc, uri, "listing") from exc
    if pattern is not None:
        found = [f for f in found if fnmatch.fnmatchcase(f[0], pattern)]
    return sorted(found)


def download(uri: GcsUri, dest: Path, client) -> Path:
    """Download one object to ``dest`` (written to a temporary name, then renamed)."""
    from google.api_core import exceptions as gexc  # noqa: PLC0415

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    try:
        client.bucket(uri.bucket).blob(uri.path).download_to_filename(str(tmp))
    except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
        tmp.unlink(missing_ok=True)
        raise explain(exc, uri, "downloading") from exc
    os.replace(tmp, dest)
    return dest
