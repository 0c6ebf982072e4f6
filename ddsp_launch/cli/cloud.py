"""Google Cloud commands: jobs (list, status, logs, cancel, resubmit), upload, download.
(`submit` is one of the doors in cli/train.py.)"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import typer

from ddsp_launch.cli import options as opts

PROJECT = typer.Option(None, "--project", envvar=["GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"],
                       help="Google Cloud project id [env: GOOGLE_CLOUD_PROJECT]")
REGION = typer.Option(None, "--region", envvar=["DDSP_LAUNCH_REGION", "CLOUDSDK_AI_REGION"],
                      help="Vertex AI region; the data bucket should be there too [default: us-central1]")
JOB = typer.Argument(..., help="job id or full name")

jobs_app = typer.Typer(help="Vertex AI jobs: list, status, logs, cancel, resubmit.", no_args_is_help=True)


def _client(project: Optional[str], region: Optional[str]):
    from ddsp_launch.adapters import vertex

    return vertex.for_project(project, region)


@jobs_app.command("list")
def jobs_list(project: Optional[str] = PROJECT, region: Optional[str] = REGION,
              limit: int = typer.Option(20, min=1, help="newest N jobs")) -> None:
    """List custom and tuning jobs, newest first."""
    from ddsp_launch.adapters import vertex

    rows = list(vertex.iter_states(_client(project, region).list(limit)))
    if not rows:
        opts.echo("no jobs in this project and region")
        return
    opts.echo(f"{'ID':<20} {'KIND':<7} {'STATE':<20} {'CREATED':<20} NAME")
    for jid, kind, display, state, created in rows:
        opts.echo(f"{jid:<20} {kind:<7} {state:<20} {created:<20} {display}")


@jobs_app.command("status")
def jobs_status(job: str = JOB, project: Optional[str] = PROJECT, region: Optional[str] = REGION) -> None:
    """Show a job's state, times, error and console link."""
    from ddsp_launch.adapters import vertex

    client = _client(project, region)
    info = client.get(client.resolve(job))
    opts.echo(f"job:      {info['name']}")
    opts.echo(f"name:     {info.get('displayName', '')}")
    opts.echo(f"state:    {info.get('state', '').removeprefix('JOB_STATE_')}")
    for key in ("createTime", "startTime", "endTime"):
        if info.get(key):
            opts.echo(f"{key[:-4] + ':':<9} {info[key]}")
    if info.get("trials"):
        done = sum(t.get("state") == "SUCCEEDED" for t in info["trials"])
        opts.echo(f"trials:   {len(info['trials'])} started, {done} succeeded")
    if info.get("error"):
        opts.echo(f"error:    {info['error'].get('message', '')}")
    if "/customJobs/" in info["name"]:
        from ddsp_launch.cloud import prices
        from ddsp_launch.launch import records

        for line in prices.job_so_far(info, records.now()):
            opts.echo(line)
    opts.echo(f"console:  {vertex.console_url(info['name'])}")


@jobs_app.command("logs")
def jobs_logs(job: str = JOB, project: Optional[str] = PROJECT, region: Optional[str] = REGION,
              follow: bool = typer.Option(False, "--follow", "-f", help="keep printing until the job ends"),
              interval: float = typer.Option(15.0, min=0.0, help="seconds between polls with --follow")) -> None:
    """Print a job's logs from Cloud Logging."""
    from ddsp_launch.adapters import vertex

    client = _client(project, region)
    name = client.resolve(job)
    if follow:
        vertex.follow_to_end(client, name, interval, opts.echo)
        return
    for line in client.log_lines(name):
        opts.echo(line.format())


@jobs_app.command("cancel")
def jobs_cancel(job: str = JOB, project: Optional[str] = PROJECT, region: Optional[str] = REGION) -> None:
    """Cancel a running job (checkpoints written so far stay in its output folder)."""
    client = _client(project, region)
    name = client.resolve(job)
    client.cancel(name)
    opts.echo(f"cancelling {name}")


@jobs_app.command("resubmit")
def jobs_resubmit(job: str = JOB, project: Optional[str] = PROJECT, region: Optional[str] = REGION,
                  dry_run: bool = typer.Option(False, "--dry-run", help="print the request; submit nothing")) -> None:
    """Submit a job again with the same request (it resumes from the checkpoints in its output folder)."""
    from ddsp_launch.adapters import vertex
    from ddsp_launch.cloud import jobs

    client = _client(project, region)
    name = client.resolve(job)
    kind, body = jobs.resubmission(name, client.get(name))
    if dry_run:
        opts.echo(json.dumps(body, indent=2))
        return
    again = client.create(kind, body)
    opts.echo(f"submitted: {again['name']} (again, from {name})")
    opts.echo(f"state:     {again.get('state', '').removeprefix('JOB_STATE_')}")
    opts.echo(f"console:   {vertex.console_url(again['name'])}")
    opts.echo(f"logs:      ddsp-launch jobs logs {vertex.job_id(again['name'])} --follow")


def upload(src: Path = typer.Argument(..., help="local folder or file (audio, or a prepared dataset)"),
           dest: str = typer.Argument(..., help="gs://BUCKET/PATH"),
           region: Optional[str] = typer.Option(None, help="also check that the bucket is in this Vertex AI region"),
           project: Optional[str] = PROJECT) -> None:
    """Upload to Cloud Storage, skipping files already there with the same checksum."""
    from ddsp_launch.adapters import storage
    from ddsp_launch.cloud import discovery
    from ddsp_launch.common import gcs

    uri = gcs.GcsUri.parse(dest)
    if region:
        discovery.check_region(region)
    pairs = storage.plan_upload(src, uri)
    client = gcs.make_client(project)
    if region:
        storage.check_bucket(uri, region, client)
    with _bytes_progress(f"uploading to {uri}", storage.total_bytes([p for p, _ in pairs])) as advance:
        done = storage.upload(src, uri, client, advance)
    opts.echo(done.summary("uploaded"))


def download(src: str = typer.Argument(..., help="gs://BUCKET/PATH, a run id (`ddsp-launch runs`) or a Vertex AI job id"),
             dest: Path = typer.Argument(..., help="local folder"),
             everything: bool = typer.Option(False, "--all", help="the whole folder, not just the model"),
             statistics: Optional[str] = typer.Option(None, help="gs:// dataset_statistics.json (or ddsp's .pkl) to fetch with the model"),
             checkpoint: str = typer.Option("default", help="best (by held-out loss), newest, or a step number "
                                                             "[default: best when the run kept one, else newest]"),
             project: Optional[str] = PROJECT, region: Optional[str] = REGION) -> None:
    """Download a trained model (best or newest complete checkpoint, operative config, dataset statistics) or a whole folder.

    With a folder that holds checkpoints (directly or in checkpoints/, as Vertex AI writes
    them), only one complete checkpoint (the best by held-out loss when the run kept one,
    else the newest; --checkpoint to choose), the newest operative config and the
    dataset statistics are fetched, each checked against its CRC32C; files already here
    with the same checksum are skipped. Otherwise (or with --all) the whole folder."""
    from ddsp_launch.launch import download as fetch

    from ddsp_launch.common import model_files

    done = fetch.download(src, dest, everything, statistics, project, region, _bytes_progress, model_files.parse_choice(checkpoint))
    opts.echo(done.summary)
    if done.model:
        opts.echo(f"model: {done.model}")
    for note in done.notes:
        opts.say(note)


class _bytes_progress:
    """A rich progress bar in bytes on stderr; a callable that advances it."""

    def __init__(self, what: str, total: int):
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

        self.progress = Progress("{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                                 console=Console(stderr=True), transient=False, disable=os.environ.get("CI") == "true")
        self.task = self.progress.add_task(what, total=total)

    def __enter__(self):
        self.progress.start()
        return lambda n: self.progress.advance(self.task, n)

    def __exit__(self, *exc):
        self.progress.stop()


def prices(write: Optional[Path] = typer.Option(None, "--write", metavar="FILE",
                                               help="write the table in use as JSON (to edit, then DDSP_LAUNCH_PRICE_TABLE=FILE)")) -> None:
    """Show the price and speed table the launch preview and --max-cost use (its date and source)."""
    from ddsp_launch.cloud import prices as table_of
    from ddsp_launch.common.errors import InputError

    table = table_of.load()
    data = {"date": table.date, "source": table.source, "currency": "USD", "regions": table.regions, "speeds": table.speeds}
    if write is not None:
        if write.exists() or not write.parent.is_dir():
            raise InputError(f"--write {write}: " + ("it exists (nothing is written over)" if write.exists()
                                                     else "its folder does not exist"), "name a new file")
        part = write.with_name(f".{write.name}.part")
        part.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(part, write)
        opts.echo(f"wrote {write}")
        return
    opts.echo(f"price table {table.date} ({table.origin}); source: {table.source}")
    for region, kinds in table.regions.items():
        for kind, rows in kinds.items():
            for name, (on_demand, spot) in rows.items():
                opts.echo(f"  {region:<14} {kind[:-1]:<12} {name:<22} ${on_demand}/h on demand, "
                          + (f"${spot}/h spot" if spot is not None else "spot unknown"))
    for name, s in table.speeds.items():
        opts.echo(f"  speed {name}: {s['steps_per_sec']} steps/s at batch {s['batch_size']} ({s['source']})")


def register(app: typer.Typer) -> None:
    app.add_typer(jobs_app, name="jobs")
    app.command("prices")(prices)
    app.command("upload")(upload)
    app.command("download")(download)
