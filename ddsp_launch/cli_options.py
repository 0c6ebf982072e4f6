"""Command-line options shared by the commands that train (run, submit, tune)."""

from __future__ import annotations

import typer

from ddsp_launch.spec import TrainingParams

BATCH_SIZE = typer.Option(TrainingParams.batch_size, min=1, help="examples per step")
LEARNING_RATE = typer.Option(TrainingParams.learning_rate, help="typical: 1e-4 to 1e-3")
NUM_STEPS = typer.Option(TrainingParams.num_steps, min=1, help="train until this global step")
STEPS_PER_SUMMARY = typer.Option(TrainingParams.steps_per_summary, min=1)
STEPS_PER_SAVE = typer.Option(TrainingParams.steps_per_save, min=1)
EARLY_STOP = typer.Option(TrainingParams.early_stop_loss_value, min=0.0, help="stop when the windowed mean loss falls below this (0: off)")
GIN_FILE = typer.Option([], help="gin config file, repeatable [default: ddsp's solo_instrument + tfrecord]")
GIN_PARAM = typer.Option([], help="gin binding, repeatable")


def training_params(batch_size, learning_rate, num_steps, steps_per_summary, steps_per_save,
                    early_stop_loss_value, gin_file, gin_param, extra_args=()) -> TrainingParams:
    return TrainingParams(
        batch_size=batch_size, learning_rate=learning_rate, num_steps=num_steps,
        steps_per_summary=steps_per_summary, steps_per_save=steps_per_save,
        early_stop_loss_value=early_stop_loss_value, gin_files=tuple(gin_file), gin_params=tuple(gin_param),
        extra_args=tuple(extra_args),
    )
