"""From settings to a running training: plan, check, act, record, show TensorBoard.

Everything that can be refused is refused before anything is spent: the local run spec or
the Vertex AI request is validated (and, for the cloud, the buckets checked) before an
image is built or pushed, a dataset prepared, or a job submitted.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ddsp_launch.common import audio, destinations, gcs
from ddsp_launch.common.errors import InputError
from ddsp_launch.launch import records
from ddsp_launch.launch.settings import Settings
from ddsp_launch.spec import LocalRunSpec

Say = Callable[[str], None]


def needs_preparing(data: str) -> bool:
    """True for a local folder of audio files without TFRecords."""
    path = Path(data)
    if gcs.is_gcs(data) or not path.is_dir():
        return False
    if glob.glob(str(path / "*.tfrecord*")):
        return False
    return any(p.suffix.lower() in audio.EXTENSIONS for p in path.rglob("*") if p.is_file())


def default_device(target: str) -> str:
    if target == "vertex":
        return "gpu"
    from ddsp_launch.launch import doctor

    return "gpu" if doctor.has_nvidia_gpu() else "cpu"


def finalize(settings: Settings) -> Settings:
    """Fill what depends on other answers (device); make local paths absolute (records are replayed elsewhere)."""
    import os

    for name in ("data", "output", "prepare_to"):
        value = settings.values.get(name)
        if value and not gcs.is_gcs(value):
            settings.values[name] = os.path.abspath(os.path.expanduser(value))
    if settings.values.get("device") is None:
        settings.values["device"] = default_device(settings.target)
        settings.origin.setdefault("device", "default")
    return settings


def _data_for_plan(settings: Settings) -> str:
    if settings.prepare_to and needs_preparing(settings.data):
        return settings.prepare_to
    if needs_preparing(settings.data):
        raise InputError(f"{settings.data} holds audio, not a prepared dataset",
                         f"add --prepare-to {settings.data.rstrip('/')}-dataset (or run `ddsp-launch prepare` first)")
    return settings.data


def cloud_data(settings: Settings) -> str:
    """The gs:// dataset a Vertex AI job reads: DATA itself, or, when DATA is on this machine
    (a prepared dataset, or audio with --prepare-to), OUTPUT/dataset: the launcher prepares it
    here and uploads it there before submitting."""
    data, output = settings.data, settings.output
    if gcs.is_gcs(data) or not output:
        return data
    if not Path(data).exists():
        raise InputError(f"no data at {data}", "give a prepared dataset folder, a folder of audio with --prepare-to, "
                         "or gs://BUCKET/PATH")
    if not gcs.is_gcs(output):
        raise InputError(f"output {output!r} is on this machine; a Vertex AI job reads and writes gs:// only",
                         "give a gs://BUCKET/PATH for the job's outputs")
    if not Path(data).is_dir():
        raise InputError(f"{data} is a file; a cloud run uploads a dataset folder",
                         "give the folder written by `ddsp-launch prepare` (or a folder of audio with --prepare-to)")
    if not needs_preparing(data):
        from ddsp_launch.spec import dataset_pattern

        dataset_pattern(data)  # refuses a folder without TFRecords, with the fix
    elif not settings.prepare_to:
        _data_for_plan(settings)  # audio without --prepare-to: the same message as for a local run
    elif gcs.is_gcs(settings.prepare_to):
        raise InputError(f"--prepare-to {settings.prepare_to}: audio is prepared on this machine",
                         f"give a local folder (e.g. --prepare-to {data.rstrip('/')}-dataset); it is uploaded to "
                         f"{output.rstrip('/')}/dataset for the job")
    return f"{output.rstrip('/')}/dataset"


def local_spec(settings: Settings) -> LocalRunSpec:
    runtime = settings.target if settings.target in ("docker", "process", "auto") else "auto"
    spec = LocalRunSpec(data=_data_for_plan(settings), output=settings.output, params=settings.training(),
                        runtime=runtime, device=settings.device, image=settings.image, base_image=settings.base_image)
    return spec.validate(check_data=not (settings.prepare_to and needs_preparing(settings.data)))


def cloud_spec(settings: Settings, image: str | None = None):
    from ddsp_launch.cloud import jobs
    from ddsp_launch.cloud.machines import Machine, parse_accelerator

    gpu, count = parse_accelerator(settings.accelerator)
    image = image or settings.image or (f"{settings.push_to}:pending" if settings.push_to else None)
    if not image:
        raise InputError("a Vertex AI job needs a pushed image", "give --image REGISTRY/NAME@sha256:..., or --push-to "
                         "REGION-docker.pkg.dev/PROJECT/REPO/ddsp to build and push one now")
    return jobs.from_sources(
        None, project=settings.project, region=settings.region, image=image, data=cloud_data(settings), output=settings.output,
        params=settings.training(), primary=Machine(settings.machine_type, gpu, count), worker_count=settings.workers,
        spot=settings.spot, display_name=settings.name,
    ).validate()


def cost_class(settings: Settings) -> str:
    if not settings.is_cloud:
        return f"local: this machine's {'GPU' if settings.device == 'gpu' else 'CPU'}, no cloud charges"
    from ddsp_launch.cloud.machines import parse_accelerator

    gpu, count = parse_accelerator(settings.accelerator)
    acc = f"{gpu}:{count}" if gpu else "no GPU"
    machines = 1 + (settings.workers or 0)
    return (f"Vertex AI: {machines} x {settings.machine_type} with {acc}, "
            f"{'spot (cheaper, may be reclaimed)' if settings.spot else 'on-demand'}, billed per second while the job runs")


def check(settings: Settings):
    """Validate everything offline; returns the plan (LocalRunSpec or CloudJobSpec)."""
    missing = settings.missing()
    if missing:
        raise InputError("missing " + ", ".join(missing), "give them as flags, in --config FILE, or answer the prompts (in a terminal)")
    destinations.check_apart(settings.prepare_to, {"data": settings.data}, "--prepare-to folder")
    destinations.check_apart(settings.output, {"data": settings.data, "--prepare-to folder": settings.prepare_to}, "output")
    return cloud_spec(settings) if settings.is_cloud else local_spec(settings)


def preflight(settings: Settings) -> None:
    """The quick checks of this machine before a launch: disk space, an NVIDIA GPU (and in
    Docker its runtime) for GPU runs here, the project and credentials for Vertex AI. Raises with every failure."""
    from ddsp_launch.launch import doctor

    out = Path(settings.output) if settings.output and not gcs.is_gcs(settings.output) else None
    checks = [doctor.disk_check(out or Path.cwd(), 5.0 if settings.target == "docker" else 1.0)]
    if not settings.is_cloud and settings.device == "gpu":
        checks += doctor.gpu_checks(settings.target)  # never a CPU run recorded as a GPU one
    if settings.is_cloud:
        checks.append(doctor.project_check(settings.project))
        from ddsp_launch.adapters import vertex

        if not vertex.uses_local_services():
            checks.append(doctor.adc_check())
    doctor.require(checks)


@dataclass
class Result:
    exit_code: int
    record: dict
    record_path: Path


def launch(settings: Settings, say: Say, progress: Say, tensorboard_start=None, run_id: str | None = None) -> Result:
    """Run (local) or submit (Vertex AI) what ``settings`` describe, writing the run record
    (under ``run_id`` when the caller chose it: `ddsp-launch web` does, to follow the run)."""
    plan = check(settings)
    if run_id is not None and not records.valid_id(run_id):
        raise InputError(f"run id {run_id!r}", "letters, digits, '.', '_' and '-' only")
    record = {
        "id": run_id or records.new_id(settings.target), "created": records.now(), "state": "starting",
        "target": settings.target, "settings": dict(settings.values), "origin": dict(settings.origin),
        "command_line": settings.command_line(), "git_commit": records.git_commit(),
        "data": settings.data, "output": settings.output,
    }
    path = records.write(record)
    say(f"run record: {path}")
    try:
        if settings.is_cloud:
            code = _submit(settings, plan, record, say, progress, tensorboard_start)
        else:
            code = _run_local(settings, plan, record, say, progress, tensorboard_start)
    except KeyboardInterrupt:
        record.update(state="interrupted", finished=records.now())
        records.write(record)
        raise
    except Exception as exc:
        record.update(state="failed", error=str(exc), finished=records.now())
        records.write(record)
        raise
    records.write(record)
    return Result(code, record, path)


def _prepare(settings: Settings, say: Say) -> str:
    from ddsp_launch.runtime import process

    target = Path(settings.prepare_to)
    if (target / "manifest.json").is_file():
        say(f"dataset {target} is already prepared")
        return str(target)
    process.require_trainer_stack("preparing audio")
    say(f"preparing {settings.data} -> {target}")
    code = process.run_module("ddsp_launch.trainer.prepare", [settings.data, str(target)])
    if code != 0:
        raise InputError(f"preparing {settings.data} failed (exit {code})", "see the messages above")
    return str(target)


def _run_local(settings: Settings, spec: LocalRunSpec, record: dict, say: Say, progress: Say, tensorboard_start) -> int:
    import dataclasses

    from ddsp_launch.runtime import local

    if settings.prepare_to and needs_preparing(settings.data):
        spec = dataclasses.replace(spec, data=_prepare(settings, say)).validate()
    record["data_fingerprint"] = records.fingerprint(spec.data)
    if not spec.output_is_gcs:
        Path(spec.output).mkdir(parents=True, exist_ok=True)
    _tensorboard(settings, f"{spec.output.rstrip('/')}/summaries", record, say, tensorboard_start)
    record["state"] = "running"
    records.write(record)
    outcome = local.run(spec, say, progress)
    record.update(runtime=outcome.runtime, image=outcome.image, exit_code=outcome.exit_code, finished=records.now(),
                  state={0: "succeeded", 130: "interrupted", 143: "interrupted"}.get(outcome.exit_code, "failed"))
    if outcome.image:
        record["image_id"] = _image_id(outcome.image)
    return outcome.exit_code


def _image_id(image: str) -> str | None:
    try:
        from ddsp_launch.adapters import docker_engine

        return docker_engine.connect().image_id(image)
    except Exception:  # noqa: BLE001 - the record is still useful without it
        return None


def _submit(settings: Settings, spec, record: dict, say: Say, progress: Say, tensorboard_start) -> int:
    import dataclasses

    from ddsp_launch.adapters import storage, vertex

    spec.checked_body()
    storage.check_job_buckets(spec, allow_cross_region=False, say=say)
    if not gcs.is_gcs(settings.data):
        _upload_data(settings, spec.data, record, say, progress)
    if not settings.image:
        from ddsp_launch.adapters import docker_engine
        from ddsp_launch.image import build as image_build
        from ddsp_launch.image import dockerfile

        variant = "gpu" if spec.primary.has_gpu else "cpu"
        plan = image_build.plan(image_build.BuildSpec(variant=variant, base_image=settings.base_image or dockerfile.DEFAULT_BASE_IMAGE,
                                                      push_to=settings.push_to))
        say(f"building and pushing {plan.local_ref} to {settings.push_to}")
        result = image_build.build(plan, docker_engine.connect(), progress, warn=say)
        spec = dataclasses.replace(spec, image=result.pinned_ref).validate()
        record.update(image=result.pinned_ref, image_digest=result.digest)
    else:
        record["image"] = settings.image
    client = vertex.Vertex(spec.project, spec.region)
    job = client.create(spec.kind, spec.checked_body())
    record.update(state="submitted", job=job["name"], console=vertex.console_url(job["name"]), request=spec.body())
    say(f"submitted: {job['name']}\nconsole:   {record['console']}\nlogs:      ddsp-launch jobs logs {vertex.job_id(job['name'])} --follow")
    _tensorboard(settings, f"{spec.output.rstrip('/')}/logs", record, say, tensorboard_start)
    try:
        record["record_beside_outputs"] = records.upload_beside(record, spec.output)
    except Exception as exc:  # noqa: BLE001 - the local record is written regardless
        say(f"note: could not write the record beside the outputs ({exc})")
    return 0


def _upload_data(settings: Settings, uri: str, record: dict, say: Say, progress: Say) -> None:
    """A cloud run from data on this machine: prepare it (audio) here, upload the dataset to ``uri``."""
    from ddsp_launch.adapters import storage

    dataset = _prepare(settings, say) if needs_preparing(settings.data) else settings.data
    dest = gcs.GcsUri.parse(uri)
    pairs = storage.plan_upload(Path(dataset), dest)
    total = storage.total_bytes([p for p, _ in pairs])
    say(f"uploading the dataset {dataset} ({total / 1e6:.1f} MB) to {uri}")
    sent = [0]

    def advance(n: int) -> None:
        sent[0] += n
        progress(f"uploaded {sent[0] / 1e6:.1f} / {total / 1e6:.1f} MB")

    done = storage.upload(Path(dataset), dest, gcs.make_client(), advance)
    say(done.summary("uploaded"))
    record.update(dataset=dataset, uploaded_data=uri)
    records.write(record)


def _tensorboard(settings: Settings, logdir: str, record: dict, say: Say, start) -> None:
    if not settings.tensorboard:
        return
    from ddsp_launch.adapters import tensorboard
    from ddsp_launch.common.errors import LaunchError

    try:
        board = (start or tensorboard.start)(logdir)
    except LaunchError as exc:
        say(f"TensorBoard not started: {exc}")
        return
    record["tensorboard"] = {"url": board.url, "logdir": board.logdir, "source": board.source, "pid": board.pid}
    say(f"TensorBoard: {board.url}  ({'already running' if board.reused else 'started'}, logs {logdir})")
