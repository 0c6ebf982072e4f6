"""The ddsp-launch command line. Thin: it gathers input and calls the library."""

from __future__ import annotations

import os
import sys

import typer

from ddsp_launch import __version__, process
from ddsp_launch.common.errors import LaunchError

app = typer.Typer(
    name="ddsp-launch",
    help="Train your own DDSP timbre model, locally or on Google Cloud.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

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
TFRecords, dataset_statistics.pkl and manifest.json. Run `ddsp-launch prepare --help`
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


TRAIN_HELP = """Train a DDSP model on a prepared dataset, on this machine (process runtime).

Takes the trainer's own flags (the original DDSP-Docker task.py's): run
`ddsp-launch train --help` for all of them. Resumes from the newest checkpoint in
--save_dir; Ctrl-C saves a checkpoint first.

Example: ddsp-launch train --save_dir runs/violin --file_pattern 'data/violin-dataset/train.tfrecord*' --batch_size 4 --num_steps 300
"""


@app.command(
    "train",
    help=TRAIN_HELP,
    context_settings=PASSTHROUGH,
)
def train(ctx: typer.Context) -> None:
    _run_trainer_module(ctx, "train", "ddsp_launch.trainer.task")


@app.command("version")
def version() -> None:
    """Print the versions of ddsp-launch and, when installed, the training stack."""
    typer.echo(f"ddsp-launch {__version__}")
    missing = process.missing_trainer_modules()
    typer.echo("training stack: " + ("installed" if not missing else f"not installed (missing {', '.join(missing)})"))


def main() -> None:
    try:
        app()
    except LaunchError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
