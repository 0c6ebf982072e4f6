"""The DDSP-VST plugin: install-plugin-model puts a model file where the plugin looks, once it
passes the plugin's own rules (common/vst.py; no TensorFlow needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ddsp_launch.cli import options as opts
from ddsp_launch.common import vst

INSTALL_HELP = f"""Install a model file for Magenta's DDSP-VST plugin.

MODEL is NAME.tflite written by `ddsp-launch export MODEL -o DIR --vst`. It is checked
against the plugin's rules first (builtin TFLite ops only, its three inputs and four
outputs by name and size, metadata.json inside with its fields and types) and refused
if it fails any, then copied into the plugin's models folder ({vst.models_folder()} here;
macOS ~/Documents/Magenta/DDSP/Models, Windows Documents\\Magenta\\DDSP\\Models). In the
plugin, rescan its models (the folder button) or reopen it.

Example: ddsp-launch install-plugin-model cello-plugin/Cello.tflite
"""


def install_plugin_model(
    model: Path = typer.Argument(..., help="NAME.tflite from `ddsp-launch export MODEL --vst`"),
    to: Optional[Path] = typer.Option(None, "--to", help="the plugin's models folder, if yours is elsewhere "
                                                         "(e.g. Documents moved to OneDrive)"),
    force: bool = typer.Option(False, "--force", help="replace a model of the same name that ddsp-launch exported earlier"),
) -> None:
    target = vst.install(model, to, replace=force)  # refuses (exit 2, every failing rule listed) before copying
    opts.echo(f"{model.name}: the DDSP-VST plugin's rules\n" + "\n".join(vst.check(target.read_bytes()).lines()))
    opts.echo(f"installed {target}")


def register(app: typer.Typer) -> None:
    app.command("install-plugin-model", help=INSTALL_HELP)(install_plugin_model)
