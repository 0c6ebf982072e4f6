"""What the command-line modules share: messages to stderr, and the hyperparameter options
of the commands that train (run, submit, tune).

`@training_options` adds the trainer's hyperparameters as options to a command and hands
the command one `TrainingParams` (argument ``training``) instead of eight values.
"""

from __future__ import annotations

import functools
import inspect

import typer

from ddsp_launch.spec import TrainingParams

def say(text: str) -> None:
    """A message for the user (stderr, so stdout stays the command's result)."""
    typer.echo(text, err=True)


def progress(line: str) -> None:
    typer.echo(f"  {line}", err=True)


_OPTIONS = (
    ("batch_size", int, typer.Option(TrainingParams.batch_size, min=1, help="examples per step")),
    ("learning_rate", float, typer.Option(TrainingParams.learning_rate, help="typical: 1e-4 to 1e-3")),
    ("num_steps", int, typer.Option(TrainingParams.num_steps, min=1, help="train until this global step")),
    ("steps_per_summary", int, typer.Option(TrainingParams.steps_per_summary, min=1)),
    ("steps_per_save", int, typer.Option(TrainingParams.steps_per_save, min=1)),
    ("early_stop_loss_value", float, typer.Option(TrainingParams.early_stop_loss_value, min=0.0,
                                                  help="stop when the windowed mean loss falls below this (0: off)")),
    ("gin_file", list[str], typer.Option([], help="gin config file, repeatable [default: ddsp's solo_instrument + tfrecord]")),
    ("gin_param", list[str], typer.Option([], help="gin binding, repeatable")),
)


def training_options(command):
    """Give ``command`` the hyperparameter options; it receives them as ``training: TrainingParams``."""
    signature = inspect.signature(command)
    kept = [p for p in signature.parameters.values() if p.name != "training"]
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
             for name, kind, option in _OPTIONS]

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        values = {name: kwargs.pop(name) for name, _, _ in _OPTIONS}
        kwargs["training"] = TrainingParams(
            **{k: v for k, v in values.items() if k not in ("gin_file", "gin_param")},
            gin_files=tuple(values["gin_file"]), gin_params=tuple(values["gin_param"]),
        )
        return command(*args, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=kept + added)
    return wrapper
