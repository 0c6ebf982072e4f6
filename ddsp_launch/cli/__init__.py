"""The ddsp-launch command line: one module per group of commands, each command thin (it
names its options, calls the library and prints; the library decides). Errors are
LaunchErrors: `main` prints them as one line with the fix and exits with their code."""

from __future__ import annotations

import sys
import warnings

import typer

from ddsp_launch.cli import cloud, plugin, records, tools, train
from ddsp_launch.common.errors import LaunchError

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
    from ddsp_launch.launch import prompts

    if ctx.invoked_subcommand is not None:
        return
    if prompts.wanted(yes=False):
        train.run_train()
        return
    typer.echo(ctx.get_help())
    raise typer.Exit(0)


tools.register(app)
train.register(app)
cloud.register(app)
records.register(app)
plugin.register(app)


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
