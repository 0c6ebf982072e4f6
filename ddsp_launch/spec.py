"""The run specification: what to train, where, and how, validated once.

Built from flags today (and from prompts or a config file later); everything downstream
(image build, `docker run` arguments, the process runtime) takes a validated spec.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

from ddsp_launch.common import gcs, image_refs, tfrecord
from ddsp_launch.common.errors import InputError, LaunchError
from ddsp_launch.trainer import task
from ddsp_launch.trainer.task import TaskConfig  # plain Python: the defaults of the trainer's flags, its flag checks

RUNTIMES = ("auto", "docker", "process")
DEVICES = ("cpu", "gpu")
_PEM = b"-----BEGIN CERTIFICATE-----"
_CA_ENV = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")


@dataclass(frozen=True)
class TrainingParams:
    """The trainer's hyperparameters (task.py flags), with task.py's defaults (the original's)."""

    batch_size: int = TaskConfig.batch_size
    learning_rate: float = TaskConfig.learning_rate
    num_steps: int = TaskConfig.num_steps
    steps_per_summary: int = TaskConfig.steps_per_summary
    steps_per_save: int = TaskConfig.steps_per_save
    early_stop_loss_value: float = TaskConfig.early_stop_loss_value
    gin_files: tuple[str, ...] = ()
    gin_params: tuple[str, ...] = ()
    extra_args: tuple[str, ...] = ()  # further task.py flags, passed through as given

    def validate(self) -> None:
        for name in ("batch_size", "num_steps", "steps_per_summary", "steps_per_save"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name.replace('_', '-')} must be > 0, got {getattr(self, name)}")
        if not 0 < self.learning_rate < 1:
            raise InputError(f"learning-rate must be between 0 and 1, got {self.learning_rate}", "typical: 1e-4 to 1e-3")
        if self.early_stop_loss_value < 0:
            raise InputError(f"early-stop-loss-value must be >= 0, got {self.early_stop_loss_value}")
        try:  # the trainer's own check, here before anything starts
            task.check_gin(self.gin_files, self.gin_params)
        except task.TaskError as exc:
            raise InputError(str(exc).replace("--gin_file", "--gin-file").replace("--gin_param", "--gin-param")) from None

    def task_args(self) -> list[str]:
        args = [
            f"--batch_size={self.batch_size}",
            f"--learning_rate={self.learning_rate:g}",
            f"--num_steps={self.num_steps}",
            f"--steps_per_summary={self.steps_per_summary}",
            f"--steps_per_save={self.steps_per_save}",
        ]
        if self.early_stop_loss_value:
            args.append(f"--early_stop_loss_value={self.early_stop_loss_value:g}")
        args += [f"--gin_file={g}" for g in self.gin_files]
        args += [f"--gin_param={p}" for p in self.gin_params]
        return args + list(self.extra_args)


@dataclass(frozen=True)
class LocalRunSpec:
    """A training run on this machine, in a container or as a process."""

    data: str  # a prepared dataset folder, a TFRecord glob, or gs://BUCKET/PREFIX
    output: str  # a local folder or gs://BUCKET/PREFIX
    params: TrainingParams = field(default_factory=TrainingParams)
    runtime: str = "auto"
    device: str = "cpu"
    image: str | None = None  # a prebuilt image; else built from this checkout
    base_image: str | None = None
    ca_bundle: Path | None = None

    @property
    def data_is_gcs(self) -> bool:
        return gcs.is_gcs(self.data)

    @property
    def output_is_gcs(self) -> bool:
        return gcs.is_gcs(self.output)

    def file_pattern(self) -> str:
        """The TFRecord glob the trainer reads (host paths for local data)."""
        return dataset_pattern(self.data)

    def validate(self, check_data: bool = True) -> "LocalRunSpec":
        """Raise InputError on anything unusable; ``check_data=False`` when the dataset is yet to be prepared."""
        if self.runtime not in RUNTIMES:
            raise InputError(f"unknown runtime {self.runtime!r}", f"choose one of: {', '.join(RUNTIMES)}")
        if self.device not in DEVICES:
            raise InputError(f"unknown device {self.device!r}", "choose --cpu or --gpu")
        self.params.validate()
        if check_data:
            self.file_pattern()  # raises when the data cannot be used
        if self.output_is_gcs:
            parse_gcs(self.output)
        else:
            out = Path(self.output)
            if out.exists() and not out.is_dir():
                raise InputError(f"output {self.output} is a file, not a folder", "choose a new or existing folder")
            parent = next((p for p in [out, *out.parents] if p.exists()), None)
            if parent is not None and not os.access(parent, os.W_OK):
                raise InputError(f"output {self.output}: {parent} is not writable", "choose a folder you can write to")
        if self.image is not None:
            image_refs.check_reference(self.image)
        if self.ca_bundle is not None:
            check_ca_bundle(self.ca_bundle)
        return self


def parse_gcs(uri: str) -> gcs.GcsUri:
    try:
        return gcs.GcsUri.parse(uri)
    except LaunchError as exc:
        raise InputError(exc.message, exc.fix) from None


def dataset_pattern(data: str) -> str:
    """``data`` as a TFRecord glob: a dataset folder means its training shards."""
    if gcs.is_gcs(data):
        uri = parse_gcs(data)
        if uri.has_glob or ".tfrecord" in uri.path:
            return str(uri)
        return str(uri.child("train.tfrecord*"))
    path = Path(data)
    if path.is_dir():
        if glob.glob(str(path / "train.tfrecord*")):
            pattern = str(path.resolve() / "train.tfrecord*")
        elif glob.glob(str(path / "*.tfrecord*")):
            pattern = str(path.resolve() / "*.tfrecord*")
        else:
            raise InputError(
                f"{data} holds no TFRecords (train.tfrecord*)",
                f"prepare your audio first: ddsp-launch prepare {data} DATASET_DIR, then train on DATASET_DIR",
            )
    elif glob.glob(data):
        pattern = str(Path(data).resolve()) if not any(c in data for c in "*?[") else os.path.abspath(data)
    else:
        raise InputError(f"no dataset at {data}", "give a folder written by `ddsp-launch prepare`, or a TFRecord glob")
    records = [Path(p) for p in sorted(glob.glob(pattern))]
    tfrecord.check(records, f"data {data}",
                   "give a folder written by `ddsp-launch prepare` (prepare audio first: ddsp-launch prepare AUDIO DATASET_DIR)")
    return pattern


def check_ca_bundle(path: Path) -> Path:
    if not path.is_file():
        raise InputError(f"CA bundle {path} does not exist", "give a PEM file, e.g. /etc/ssl/certs/ca-certificates.crt")
    if _PEM not in path.read_bytes()[:1 << 20]:
        raise InputError(f"CA bundle {path} holds no PEM certificate", "give a PEM file (-----BEGIN CERTIFICATE-----)")
    return path


def resolve_ca_bundle(option: Path | None) -> Path | None:
    """The bundle given (checked), else the one the environment names."""
    return check_ca_bundle(option) if option is not None else ca_bundle_from_env()


def ca_bundle_from_env() -> Path | None:
    """The CA bundle pip and requests are told about here (PIP_CERT, REQUESTS_CA_BUNDLE, SSL_CERT_FILE)."""
    for name in _CA_ENV:
        value = os.environ.get(name)
        if value and Path(value).is_file():
            return Path(value)
    return None
