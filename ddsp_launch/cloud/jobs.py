"""Vertex AI job requests from a run specification: pure functions, validated offline.

`CloudJobSpec.validate()` checks everything knowable before a request is sent (region,
machines and accelerators, image reference, gs:// paths, labels, the study); the bodies are
then checked against the aiplatform v1 discovery document's schemas. Nothing here talks to
the network.

The trainer needs no output flags on Vertex AI: with `baseOutputDirectory` set, the service
gives each replica AIP_CHECKPOINT_DIR / AIP_TENSORBOARD_LOG_DIR / AIP_MODEL_DIR (per trial
for tuning jobs), and the trainer resumes from AIP_CHECKPOINT_DIR after a spot VM is
reclaimed and the job restarted.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

from ddsp_launch.cloud import discovery
from ddsp_launch.cloud.machines import Machine, check as check_machine
from ddsp_launch.cloud.study import Study, parse as parse_study
from ddsp_launch.common import gcs, image_refs
from ddsp_launch.common.errors import InputError
from ddsp_launch.spec import TrainingParams, dataset_pattern, parse_gcs

DEFAULT_REGION = "us-central1"
DEFAULT_MACHINE = Machine("n1-standard-8", "NVIDIA_TESLA_T4", 1)
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_SERVICE_ACCOUNT = re.compile(r"^[a-z0-9-]+@[a-z0-9.-]+\.iam\.gserviceaccount\.com$|^[0-9]+-compute@developer\.gserviceaccount\.com$")


@dataclass(frozen=True)
class CloudJobSpec:
    """A training job on Vertex AI: one machine, or a chief plus workers; optionally tuned."""

    project: str
    region: str
    image: str  # a pushed image, e.g. us-central1-docker.pkg.dev/P/R/ddsp@sha256:...
    data: str  # gs:// dataset folder or TFRecord glob
    output: str  # gs:// base output directory
    params: TrainingParams = field(default_factory=TrainingParams)
    primary: Machine = DEFAULT_MACHINE
    worker_count: int = 0
    worker: Machine | None = None  # default: same as primary
    spot: bool = False
    timeout: str | None = None  # e.g. "86400s"
    service_account: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    display_name: str = "ddsp-training"
    extra_args: tuple[str, ...] = ()
    boot_disk_gb: int = 100
    study: dict | None = None  # a studySpec: makes this a HyperparameterTuningJob
    max_trial_count: int = 4
    parallel_trial_count: int = 2
    max_failed_trial_count: int = 0

    @property
    def is_tuning(self) -> bool:
        return self.study is not None

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    def worker_machine(self) -> Machine:
        return self.worker or self.primary

    def parsed_study(self) -> Study | None:
        return parse_study(self.study) if self.study is not None else None

    def validate(self) -> "CloudJobSpec":
        if not _PROJECT.match(self.project or ""):
            raise InputError(f"{self.project!r} is not a Google Cloud project id",
                             "6-30 lowercase letters, digits or hyphens; see `gcloud projects list` (--project or GOOGLE_CLOUD_PROJECT)")
        discovery.check_region(self.region)
        check_machine(self.primary, "primary pool")
        if self.worker_count < 0:
            raise InputError(f"worker count must be >= 0, got {self.worker_count}")
        if self.worker_count:
            check_machine(self.worker_machine(), "worker pool")
        self.params.validate()
        _check_image(self.image)
        for what, uri in (("data", self.data), ("output", self.output)):
            if not gcs.is_gcs(uri):
                raise InputError(f"{what} {uri!r} is on this machine; a Vertex AI job reads and writes gs:// only",
                                 f"upload it first: ddsp-launch upload {uri} gs://BUCKET/PATH" if what == "data"
                                 else "give a gs://BUCKET/PATH for the job's outputs")
        dataset_pattern(self.data)
        parse_gcs(self.output)
        if self.timeout is not None and not re.match(r"^[0-9]+s$", self.timeout):
            raise InputError(f"timeout {self.timeout!r} is not a duration", "seconds with an 's', e.g. 86400s (or --timeout-hours)")
        if self.service_account is not None and not _SERVICE_ACCOUNT.match(self.service_account):
            raise InputError(f"{self.service_account!r} is not a service account e-mail", "e.g. trainer@PROJECT.iam.gserviceaccount.com")
        for key, value in self.labels:
            if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
                raise InputError(f"label {key}={value} is not allowed",
                                 "keys start with a lowercase letter; keys and values use lowercase letters, digits, _ and -, at most 63")
        if not 0 < len(self.display_name) <= 128:
            raise InputError("the display name must be 1-128 characters")
        if self.is_tuning:
            study = self.parsed_study()
            if self.parallel_trial_count > self.max_trial_count:
                raise InputError(f"parallelTrialCount {self.parallel_trial_count} exceeds maxTrialCount {self.max_trial_count}")
            if self.max_trial_count < 1 or self.parallel_trial_count < 1:
                raise InputError("maxTrialCount and parallelTrialCount must be at least 1")
            fixed = {a.split("=", 1)[0].lstrip("-") for a in self.extra_args}
            clash = sorted(fixed & {p.id for p in study.parameters})
            if clash:
                raise InputError(f"{', '.join(clash)} is both tuned and fixed in the trainer arguments", "remove it from the extra arguments")
        return self

    # ---- request bodies ---------------------------------------------------------------
    def trainer_args(self) -> list[str]:
        tuned = {p.id for p in self.parsed_study().parameters} if self.is_tuning else set()
        args = [f"--file_pattern={dataset_pattern(self.data)}"]
        args += [a for a in self.params.task_args() if a.split("=", 1)[0].lstrip("-") not in tuned]
        if self.is_tuning:
            args += ["--hypertune", f"--hypertune_metric={self.parsed_study().metric_id}"]
        return args + list(self.extra_args)

    def job_spec(self) -> dict:
        """The CustomJobSpec (also a tuning job's trialJobSpec)."""
        def pool(machine: Machine, replicas: int) -> dict:
            return {
                "machineSpec": machine.machine_spec(),
                "replicaCount": str(replicas),
                "diskSpec": {"bootDiskType": "pd-ssd", "bootDiskSizeGb": self.boot_disk_gb},
                "containerSpec": {"imageUri": self.image, "args": self.trainer_args()},
            }

        pools = [pool(self.primary, 1)]
        if self.worker_count:
            pools.append(pool(self.worker_machine(), self.worker_count))
        spec: dict = {"workerPoolSpecs": pools, "baseOutputDirectory": {"outputUriPrefix": self.output}}
        scheduling: dict = {}
        if self.spot:
            scheduling["strategy"] = "SPOT"
        if self.spot or self.worker_count:
            scheduling["restartJobOnWorkerRestart"] = True
        if self.timeout:
            scheduling["timeout"] = self.timeout
        if scheduling:
            spec["scheduling"] = scheduling
        if self.service_account:
            spec["serviceAccount"] = self.service_account
        return spec

    def body(self) -> dict:
        """The CustomJob or HyperparameterTuningJob request body."""
        body: dict = {"displayName": self.display_name, "labels": {"app": "ddsp-launch", **dict(self.labels)}}
        if not self.is_tuning:
            body["jobSpec"] = self.job_spec()
            return body
        body.update(
            studySpec=self.study, maxTrialCount=self.max_trial_count, parallelTrialCount=self.parallel_trial_count,
            trialJobSpec=self.job_spec(),
        )
        if self.max_failed_trial_count:
            body["maxFailedTrialCount"] = self.max_failed_trial_count
        return body

    @property
    def kind(self) -> str:
        return "HyperparameterTuningJob" if self.is_tuning else "CustomJob"

    def checked_body(self) -> dict:
        body = self.body()
        discovery.request_schema().check(self.kind, body)
        return body

    def gcloud_command(self, config_file: str = "ddsp-job.yaml") -> str:
        """The equivalent gcloud invocation, with the config file it reads as a here-document."""
        import yaml  # noqa: PLC0415

        body = self.body()
        if self.is_tuning:
            config = {"studySpec": body["studySpec"], "trialJobSpec": body["trialJobSpec"]}
            cmd = ["gcloud", "ai", "hp-tuning-jobs", "create", f"--project={self.project}", f"--region={self.region}",
                   f"--display-name={self.display_name}", f"--max-trial-count={self.max_trial_count}",
                   f"--parallel-trial-count={self.parallel_trial_count}"]
            if self.max_failed_trial_count:
                cmd.append(f"--max-failed-trial-count={self.max_failed_trial_count}")
        else:
            config = body["jobSpec"]
            cmd = ["gcloud", "ai", "custom-jobs", "create", f"--project={self.project}", f"--region={self.region}",
                   f"--display-name={self.display_name}"]
        cmd += [f"--labels={','.join(f'{k}={v}' for k, v in body['labels'].items())}", f"--config={config_file}"]
        text = yaml.safe_dump(json.loads(json.dumps(config)), sort_keys=False, width=1000)
        return f"cat > {config_file} <<'EOF'\n{text}EOF\n{shlex.join(cmd)}"


def _check_image(image: str) -> None:
    host, _ = image_refs.split(image.split("@")[0])
    if host == "docker.io" or host.startswith(("localhost", "127.")):
        raise InputError(f"image {image!r} is not in a registry Vertex AI can pull from",
                         "push it first: ddsp-launch build --gpu --push REGION-docker.pkg.dev/PROJECT/REPO/ddsp, then pass the printed reference")
    if image_refs.is_container_registry(host):
        raise InputError(f"{host} (Container Registry) is shut down", "push to Artifact Registry: REGION-docker.pkg.dev/PROJECT/REPO/IMAGE")


def from_sources(config=None, **flags) -> CloudJobSpec:
    """A spec from a config file (`cloud.config.JobConfig`) with explicit flags on top.

    Flags given as None are not set. Extra trainer arguments add up: the config's first.
    """
    values: dict = {}
    if config is not None:
        if config.primary is not None:
            values["primary"] = config.primary
        if config.worker_count:
            values.update(worker_count=config.worker_count, worker=config.worker)
        if config.scheduling.get("strategy") == "SPOT":
            values["spot"] = True
        if config.scheduling.get("timeout"):
            values["timeout"] = str(config.scheduling["timeout"])
        for name in ("service_account", "study", "max_trial_count", "parallel_trial_count",
                     "max_failed_trial_count", "image", "output", "region"):
            if getattr(config, name):
                values[name] = getattr(config, name)
    extra = tuple(config.extra_args if config is not None else ()) + tuple(flags.pop("extra_args", None) or ())
    values.update({k: v for k, v in flags.items() if v is not None})
    if extra:
        values["extra_args"] = extra
    values.setdefault("region", DEFAULT_REGION)
    missing = [k for k in ("project", "region", "image", "data", "output") if not values.get(k)]
    if missing:
        raise InputError("missing " + ", ".join(f"--{m}" for m in missing),
                         "give them as flags (project also from GOOGLE_CLOUD_PROJECT), or in the config file")
    return CloudJobSpec(**values)
