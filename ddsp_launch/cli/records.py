"""Looking after runs and this machine: runs (list, show), tensorboard, doctor, and web."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ddsp_launch.cli import options as opts
from ddsp_launch.web.uploads import DEFAULT_LIMIT_MB, DEFAULT_TOTAL_MB

runs_app = typer.Typer(help="Run records: list them, show one.", invoke_without_command=True)


@runs_app.callback()
def runs_list(ctx: typer.Context) -> None:
    """List run records, newest first."""
    from ddsp_launch.common import paths
    from ddsp_launch.launch import records

    if ctx.invoked_subcommand is not None:
        return
    rows = records.all_records()
    if not rows:
        opts.echo(f"no runs recorded yet (records go to {paths.runs_dir()})")
        return
    opts.echo(f"{'ID':<32} {'TARGET':<8} {'STATE':<12} {'CREATED':<26} OUTPUT")
    for rec in rows:
        opts.echo(f"{rec['id']:<32} {rec.get('target', ''):<8} {rec.get('state', ''):<12} {rec.get('created', ''):<26} {rec.get('output', '')}")


@runs_app.command("show")
def runs_show(run_id: str = typer.Argument(..., help="a run id, exactly as `ddsp-launch runs` lists it")) -> None:
    """Print one run record (JSON); for a local run with held-out evaluations, also its eval
    curve and best checkpoint (in the JSON as "evaluations", and as a table on stderr)."""
    from ddsp_launch.common import eval_log, gcs
    from ddsp_launch.launch import records

    record = records.load(run_id)
    output = record.get("output")
    folder = Path(output) if output and not gcs.is_gcs(output) else None
    evals = eval_log.entries(folder) if folder and folder.is_dir() else []
    if evals:
        record = {**record, "evaluations": {"best": eval_log.best(folder), "eval_log": evals}}
    opts.echo(json.dumps(record, indent=2))
    if evals:
        best = record["evaluations"]["best"]
        opts.say(f"held-out evaluations ({output}/eval.jsonl); best checkpoint: "
                 + (f"step {best['step']} ({output}/{best['checkpoint']})" if best else "none kept"))
        for line in eval_log.table(folder):
            opts.say("  " + line)


def tensorboard(run: str = typer.Argument(..., help="a run id, a log folder, or gs://...")) -> None:
    """Start TensorBoard on a run's logs (or reuse the one already serving them); prints its URL."""
    from ddsp_launch.adapters import tensorboard as tb
    from ddsp_launch.launch import records

    board = tb.start(records.logdir_for(run))
    opts.echo(f"TensorBoard: {board.url}  ({'already running' if board.reused else 'started'}, logs {board.source or board.logdir})")


def doctor(
    gpu: bool = typer.Option(False, "--gpu", help="also check the NVIDIA GPU and container runtime"),
    cloud: bool = typer.Option(False, "--cloud", help="also check credentials, project and Vertex AI"),
    project: Optional[str] = typer.Option(None, envvar=["GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"]),
    region: str = typer.Option("us-central1", envvar="DDSP_LAUNCH_REGION"),
    bucket: Optional[str] = typer.Option(None, help="gs://BUCKET to check (exists, readable, in --region)"),
    registry: Optional[str] = typer.Option(None, help="image repository to check credentials for"),
) -> None:
    """Check this machine: Python, Docker, GPU, disk, credentials, project, APIs, bucket, registry."""
    from ddsp_launch.launch import doctor as checks_of

    checks = checks_of.run(docker=True, gpu=gpu, cloud=cloud or bool(bucket), project=project, region=region,
                           bucket=bucket, registry=registry)
    for check in checks:
        opts.echo(check.line())
    failed = sum(not c.ok for c in checks)
    opts.echo(f"\n{len(checks) - failed} passed, {failed} failed\n")
    for line in checks_of.abilities(checks):
        opts.echo(line)
    raise typer.Exit(4 if failed else 0)


def _in_range(value, low, high, what: str):
    if not low <= value <= high:  # NaN fails both comparisons
        raise typer.BadParameter(f"{value:g} is out of range: give {what}")
    return value


def web(
    port: int = typer.Option(8765, callback=lambda v: _in_range(v, 0, 65535, "a port from 0 to 65535 (0: any free one)"),
                             help="port to listen on (0: any free one, printed)"),
    host: str = typer.Option("127.0.0.1", help="address to listen on (any other than this machine's loopback "
                             "reaches other machines)"),
    token: Optional[str] = typer.Option(None, envvar="DDSP_LAUNCH_WEB_TOKEN",
                                        help="the token the pages need (16+ URL-safe characters) [default: random]"),
    browser: bool = typer.Option(True, "--browser/--no-browser", help="open the printed URL in your browser"),
    workspace: Optional[Path] = typer.Option(None, help="where uploads and run configs go [default: DDSP_LAUNCH_HOME/web]"),
    allow_root: list[Path] = typer.Option([], help="a folder a page may name for data or outputs, besides the "
                                          "workspace and your home (repeatable)"),
    allow_host: list[str] = typer.Option([], help="a host name the server answers to, besides its address and "
                                         "localhost (repeatable; for --host 0.0.0.0)"),
    max_upload_mb: float = typer.Option(float(DEFAULT_LIMIT_MB), callback=lambda v: _in_range(v, 0.001, 1e7, "MB above 0"),
                                        help="largest audio file accepted, in MB"),
    max_upload_total_mb: float = typer.Option(float(DEFAULT_TOTAL_MB), callback=lambda v: _in_range(v, 0.001, 1e9, "MB above 0"),
                                              help="most MB one run's upload holds"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML of the server's own settings: image, base_image, "
                                          "push_to, project"),
    image: Optional[str] = typer.Option(None, help="the training image runs use (a page cannot choose it)"),
    base_image: Optional[str] = typer.Option(None, help="the base image of a local build (a page cannot choose it)"),
    push_to: Optional[str] = typer.Option(None, help="where a built image is pushed (a page cannot choose it)"),
    project: Optional[str] = typer.Option(None, help="the Google Cloud project billed (a page cannot choose it)"),
) -> None:
    """Start the web interface: upload audio, launch and watch runs, download the model, hear it."""
    from ddsp_launch.web import server, uploads

    own = {"image": image, "base_image": base_image, "push_to": push_to, "project": project}
    limits = uploads.Limits(int(max_upload_mb * 1e6), int(max_upload_total_mb * 1e6))
    server.serve(server.Options.build(host, port, workspace, token, allow_root, allow_host, limits, own, config, browser), opts.say)


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
    app.command("tensorboard")(tensorboard)
    app.command("doctor")(doctor)
    app.command("web")(web)
