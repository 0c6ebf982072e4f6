"""The ddsp-launch command line. Thin: it gathers input and calls the library."""

from __future__ import annotations

import dataclasses
import os
import sys
import warnings
from pathlib import Path
from typing import Optional

import typer

from ddsp_launch import __version__
from ddsp_launch.runtime import process
from ddsp_launch.common.errors import LaunchError
from ddsp_launch import cli_cloud, cli_launch, cli_options as opts
from ddsp_launch.spec import TrainingParams

app = typer.Typer(
    name="ddsp-launch",
    help="Train your own DDSP timbre model, locally or on Google Cloud. With no command, in a terminal: asks what it needs.",
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _no_command(ctx: typer.Context) -> None:
    """`ddsp-launch` alone: the interactive launcher in a terminal, the help elsewhere."""
    if ctx.invoked_subcommand is not None:
        return
    if cli_launch.interactive(yes=False):
        cli_launch.run_train()
        return
    typer.echo(ctx.get_help())
    raise typer.Exit(0)

PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def _run_trainer_module(ctx: typer.Context, command: str, module: str) -> None:
    """Run a container-side entry point here; its options (and --help) are defined once, there."""
    args = list(ctx.args)
    if not any(a in ("-h", "--help") for a in args):
        process.require_trainer_stack(f"`ddsp-launch {command}`")
    os.environ["DDSP_LAUNCH_PROG"] = f"ddsp-launch {command}"
    raise typer.Exit(process.run_module(module, args))


PREPARE_HELP = """Turn a folder of recordings into a DDSP training dataset.

INPUT is a folder, file, glob or gs://BUCKET/PREFIX of wav/flac/ogg/mp3 files (any rate,
depth or channel count); OUTPUT_DIR a new or empty local folder. Writes sharded
TFRecords, dataset_statistics.json and manifest.json. Run `ddsp-launch prepare --help`
for all options.

Example: ddsp-launch prepare data/examples/violin data/violin-dataset --eval-fraction 0.1
"""


@app.command(
    "prepare",
    help=PREPARE_HELP,
    context_settings=PASSTHROUGH,
)
def prepare(ctx: typer.Context) -> None:
    _run_trainer_module(ctx, "prepare", "ddsp_launch.trainer.prepare")


TASK_HELP = """Run the trainer itself (the container's task.py) on this machine, with its own flags.

Takes the trainer's own flags (the original DDSP-Docker task.py's): run
`ddsp-launch task --help` for all of them. Resumes from the newest checkpoint in
--save_dir; Ctrl-C saves a checkpoint first.

Example: ddsp-launch task --save_dir runs/violin --file_pattern 'data/violin-dataset/train.tfrecord*' --batch_size 4 --num_steps 300
"""


@app.command(
    "task",
    help=TASK_HELP,
    context_settings=PASSTHROUGH,
)
def task(ctx: typer.Context) -> None:
    _run_trainer_module(ctx, "task", "ddsp_launch.trainer.task")


TRANSFER_HELP = """Play a recording's melody with the instrument your model learned (timbre transfer).

MODEL is a training output folder (ckpt-N.*, operative_config-N.gin); INPUT any
recording (wav/flac/ogg/mp3, any rate or channels); writes 16 kHz wav. Octave shift and
loudness matching are automatic (flags to change them). Run
`ddsp-launch transfer --help` for all options.

Example: ddsp-launch transfer runs/violin my-melody.wav -o violin-melody.wav --statistics data/violin-dataset/dataset_statistics.json
"""


@app.command("transfer", help=TRANSFER_HELP, context_settings=PASSTHROUGH)
def transfer(ctx: typer.Context) -> None:
    _run_tool(ctx, "transfer")


EXPORT_HELP = """Export a trained model to run with TensorFlow alone: a SavedModel (and TFLite with --tflite).

MODEL is a training output folder (or one `ddsp-launch download` filled); writes
MODEL/export (or -o DIR) with saved_model/, ddsp-model.json (inputs, rates, a check
value) and the dataset statistics. Run `ddsp-launch export --help` for all options.

Example: ddsp-launch export runs/violin -o violin-export --tflite
"""


@app.command("export", help=EXPORT_HELP, context_settings=PASSTHROUGH)
def export(ctx: typer.Context) -> None:
    _run_tool(ctx, "export")


def _run_tool(ctx: typer.Context, command: str) -> None:
    """transfer / export: here (training stack installed) or in the training image."""
    from ddsp_launch.runtime import tools  # noqa: PLC0415

    host, args = tools.split_host_options(list(ctx.args))
    os.environ["DDSP_LAUNCH_PROG"] = f"ddsp-launch {command}"
    if any(a in ("-h", "--help") for a in args):
        tools.tool_args.PARSERS[command]().parse_args(["--help"])
    runtime = host.get("runtime", "auto")
    if runtime not in ("auto", "process", "docker"):
        raise typer.BadParameter(f"{runtime!r}: choose auto, process or docker", param_hint="--runtime")
    chosen, engine = tools.choose(runtime, opts.say)
    if chosen == "process":
        raise typer.Exit(process.run_module(tools.MODULES[command], args))
    image = host.get("image") or tools.cpu_image(engine, host.get("base_image"), opts.say, opts.progress)
    raise typer.Exit(tools.run_in_image(command, args, image, engine, opts.say))


BUILD_HELP = """Build the training image (and push it with --push).

The tag is a hash of the Dockerfile, the lock files and the code: an unchanged checkout
is not rebuilt, and a registry that has the tag is not pushed to. Behind a
TLS-intercepting proxy, pip in the build uses --ca-bundle (or PIP_CERT /
REQUESTS_CA_BUNDLE / SSL_CERT_FILE); the bundle never reaches the image.

Examples:
  ddsp-launch build --cpu
  ddsp-launch build --gpu --push us-central1-docker.pkg.dev/my-project/ddsp/trainer
"""


@app.command("build", help=BUILD_HELP)
def build_cmd(
    gpu: bool = typer.Option(True, "--gpu/--cpu", help="NVIDIA GPU image (Dockerfile) or CPU image (Dockerfile.cpu)"),
    base_image: Optional[str] = typer.Option(None, help="base image with Python 3.11 [default: python:3.11-slim-bookworm]"),
    ca_bundle: Optional[Path] = typer.Option(None, help="PEM CA bundle for pip behind a TLS-intercepting proxy"),
    push: Optional[str] = typer.Option(None, metavar="REPOSITORY", help="push here, e.g. REGION-docker.pkg.dev/PROJECT/REPO/IMAGE or HOST:PORT/NAME"),
    registry_user: Optional[str] = typer.Option(None, help="user name for --push (password from DDSP_LAUNCH_REGISTRY_PASSWORD); Artifact Registry uses your Application Default Credentials"),
    no_cache: bool = typer.Option(False, "--no-cache", help="rebuild every layer (when the tag does not exist yet)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the Dockerfile and the docker commands; do nothing"),
    write_dockerfiles: bool = typer.Option(False, "--write-dockerfiles", help="rewrite Dockerfile, Dockerfile.cpu and .dockerignore from the template, then stop"),
) -> None:
    from ddsp_launch.image import build as image_build
    from ddsp_launch.image import dockerfile
    from ddsp_launch.spec import resolve_ca_bundle

    if write_dockerfiles:
        for path in dockerfile.write_committed_files():
            typer.echo(f"wrote {path}")
        return
    spec = image_build.BuildSpec(
        variant="gpu" if gpu else "cpu", base_image=base_image or dockerfile.DEFAULT_BASE_IMAGE,
        ca_bundle=resolve_ca_bundle(ca_bundle), push_to=push, registry_user=registry_user,
    )
    plan = image_build.plan(spec)
    if dry_run:
        _print_build_plan(plan)
        return
    from ddsp_launch.adapters import docker_engine

    engine = docker_engine.connect()
    opts.say(f"building {plan.local_ref} from {spec.base_image} (context: {plan.describe_context()})")
    result = image_build.build(plan, engine, opts.progress, warn=opts.say, no_cache=no_cache)
    typer.echo(f"image:  {result.image}  ({'built' if result.built else 'up to date, not rebuilt'})")
    typer.echo(f"id:     {result.image_id}")
    if result.remote:
        typer.echo(f"pushed: {result.remote}  ({'pushed' if result.pushed else 'registry had it, not pushed'})")
        typer.echo(f"digest: {result.digest}")
        typer.echo(f"pull:   {result.pinned_ref}")
    typer.echo(f"record: {result.record}")


RUN_HELP = """Train on this machine, in the training image (Docker) or as a local process.

DATA is a folder written by `ddsp-launch prepare` (or a TFRecord glob, or gs://...);
OUTPUT a folder (or gs://...) for checkpoints and TensorBoard summaries. A rerun with
the same OUTPUT resumes; Ctrl-C stops cleanly after saving a checkpoint. Flags after
`--` go to the trainer as they are (see `ddsp-launch task --help`).

Examples:
  ddsp-launch run data/violin-dataset runs/violin --cpu --num-steps 300
  ddsp-launch run gs://my-bucket/violin gs://my-bucket/runs/violin --gpu -- --gin_param 'RnnFcDecoder.rnn_channels = 256'
"""


@app.command("run", help=RUN_HELP, context_settings={"allow_extra_args": True})
@opts.training_options
def run_cmd(
    ctx: typer.Context,
    data: str = typer.Argument(..., help="prepared dataset folder, TFRecord glob, or gs://BUCKET/PREFIX"),
    output: str = typer.Argument(..., help="folder or gs://BUCKET/PREFIX for checkpoints and summaries"),
    runtime: str = typer.Option("auto", help="docker, process, or auto (docker when its engine answers)"),
    gpu: bool = typer.Option(False, "--gpu/--cpu", help="train on NVIDIA GPUs (docker --gpus all) or the CPU"),
    image: Optional[str] = typer.Option(None, help="use this image instead of building one from this checkout"),
    base_image: Optional[str] = typer.Option(None, help="base image for the build [default: python:3.11-slim-bookworm]"),
    ca_bundle: Optional[Path] = typer.Option(None, help="PEM CA bundle for pip during the build"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the Dockerfile and the exact command; do nothing"),
    training: TrainingParams = None,
) -> None:
    from ddsp_launch.runtime import local
    from ddsp_launch.spec import LocalRunSpec

    params = dataclasses.replace(training, extra_args=tuple(ctx.args))
    spec = LocalRunSpec(
        data=data, output=output, params=params, runtime=runtime, device="gpu" if gpu else "cpu",
        image=image, base_image=base_image, ca_bundle=ca_bundle,
    ).validate()
    if dry_run:
        _print_run_plan(spec)
        return
    outcome = local.run(spec, opts.say, opts.progress)
    raise typer.Exit(outcome.exit_code)


def _print_build_plan(plan) -> None:
    typer.echo(plan.context.dockerfile_text)
    typer.echo(f"# build context: {plan.describe_context()}")
    for cmd in plan.commands():
        typer.echo(cmd)


def _print_run_plan(spec) -> None:
    import shlex

    from ddsp_launch.image import build as image_build
    from ddsp_launch.runtime import container, local

    if spec.runtime == "process":
        typer.echo(shlex.join([sys.executable, "-m", "ddsp_launch.trainer.task", *local.process_argv(spec)]))
        return
    image = spec.image
    if image is None:
        plan = image_build.plan(local.build_spec(spec))
        _print_build_plan(plan)
        image = plan.local_ref
    typer.echo(container.plan(spec, image).command_line())


@app.command("version")
def version() -> None:
    """Print the versions of ddsp-launch and, when installed, the training stack."""
    typer.echo(f"ddsp-launch {__version__}")
    missing = process.missing_trainer_modules()
    typer.echo("training stack: " + ("installed" if not missing else f"not installed (missing {', '.join(missing)})"))


cli_cloud.register(app)
cli_launch.register(app)


def main() -> None:
    # google-api-core warns about Python 3.11's end of life (2027) at import: not the user's concern.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.api_core")
    try:
        app()
    except LaunchError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
