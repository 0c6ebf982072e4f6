"""What the commands share: messages to stderr, and options made from the settings table.

`@settings_options(names)` gives a command one option per setting named (its flag, type and
hint from launch/settings.FIELDS; default None, i.e. not given, so the one precedence of
launch/resolve.py decides) and hands the command the given ones as ``flags: dict``.
"""

from __future__ import annotations

import functools
import inspect
from typing import Iterable, Optional

import typer

from ddsp_launch.launch import settings as st


def say(text: str) -> None:
    """A message for the user (stderr, so stdout stays the command's result)."""
    typer.echo(text, err=True)


def progress(line: str) -> None:
    typer.echo(f"  {line}", err=True)


def echo(text: str) -> None:
    typer.echo(text)


def option(f: st.Field, decls: tuple[str, ...] = ()) -> tuple[object, object]:
    """(annotation, typer.Option) of one setting; ``decls`` replace its flag names."""
    if f.kind is bool:
        return Optional[bool], typer.Option(None, *(decls or (f"{f.flag}/--no-{f.flag[2:]}",)), help=f.hint)
    if f.kind is list:
        return list[str], typer.Option([], *(decls or (f.flag,)), help=f.hint + " (repeatable)")
    default = f" [default: {f.default}]" if f.default not in (None, ()) else ""
    return Optional[f.kind], typer.Option(None, *(decls or (f.flag,)), help=f.hint + default)


def settings_options(names: Iterable[str], decls: dict[str, tuple[str, ...]] | None = None):
    """Give the command these settings as options; it receives the given ones as ``flags``."""
    names = tuple(names)

    def wrap(command):
        signature = inspect.signature(command)
        kept = [p for p in signature.parameters.values() if p.name != "flags"]
        added = []
        for name in names:
            kind, opt = option(st.BY_NAME[name], (decls or {}).get(name, ()))
            added.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=opt, annotation=kind))

        @functools.wraps(command)
        def wrapper(*args, **kwargs):
            kwargs["flags"] = {name: kwargs.pop(name) for name in names}
            return command(*args, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=kept + added)
        return wrapper

    return wrap
