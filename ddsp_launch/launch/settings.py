"""Every choice `ddsp-launch train` makes, and where each value came from.

One table (`FIELDS`) names each setting once: its type, default, flag, prompt hint and
environment variable. Values are resolved with the precedence

    flags  >  config file (--config FILE)  >  environment (DDSP_LAUNCH_<NAME>)  >  defaults

(data and output paths are never read from the environment; the project also comes from
GOOGLE_CLOUD_PROJECT). A list setting (gin_file, gin_param) given as flags replaces the config
file's list; no such flag leaves the file's. Gin in a config file is checked by
common/gin_rules (a config file may come from a web page or from someone else). The same
table writes a config file back and prints the equivalent non-interactive command line.
"""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ddsp_launch.common import private
from ddsp_launch.common import gin_rules
from ddsp_launch.common.errors import InputError
from ddsp_launch.spec import TrainingParams

TARGETS = {
    "docker": "this machine, in Docker",
    "process": "this machine, without Docker",
    "vertex": "Google Cloud (Vertex AI)",
    "auto": "this machine: Docker when it answers, else a local process",
}


@dataclass(frozen=True)
class Field:
    name: str
    kind: type
    default: Any
    hint: str
    env: tuple[str, ...] = ()
    cloud: bool = False  # asked only for Vertex AI

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _env(name: str, *more: str) -> tuple[str, ...]:
    return (f"DDSP_LAUNCH_{name.upper()}", *more)


FIELDS: tuple[Field, ...] = (
    Field("target", str, "auto", "where to train: " + ", ".join(f"{k} ({v})" for k, v in TARGETS.items()), _env("target")),
    Field("device", str, None, "gpu or cpu [default: gpu on Vertex AI or with an NVIDIA GPU here, else cpu]", _env("device")),
    Field("data", str, None, "prepared dataset folder, TFRecord glob, raw audio folder (prepared first), or gs://"),
    Field("output", str, None, "folder (or gs:// for Vertex AI) for checkpoints and summaries; a rerun resumes"),
    Field("prepare_to", str, None, "when DATA is raw audio: prepare it into this folder first"),
    Field("project", str, None, "Google Cloud project id", _env("project", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"), cloud=True),
    Field("region", str, "us-central1", "Vertex AI region (the bucket should be there too)", _env("region", "CLOUDSDK_AI_REGION"), cloud=True),
    Field("machine_type", str, "n1-standard-8", "Vertex AI machine type", _env("machine_type"), cloud=True),
    Field("accelerator", str, "NVIDIA_TESLA_T4:1", "TYPE:COUNT, or none", _env("accelerator"), cloud=True),
    Field("workers", int, 0, "additional worker machines (multi-worker training)", _env("workers"), cloud=True),
    Field("spot", bool, False, "spot VMs: cheaper, may be reclaimed (the job restarts and resumes)", _env("spot"), cloud=True),
    Field("image", str, None, "a pushed training image (else built here, and pushed to --push-to for Vertex AI)", _env("image")),
    Field("push_to", str, None, "repository for the image, e.g. us-central1-docker.pkg.dev/PROJECT/REPO/ddsp", _env("push_to"), cloud=True),
    Field("base_image", str, None, "base image for a local build [default: python:3.11-slim-bookworm]", _env("base_image")),
    Field("batch_size", int, TrainingParams.batch_size, "examples per step (16-32 on one GPU; 2-8 on a CPU)", _env("batch_size")),
    Field("learning_rate", float, TrainingParams.learning_rate, "typical: 1e-4 to 1e-3", _env("learning_rate")),
    Field("num_steps", int, TrainingParams.num_steps, "train until this step (30000 is a good model; 300 a quick look)", _env("num_steps")),
    Field("steps_per_save", int, TrainingParams.steps_per_save, "checkpoint every N steps", _env("steps_per_save")),
    Field("steps_per_summary", int, TrainingParams.steps_per_summary, "TensorBoard summaries every N steps", _env("steps_per_summary")),
    Field("early_stop_loss_value", float, TrainingParams.early_stop_loss_value, "stop below this windowed loss (0: never)", _env("early_stop_loss_value")),
    Field("gin_file", list, (), "extra gin config files (ddsp's solo_instrument + tfrecord by default)"),
    Field("gin_param", list, (), "gin bindings, e.g. 'RnnFcDecoder.rnn_channels = 256'"),
    Field("name", str, "ddsp-training", "a name for the run (the Vertex AI display name)", _env("name")),
    Field("tensorboard", bool, True, "start TensorBoard on the run's logs after launching", _env("tensorboard")),
)
BY_NAME = {f.name: f for f in FIELDS}
REQUIRED = ("data", "output")


@dataclass
class Settings:
    values: dict
    origin: dict = field(default_factory=dict)  # name -> flag / config / env / default / prompt

    def __getattr__(self, name: str):
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def is_cloud(self) -> bool:
        return self.values["target"] == "vertex"

    def training(self) -> TrainingParams:
        v = self.values
        return TrainingParams(
            batch_size=v["batch_size"], learning_rate=v["learning_rate"], num_steps=v["num_steps"],
            steps_per_summary=v["steps_per_summary"], steps_per_save=v["steps_per_save"],
            early_stop_loss_value=v["early_stop_loss_value"], gin_files=tuple(v["gin_file"]), gin_params=tuple(v["gin_param"]),
        )

    def relevant(self) -> list[Field]:
        return [f for f in FIELDS if not f.cloud or self.is_cloud]

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
        return shlex.join(args)

    def missing(self) -> list[str]:
        return [BY_NAME[n].flag for n in REQUIRED if not self.values.get(n)] + (
            ["--project"] if self.is_cloud and not self.values.get("project") else [])


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
    from ddsp_launch.cloud.config import load_yaml

    data = load_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{path} holds no mapping of settings", "e.g. `data: data/violin-dataset` on its own line")
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


def resolve(flags: Mapping[str, Any], config: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    values, origin = {}, {}
    for f in FIELDS:
        if _given(f, flags.get(f.name)):
            values[f.name], origin[f.name] = convert(f, flags[f.name], f.flag), "flag"
        elif f.name in config:
            values[f.name], origin[f.name] = config[f.name], "config"
        elif any(env.get(e) for e in f.env):
            name = next(e for e in f.env if env.get(e))
            values[f.name], origin[f.name] = convert(f, env[name], name), "env"
        else:
            values[f.name], origin[f.name] = f.default, "default"
    if values["target"] not in TARGETS:
        raise InputError(f"unknown target {values['target']!r}", "--target: one of " + ", ".join(TARGETS))
    if values["device"] not in (None, "cpu", "gpu"):
        raise InputError(f"unknown device {values['device']!r}", "--device gpu or --device cpu")
    return Settings(values, origin)


def save(settings: Settings, path: Path) -> Path:
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    return private.write_text(path, "# ddsp-launch settings: ddsp-launch train --config " + str(path) + "\n"
                              + yaml.safe_dump(settings.to_file(), sort_keys=False))


def with_values(settings: Settings, **changes) -> Settings:
    return dataclasses.replace(settings, values={**settings.values, **changes},
                               origin={**settings.origin, **{k: "prompt" for k in changes}})
