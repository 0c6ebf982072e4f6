"""The Vertex AI target: a custom job (one machine, or a chief plus workers), or a tuning job.

Outputs are gs:// only. Data may be gs://, or on this machine: a prepared dataset, or audio
prepared here first, uploaded to OUTPUT/dataset after the buckets are checked and before the
image is built or the job submitted. A job config file (`--job-config`: a Vertex AI
CustomJobSpec, a tuning config, or an AI Platform `trainingInput`, converted) supplies the
machines, scheduling, image and trainer arguments the settings leave at their defaults; a
studySpec file (`--study`) makes it a tuning job.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ddsp_launch.cloud import config as job_config
from ddsp_launch.cloud import jobs, prices
from ddsp_launch.cloud.machines import check as check_machine, parse_accelerator
from ddsp_launch.common import datasets, paths
from ddsp_launch.common.errors import CloudError, InputError
from ddsp_launch.common.gcs import GcsUri
from ddsp_launch.launch import doctor, records, steps
from ddsp_launch.launch.settings import Settings
from ddsp_launch.launch.targets.base import Accepts
from ddsp_launch.spec import Machine, RunSpec, VertexTarget

ACCEPTS = Accepts(local_output=False, uploads_data=True, why="a Vertex AI job reads and writes gs:// only")
PENDING_TAG = "pending"  # the image is built and pushed at launch; its reference is known only then


def finalize(s: Settings) -> Settings:
    """The job config's and the study's own values, for every setting the user left at its default
    (origin "job config"): a saved settings file, the printed command and a rerun then say them."""
    cfg = _job_config(s)
    study = _study(s, cfg)
    values: dict = {"region": cfg.region, "image": cfg.image, "service_account": cfg.service_account,
                    "max_trials": study.max_trial_count, "parallel_trials": study.parallel_trial_count}
    if cfg.primary is not None:
        values.update(machine_type=cfg.primary.machine_type, accelerator=_accelerator(cfg.primary))
    if cfg.worker_count:
        values.update(workers=cfg.worker_count, worker_machine_type=cfg.worker.machine_type,
                      worker_accelerator=_accelerator(cfg.worker))
    if cfg.scheduling.get("strategy") == "SPOT":
        values["spot"] = True
    if cfg.scheduling.get("timeout"):
        values["timeout_hours"] = _hours(str(cfg.scheduling["timeout"]))
    for name, value in values.items():
        if value is not None and not s.given(name):
            s.values[name], s.origin[name] = value, "job config"
    return s


def target_of(s: Settings) -> tuple[VertexTarget, tuple[str, ...]]:
    """The Vertex AI target of these settings (the job config's values in them since `finalize`)."""
    cfg = _job_config(s)
    study = _study(s, cfg)
    primary = check_machine(Machine(s.machine_type, *parse_accelerator(s.accelerator)), "primary pool")
    worker = None
    if s.worker_machine_type or s.worker_accelerator:
        gpu, count = parse_accelerator(s.worker_accelerator) if s.worker_accelerator else (primary.accelerator_type,
                                                                                           primary.accelerator_count)
        worker = check_machine(Machine(s.worker_machine_type or primary.machine_type, gpu, count), "worker pool")
    if not s.image and not s.push_to:
        raise InputError("a Vertex AI job needs a pushed image", "give --image REGISTRY/NAME@sha256:..., or --push-to "
                         "REGION-docker.pkg.dev/PROJECT/REPO/ddsp to build and push one now")
    if s.push_to and not s.image:
        from ddsp_launch.common.image_refs import validate_repository

        validate_repository(s.push_to)
    target = VertexTarget(
        project=s.project, region=s.region, primary=primary, workers=s.workers, worker=worker, spot=bool(s.spot),
        image=s.image, push_to=s.push_to, base_image=s.base_image, timeout=_timeout(s.timeout_hours),
        service_account=s.service_account, labels=_labels(s.label), study=study.study,
        max_trial_count=s.max_trials or 4, parallel_trial_count=s.parallel_trials or 2,
        max_failed_trial_count=study.max_failed_trial_count or 0, allow_cross_region=bool(s.allow_cross_region),
        notes=tuple(cfg.notes) + (tuple(study.notes) if study is not cfg else ()),
    )
    target = dataclasses.replace(target, **_failover(s))
    if s.max_cost is not None:
        est = prices.estimate(target, s.num_steps, s.batch_size)
        target = dataclasses.replace(target, max_cost=s.max_cost, timeout=prices.cap(est, s.max_cost, target.timeout))
    return jobs.check(target, (*cfg.extra_args, *s.extra_args)), tuple(cfg.extra_args)


def _failover(s: Settings) -> dict:
    """--regions and --fallback, checked: known regions, and the fallback only for spot runs."""
    from ddsp_launch.cloud import discovery

    regions = tuple(discovery.check_region(r.strip()) for r in (s.regions or "").split(",") if r.strip())
    if s.fallback not in ("none", "on-demand"):
        raise InputError(f"--fallback must be none or on-demand, got {s.fallback!r}", "e.g. --spot --fallback on-demand")
    if s.fallback == "on-demand" and not s.spot:
        raise InputError("--fallback on-demand is for spot runs", "add --spot (or leave --fallback out)")
    return {"regions": regions, "fallback_on_demand": s.fallback == "on-demand"}


def _job_config(s: Settings) -> job_config.JobConfig:
    return job_config.read(Path(s.job_config)) if s.job_config else job_config.JobConfig(kind="none")


def _study(s: Settings, cfg: job_config.JobConfig) -> job_config.JobConfig:
    """Where the study comes from: --study FILE, else the job config (a tuning or legacy hypertune config)."""
    if not s.study:
        return cfg
    found = job_config.read(Path(s.study))
    if found.study is None:
        raise InputError(f"{s.study} holds no studySpec", "see configs/hypertune.yaml")
    for name in ("max_trial_count", "parallel_trial_count", "max_failed_trial_count"):
        if getattr(found, name) is None:
            setattr(found, name, getattr(cfg, name))
    return found


def _accelerator(machine: Machine) -> str:
    return f"{machine.accelerator_type}:{machine.accelerator_count}" if machine.has_gpu else "none"


def _hours(duration: str) -> float:
    if not duration.endswith("s") or not duration[:-1].isdigit():
        raise InputError(f"timeout {duration!r} is not a duration", "seconds with an 's', e.g. 86400s")
    return int(duration[:-1]) / 3600


def _timeout(hours: float | None) -> str | None:
    if hours is None:
        return None
    if not hours > 0:
        raise InputError(f"--timeout-hours must be > 0, got {hours:g}", "e.g. --timeout-hours 12")
    return f"{round(hours * 3600)}s"


def _labels(items) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"--label {item!r} is not KEY=VALUE", "e.g. --label instrument=violin")
        out.append((key, value))
    return tuple(out)


def data_uri(spec: RunSpec) -> GcsUri:
    """Where the job reads its dataset: DATA itself, or OUTPUT/dataset for data uploaded from here."""
    return spec.data if isinstance(spec.data, GcsUri) else spec.output.child(paths.UPLOADED_DATASET)


def plan(spec: RunSpec) -> jobs.JobRequest:
    """The request, checked against the discovery document (a pending image when one is to be built)."""
    image = spec.target.image or f"{spec.target.push_to}:{PENDING_TAG}"
    request = jobs.JobRequest(spec, image, datasets.pattern(data_uri(spec)))
    request.checked_body()
    return request


def dry_run(spec: RunSpec, request: jobs.JobRequest, echo, say) -> None:
    if spec.target.notes:
        say("\n".join(spec.target.notes))
    say(cost(spec))
    if not isinstance(spec.data, GcsUri):
        say(f"would upload the dataset {spec.dataset} to {data_uri(spec)} first")
    echo(f"# {request.kind} request (POST {request.parent}/{request.collection}):")
    echo(json.dumps(request.body(), indent=2))
    echo("\n# equivalent gcloud command:")
    echo(request.gcloud_command())
    say("(bucket checks skipped)")


def estimate(spec: RunSpec) -> prices.Estimate:
    """Time and money for this run by the price table (a tuning job: one trial's)."""
    return prices.estimate(spec.target, spec.params.num_steps, spec.params.batch_size)


def cost(spec: RunSpec) -> str:
    t = spec.target
    acc = f"{t.primary.accelerator_type}:{t.primary.accelerator_count}" if t.primary.has_gpu else "no GPU"
    lines = [f"Vertex AI: {1 + t.workers} x {t.primary.machine_type} with {acc}, "
             f"{'spot (cheaper, may be reclaimed)' if t.spot else 'on-demand'}, billed per second while the job runs",
             *estimate(spec).lines()]
    if t.max_cost is not None:
        lines.append(f"max cost:      ${t.max_cost:,.2f}: the job stops after {t.timeout} (its timeout)")
    if t.study is not None:
        lines.append(f"tuning:        up to {t.max_trial_count} trials: the figures above are one trial's")
    return "\n".join(lines)


def preflight(spec: RunSpec) -> list[doctor.Check]:
    from ddsp_launch.adapters import vertex

    checks = [doctor.disk_check(Path.cwd(), 1.0), doctor.project_check(spec.target.project)]
    if not vertex.uses_local_services():
        checks.append(doctor.adc_check())
    return checks


def logdir(spec: RunSpec) -> str:
    return paths.join(str(spec.output), paths.VERTEX_LOGS)


def act(spec: RunSpec, request: jobs.JobRequest, run: steps.Run) -> int:
    from ddsp_launch.adapters import storage, vertex

    t = spec.target
    run.say(cost(spec))
    storage.check_buckets([data_uri(spec), spec.output], t.project, t.region, t.allow_cross_region, run.say)
    if not isinstance(spec.data, GcsUri):
        steps.upload(steps.prepare(spec, run.say, run.progress) if spec.prepare_to else spec.data, data_uri(spec), run)
    request = _with_image(request, run)
    run.record["estimate"] = estimate(spec).record()
    run.record.update(request=request.checked_body(), kind=request.kind, attempts=[], data_uri=str(data_uri(spec)),
                      plan=[{"region": r, "spot": sp} for r, sp in jobs.attempt_plan(t)])
    submit_next(run.record, 0, run.say)
    run.save(state="submitted")
    run.say(f"submitted: {run.record['job']}\nconsole:   {run.record['console']}\n"
            f"logs:      ddsp-launch jobs logs {vertex.job_id(run.record['job'])} --follow")
    steps.tensorboard(spec, logdir(spec), run)
    try:
        run.record["record_beside_outputs"] = records.upload_beside(run.record, str(spec.output))
    except Exception as exc:  # noqa: BLE001 - the local record is written regardless
        run.say(f"note: could not write the record beside the outputs ({exc})")
    return 0


def _restore_dir(output: str) -> str | None:
    """The run's checkpoint folder on Cloud Storage (AIP_CHECKPOINT_DIR) when it holds a checkpoint."""
    from ddsp_launch.common import gcs

    folder = GcsUri.parse(paths.join(output, "checkpoints"))
    names = gcs.list_objects(folder, gcs.make_client())
    return str(folder) if any(n.rsplit("/", 1)[-1].startswith("ckpt-") and n.endswith(".index") for n in names) else None


def submit_next(record: dict, start: int, say) -> None:
    """Submit the recorded request at the first attempt of the plan from ``start`` that Vertex AI
    accepts: a region whose location the buckets allow, refused for capacity or quota only (any
    other refusal is raised, never retried). Every attempt goes into the record and is printed."""
    from ddsp_launch.adapters import storage, vertex

    settings = record["settings"]
    uris = [GcsUri.parse(record["data_uri"]), GcsUri.parse(record["output"])]
    restore = _restore_dir(record["output"]) if start else None
    for index in range(start, len(record["plan"])):
        region, spot = record["plan"][index]["region"], record["plan"][index]["spot"]
        attempt = {"n": len(record["attempts"]) + 1, "plan": index, "region": region, "spot": spot, "at": records.now()}
        record["attempts"].append(attempt)
        where = f"attempt {attempt['n']}: {region}, {'spot' if spot else 'on demand'}"
        try:
            storage.check_buckets(uris, settings["project"], region, bool(settings.get("allow_cross_region")), lambda _: None)
            body = jobs.for_attempt(record["request"], record["kind"], spot, restore)
            more = index + 1 < len(record["plan"])  # a region out of quota stays so: try the next one soon
            job = vertex.Vertex(settings["project"], region, **({"retries": 1} if more else {})).create(record["kind"], body)
        except InputError as exc:  # a bucket elsewhere: this region is not allowed
            attempt.update(state="skipped", reason=str(exc).splitlines()[0])
            say(f"{where}: skipped ({attempt['reason']})")
            continue
        except CloudError as exc:
            if not exc.capacity:
                attempt.update(state="refused", reason=str(exc).splitlines()[0])
                raise
            attempt.update(state="no capacity", reason=str(exc).splitlines()[0])
            say(f"{where}: no capacity ({attempt['reason']})")
            continue
        spec = body["trialJobSpec"] if record["kind"] == "HyperparameterTuningJob" else body["jobSpec"]
        attempt.update(state="submitted", job=job["name"], resumes_from=restore,
                       args=spec["workerPoolSpecs"][0]["containerSpec"]["args"])
        record.update(job=job["name"], console=vertex.console_url(job["name"]))
        say(f"{where}: submitted {job['name']}" + (f" (resuming from {restore})" if restore else ""))
        return
    raise CloudError(f"no capacity in any region tried ({', '.join(a['region'] for a in record['attempts'])})",
                     "try again later, add regions (--regions r1,r2,...), or --fallback on-demand for spot runs")


def follow(record: dict, interval: float, echo) -> dict:
    """--follow: print the job's logs until it ends; when it fails for capacity, submit the next
    attempt (resuming from the newest checkpoint) and follow that one."""
    from ddsp_launch.adapters import vertex

    def failed(job: dict):
        attempt = record["attempts"][-1]
        attempt.update(state=job.get("state", "").removeprefix("JOB_STATE_"), reason=(job.get("error") or {}).get("message", ""))
        if not jobs.is_capacity_error(job.get("error")) or attempt["plan"] + 1 >= len(record.get("plan", [])):
            records.write(record)
            return None
        echo(f"attempt {attempt['n']} failed for capacity: {attempt['reason']}")
        submit_next(record, attempt["plan"] + 1, echo)
        records.write(record)
        return vertex.Vertex(record["settings"]["project"], record["attempts"][-1]["region"]), record["job"]

    client = vertex.Vertex(record["settings"]["project"], record["attempts"][-1]["region"])
    return vertex.follow_to_end(client, record["job"], interval, echo, on_failed=failed)


def _with_image(request: jobs.JobRequest, run: steps.Run) -> jobs.JobRequest:
    """The request with its image: the one given, or this checkout's, built and pushed now."""
    t = request.target
    if t.image:
        run.record["image"] = t.image
        return request
    from ddsp_launch.adapters import docker_engine
    from ddsp_launch.image import build as image_build
    from ddsp_launch.image import dockerfile

    bplan = image_build.plan(image_build.BuildSpec(variant="gpu" if t.primary.has_gpu else "cpu",
                                                   base_image=t.base_image or dockerfile.DEFAULT_BASE_IMAGE, push_to=t.push_to))
    run.say(f"building and pushing {bplan.local_ref} to {t.push_to}")
    result = image_build.build(bplan, docker_engine.connect(), run.progress, warn=run.say)
    run.record.update(image=result.pinned_ref, image_digest=result.digest)
    return jobs.JobRequest(request.spec, jobs.check_image(result.pinned_ref), request.file_pattern)
