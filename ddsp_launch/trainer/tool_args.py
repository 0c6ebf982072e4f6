"""Command lines of the container-side tools `transfer` and `export`, defined once, and what every tool (these, `prepare`, `check`) shares: where it runs, its paths' roles, the paths it shows.

Light on purpose (argparse only): the tools parse with these, and the host reads them to
run a tool in the training image: every argument that names a file or folder has a role,
so the host knows what to mount read-only and where the results come out.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ddsp_launch.common import destinations, vst
from ddsp_launch.common.errors import InputError
from ddsp_launch.common.model_files import STATISTICS, STATISTICS_NAMES, parse_choice

MODEL_HELP = f"folder with ckpt-N.*, operative_config-N.gin (and {STATISTICS})"
TRANSFER_MODEL_HELP = f"{MODEL_HELP}; with --engine plugin also a model file NAME.tflite"

# argument dest -> "in" (read) or "out" (written); export writes MODEL/export without -o.
# "audio": read, and may be a glob or a gs:// prefix (prepare's and check's input).
PATH_ROLES = {
    "transfer": {"model": "in", "input": "in", "statistics": "in", "plot": "out", "output": "out"},
    "export": {"model": "in", "statistics": "in", "output": "out"},
    "prepare": {"input": "audio", "output": "out"},
    "check": {"data": "audio"},
}

# In the image, the tools see the user's files at /in/N and write to /out/N; the host names
# the paths the user typed in this variable (JSON, container path -> host path), so what the
# tool prints and what a dataset's manifest records are the user's own paths.
SHOWN_PATHS_ENV = "DDSP_LAUNCH_SHOWN_PATHS"


def shown(path: str) -> str:
    """``path`` as the user named it: a container path mapped back to the host's (see SHOWN_PATHS_ENV)."""
    try:
        mapping = json.loads(os.environ.get(SHOWN_PATHS_ENV) or "{}")
    except ValueError:
        return path
    text = str(path)
    for inside in sorted(mapping, key=len, reverse=True):
        if text == inside or text.startswith(inside.rstrip("/") + "/"):
            return mapping[inside].rstrip("/") + text[len(inside.rstrip("/")):] if text != inside else mapping[inside]
    return text


# where the tool runs: read by the host (``ddsp-launch transfer|export``), never passed on
HOST_OPTIONS = ("--runtime", "--image", "--base-image")


def _prog(command: str) -> str:
    return os.environ.get("DDSP_LAUNCH_PROG", f"ddsp-launch {command}")


def where(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    g = p.add_argument_group("where it runs")
    g.add_argument("--runtime", choices=("auto", "process", "docker"), default="auto",
                   help="process: this machine's training stack; docker: the training image (no TensorFlow needed here); "
                        "auto: the process when the stack is installed, else docker")
    g.add_argument("--image", help="with docker: this image instead of the CPU image built from this checkout")
    g.add_argument("--base-image", help="with docker, building the image: its base [default: python:3.11-slim-bookworm]")
    return p


def default_output(command: str, ns: argparse.Namespace) -> Path | None:
    """The output a tool writes when none is given (export: MODEL/export)."""
    return ns.model / "export" if command == "export" and ns.output is None else None


# prepare tracks pitch over 40-2100 Hz (E1-C7, under six octaves), the most a model can learn:
# shifting a melody by more than four octaves takes any melody out of that range.
MAX_OCTAVE_SHIFT = 4


def octave_shift(text: str) -> str:
    """--octave-shift: "auto", or a whole number of octaves within the range a model knows."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        octaves = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: auto, or a whole number of octaves such as -1") from None
    if abs(octaves) > MAX_OCTAVE_SHIFT:
        raise argparse.ArgumentTypeError(
            f"{octaves} octaves is out of range: -{MAX_OCTAVE_SHIFT} to {MAX_OCTAVE_SHIFT} (a model knows the pitches "
            "of its training data, at most 40-2100 Hz; further than that no melody stays in its range)")
    return str(octaves)


def checkpoint_choice(text: str):
    """--checkpoint: newest, best or a step number."""
    try:
        return parse_choice(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


CHECKPOINT_HELP = ("which checkpoint of MODEL: best (by held-out loss, kept in MODEL/best/ by a run with an eval split), "
                   "newest, or a step number [default: best when there is one, else newest]")


def transfer_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=_prog("transfer"), description="Play INPUT's melody with the instrument a model learned.")
    p.add_argument("model", type=Path, help=TRANSFER_MODEL_HELP)
    p.add_argument("input", type=Path, help="a recording of a melody: any format, rate or channel count")
    p.add_argument("-o", "--output", type=Path, required=True, help="where to write the 16 kHz wav")
    p.add_argument("--statistics", type=Path, help=f"the dataset's {STATISTICS} [default: MODEL/{STATISTICS}]")
    p.add_argument("--checkpoint", type=checkpoint_choice, default="default", help=CHECKPOINT_HELP)
    p.add_argument("--octave-shift", default="auto", type=octave_shift,
                   help=f"auto (toward the dataset's mean pitch) or a whole number of octaves, {-MAX_OCTAVE_SHIFT} to {MAX_OCTAVE_SHIFT}")
    p.add_argument("--no-loudness-matching", dest="match_loudness", action="store_false",
                   help="keep the input's loudness instead of mapping it to the dataset's")
    p.add_argument("--quiet-db", type=float, default=20.0, help="turn the space between notes down by this much (default 20)")
    p.add_argument("--note-threshold", type=float, default=1.0, help="note detection threshold (default 1.0)")
    p.add_argument("--stems", action="store_true",
                   help="also write the model's two parts: OUTPUT-harmonic.wav and OUTPUT-noise.wav (before reverb)")
    p.add_argument("--plot", type=Path, metavar="PNG",
                   help="also draw the input and the output side by side: spectrograms with f0 and loudness")
    p.add_argument("--engine", choices=("ddsp", "plugin"), default="ddsp",
                   help="ddsp (default): the trained model, ddsp's synthesisers and reverb; plugin: as the DDSP-VST plugin "
                        "plays it, MODEL being NAME.tflite from `export --vst` (or a --model vst training folder, exported "
                        "first): one TFLite call per 20 ms hop, the plugin's synthesisers, no reverb, the input's power "
                        "as it is (the loudness options are for --engine ddsp)")
    return where(p)


def export_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=_prog("export"),
                                description="Export a trained model as a TensorFlow SavedModel (and TFLite with --tflite), "
                                            "or, with --vst, as a model file for Magenta's DDSP-VST plugin.")
    p.add_argument("model", type=Path, help=MODEL_HELP)
    p.add_argument("-o", "--output", type=Path, help="export folder [default: MODEL/export]")
    p.add_argument("--statistics", type=Path, help=f"the dataset's {STATISTICS}, copied into the export [default: MODEL/{STATISTICS} if present; "
                                                   "--vst needs it: the plugin shows the model's pitch and power range]")
    p.add_argument("--checkpoint", type=checkpoint_choice, default="default", help=CHECKPOINT_HELP)
    p.add_argument("--tflite", action="store_true", help="also write model.tflite (TensorFlow Lite with select TF ops)")
    p.add_argument("--force", action="store_true", help="replace an existing export folder")
    plugin = p.add_argument_group("for the DDSP-VST plugin (a model trained with --model vst)")
    plugin.add_argument("--vst", action="store_true",
                        help="write NAME.tflite for the plugin instead (builtin TFLite ops, metadata.json inside), checked "
                             "against the plugin's rules and run hop by hop as the plugin runs it before it is kept")
    plugin.add_argument("--name", help="with --vst: the model's name in the plugin (the file NAME.tflite) [default: MODEL's folder name]")
    plugin.add_argument("--install", action="store_true",
                        help="with --vst: also copy NAME.tflite into the plugin's models folder (Documents/Magenta/DDSP/Models)")
    return where(p)


def plugin_model(ns: argparse.Namespace) -> Path:
    """export --vst's model file: OUT/NAME.tflite."""
    out = ns.output if ns.output is not None else default_output("export", ns)
    return out / f"{vst.model_name(ns.name or ns.model.expanduser().resolve().name)}.tflite"


EXPORT_METADATA = "ddsp-model.json"


def stem_paths(output: Path) -> dict[str, Path]:
    """Where transfer --stems writes the model's two parts: OUT-harmonic.wav, OUT-noise.wav."""
    return {part: output.with_name(f"{output.stem}-{part}.wav") for part in ("harmonic", "noise")}


def check_destinations(command: str, ns: argparse.Namespace) -> None:
    """Before anything runs (here or in the image): every path the tool writes stays apart from
    what it reads, and replaces only an output of ours (common/destinations)."""
    if command in ("prepare", "check"):
        return _check_prepare_destinations(command, ns)
    inputs = {"input recording" if dest == "input" else f"{dest} path": getattr(ns, dest, None)
              for dest, role in PATH_ROLES[command].items() if role == "in"}
    if command == "transfer":
        outs = [ns.output, *(stem_paths(ns.output).values() if ns.stems else ()), *([ns.plot] if ns.plot else ())]
        for out in outs:  # each written as OUT.part first, then renamed
            destinations.check_file_output(out, inputs, "output")
            destinations.check_file_output(out.with_name(out.name + ".part"), inputs, "output's temporary file")
        return
    out = ns.output if ns.output is not None else default_output(command, ns)
    if not ns.vst and (ns.install or ns.name):
        raise InputError(f"{'--install' if ns.install else '--name'} is for --vst exports", "add --vst, or leave it out")
    if ns.vst and ns.tflite:
        raise InputError("--tflite and --vst are two different exports", "choose one (--vst writes NAME.tflite for the plugin)")
    if ns.vst and ns.install:  # before anything runs: where the plugin's copy goes must be free, or ours to replace
        vst.check_target(vst.models_folder() / plugin_model(ns).name, ns.force)
    destinations.check_apart(out, inputs, "export folder", allow=("inside",))  # built in a fresh hidden folder beside it
    if out.exists() and not ns.force:
        raise InputError(f"{out} already exists", "pass --force to replace it, or choose another -o")
    destinations.check_replaceable(out, destinations.export_files(out, EXPORT_METADATA, STATISTICS_NAMES), "model export", "--force")


def _check_prepare_destinations(command: str, ns: argparse.Namespace) -> None:
    """prepare / check of audio: the input is there (a glob matches, gs:// aside) and prepare's
    output folder is free (or ours to replace with --overwrite): what the tool itself checks
    first, asked here before an image starts."""
    import glob  # noqa: PLC0415

    from ddsp_launch.common import gcs  # noqa: PLC0415

    spec = ns.input if command == "prepare" else ns.data
    if not gcs.is_gcs(spec):
        if any(c in spec for c in "*?["):
            if not any(Path(p).is_file() for p in glob.glob(os.path.expanduser(spec), recursive=True)):
                raise InputError(f"No files match {spec!r}", "check the pattern (quote it so your shell does not expand it)")
        elif not Path(spec).expanduser().exists():
            raise InputError(f"Input path {spec} does not exist", "check the path, or give a folder of audio files")
    if command == "check":
        return
    if gcs.is_gcs(ns.output):
        raise InputError(
            f"prepare writes datasets to a local folder, not {ns.output}",
            "prepare locally, then copy the folder to your bucket (gcloud storage cp -r DIR gs://BUCKET/DIR)",
        )
    from ddsp_launch.trainer.prepare import records  # noqa: PLC0415 (numpy, no TensorFlow)

    destinations.check_apart(ns.output, {"input": spec}, "output folder")
    records.Staging(Path(ns.output).expanduser().resolve(), ns.overwrite).check_output()
