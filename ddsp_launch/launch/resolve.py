"""From settings to a `RunSpec`: the one place a run is decided and checked.

`settings()` resolves flags, a config file, the environment and the defaults with one
precedence for `train`, `run`, `submit`, `tune` and the web page (the table and the rule
are in launch/settings.py), then fills what depends on other answers (the device, a job
config's values; local paths made absolute, since records are replayed elsewhere). `spec_of()` turns settings into
a frozen `RunSpec`, checked once: the paths (parsed once into `GcsUri` or `Path`, and kept
apart), the data and outputs the target takes (its `Accepts`, written once: the prompts, the
flags and the web page all ask `check_data` / `check_output`), the training parameters, and
the target's own settings (its module in launch/targets). Everything after trusts the spec.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping

from ddsp_launch.common import datasets, destinations, presets
from ddsp_launch.common.errors import InputError
from ddsp_launch.common.gcs import GcsUri, is_gcs
from ddsp_launch.launch import settings as st
from ddsp_launch.launch import targets
from ddsp_launch.spec import Location, RunSpec


def location(text: str, what: str) -> Location:
    """A path as typed: gs:// parsed (a bad URI refused, naming ``what``), else an absolute local path."""
    if is_gcs(text):
        try:
            return GcsUri.parse(text)
        except InputError as exc:
            raise InputError(f"{what}: {exc.message}", exc.fix) from None
    return Path(os.path.abspath(os.path.expanduser(text)))


def check_output(target: str, output: Location) -> None:
    """An output location ``target`` can write to (the prompts ask this of an answer)."""
    accepts = targets.module(target).ACCEPTS
    if isinstance(output, GcsUri):
        return
    if not accepts.local_output:
        raise InputError(f"output {str(output)!r} is on this machine; {accepts.why}", "give a gs://BUCKET/PATH for the job's outputs")
    if output.exists() and not output.is_dir():
        raise InputError(f"output {output} is a file, not a folder", "choose a new or existing folder")
    parent = next((p for p in [output, *output.parents] if p.exists()), None)
    if parent is not None and not os.access(parent, os.W_OK):
        raise InputError(f"output {output}: {parent} is not writable", "choose a folder you can write to")


def check_data(target: str, data: Location) -> bool:
    """Data ``target`` can train on; True when it is audio, to be prepared first (the prompts ask this of an answer)."""
    if isinstance(data, GcsUri):
        datasets.pattern(data)
        return False
    if targets.module(target).ACCEPTS.uploads_data:
        if not data.exists():
            raise InputError(f"no data at {data}: it does not exist", "give a prepared dataset folder, a folder of audio "
                             "with --prepare-to, or gs://BUCKET/PATH")
        if not data.is_dir():
            raise InputError(f"{data} is a file; a cloud run uploads a dataset folder",
                             "give the folder written by `ddsp-launch prepare` (or a folder of audio with --prepare-to)")
    if datasets.needs_preparing(data):
        return True
    datasets.pattern(data)  # refuses what holds no TFRecords, with the fix
    return False


def _check_preparing(data: Location, prepare_to: Location | None) -> Path | None:
    if prepare_to is None:
        raise InputError(f"{data} holds audio, not a prepared dataset",
                         f"add --prepare-to {str(data).rstrip('/')}-dataset (or run `ddsp-launch prepare` first)")
    if isinstance(prepare_to, GcsUri):
        raise InputError(f"--prepare-to {prepare_to}: audio is prepared on this machine",
                         f"give a local folder (e.g. --prepare-to {data}-dataset)")
    return prepare_to


def settings(flags: Mapping[str, Any], config: Path | None, env: Mapping[str, str],
             door: Mapping[str, Any] | None = None, extra_args: tuple[str, ...] = ()) -> st.Settings:
    """The settings of a run from a command's flags (its own defaults: ``door``), --config FILE and the environment."""
    s = st.resolve(flags, st.read_config(config) if config else {}, env, door)
    return finalize(dataclasses.replace(s, extra_args=tuple(extra_args)))


def finalize(s: st.Settings) -> st.Settings:
    """Fill what depends on other answers (the target's: the device here, a job config's values on
    Vertex AI); make local paths absolute."""
    for name in ("data", "output", "prepare_to", "ca_bundle", "job_config", "study"):
        value = s.values.get(name)
        if value and not is_gcs(value):
            s.values[name] = os.path.abspath(os.path.expanduser(value))
    return targets.module(s.target).finalize(s)


def spec_of(s: st.Settings) -> RunSpec:
    """The run these settings describe, checked once (an InputError naming the flag and the fix)."""
    missing = s.missing()
    if missing:
        raise InputError("missing " + ", ".join(missing), "give them as flags, in --config FILE, or answer the prompts (in a terminal)")
    destinations.check_apart(s.prepare_to, {"data": s.data}, "--prepare-to folder")
    destinations.check_apart(s.output, {"data": s.data, "--prepare-to folder": s.prepare_to}, "output")
    params = s.training().validate()
    data, output = location(s.data, "data"), location(s.output, "output")
    prepare_to = location(s.prepare_to, "--prepare-to") if s.prepare_to else None
    check_output(s.target, output)
    audio = check_data(s.target, data)
    dataset = prepare_to if audio else data  # the model trains only on data prepared for it
    if isinstance(dataset, Path) and dataset.is_dir():
        presets.check_folder(params.model, dataset, f"the dataset {dataset}")
    target, config_args = targets.module(s.target).target_of(s)
    return RunSpec(data=data, output=output, target=target, params=params, name=_name(s.name),
                   prepare_to=_check_preparing(data, prepare_to) if audio else None, tensorboard=bool(s.tensorboard),
                   extra_args=_trainer_flags((*config_args, *s.extra_args)))


def _trainer_flags(args: tuple[str, ...]) -> tuple[str, ...]:
    """Further trainer flags, asked of the trainer's own parser (names and values) before anything starts."""
    import argparse

    from ddsp_launch.trainer import task

    parser = task.build_parser()
    parser.exit_on_error = False
    try:
        _, unknown = parser.parse_known_args(["--file_pattern=-", *args])
    except argparse.ArgumentError as exc:
        raise InputError(f"trainer flag {exc}", "see `ddsp-launch task --help` for the trainer's flags") from None
    if unknown:
        raise InputError(f"unknown trainer flag(s): {' '.join(unknown)}", "see `ddsp-launch task --help` for the trainer's flags")
    return args


def _name(name: str) -> str:
    if not 0 < len(name) <= 128:
        raise InputError(f"the run's name must be 1-128 characters, got {len(name)}", "--name: e.g. violin-first-try")
    return name
