"""Moving a run's files to and from Cloud Storage, and checking a bucket before a job.

Uploads and downloads skip files whose CRC32C already matches (so a rerun after an
interruption sends only what is missing), show a byte progress bar, and write downloads
under a temporary name first. `check_bucket` runs before a Vertex AI job is submitted: the
bucket exists, this account can read it, and it sits where the job runs.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ddsp_launch.common import gcs, model_files
from ddsp_launch.common.errors import InputError, NothingThere, StorageError

# Dual-region buckets and the regions they span (multi-regions are matched by prefix below).
DUAL_REGIONS = {
    "nam4": ("us-central1", "us-east1"),
    "eur4": ("europe-north1", "europe-west4"),
    "eur5": ("europe-west1", "europe-west2"),
    "eur7": ("europe-west3", "europe-west10"),
    "eur8": ("europe-west3", "europe-west6"),
    "asia1": ("asia-northeast1", "asia-northeast2"),
}
MULTI_REGIONS = {"us": "us-", "eu": "europe-", "asia": "asia-"}

Progress = Callable[[int], None]  # bytes just moved


@dataclass
class Transfer:
    """What an upload or download did."""

    sent: list[str]
    skipped: list[str]
    bytes_sent: int

    def summary(self, verb: str) -> str:
        mib = self.bytes_sent / 2**20
        return f"{verb} {len(self.sent)} file(s), {mib:.1f} MiB; {len(self.skipped)} already there (same checksum)"


def crc32c(path: Path) -> str:
    """The base64 CRC32C of a file, as Cloud Storage reports it."""
    import google_crc32c  # noqa: PLC0415 - a dependency of google-cloud-storage

    checksum = google_crc32c.Checksum()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            checksum.update(chunk)
    return base64.b64encode(checksum.digest()).decode()


def local_files(src: Path) -> list[Path]:
    if src.is_file():
        return [src]
    if not src.is_dir():
        raise InputError(f"{src} does not exist", "give a local folder or file to upload")
    files = sorted(p for p in src.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(src).parts)
                   and not p.name.endswith(".part"))
    if not files:
        raise InputError(f"{src} holds no files to upload")
    return files


def plan_upload(src: Path, dest: gcs.GcsUri) -> list[tuple[Path, gcs.GcsUri]]:
    files = local_files(src)
    base = src.parent if src.is_file() else src
    return [(f, dest.child(f.relative_to(base).as_posix())) for f in files]


def upload(src: Path, dest: gcs.GcsUri, client, progress: Progress | None = None) -> Transfer:
    from google.api_core import exceptions as gexc  # noqa: PLC0415

    pairs = plan_upload(src, dest)
    try:
        remote = {b.name: b.crc32c for b in client.list_blobs(dest.bucket, prefix=dest.path.rstrip("/"))}
    except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
        raise gcs.explain(exc, dest, "listing") from exc
    done = Transfer([], [], 0)
    for path, uri in pairs:
        size = path.stat().st_size
        if remote.get(uri.path) == crc32c(path):
            done.skipped.append(str(uri))
        else:
            try:
                client.bucket(uri.bucket).blob(uri.path).upload_from_filename(str(path), checksum="crc32c")
            except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
                raise gcs.explain(exc, uri, "uploading to") from exc
            done.sent.append(str(uri))
            done.bytes_sent += size
        if progress:
            progress(size)
    return done


def plan_download(src: gcs.GcsUri, client) -> list[tuple[str, int, str | None]]:
    """(object name, size, crc32c) under ``src``."""
    from google.api_core import exceptions as gexc  # noqa: PLC0415

    prefix = src.path.rstrip("/") + "/" if src.path else ""
    try:
        if not client.bucket(src.bucket).exists():
            raise gexc.NotFound(f"bucket {src.bucket}")
        blobs = [(b.name, b.size or 0, b.crc32c) for b in client.list_blobs(src.bucket, prefix=prefix) if not b.name.endswith("/")]
    except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
        raise gcs.explain(exc, src, "listing") from exc
    if not blobs:
        raise NothingThere(f"nothing under {src}", "check the path: `gcloud storage ls " + str(src) + "`")
    return blobs


def download(src: gcs.GcsUri, dest: Path, client, progress: Progress | None = None, replace: bool = False) -> Transfer:
    return download_files(src.bucket, src.folder, plan_download(src, client), dest, client, progress, replace)


def model_in(src: gcs.GcsUri, client, which: str | int = model_files.DEFAULT
             ) -> tuple[model_files.ModelFiles, list[tuple[str, int, str | None]]] | None:
    """The model in a bucket folder (``model_files.choose``: the best checkpoint by default, else
    the newest), with [(object name, size, crc32c)] of its files."""
    blobs = {name: (name, size, crc) for name, size, crc in plan_download(src, client)}
    model = model_files.choose(blobs, src.path.rstrip("/") + "/" if src.path else "", label=str(src), which=which)
    return None if model is None else (model, [blobs[n] for n in model.names])


def download_files(bucket: str, folder: str, files: list[tuple[str, int, str | None]], dest: Path, client,
                   progress: Progress | None = None, replace: bool = False) -> Transfer:
    """Download these objects of one folder into ``dest`` (others, such as the statistics, beside them),
    each checked against its CRC32C. Every name is checked (``gcs.local_paths``) before any is written,
    and so is every file already there: one with other content is replaced only with ``replace``
    (a cache of ours, such as TensorBoard's copy of gs:// logs), never in a user's folder."""
    done = Transfer([], [], 0)
    targets = gcs.local_paths(bucket, [name for name, _, _ in files], folder, dest)
    if dest.exists() and not dest.is_dir():
        raise InputError(f"{dest} is a file", "give a folder to download into")
    clashes = [t for (_, _, checksum), t in zip(files, targets)
               if (t.exists() or t.is_symlink()) and not (t.is_file() and not t.is_symlink() and checksum and crc32c(t) == checksum)]
    if clashes and not replace:
        shown = ", ".join(str(t) for t in clashes[:5]) + (f" and {len(clashes) - 5} more" if len(clashes) > 5 else "")
        raise InputError(f"the download would replace files already here with other content: {shown}",
                         "download into a new or empty folder, or move those files away first; nothing was written")
    for (name, size, checksum), target in zip(files, targets):
        if target.is_file() and checksum and crc32c(target) == checksum:
            done.skipped.append(str(target))
        else:
            gcs.download(gcs.GcsUri(bucket, name), target, client)
            if checksum and crc32c(target) != checksum:
                target.unlink()
                raise StorageError(f"{target}: checksum differs from gs://{bucket}/{name} after download", "run the download again")
            done.sent.append(str(target))
            done.bytes_sent += size
        if progress:
            progress(size)
    return done


def region_matches(location: str, region: str) -> bool:
    location, region = location.lower(), region.lower()
    if location == region:
        return True
    if location in MULTI_REGIONS:
        return region.startswith(MULTI_REGIONS[location])
    return region in DUAL_REGIONS.get(location, ())


def check_bucket(uri: gcs.GcsUri, region: str, client, allow_cross_region: bool = False) -> str:
    """The bucket's location; raise when it is missing, unreadable or elsewhere than ``region``."""
    from google.api_core import exceptions as gexc  # noqa: PLC0415

    try:
        bucket = client.get_bucket(uri.bucket)
        next(iter(client.list_blobs(uri.bucket, max_results=1)), None)  # can we read it?
    except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
        raise gcs.explain(exc, uri, "checking") from exc
    location = bucket.location or ""
    if not allow_cross_region and not region_matches(location, region):
        raise InputError(
            f"bucket gs://{uri.bucket} is in {location}, but the job would run in {region}: every read crosses regions "
            "(slower, and charged)",
            f"use a bucket in {region} (gcloud storage buckets create gs://NAME --location={region}), "
            f"or submit with --region matching the bucket, or pass --allow-cross-region",
        )
    return location


def check_buckets(uris: list[gcs.GcsUri], project: str, region: str, allow_cross_region: bool,
                  say: Callable[[str], None]) -> None:
    """Check the buckets a Vertex AI job reads and writes, each once."""
    client = gcs.make_client(project)
    seen = set()
    for uri in uris:
        if uri.bucket not in seen:
            seen.add(uri.bucket)
            location = check_bucket(uri, region, client, allow_cross_region)
            say(f"bucket gs://{uri.bucket}: reachable, location {location}")


def total_bytes(paths: list[Path]) -> int:
    return sum(os.path.getsize(p) for p in paths)
