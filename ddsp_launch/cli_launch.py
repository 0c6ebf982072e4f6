"""The launcher's commands: train (interactive or not), runs, rerun, tensorboard, doctor."""

from __future__ import annotations

import inspect
import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from ddsp_launch import cli_options as opts
from ddsp_launch.common.errors import InputError
from ddsp_launch.launch import settings as st
from ddsp_launch.web.uploads import DEFAULT_LIMIT_MB, DEFAULT_TOTAL_MB

runs_app = typer.Typer(help="Run records: list them, show one.", invoke_without_command=True)

TRAIN_HELP = f"""Train a model: asks what it needs in a terminal, or takes it all from flags / a config file.

With no flags in a terminal, `ddsp-launch train` (or plain `ddsp-launch`) asks where to
train, GPU or CPU, the data, the output and the hyperparameters, shows a summary with the
equivalent command line, and runs, saves or cancels. With --yes, CI=true, or no terminal
it never asks: a missing value is an error naming its flag.

Precedence: flags > --config FILE > environment (DDSP_LAUNCH_<SETTING>, e.g.
DDSP_LAUNCH_BATCH_SIZE; the project also from GOOGLE_CLOUD_PROJECT) > defaults. Data and
output paths are never taken from the environment.

Targets: {', '.join(f'{k} ({v})' for k, v in st.TARGETS.items())}.

Examples:
  ddsp-launch
  ddsp-launch train --yes --target process --data data/violin-dataset --output runs/violin --num-steps 300
  ddsp-launch train --config my-run.yaml
"""


def interactive(yes: bool) -> bool:
    return not yes and os.environ.get("CI") != "true" and sys.stdin.isatty() and sys.stdout.isatty()


def _last_path() -> Path:
    from ddsp_launch.common import paths

    return paths.last_answers()


def _with_last_answers(s: st.Settings) -> st.Settings:
    path = _last_path()
    if not path.is_file():
        return s
    try:
        last = st.read_config(path)
    except InputError:
        return s
    for name, value in last.items():
        if s.origin.get(name) == "default":
            s.values[name], s.origin[name] = value, "last answers"
    return s


def _engine_answers() -> bool:
    try:
        from ddsp_launch.adapters import docker_engine

        docker_engine.connect(timeout=5)
        return True
    except Exception:  # noqa: BLE001 - any failure means: not available
        return False


def execute(s: st.Settings, dry_run: bool = False) -> int:
    """Check, then run or submit; prints where everything is."""
    from ddsp_launch.launch import launcher

    s = launcher.finalize(s)
    plan = launcher.check(s)
    if dry_run:
        typer.echo(s.command_line())
        if s.is_cloud:
            typer.echo(json.dumps(plan.body(), indent=2))
            typer.echo(plan.gcloud_command())
        opts.say("dry run: nothing started")
        return 0
    launcher.preflight(s)
    # `ddsp-launch web` names the run it starts, to follow it
    result = launcher.launch(s, opts.say, opts.progress, run_id=os.environ.get("DDSP_LAUNCH_RUN_ID") or None)
    rec = result.record
    typer.echo(f"\nrun:          {rec['id']} ({rec['state']})")
    if rec.get("job"):
        typer.echo(f"job:          {rec['job']}\nconsole:      {rec['console']}")
    typer.echo(f"outputs:      {s.output}")
    if rec.get("tensorboard"):
        typer.echo(f"TensorBoard:  {rec['tensorboard']['url']}")
    typer.echo(f"record:       {result.record_path}   (ddsp-launch runs show {rec['id']}; ddsp-launch rerun {rec['id']})")
    return result.exit_code


def _flag_parameters() -> list[inspect.Parameter]:
    params = []
    for f in st.FIELDS:
        if f.kind is bool:
            option = typer.Option(None, f"{f.flag}/--no-{f.flag[2:]}", help=f.hint)
            kind = Optional[bool]
        elif f.kind is list:
            option, kind = typer.Option([], f.flag, help=f.hint + " (repeatable)"), list[str]
        else:
            default = f" [default: {f.default}]" if f.default not in (None, ()) else ""
            option, kind = typer.Option(None, f.flag, help=f.hint + default), Optional[f.kind]
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind))
    return params


def train(
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file of settings (keys as the flags, e.g. batch_size: 16)"),
    yes: bool = typer.Option(False, "--yes", "-y", help="never ask; take flags, config file, environment and defaults"),
    save_config: Optional[Path] = typer.Option(None, help="write the resolved settings to this file and stop"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the equivalent command (and the cloud request); start nothing"),
    **flags,
) -> None:
    run_train(config, yes, save_config, dry_run, flags)


def run_train(config: Optional[Path] = None, yes: bool = False, save_config: Optional[Path] = None,
              dry_run: bool = False, flags: Optional[dict] = None) -> None:
    s = st.resolve(flags or {}, st.read_config(config) if config else {}, os.environ)
    if interactive(yes) and not save_config:
        from ddsp_launch.launch import prompts

        s, action = prompts.interview(_with_last_answers(s), _engine_answers(), opts.say)
        st.save(s, _last_path())
        if action == "cancel":
            opts.say("cancelled; nothing was started")
            return
        if action == "save":
            import questionary

            name = questionary.text("Save to:", default="ddsp-launch-run.yaml").ask()
            if not name:
                raise typer.Exit(130)
            path = _save(s, Path(name))
            typer.echo(f"saved {path}; run it with: ddsp-launch train --config {path}")
            return
    if save_config:
        from ddsp_launch.launch import launcher

        launcher.check(launcher.finalize(s))
        path = _save(s, save_config)
        typer.echo(f"saved {path}; run it with: ddsp-launch train --config {path}")
        return
    raise typer.Exit(execute(s, dry_run))


def _save(s: st.Settings, path: Path) -> Path:
    """Write the settings file, or say why it cannot be written (nothing is left behind)."""
    if path.is_dir():
        raise InputError(f"--save-config {path} is a folder", f"give a file name, e.g. {path / 'my-run.yaml'}")
    try:
        return st.save(s, path)
    except OSError as exc:
        raise InputError(f"cannot write --save-config {path}: {exc.strerror or exc}",
                         "give a file in a folder you can write to") from None


train.__signature__ = inspect.signature(train).replace(
    parameters=[p for p in inspect.signature(train).parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD]
    + _flag_parameters())


def _in_range(value, low, high, what: str):
    if not low <= value <= high:  # NaN fails both comparisons
        raise typer.BadParameter(f"{value:g} is out of range: give {what}")
    return value


def web_cmd(
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
    from ddsp_launch.common import paths
    from ddsp_launch.web import policy, server, uploads

    space = (workspace or paths.web_workspace()).resolve()
    own = policy.server_settings({"image": image, "base_image": base_image, "push_to": push_to, "project": project}, config)
    options = server.Options(
        host, port, space, token, policy.Policy(policy.allowed_roots(space, allow_root), own),
        uploads.Limits(int(max_upload_mb * 1e6), int(max_upload_total_mb * 1e6)), tuple(allow_host), browser)
    server.serve(options, opts.say)


def register(app: typer.Typer) -> None:
    app.command("train", help=TRAIN_HELP)(train)
    app.add_typer(runs_app, name="runs")

    @app.command("rerun")
    def rerun(run_id: str = typer.Argument(..., help="a run id from `ddsp-launch runs`"),
              dry_run: bool = typer.Option(False, "--dry-run", help="print the command it replays; start nothing")) -> None:
        """Replay a recorded run with the same settings (a local run resumes from its checkpoints)."""
        from ddsp_launch.launch import records

        rec = records.load(run_id)
        values = {**{f.name: f.default for f in st.FIELDS}, **rec["settings"]}
        for f in st.FIELDS:
            if f.kind is list:
                values[f.name] = tuple(values[f.name] or ())
        s = st.Settings(values, {k: "record" for k in values})
        opts.say(f"replaying {rec['id']}: {s.command_line()}")
        raise typer.Exit(execute(s, dry_run))

    @app.command("tensorboard")
    def tensorboard_cmd(run: str = typer.Argument(..., help="a run id, a log folder, or gs://...")) -> None:
        """Start TensorBoard on a run's logs (or reuse the one already serving them); prints its URL."""
        from ddsp_launch.adapters import tensorboard
        from ddsp_launch.launch import records

        logdir = run
        if Path(run).is_file():
            raise InputError(f"{run} is a file; TensorBoard reads a folder of event files",
                             f"give the run's folder (e.g. {Path(run).parent}) or its run id")
        if not run.strip() or not (Path(run).exists() or run.startswith("gs://")):
            if not records.valid_id(run):
                raise InputError(f"{run} is neither a folder here nor a run id", "give a run id from `ddsp-launch runs`, "
                                 "a log folder that exists, or gs://BUCKET/PATH")
            logdir = records.logdir(records.load(run))
        board = tensorboard.start(logdir)
        typer.echo(f"TensorBoard: {board.url}  ({'already running' if board.reused else 'started'}, logs {board.source or board.logdir})")

    app.command("web")(web_cmd)

    @app.command("doctor")
    def doctor_cmd(
        gpu: bool = typer.Option(False, "--gpu", help="also check the NVIDIA GPU and container runtime"),
        cloud: bool = typer.Option(False, "--cloud", help="also check credentials, project and Vertex AI"),
        project: Optional[str] = typer.Option(None, envvar=["GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"]),
        region: str = typer.Option("us-central1", envvar="DDSP_LAUNCH_REGION"),
        bucket: Optional[str] = typer.Option(None, help="gs://BUCKET to check (exists, readable, in --region)"),
        registry: Optional[str] = typer.Option(None, help="image repository to check credentials for"),
    ) -> None:
        """Check this machine: Python, Docker, GPU, disk, credentials, project, APIs, bucket, registry."""
        from ddsp_launch.cloud import discovery
        from ddsp_launch.common import gcs
        from ddsp_launch.launch import doctor

        if cloud or bucket:  # names typed wrong are bad input (2), not a failed check of this machine
            discovery.check_region(region)
        if bucket:
            gcs.GcsUri.parse(bucket)
        checks = doctor.run(docker=True, gpu=gpu, cloud=cloud or bool(bucket), project=project, region=region,
                            bucket=bucket, registry=registry)
        for check in checks:
            typer.echo(check.line())
        failed = sum(not c.ok for c in checks)
        typer.echo(f"\n{len(checks) - failed} passed, {failed} failed")
        raise typer.Exit(4 if failed else 0)


@runs_app.callback()
def runs_list(ctx: typer.Context) -> None:
    """List run records, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    from ddsp_launch.common import paths
    from ddsp_launch.launch import records

    rows = records.all_records()
    if not rows:
        typer.echo(f"no runs recorded yet (records go to {paths.runs_dir()})")
        return
    typer.echo(f"{'ID':<32} {'TARGET':<8} {'STATE':<12} {'CREATED':<26} OUTPUT")
    for rec in rows:
        typer.echo(f"{rec['id']:<32} {rec.get('target', ''):<8} {rec.get('state', ''):<12} {rec.get('created', ''):<26} {rec.get('output', '')}")


@runs_app.command("show")
def runs_show(run_id: str = typer.Argument(..., help="a run id, exactly as `ddsp-launch runs` lists it")) -> None:
    """Print one run record (JSON)."""
    from ddsp_launch.launch import records

    typer.echo(json.dumps(records.load(run_id), indent=2))
