"""The run specification: what to train, on which data, where, and with which parameters.

`RunSpec` is frozen and typed: its paths are `GcsUri` or `Path`, and its `target` is one of
`LocalTarget` (this machine: in Docker or as a process) or `VertexTarget` (Vertex AI). It is
built in exactly one place, `launch/resolve.py` (flags, a config file, the environment and
the defaults, for `train`, `run`, `submit` and `tune` alike), and checked there once;
everything downstream takes it and trusts it.

`TrainingParams` are the trainer's hyperparameters. Each field is the trainer flag of the
same name (trainer/task.py), with the trainer's default (trainer/config.py) and, as field
metadata, its hint and its bounds. The settings table, the prompts, the flags of every
command that trains and the web page are made from these fields, and `trainer_args` is the
one renderer of them as the trainer's argv: a new hyperparameter is one field here plus its
trainer flag.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Collection, Mapping

from ddsp_launch.common import presets
from ddsp_launch.common.errors import InputError
from ddsp_launch.common.gcs import GcsUri
from ddsp_launch.trainer import task
from ddsp_launch.trainer.config import default

Location = GcsUri | Path  # a local path (absolute) or a gs:// URI, parsed once


def hyper(name: str, hint: str, *, above: float | None = None, below: float | None = None,
          at_least: float | None = None, fix: str | None = None, env: bool = True):
    """A hyperparameter field: the trainer's default for flag ``name``, its hint, its bounds
    (``above``/``below`` exclusive, ``at_least`` inclusive) and whether DDSP_LAUNCH_<NAME> sets it."""
    return field(default=default(name), metadata={"hint": hint, "above": above, "below": below, "at_least": at_least,
                                                  "fix": fix, "env": env})


def choice(name: str, hint: str, choices: Mapping[str, str]):
    """A field with a fixed set of values (value -> what to call it in prompts and pages)."""
    return field(default=default(name), metadata={"hint": hint, "env": True, "choices": dict(choices)})


def _gin(hint: str):
    return field(default=(), metadata={"hint": hint, "env": False})  # empty: the trainer's own gin files


@dataclass(frozen=True)
class TrainingParams:
    """The trainer's hyperparameters; each field is the trainer flag of the same name."""

    model: str = choice("model", "the model: ddsp's solo_instrument, or vst for the DDSP-VST plugin "
                        "(the data must be prepared for it: prepare --model)", {p.name: p.label for p in presets.PRESETS.values()})
    batch_size: int = hyper("batch_size", "examples per step (16-32 on one GPU; 2-8 on a CPU)", above=0)
    learning_rate: float = hyper("learning_rate", "typical: 1e-4 to 1e-3", above=0, below=1, fix="typical: 1e-4 to 1e-3")
    num_steps: int = hyper("num_steps", "train until this step (30000 is a good model; 300 a quick look)", above=0)
    steps_per_save: int = hyper("steps_per_save", "checkpoint every N steps", above=0)
    steps_per_summary: int = hyper("steps_per_summary", "TensorBoard summaries every N steps", above=0)
    early_stop_loss_value: float = hyper("early_stop_loss_value", "stop below this windowed loss (0: never)", at_least=0)
    eval_every: int = hyper("eval_every", "evaluate on the dataset's eval split every N steps (0: at each checkpoint)", at_least=0)
    early_stop_patience: int = hyper("early_stop_patience", "stop after N evaluations without a better held-out loss (0: never)",
                                     at_least=0)
    seed: int = hyper("seed", "random seed: the same seed, data and settings train the same model", at_least=0, below=2 ** 31)
    gin_file: tuple[str, ...] = _gin("extra gin config files (the model's + tfrecord by default)")
    gin_param: tuple[str, ...] = _gin("gin bindings, e.g. 'RnnFcDecoder.rnn_channels = 256'")

    @classmethod
    def kinds(cls) -> dict[str, type]:
        """Each field's type: int, float, bool, str, or tuple (a repeated flag)."""
        hints = typing.get_type_hints(cls)
        return {f.name: (tuple if typing.get_origin(hints[f.name]) is tuple else hints[f.name]) for f in dataclasses.fields(cls)}

    @classmethod
    def numeric(cls) -> tuple[str, ...]:
        """The fields a study may tune (Vertex AI passes them as --name=value)."""
        return tuple(n for n, k in cls.kinds().items() if k in (int, float))

    @classmethod
    def check_value(cls, name: str, value) -> None:
        """One value against its field's bounds (NaN and infinities never pass)."""
        meta = next(f.metadata for f in dataclasses.fields(cls) if f.name == name)
        above, below, at_least = meta.get("above"), meta.get("below"), meta.get("at_least")
        if meta.get("choices") and value not in meta["choices"]:
            raise InputError(f"--{name.replace('_', '-')} {value!r} is not one of {', '.join(meta['choices'])}",
                             "; ".join(f"{k}: {v}" for k, v in meta["choices"].items()))
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return
        ok = math.isfinite(value) and (above is None or value > above) and (below is None or value < below) \
            and (at_least is None or value >= at_least)
        if ok:
            return
        flag = name.replace("_", "-")
        if above is not None and below is not None:
            rule = f"between {_number(above)} and {_number(below)}"
        else:
            rule = " and ".join(f"{op} {_number(bound)}" for op, bound in ((">", above), (">=", at_least), ("<", below))
                                if bound is not None)
        raise InputError(f"{flag} must be {rule}, got {value}", meta.get("fix"))

    def validate(self) -> "TrainingParams":
        for f in dataclasses.fields(self):
            self.check_value(f.name, getattr(self, f.name))
        try:  # the trainer's own gin check, here before anything starts
            task.check_gin(self.gin_file, self.gin_param)
        except task.TaskError as exc:
            raise InputError(str(exc).replace("--gin_file", "--gin-file").replace("--gin_param", "--gin-param")) from None
        return self

    def with_values(self, values: Mapping[str, object]) -> "TrainingParams":
        """These parameters with some replaced (a study's trial): each value as its field's type."""
        kinds = self.kinds()
        unknown = sorted(set(values) - set(kinds))
        if unknown:
            raise InputError(f"{', '.join(unknown)} is not a training parameter", "parameters: " + ", ".join(kinds))
        return dataclasses.replace(self, **{k: _as(kinds[k], v) for k, v in values.items()})


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _as(kind: type, value):
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return kind(value) if kind in (int, float, str) else value


def _flag_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def trainer_args(params: TrainingParams, leave_out: Collection[str] = ()) -> list[str]:
    """The trainer's flags for ``params``: `--name=value` for each field (a tuple's items each
    as its own flag), except those in ``leave_out`` (a study's tuned parameters, which Vertex AI
    passes itself). The one rendering of the parameters: container, process, Vertex AI, tuning."""
    args = []
    for f in dataclasses.fields(params):
        if f.name in leave_out:
            continue
        value = getattr(params, f.name)
        args += [f"--{f.name}={_flag_value(v)}" for v in (value if isinstance(value, tuple) else (value,))]
    return args


# ---- where a run trains --------------------------------------------------------------------
TARGETS = {
    "docker": "this machine, in Docker",
    "process": "this machine, without Docker",
    "vertex": "Google Cloud (Vertex AI)",
    "auto": "this machine: Docker when it answers, else a local process",
}


@dataclass(frozen=True)
class LocalTarget:
    """This machine: the training image in Docker, or the trainer as a local process."""

    NAMES: ClassVar[tuple[str, ...]] = ("docker", "process", "auto")
    runtime: str = "auto"  # one of NAMES; auto: Docker when its engine answers
    device: str = "cpu"  # cpu or gpu
    image: str | None = None  # a prebuilt image; else built from this checkout
    base_image: str | None = None
    ca_bundle: Path | None = None  # for pip in the image build, behind a TLS-intercepting proxy


@dataclass(frozen=True)
class Machine:
    """One worker pool's machine: a Compute Engine machine type and its accelerators."""

    machine_type: str
    accelerator_type: str | None = None
    accelerator_count: int = 0

    @property
    def has_gpu(self) -> bool:
        return bool(self.accelerator_type and self.accelerator_count)

    def machine_spec(self) -> dict:
        spec: dict = {"machineType": self.machine_type}
        if self.has_gpu:
            spec.update(acceleratorType=self.accelerator_type, acceleratorCount=self.accelerator_count)
        return spec

    def describe(self) -> str:
        return self.machine_type + (f" + {self.accelerator_count} x {self.accelerator_type}" if self.has_gpu else "")


@dataclass(frozen=True)
class VertexTarget:
    """A Vertex AI custom job (one machine, or a chief plus workers), or a tuning job with a study."""

    NAMES: ClassVar[tuple[str, ...]] = ("vertex",)
    project: str
    region: str
    primary: Machine
    workers: int = 0
    worker: Machine | None = None  # default: the primary's
    spot: bool = False
    image: str | None = None  # a pushed image; else built here and pushed to push_to
    push_to: str | None = None
    base_image: str | None = None
    timeout: str | None = None  # e.g. "86400s"
    regions: tuple[str, ...] = ()  # capacity fail-over: the regions to try after ``region``, in order
    fallback_on_demand: bool = False  # spot: on capacity failures, try on-demand VMs (after every region's spot)
    max_cost: float | None = None  # US dollars: refused above it, and the timeout keeps the job under it (cloud/prices.py)
    service_account: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    study: dict | None = field(default=None, compare=False)  # a studySpec: a HyperparameterTuningJob
    max_trial_count: int = 4
    parallel_trial_count: int = 2
    max_failed_trial_count: int = 0
    boot_disk_gb: int = 100
    allow_cross_region: bool = False
    notes: tuple[str, ...] = ()  # how a job config file was read (an AI Platform one is converted)

    @property
    def worker_machine(self) -> Machine:
        return self.worker or self.primary

    @property
    def is_tuning(self) -> bool:
        return self.study is not None


Target = LocalTarget | VertexTarget


@dataclass(frozen=True)
class RunSpec:
    """One training run: the data, the output, the parameters, the name and where it trains."""

    data: Location  # a prepared dataset folder, a TFRecord glob, a folder of audio (with prepare_to), or gs://
    output: Location  # checkpoints and summaries; a rerun resumes
    target: Target
    params: TrainingParams = field(default_factory=TrainingParams)
    name: str = "ddsp-training"
    prepare_to: Path | None = None  # DATA is audio: prepared into this folder first
    tensorboard: bool = True
    extra_args: tuple[str, ...] = ()  # further trainer flags, passed through as given

    @property
    def dataset(self) -> Location:
        """The prepared dataset the run reads (on this machine, before any upload)."""
        return self.prepare_to if self.prepare_to is not None else self.data


def task_argv(spec: RunSpec, file_pattern: str, save_dir: str | None = None, params: TrainingParams | None = None,
              leave_out: Collection[str] = (), hypertune_metric: str | None = None) -> list[str]:
    """The trainer's argv for ``spec`` (the image's entry point and `python -m
    ddsp_launch.trainer.task` take the same): where to write (none on Vertex AI, whose AIP_*
    folders decide), what to read, the parameters (``params`` for a trial), the study's metric
    when tuning, then the extra flags as given."""
    args = ([f"--save_dir={save_dir}"] if save_dir else []) + [f"--file_pattern={file_pattern}"]
    args += trainer_args(params or spec.params, leave_out)
    if hypertune_metric:
        args += ["--hypertune", f"--hypertune_metric={hypertune_metric}"]
    return args + list(spec.extra_args)
