"""Every choice a run makes, and where each value came from.

One table (`FIELDS`) names each setting once: its type, default, flag, hint, environment
variable, the targets it applies to, whether a web page may choose it and whether the
interactive launcher asks it. The hyperparameters are made from `spec.TrainingParams`.
`train`, `run`, `submit` and `tune` all take their flags from this table and resolve them
with the same precedence

    flags  >  config file (--config FILE)  >  environment (DDSP_LAUNCH_<NAME>)  >  defaults

(a command's own defaults, e.g. `run` starting no TensorBoard, come just above the table's;
data and output paths are never read from the environment; the project also comes from
GOOGLE_CLOUD_PROJECT). A list setting (gin_file, gin_param, label) given as flags replaces
the config file's list; no such flag leaves the file's. Gin in a config file is checked by
common/gin_rules (a config file may come from a web page or from someone else). The same
table writes a config file back and prints the equivalent non-interactive command line.
What the values mean together (a `RunSpec`) is decided in launch/resolve.py.
"""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ddsp_launch.common import gin_rules, private
from ddsp_launch.common.errors import InputError
from ddsp_launch.spec import TARGETS, LocalTarget, TrainingParams, VertexTarget

LOCAL, VERTEX = LocalTarget.NAMES, VertexTarget.NAMES
JOB_CONFIG_KEYS = {"workerPoolSpecs", "trainingInput", "studySpec", "trialJobSpec", "jobSpec", "scheduling"}


@dataclass(frozen=True)
class Field:
    name: str
    kind: type  # str, int, float, bool, or list (a repeatable flag)
    default: Any
    hint: str
    env: tuple[str, ...] = ()
    targets: tuple[str, ...] | None = None  # the targets it applies to (None: all)
    page: bool = True  # a web page may choose it (policy.py)
    ask: tuple[str, ...] = ()  # the targets for which the interactive launcher asks it (in this table's order)
    required: bool = False  # a run needs it (where it applies)
    choices: tuple[tuple[str, str], ...] = ()  # (value, what prompts and pages call it) when the values are fixed

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _env(name: str, *more: str) -> tuple[str, ...]:
    return (f"DDSP_LAUNCH_{name.upper()}", *more)


def _hyperparameters() -> tuple[Field, ...]:
    """One setting per training parameter: its type, default, hint and variable from spec.TrainingParams."""
    kinds = TrainingParams.kinds()
    return tuple(Field(f.name, list if kinds[f.name] is tuple else kinds[f.name], f.default, f.metadata["hint"],
                       _env(f.name) if f.metadata.get("env", True) else (),
                       choices=tuple(f.metadata.get("choices", {}).items()))
                 for f in dataclasses.fields(TrainingParams))


def _cloud(name: str, kind: type, default: Any, hint: str, env: bool = True, **kw) -> Field:
    """A setting of Vertex AI runs only; a page may not choose it unless said."""
    return Field(name, kind, default, hint, _env(name) if env else (), targets=VERTEX, **{"page": False, **kw})


FIELDS: tuple[Field, ...] = (
    Field("target", str, "auto", "where to train: " + ", ".join(f"{k} ({v})" for k, v in TARGETS.items()), _env("target")),
    Field("device", str, None, "gpu or cpu [default: gpu with an NVIDIA GPU here, else cpu]", _env("device"), targets=LOCAL),
    Field("data", str, None, "prepared dataset folder, TFRecord glob, raw audio folder (prepared first), or gs://", required=True),
    Field("output", str, None, "folder (or gs:// for Vertex AI) for checkpoints and summaries; a rerun resumes", required=True),
    Field("prepare_to", str, None, "when DATA is raw audio: prepare it into this folder first"),
    Field("project", str, None, "Google Cloud project id", _env("project", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"),
          VERTEX, ask=VERTEX, required=True),
    Field("region", str, "us-central1", "Vertex AI region (the bucket should be there too)", _env("region", "CLOUDSDK_AI_REGION"),
          VERTEX, ask=VERTEX),
    _cloud("machine_type", str, "n1-standard-8", "Vertex AI machine type", page=True, ask=VERTEX),
    _cloud("accelerator", str, "NVIDIA_TESLA_T4:1", "TYPE:COUNT, or none", page=True),
    _cloud("workers", int, 0, "additional worker machines (multi-worker training)", page=True, ask=VERTEX),
    _cloud("spot", bool, False, "spot VMs: cheaper, may be reclaimed (the job restarts and resumes)", page=True, ask=VERTEX),
    Field("image", str, None, "a pushed training image (else built here, and pushed to --push-to for Vertex AI)", _env("image"),
          ask=VERTEX),
    _cloud("push_to", str, None, "repository for the image, e.g. us-central1-docker.pkg.dev/PROJECT/REPO/ddsp"),
    Field("base_image", str, None, "base image for a local build [default: python:3.11-slim-bookworm]", _env("base_image")),
    *_hyperparameters(),
    Field("name", str, "ddsp-training", "a name for the run (the Vertex AI display name)", _env("name")),
    Field("tensorboard", bool, True, "start TensorBoard on the run's logs after launching", _env("tensorboard")),
    Field("probe", bool, False, "first train 10 steps here (about a minute) to measure this machine's speed for the "
          "time estimate", targets=LOCAL, page=False),
    Field("ca_bundle", str, None, "PEM CA bundle for pip during a local image build (behind a TLS-intercepting proxy)",
          targets=LOCAL, page=False),
    _cloud("job_config", str, None, "job config: a Vertex AI CustomJobSpec or an AI Platform trainingInput YAML "
           "(machines, scheduling, image); other settings override it", env=False),
    _cloud("study", str, None, "studySpec YAML (e.g. configs/hypertune.yaml): a hyperparameter tuning job", env=False),
    _cloud("max_trials", int, None, "tuning: trials in all [default: the study's maxTrialCount, else 4]"),
    _cloud("parallel_trials", int, None, "tuning: trials at a time [default: the study's parallelTrialCount, else 2]"),
    _cloud("worker_machine_type", str, None, "the workers' machine type [default: the primary's]"),
    _cloud("worker_accelerator", str, None, "the workers' TYPE[:COUNT] [default: the primary's]"),
    _cloud("timeout_hours", float, None, "stop the job after this long"),
    _cloud("regions", str, None, "capacity fail-over: more regions to submit to, in order (r1,r2,...), when a region "
           "has no capacity or quota; the next attempt resumes from the newest checkpoint"),
    _cloud("fallback", str, "none", "spot: 'on-demand' to fall back to on-demand VMs when no region has spot capacity",
           choices=(("none", "none: spot only"), ("on-demand", "on-demand: when spot capacity runs out"))),
    _cloud("max_cost", float, None, "US dollars: refuse a launch estimated above it, and stop the job (its timeout) "
           "before it can cost more"),
    _cloud("service_account", str, None, "run the job as this service account"),
    _cloud("label", list, (), "KEY=VALUE label of the job", env=False),
    _cloud("allow_cross_region", bool, False, "allow buckets outside the job's region"),
)
BY_NAME = {f.name: f for f in FIELDS}
HYPERPARAMETERS = tuple(f.name for f in dataclasses.fields(TrainingParams))


@dataclass
class Settings:
    values: dict
    origin: dict = field(default_factory=dict)  # name -> flag / config / env / door / default / prompt / record
    extra_args: tuple[str, ...] = ()  # further trainer flags (after `--`), passed as given

    def __getattr__(self, name: str):
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def applies(self, f: Field) -> bool:
        return f.targets is None or self.values.get("target") in f.targets

    def given(self, name: str) -> bool:
        """Set by the user (flag, config file, environment, prompt, record), not a default."""
        return self.origin.get(name, "default") not in ("default", "door")

    def training(self) -> TrainingParams:
        return TrainingParams(**{n: tuple(self.values[n]) if isinstance(self.values[n], (list, tuple)) else self.values[n]
                                 for n in HYPERPARAMETERS})

    def relevant(self) -> list[Field]:
        return [f for f in FIELDS if self.applies(f)]

    def to_file(self) -> dict:
        """What a config file holds: every relevant value that is set."""
        out = {}
        for f in self.relevant():
            value = self.values.get(f.name)
            if value is None or (f.kind is list and not value):
                continue
            out[f.name] = list(value) if f.kind is list else value
        return out

    def command_line(self) -> str:
        """The non-interactive command that makes the same choices."""
        args = ["ddsp-launch", "train", "--yes"]
        for name, value in self.to_file().items():
            f = BY_NAME[name]
            if f.kind is bool:
                args.append(f.flag if value else "--no-" + f.flag[2:])
            elif f.kind is list:
                for item in value:
                    args += [f.flag, str(item)]
            else:
                args += [f.flag, f"{value:g}" if isinstance(value, float) else str(value)]
        return shlex.join(args + (["--", *self.extra_args] if self.extra_args else []))

    def missing(self) -> list[str]:
        return [f.flag for f in self.relevant() if f.required and not self.values.get(f.name)]


def convert(f: Field, value: Any, where: str) -> Any:
    """``value`` (from YAML, an environment string or a prompt) as the field's type."""
    if value is None:
        return None
    try:
        if f.kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if f.kind is list:
            return tuple(str(v) for v in (value if isinstance(value, (list, tuple)) else [value]))
        if f.kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return f.kind(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: {f.name} = {value!r} is not {'a number' if f.kind in (int, float) else f.kind.__name__}",
                         f"{f.flag}: {f.hint}") from None


def read_config(path: Path) -> dict:
    """A settings file (what --save-config writes): the same keys as the flags."""
    from ddsp_launch.cloud.config import load_yaml

    data = load_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{path} holds no mapping of settings", "e.g. `data: data/violin-dataset` on its own line")
    if JOB_CONFIG_KEYS & set(map(str, data)):
        raise InputError(f"{path} is a Vertex AI job config, not a settings file",
                         f"pass it as --job-config {path} (a studySpec file as --study {path})")
    out = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in BY_NAME:
            raise InputError(f"{path}: unknown setting {key!r}", "settings: " + ", ".join(BY_NAME))
        out[name] = convert(BY_NAME[name], value, str(path))
    check_gin(out, str(path))
    return out


def check_gin(values: Mapping[str, Any], where: str) -> None:
    """Gin from a config file or a web page: only what common/gin_rules admits (the user's
    own --gin-file / --gin-param flags are not checked: they run what the user asks)."""
    for binding in values.get("gin_param") or ():
        gin_rules.check_binding(binding, where)
    for name in values.get("gin_file") or ():
        gin_rules.check_gin_file(name, where)


def _given(f: Field, value: Any) -> bool:
    """Whether a flag was given: None is not, nor an empty list (a list flag's default)."""
    return value is not None and not (f.kind is list and not value)


def resolve(flags: Mapping[str, Any], config: Mapping[str, Any], env: Mapping[str, str],
            door: Mapping[str, Any] | None = None) -> Settings:
    """flags > config > environment > the command's own defaults (``door``) > the table's.
    Flags come typed from the command line (or a page); config values were converted when read."""
    values, origin = {}, {}
    for f in FIELDS:
        if _given(f, flags.get(f.name)):
            values[f.name], origin[f.name] = convert(f, flags[f.name], f.flag), "flag"
        elif f.name in config:
            values[f.name], origin[f.name] = config[f.name], "config"
        elif any(env.get(e) for e in f.env):
            name = next(e for e in f.env if env.get(e))
            values[f.name], origin[f.name] = convert(f, env[name], name), "env"
        elif door and f.name in door:
            values[f.name], origin[f.name] = door[f.name], "door"
        else:
            values[f.name], origin[f.name] = f.default, "default"
    if values["target"] not in TARGETS:
        raise InputError(f"unknown target {values['target']!r}", "--target: one of " + ", ".join(TARGETS))
    if values["device"] not in (None, "cpu", "gpu"):
        raise InputError(f"unknown device {values['device']!r}", "--device gpu or --device cpu")
    return Settings(values, origin)


def from_record(record: Mapping[str, Any]) -> Settings:
    """The settings a run record holds, for a replay (fields added since it was written: their defaults)."""
    values = {**{f.name: f.default for f in FIELDS}, **{k: v for k, v in record.get("settings", {}).items() if k in BY_NAME}}
    for f in FIELDS:
        if f.kind is list:
            values[f.name] = tuple(values[f.name] or ())
    origin = {k: record.get("origin", {}).get(k, "record") for k in values}  # a default stays one: a job config may fill it
    return Settings(values, origin, tuple(record.get("extra_args") or ()))


def save(settings: Settings, path: Path) -> Path:
    """Write a settings file (0600), or say why it cannot be written (nothing is left behind)."""
    import yaml

    if path.is_dir():
        raise InputError(f"--save-config {path} is a folder", f"give a file name, e.g. {path / 'my-run.yaml'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return private.write_text(path, "# ddsp-launch settings: ddsp-launch train --config " + str(path) + "\n"
                                  + yaml.safe_dump(settings.to_file(), sort_keys=False))
    except OSError as exc:
        raise InputError(f"cannot write --save-config {path}: {exc.strerror or exc}",
                         "give a file in a folder you can write to") from None


def with_values(settings: Settings, **changes) -> Settings:
    return dataclasses.replace(settings, values={**settings.values, **changes},
                               origin={**settings.origin, **{k: "prompt" for k in changes}})
