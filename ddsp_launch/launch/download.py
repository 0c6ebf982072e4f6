"""`ddsp-launch download`: a trained model (or a whole folder) from Cloud Storage, named by its
gs:// folder, a run id or a Vertex AI job id.

With a folder that holds checkpoints (directly or in checkpoints/, as Vertex AI writes them),
only one complete checkpoint (the best by held-out loss when the run kept one in best/, else
the newest; ``which`` to choose), the newest operative config and the dataset statistics
are fetched, each checked against its CRC32C; files already here with the same checksum are
skipped. Otherwise (or with `everything`) the whole folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ddsp_launch.common import gcs, model_files
from ddsp_launch.common.errors import InputError

Progress = Callable[[str, int], object]  # (what, total bytes) -> a context giving advance(n)


@dataclass
class Downloaded:
    summary: str
    model: str | None = None  # "DEST (ckpt-N)" for a model
    notes: list[str] = field(default_factory=list)


def source(src: str, project: str | None, region: str | None) -> tuple[gcs.GcsUri, str | None]:
    """(the gs:// folder, the gs:// dataset folder its statistics may be in, or None) for a path, run id or job id."""
    if gcs.is_gcs(src):
        return gcs.GcsUri.parse(src), None
    if re.fullmatch(r"[0-9]+", src) or src.startswith("projects/"):
        from ddsp_launch.adapters import vertex

        client = vertex.for_project(project, region)
        job = client.get(client.resolve(src))
        spec = job.get("jobSpec") or job.get("trialJobSpec") or {}
        base = (spec.get("baseOutputDirectory") or {}).get("outputUriPrefix")
        if not base:
            raise InputError(f"job {src} has no baseOutputDirectory", "download its output folder by its gs:// path")
        return gcs.GcsUri.parse(base), _dataset_from_args(spec)
    from ddsp_launch.launch import records

    rec = records.load(src)
    if not gcs.is_gcs(rec.get("output", "")):
        raise InputError(f"run {rec['id']} wrote to {rec.get('output')} on this machine: nothing to download",
                         f"use the folder as it is: ddsp-launch transfer {rec.get('output')} ...")
    data = rec.get("uploaded_data") or rec.get("settings", {}).get("data", "")
    return gcs.GcsUri.parse(rec["output"]), data.rstrip("/") if gcs.is_gcs(data) and "*" not in data else None


def _dataset_from_args(spec: dict) -> str | None:
    for pool in spec.get("workerPoolSpecs") or []:
        for arg in (pool.get("containerSpec") or {}).get("args") or []:
            if arg.startswith("--file_pattern=gs://"):
                return arg.split("=", 1)[1].rsplit("/", 1)[0]
    return None


def _statistics_object(candidates: list[str], model: gcs.GcsUri, client) -> tuple:
    """(object name, size, crc32c) of the first of these statistics files that exists (the safe
    format first); it must be in the bucket of ``model`` (the model's gs:// folder)."""
    for candidate in candidates:
        parsed = gcs.GcsUri.parse(candidate)
        blob = client.bucket(parsed.bucket).get_blob(parsed.path)
        if blob is not None:
            if parsed.bucket != model.bucket:
                raise InputError("the statistics must be in the model's bucket", "copy them beside the checkpoints")
            return parsed.path, blob.size or 0, blob.crc32c
    raise InputError(f"no dataset statistics at {' or '.join(candidates)}", f"pass --statistics gs://.../{model_files.STATISTICS}")


def download(src: str, dest: Path, everything: bool, statistics: str | None, project: str | None, region: str | None,
             progress: Progress, which: str | int = model_files.DEFAULT) -> Downloaded:
    from ddsp_launch.adapters import storage

    if dest.exists() and not dest.is_dir():
        raise InputError(f"{dest} is a file", "give a folder to download into (a new one, or one of yours)")
    uri, dataset = source(src, project, region)
    candidates = [statistics] if statistics else [f"{dataset}/{n}" for n in model_files.STATISTICS_NAMES] if dataset else []
    client = gcs.make_client(project)
    model = None if everything else storage.model_in(uri, client, which)
    if model is None and which not in (model_files.DEFAULT, model_files.NEWEST) and storage.model_in(uri, client, model_files.NEWEST):
        raise InputError(f"{uri} holds no complete {model_files.describe_choice(which)}",
                         "--checkpoint newest, or the step of a checkpoint there (best needs a run with an eval split)")
    if model is None:
        blobs = storage.plan_download(uri, client)
        with progress(f"downloading {uri}", sum(size for _, size, _ in blobs)) as advance:
            return Downloaded(storage.download(uri, dest, client, advance).summary("downloaded"))
    found, files = model
    if candidates and found.statistics is None:
        files.append(_statistics_object(candidates, uri, client))
    with progress(f"downloading the model in gs://{uri.bucket}/{found.folder}", sum(f[1] for f in files)) as advance:
        done = storage.download_files(uri.bucket, found.folder, files, dest, client, advance)
    out = Downloaded(done.summary("downloaded"), f"{dest} ({found.checkpoint[len(found.folder):]})")
    if model_files.statistics_in(dest) is None:
        out.notes.append(f"note: no {model_files.STATISTICS} came with it; `ddsp-launch transfer` needs --statistics "
                         "(or pass --statistics here)")
    return out
