"""Run records: what every launch did, so it can be inspected, resumed or replayed.

A record is a JSON file in $DDSP_LAUNCH_HOME/runs/ (default ~/.local/share/ddsp-launch),
also written beside the run's outputs (`ddsp-launch-run.json`, uploaded for gs://). It holds
the full resolved settings, the equivalent command line, the image and its digest, the job
name and console link, the data paths and a fingerprint of the dataset, the project's git
commit, timestamps and the final state.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
import subprocess
from pathlib import Path

from ddsp_launch.common import gcs, paths, private
from ddsp_launch.common.errors import InputError

RECORD_NAME = "ddsp-launch-run.json"


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new_id(target: str) -> str:
    return f"{dt.datetime.now():%Y%m%d-%H%M%S}-{target}-{secrets.token_hex(2)}"


def valid_id(run_id: str) -> bool:
    """A run id names files: no separators, no leading dot."""
    return bool(re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}", run_id))


def git_commit() -> str | None:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def fingerprint(data: Path) -> str:
    """A hash of a local dataset's manifest (or its files' names and sizes)."""
    folder = data if data.is_dir() else data.parent
    manifest = folder / "manifest.json"
    digest = hashlib.sha256()
    if manifest.is_file():
        digest.update(manifest.read_bytes())
    else:
        for f in sorted(folder.glob("*.tfrecord*")):
            digest.update(f"{f.name}:{f.stat().st_size}\n".encode())
    return "sha256:" + digest.hexdigest()[:16]


def write(record: dict) -> Path:
    """Write (or rewrite) the record atomically, 0600 in a 0700 folder; also beside local outputs."""
    path = private.private_dir(paths.runs_dir()) / f"{record['id']}.json"
    _atomic(path, record)
    output = record.get("settings", {}).get("output")
    if output and not gcs.is_gcs(output) and Path(output).is_dir():
        _atomic(Path(output) / RECORD_NAME, record)
    return path


def upload_beside(record: dict, output: str) -> str:
    """Copy the record beside gs:// outputs."""
    uri = gcs.GcsUri.parse(output).child(RECORD_NAME)
    client = gcs.make_client(record.get("settings", {}).get("project"))
    client.bucket(uri.bucket).blob(uri.path).upload_from_string(json.dumps(record, indent=2), content_type="application/json")
    return str(uri)


def _atomic(path: Path, record: dict) -> None:
    private.write_text(path, json.dumps(record, indent=2) + "\n")


def load(run_id: str) -> dict:
    """The record of exactly this run id (never a pattern, never a path: only the records folder is read)."""
    fix = "copy an id from `ddsp-launch runs` (e.g. 20261125-094511-auto-6e5d)"
    if not valid_id(run_id):
        raise InputError(f"{run_id!r} is not a run id (letters, digits, '-', '_' and '.', no '/')", fix)
    path = paths.runs_dir() / f"{run_id}.json"
    if not path.is_file():
        raise InputError(f"no run record {run_id!r} in {paths.runs_dir()}", fix)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        record = exc
    if not isinstance(record, dict) or "id" not in record:
        raise InputError(f"the run record {path} is damaged ({record if isinstance(record, Exception) else 'not a record'})",
                         "move it away; the run's outputs are not affected")
    return record


def logdir(record: dict) -> str:
    """Where a run's TensorBoard logs are: the folder its target named (or a TensorBoard read)."""
    board = record.get("tensorboard") or {}
    return board.get("source") or board.get("logdir") or record.get("logdir") or _older_logdir(record)


def _older_logdir(record: dict) -> str:
    """Records written before they named their logs: Vertex AI's under logs/, the rest under summaries/."""
    return paths.join(record["output"], paths.VERTEX_LOGS if record.get("target") == "vertex" else paths.SUMMARIES)


def logdir_for(run: str) -> str:
    """TensorBoard's folder for what the user named: a log folder here, gs://..., or a run id."""
    if Path(run).is_file():
        raise InputError(f"{run} is a file; TensorBoard reads a folder of event files",
                         f"give the run's folder (e.g. {Path(run).parent}) or its run id")
    if run.strip() and (Path(run).exists() or gcs.is_gcs(run)):
        return run
    if not valid_id(run):
        raise InputError(f"{run} is neither a folder here nor a run id", "give a run id from `ddsp-launch runs`, "
                         "a log folder that exists, or gs://BUCKET/PATH")
    return logdir(load(run))


def all_records() -> list[dict]:
    if not paths.runs_dir().is_dir():
        return []
    out = []
    for path in sorted(paths.runs_dir().glob("*.json"), reverse=True):
        try:
            out.append(json.loads(path.read_text()))
        except ValueError:
            continue
    return out
