"""Vertex AI job requests from a run specification: pure functions, checked offline.

`check(target)` checks what is knowable about a Vertex AI target before a request is sent
(project, region, machines and accelerators, labels, timeout, service account, the study);
`JobRequest` renders the CustomJob or HyperparameterTuningJob body from a `RunSpec`, the
pushed image and the gs:// dataset, and checks it against the aiplatform v1 discovery
document's schemas. Nothing here talks to the network.

The trainer needs no output flags on Vertex AI: with `baseOutputDirectory` set, the service
gives each replica AIP_CHECKPOINT_DIR / AIP_TENSORBOARD_LOG_DIR / AIP_MODEL_DIR (per trial
for tuning jobs), and the trainer resumes from AIP_CHECKPOINT_DIR after a spot VM is
reclaimed and the job restarted.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass

from ddsp_launch.cloud import discovery
from ddsp_launch.cloud.machines import check as check_machine
from ddsp_launch.cloud.study import parse as parse_study
from ddsp_launch.common import image_refs
from ddsp_launch.common.errors import InputError
from ddsp_launch.spec import Machine, RunSpec, VertexTarget, task_argv

DEFAULT_REGION = "us-central1"
DEFAULT_MACHINE = Machine("n1-standard-8", "NVIDIA_TESLA_T4", 1)
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_SERVICE_ACCOUNT = re.compile(r"^[a-z0-9-]+@[a-z0-9.-]+\.iam\.gserviceaccount\.com$|^[0-9]+-compute@developer\.gserviceaccount\.com$")


def check_project(project: str | None) -> str:
    if not _PROJECT.match(project or ""):
        raise InputError(f"{project!r} is not a Google Cloud project id",
                         "6-30 lowercase letters, digits or hyphens; see `gcloud projects list` (--project or GOOGLE_CLOUD_PROJECT)")
    return project


def check(target: VertexTarget, extra_args: tuple[str, ...] = ()) -> VertexTarget:
    """Everything about a Vertex AI target that can be refused offline (InputError naming it)."""
    check_project(target.project)
    discovery.check_region(target.region)
    check_machine(target.primary, "primary pool")
    if target.workers < 0:
        raise InputError(f"workers must be >= 0, got {target.workers}")
    if target.workers:
        check_machine(target.worker_machine, "worker pool")
    if target.image is not None:
        check_image(target.image)
    if target.timeout is not None and not re.match(r"^[0-9]+s$", target.timeout):
        raise InputError(f"timeout {target.timeout!r} is not a duration", "seconds with an 's', e.g. 86400s (or --timeout-hours)")
    if target.service_account is not None and not _SERVICE_ACCOUNT.match(target.service_account):
        raise InputError(f"{target.service_account!r} is not a service account e-mail", "e.g. trainer@PROJECT.iam.gserviceaccount.com")
    for key, value in target.labels:
        if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
            raise InputError(f"label {key}={value} is not allowed",
                             "keys start with a lowercase letter; keys and values use lowercase letters, digits, _ and -, at most 63")
    if target.is_tuning:
        study = parse_study(target.study)
        if target.parallel_trial_count > target.max_trial_count:
            raise InputError(f"parallelTrialCount {target.parallel_trial_count} exceeds maxTrialCount {target.max_trial_count}")
        if target.max_trial_count < 1 or target.parallel_trial_count < 1:
            raise InputError("maxTrialCount and parallelTrialCount must be at least 1")
        fixed = {a.split("=", 1)[0].lstrip("-") for a in extra_args}
        clash = sorted(fixed & {p.id for p in study.parameters})
        if clash:
            raise InputError(f"{', '.join(clash)} is both tuned and fixed in the trainer arguments", "remove it from the extra arguments")
    return target


def check_image(image: str) -> str:
    """An image Vertex AI can pull: in a registry it reaches, not Container Registry."""
    image_refs.check_reference(image)
    host, _ = image_refs.split(image.split("@")[0])
    if host == "docker.io" or host.startswith(("localhost", "127.")):
        raise InputError(f"image {image!r} is not in a registry Vertex AI can pull from",
                         "push it first: ddsp-launch build --gpu --push REGION-docker.pkg.dev/PROJECT/REPO/ddsp, then pass the printed reference")
    if image_refs.is_container_registry(host):
        raise InputError(f"{host} (Container Registry) is shut down", "push to Artifact Registry: REGION-docker.pkg.dev/PROJECT/REPO/IMAGE")
    return image


CAPACITY_CODES = {8}  # google.rpc.Code RESOURCE_EXHAUSTED, in a failed job's ``error``
_CAPACITY_WORDS = re.compile(r"resources are insufficient|stockout|resource_exhausted|not enough resources|"
                             r"does not have enough resources|quota", re.IGNORECASE)


def is_capacity_error(error: dict | None) -> bool:
    """A job refused or failed for want of capacity or quota in its region (a google.rpc.Status:
    code 8 RESOURCE_EXHAUSTED, or Vertex AI's 'Resources are insufficient in region: ...')."""
    if not error:
        return False
    return error.get("code") in CAPACITY_CODES or error.get("status") == "RESOURCE_EXHAUSTED" or bool(
        _CAPACITY_WORDS.search(str(error.get("message", ""))))


def attempt_plan(target: VertexTarget) -> list[tuple[str, bool]]:
    """(region, spot) in the order capacity fail-over tries them: every region with the run's
    own strategy, then, for spot with the on-demand fallback, every region on demand."""
    regions = [target.region, *[r for r in target.regions if r != target.region]]
    plan = [(r, target.spot) for r in regions]
    if target.spot and target.fallback_on_demand:
        plan += [(r, False) for r in regions]
    return plan


def for_attempt(body: dict, kind: str, spot: bool, restore_dir: str | None) -> dict:
    """The recorded request body for another attempt: its strategy, and --restore_dir when a
    checkpoint exists to resume from (the trainer's own flag: the resume shows in the job's args)."""
    out = json.loads(json.dumps(body))
    spec = out["trialJobSpec"] if kind == "HyperparameterTuningJob" else out["jobSpec"]
    scheduling = spec.setdefault("scheduling", {})
    if spot:
        scheduling.update(strategy="SPOT", restartJobOnWorkerRestart=True)
    else:
        scheduling.pop("strategy", None)
    if restore_dir:
        for pool in spec["workerPoolSpecs"]:
            args = [a for a in pool["containerSpec"].get("args", []) if not a.startswith("--restore_dir=")]
            pool["containerSpec"]["args"] = args + [f"--restore_dir={restore_dir}"]
    return out


@dataclass(frozen=True)
class JobRequest:
    """The request for one run on Vertex AI: a checked spec, the pushed image, the gs:// TFRecords."""

    spec: RunSpec
    image: str
    file_pattern: str

    @property
    def target(self) -> VertexTarget:
        return self.spec.target

    @property
    def kind(self) -> str:
        return "HyperparameterTuningJob" if self.target.is_tuning else "CustomJob"

    @property
    def parent(self) -> str:
        return f"projects/{self.target.project}/locations/{self.target.region}"

    @property
    def collection(self) -> str:
        return "hyperparameterTuningJobs" if self.target.is_tuning else "customJobs"

    def trainer_args(self) -> list[str]:
        if not self.target.is_tuning:
            return task_argv(self.spec, self.file_pattern)
        study = parse_study(self.target.study)  # the tuned parameters are Vertex AI's to pass
        return task_argv(self.spec, self.file_pattern, leave_out={p.id for p in study.parameters},
                         hypertune_metric=study.metric_id)

    def job_spec(self) -> dict:
        """The CustomJobSpec (also a tuning job's trialJobSpec)."""
        t = self.target

        def pool(machine: Machine, replicas: int) -> dict:
            return {
                "machineSpec": machine.machine_spec(),
                "replicaCount": str(replicas),
                "diskSpec": {"bootDiskType": "pd-ssd", "bootDiskSizeGb": t.boot_disk_gb},
                "containerSpec": {"imageUri": self.image, "args": self.trainer_args()},
            }

        pools = [pool(t.primary, 1)]
        if t.workers:
            pools.append(pool(t.worker_machine, t.workers))
        spec: dict = {"workerPoolSpecs": pools, "baseOutputDirectory": {"outputUriPrefix": str(self.spec.output)}}
        scheduling: dict = {}
        if t.spot:
            scheduling["strategy"] = "SPOT"
        if t.spot or t.workers:
            scheduling["restartJobOnWorkerRestart"] = True
        if t.timeout:
            scheduling["timeout"] = t.timeout
        if scheduling:
            spec["scheduling"] = scheduling
        if t.service_account:
            spec["serviceAccount"] = t.service_account
        return spec

    def body(self) -> dict:
        """The CustomJob or HyperparameterTuningJob request body."""
        t = self.target
        body: dict = {"displayName": self.spec.name, "labels": {"app": "ddsp-launch", **dict(t.labels)}}
        if not t.is_tuning:
            body["jobSpec"] = self.job_spec()
            return body
        body.update(studySpec=t.study, maxTrialCount=t.max_trial_count, parallelTrialCount=t.parallel_trial_count,
                    trialJobSpec=self.job_spec())
        if t.max_failed_trial_count:
            body["maxFailedTrialCount"] = t.max_failed_trial_count
        return body

    def checked_body(self) -> dict:
        body = self.body()
        discovery.request_schema().check(self.kind, body)
        return body

    def gcloud_command(self, config_file: str = "ddsp-job.yaml") -> str:
        """The equivalent gcloud invocation, with the config file it reads as a here-document."""
        import yaml  # noqa: PLC0415

        t, body = self.target, self.body()
        common = [f"--project={t.project}", f"--region={t.region}", f"--display-name={self.spec.name}"]
        if t.is_tuning:
            config = {"studySpec": body["studySpec"], "trialJobSpec": body["trialJobSpec"]}
            cmd = ["gcloud", "ai", "hp-tuning-jobs", "create", *common, f"--max-trial-count={t.max_trial_count}",
                   f"--parallel-trial-count={t.parallel_trial_count}"]
            if t.max_failed_trial_count:
                cmd.append(f"--max-failed-trial-count={t.max_failed_trial_count}")
        else:
            config = body["jobSpec"]
            cmd = ["gcloud", "ai", "custom-jobs", "create", *common]
        cmd += [f"--labels={','.join(f'{k}={v}' for k, v in body['labels'].items())}", f"--config={config_file}"]
        text = yaml.safe_dump(json.loads(json.dumps(config)), sort_keys=False, width=1000)
        return f"cat > {config_file} <<'EOF'\n{text}EOF\n{shlex.join(cmd)}"


def resubmission(name: str, job: dict) -> tuple[str, dict]:
    """The kind and body that submit job ``name`` (as read back) again: its writable fields, checked."""
    kind = "HyperparameterTuningJob" if "/hyperparameterTuningJobs/" in name else "CustomJob"
    schema = discovery.request_schema()
    body = schema.writable(kind, job)
    schema.check(kind, body)
    return kind, body
