"""The tools around training: prepare, check, task (the trainer itself), transfer, export, build, version."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from ddsp_launch import __version__
from ddsp_launch.cli import options as opts
from ddsp_launch.runtime import process

PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}

PREPARE_HELP = """Turn a folder of recordings into a DDSP training dataset.

INPUT is a folder, file, glob or gs://BUCKET/PREFIX of wav/flac/ogg/mp3 files (any rate,
depth or channel count); OUTPUT_DIR a new or empty local folder. Writes sharded
TFRecords, dataset_statistics.json and manifest.json. Run `ddsp-launch prepare --help`
for all options.

Example: ddsp-launch prepare data/examples/violin data/violin-dataset --eval-fraction 0.1
For the DDSP-VST plugin: ddsp-launch prepare data/examples/violin data/violin-vst --model vst
"""

CHECK_HELP = """Print the health report of a dataset or a folder of audio (nothing is written).

DATA is a dataset `prepare` wrote (its manifest's report is printed, no training stack
needed) or a folder, file, glob or gs:// prefix of audio, measured as prepare would:
usable minutes against the 10-20 minute recommendation, voiced / silence / clipping /
polyphony fractions, pitch and loudness ranges, too-short and duplicate files, each
ok / warn / bad with its fix. --strict: a warning exits 2. Run `ddsp-launch check --help`
for all options.

Example: ddsp-launch check data/examples/violin --strict
"""

TASK_HELP = """Run the trainer itself (the container's task.py) on this machine, with its own flags.

Takes the trainer's own flags (the original DDSP-Docker task.py's): run
`ddsp-launch task --help` for all of them. Resumes from the newest checkpoint in
--save_dir; Ctrl-C saves a checkpoint first.

Example: ddsp-launch task --save_dir runs/violin --file_pattern 'data/violin-dataset/train.tfrecord*' --batch_size 4 --num_steps 300
"""

TRANSFER_HELP = """Play a recording's melody with the instrument your model learned (timbre transfer).

MODEL is a training output folder (ckpt-N.*, operative_config-N.gin); INPUT any
recording (wav/flac/ogg/mp3, any rate or channels); writes 16 kHz wav. Octave shift and
loudness matching are automatic (flags to change them). Run
`ddsp-launch transfer --help` for all options.

Example: ddsp-launch transfer runs/violin my-melody.wav -o violin-melody.wav --statistics data/violin-dataset/dataset_statistics.json
As the DDSP-VST plugin plays it: ddsp-launch transfer violin-plugin/Violin.tflite my-melody.wav -o violin.wav --engine plugin
"""

EXPORT_HELP = """Export a trained model to run with TensorFlow alone: a SavedModel (and TFLite with --tflite).

MODEL is a training output folder (or one `ddsp-launch download` filled); writes
MODEL/export (or -o DIR) with saved_model/, ddsp-model.json (inputs, rates, a check
value) and the dataset statistics. Run `ddsp-launch export --help` for all options.

Example: ddsp-launch export runs/violin -o violin-export --tflite
For the DDSP-VST plugin (a --model vst run): ddsp-launch export runs/violin-vst -o violin-plugin --vst --name Violin --install
"""

BUILD_HELP = """Build the training image (and push it with --push).

The tag is a hash of the Dockerfile, the lock files and the code: an unchanged checkout
is not rebuilt, and a registry that has the tag is not pushed to. Behind a
TLS-intercepting proxy, pip in the build uses --ca-bundle (or PIP_CERT /
REQUESTS_CA_BUNDLE / SSL_CERT_FILE); the bundle never reaches the image.

Examples:
  ddsp-launch build --cpu
  ddsp-launch build --gpu --push us-central1-docker.pkg.dev/my-project/ddsp/trainer
"""


def _trainer_module(ctx: typer.Context, command: str, module: str) -> None:
    """Run a container-side entry point here; its options (and --help) are defined once, there."""
    args = list(ctx.args)
    if not any(a in ("-h", "--help") for a in args):
        process.require_trainer_stack(f"`ddsp-launch {command}`")
    os.environ["DDSP_LAUNCH_PROG"] = f"ddsp-launch {command}"
    raise typer.Exit(process.run_module(module, args))


def prepare(ctx: typer.Context) -> None:
    """Here (training stack installed) or in the training image, as transfer and export."""
    _tool(ctx, "prepare")


def check(ctx: typer.Context) -> None:
    """A dataset's stored report here (host side); audio is measured by the trainer's module,
    here or in the training image."""
    from ddsp_launch.runtime import tools  # noqa: PLC0415
    from ddsp_launch.trainer.prepare import check as health_check  # noqa: PLC0415 (argparse and json only)

    os.environ["DDSP_LAUNCH_PROG"] = "ddsp-launch check"
    _, rest = tools.split_host_options(list(ctx.args))
    args = health_check.build_parser().parse_args(rest)
    if (Path(args.data).expanduser() / health_check.presets.MANIFEST).is_file():
        raise typer.Exit(health_check.main(rest))
    _tool(ctx, "check")


def task(ctx: typer.Context) -> None:
    _trainer_module(ctx, "task", "ddsp_launch.trainer.task")


def _tool(ctx: typer.Context, command: str) -> None:
    """transfer / export: here (training stack installed) or in the training image."""
    from ddsp_launch.runtime import tools  # noqa: PLC0415

    os.environ["DDSP_LAUNCH_PROG"] = f"ddsp-launch {command}"
    raise typer.Exit(tools.run(command, list(ctx.args), opts.say, opts.progress))


def transfer(ctx: typer.Context) -> None:
    _tool(ctx, "transfer")


def export(ctx: typer.Context) -> None:
    _tool(ctx, "export")


def build(
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

    if write_dockerfiles:
        for path in dockerfile.write_committed_files():
            opts.echo(f"wrote {path}")
        return
    spec = image_build.BuildSpec(
        variant="gpu" if gpu else "cpu", base_image=base_image or dockerfile.DEFAULT_BASE_IMAGE,
        ca_bundle=image_build.resolve_ca_bundle(ca_bundle), push_to=push, registry_user=registry_user,
    )
    plan = image_build.plan(spec)
    if dry_run:
        for line in plan.printed():
            opts.echo(line)
        return
    from ddsp_launch.adapters import docker_engine

    opts.say(f"building {plan.local_ref} from {spec.base_image} (context: {plan.describe_context()})")
    result = image_build.build(plan, docker_engine.connect(), opts.progress, warn=opts.say, no_cache=no_cache)
    opts.echo(f"image:  {result.image}  ({'built' if result.built else 'up to date, not rebuilt'})")
    opts.echo(f"id:     {result.image_id}")
    if result.remote:
        opts.echo(f"pushed: {result.remote}  ({'pushed' if result.pushed else 'registry had it, not pushed'})")
        opts.echo(f"digest: {result.digest}")
        opts.echo(f"pull:   {result.pinned_ref}")
    opts.echo(f"record: {result.record}")


def version() -> None:
    """Print the versions of ddsp-launch and, when installed, the training stack."""
    opts.echo(f"ddsp-launch {__version__}")
    missing = process.missing_trainer_modules()
    opts.echo("training stack: " + ("installed" if not missing else f"not installed (missing {', '.join(missing)})"))


def register(app: typer.Typer) -> None:
    app.command("prepare", help=PREPARE_HELP, context_settings=PASSTHROUGH)(prepare)
    app.command("check", help=CHECK_HELP, context_settings=PASSTHROUGH)(check)
    app.command("task", help=TASK_HELP, context_settings=PASSTHROUGH)(task)
    app.command("transfer", help=TRANSFER_HELP, context_settings=PASSTHROUGH)(transfer)
    app.command("export", help=EXPORT_HELP, context_settings=PASSTHROUGH)(export)
    app.command("build", help=BUILD_HELP)(build)
    app.command("version")(version)
