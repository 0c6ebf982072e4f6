"""Google Cloud commands: submit, jobs, upload, download, tune. Thin: gather input, call the library."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import typer

from ddsp_launch import cli_options as opts
from ddsp_launch.common import model_files
from ddsp_launch.common.errors import InputError, JobFailed
from ddsp_launch.spec import TrainingParams

PROJECT = typer.Option(None, "--project", envvar=["GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"],
                       help="Google Cloud project id [env: GOOGLE_CLOUD_PROJECT]")
REGION = typer.Option(None, "--region", envvar=["DDSP_LAUNCH_REGION", "CLOUDSDK_AI_REGION"],
                      help="Vertex AI region; the data bucket should be there too [default: us-central1]")

jobs_app = typer.Typer(help="Vertex AI jobs: list, status, logs, cancel, resubmit.", no_args_is_help=True)


def _require_project(project: Optional[str]) -> str:
    if not project:
        raise InputError("no Google Cloud project given", "pass --project PROJECT_ID or set GOOGLE_CLOUD_PROJECT")
    return project


def _client(project: Optional[str], region: Optional[str]):
    from ddsp_launch.adapters import vertex
    from ddsp_launch.cloud import discovery
    from ddsp_launch.cloud.jobs import DEFAULT_REGION

    return vertex.Vertex(_require_project(project), discovery.check_region(region or DEFAULT_REGION))


def _labels(items: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"--label {item!r} is not KEY=VALUE", "e.g. --label instrument=violin")
        out.append((key, value))
    return tuple(out)


def _machine(base, machine_type: Optional[str], accelerator: Optional[str], where: str):
    from ddsp_launch.cloud.machines import Machine, check, parse_accelerator

    if machine_type is None and accelerator is None:
        return base
    base = base or Machine("n1-standard-8")
    mt = machine_type or base.machine_type
    if accelerator is None:
        gpu, count = (base.accelerator_type, base.accelerator_count) if machine_type is None else (None, 0)
    else:
        gpu, count = parse_accelerator(accelerator)
    return check(Machine(mt, gpu, count), where)


SUBMIT_HELP = """Submit a training job to Vertex AI (a custom job, or a tuning job with --tune).

DATA is a prepared dataset on gs:// (`ddsp-launch upload` puts a local one there);
OUTPUT a gs:// folder: checkpoints, summaries and the final model land under it (one
sub-folder per trial for tuning). --config takes a Vertex CustomJobSpec YAML or a legacy
AI Platform `trainingInput` YAML (converted, with the mapping printed); flags override it.
Checks the request offline and the buckets online before anything is spent; --dry-run
prints the request and the equivalent gcloud command and submits nothing.

Examples:
  ddsp-launch submit gs://my-bucket/violin gs://my-bucket/runs/violin --image REGION-docker.pkg.dev/P/R/ddsp@sha256:... --config configs/single-gpu.yaml
  ddsp-launch submit ... --config configs/multi-worker.yaml --spot --timeout-hours 12
  ddsp-launch submit ... --tune configs/hypertune.yaml --dry-run
"""


def register(app: typer.Typer) -> None:
    app.add_typer(jobs_app, name="jobs")

    @app.command("submit", help=SUBMIT_HELP, context_settings={"allow_extra_args": True})
    @opts.training_options
    def submit(
        ctx: typer.Context,
        data: str = typer.Argument(..., help="gs:// dataset folder or TFRecord glob"),
        output: str = typer.Argument(..., help="gs:// base output directory"),
        image: Optional[str] = typer.Option(None, help="the pushed training image (see `ddsp-launch build --push`)"),
        project: Optional[str] = PROJECT,
        region: Optional[str] = REGION,
        config: Optional[Path] = typer.Option(None, "--config", help="job config: Vertex CustomJobSpec or AI Platform trainingInput YAML"),
        tune: Optional[Path] = typer.Option(None, "--tune", help="study config (studySpec YAML, e.g. configs/hypertune.yaml): submit a tuning job"),
        machine_type: Optional[str] = typer.Option(None, help="primary machine [default: n1-standard-8]"),
        accelerator: Optional[str] = typer.Option(None, help="TYPE[:COUNT] for the primary machine, or 'none' [default: NVIDIA_TESLA_T4:1]"),
        workers: Optional[int] = typer.Option(None, min=0, help="additional worker replicas (multi-worker training)"),
        worker_machine_type: Optional[str] = typer.Option(None, help="workers' machine [default: the primary's]"),
        worker_accelerator: Optional[str] = typer.Option(None, help="workers' TYPE[:COUNT] [default: the primary's]"),
        spot: Optional[bool] = typer.Option(None, "--spot/--on-demand", help="spot VMs (cheaper, may be reclaimed; the job restarts and resumes)"),
        timeout_hours: Optional[float] = typer.Option(None, min=0.01, help="stop the job after this long"),
        service_account: Optional[str] = typer.Option(None, help="run as this service account"),
        label: list[str] = typer.Option([], help="KEY=VALUE label, repeatable"),
        name: str = typer.Option("ddsp-training", help="display name"),
        max_trials: Optional[int] = typer.Option(None, min=1, help="tuning: trials in all"),
        parallel_trials: Optional[int] = typer.Option(None, min=1, help="tuning: trials at a time"),
        allow_cross_region: bool = typer.Option(False, help="allow buckets outside the job's region"),
        follow: bool = typer.Option(False, "--follow", help="stream the job's logs until it ends"),
        interval: float = typer.Option(15.0, min=0.0, help="seconds between polls with --follow"),
        dry_run: bool = typer.Option(False, "--dry-run", help="print the request and the gcloud command; submit nothing"),
        training: TrainingParams = None,
    ) -> None:
        from ddsp_launch.cloud import config as job_config
        from ddsp_launch.cloud import jobs

        cfg = job_config.read(config) if config else None
        if cfg is not None and cfg.notes:
            opts.say("\n".join(cfg.notes))
        if tune is not None:
            study_cfg = job_config.read(tune)
            if study_cfg.study is None:
                raise InputError(f"{tune} holds no studySpec", "see configs/hypertune.yaml")
            cfg = _merge_study(cfg, study_cfg)
            if study_cfg.notes:
                opts.say("\n".join(study_cfg.notes))
        params = training
        primary = _machine(cfg.primary if cfg else None, machine_type, accelerator, "primary pool")
        worker = _machine((cfg.worker if cfg else None) or primary, worker_machine_type, worker_accelerator, "worker pool") \
            if (worker_machine_type or worker_accelerator) else None
        spec = jobs.from_sources(
            cfg, project=project, region=region,
            image=image, data=data, output=output, params=params, primary=primary, worker_count=workers, worker=worker,
            spot=spot, timeout=f"{round(timeout_hours * 3600)}s" if timeout_hours else None,
            service_account=service_account, labels=_labels(label) or None, display_name=name,
            max_trial_count=max_trials, parallel_trial_count=parallel_trials, extra_args=tuple(ctx.args),
        )
        spec = spec.validate()
        body = spec.checked_body()
        if dry_run:
            typer.echo(f"# {spec.kind} request (POST {spec.parent}/{'hyperparameterTuningJobs' if spec.is_tuning else 'customJobs'}):")
            typer.echo(json.dumps(body, indent=2))
            typer.echo("\n# equivalent gcloud command:")
            typer.echo(spec.gcloud_command())
            opts.say("dry run: nothing submitted (bucket checks skipped)")
            return
        from ddsp_launch.adapters import storage

        storage.check_job_buckets(spec, allow_cross_region, opts.say)
        client = _client(spec.project, spec.region)
        job = client.create(spec.kind, body)
        _print_submitted(job)
        if follow:
            _follow(client, job["name"], interval)

    @jobs_app.command("list")
    def jobs_list(project: Optional[str] = PROJECT, region: Optional[str] = REGION,
                  limit: int = typer.Option(20, min=1, help="newest N jobs")) -> None:
        """List custom and tuning jobs, newest first."""
        from ddsp_launch.adapters import vertex

        rows = list(vertex.iter_states(_client(project, region).list(limit)))
        if not rows:
            typer.echo("no jobs in this project and region")
            return
        typer.echo(f"{'ID':<20} {'KIND':<7} {'STATE':<20} {'CREATED':<20} NAME")
        for jid, kind, display, state, created in rows:
            typer.echo(f"{jid:<20} {kind:<7} {state:<20} {created:<20} {display}")

    @jobs_app.command("status")
    def jobs_status(job: str = typer.Argument(..., help="job id or full name"),
                    project: Optional[str] = PROJECT, region: Optional[str] = REGION) -> None:
        """Show a job's state, times, error and console link."""
        from ddsp_launch.adapters import vertex

        client = _client(project, region)
        info = client.get(client.resolve(job))
        typer.echo(f"job:      {info['name']}")
        typer.echo(f"name:     {info.get('displayName', '')}")
        typer.echo(f"state:    {info.get('state', '').removeprefix('JOB_STATE_')}")
        for key in ("createTime", "startTime", "endTime"):
            if info.get(key):
                typer.echo(f"{key[:-4] + ':':<9} {info[key]}")
        if info.get("trials"):
            done = sum(t.get("state") == "SUCCEEDED" for t in info["trials"])
            typer.echo(f"trials:   {len(info['trials'])} started, {done} succeeded")
        if info.get("error"):
            typer.echo(f"error:    {info['error'].get('message', '')}")
        typer.echo(f"console:  {vertex.console_url(info['name'])}")

    @jobs_app.command("logs")
    def jobs_logs(job: str = typer.Argument(..., help="job id or full name"),
                  project: Optional[str] = PROJECT, region: Optional[str] = REGION,
                  follow: bool = typer.Option(False, "--follow", "-f", help="keep printing until the job ends"),
                  interval: float = typer.Option(15.0, min=0.0, help="seconds between polls with --follow")) -> None:
        """Print a job's logs from Cloud Logging."""
        client = _client(project, region)
        name = client.resolve(job)
        if follow:
            _follow(client, name, interval)
            return
        for line in client.log_lines(name):
            typer.echo(line.format())

    @jobs_app.command("cancel")
    def jobs_cancel(job: str = typer.Argument(..., help="job id or full name"),
                    project: Optional[str] = PROJECT, region: Optional[str] = REGION) -> None:
        """Cancel a running job (checkpoints written so far stay in its output folder)."""
        client = _client(project, region)
        name = client.resolve(job)
        client.cancel(name)
        typer.echo(f"cancelling {name}")

    @jobs_app.command("resubmit")
    def jobs_resubmit(job: str = typer.Argument(..., help="job id or full name"),
                      project: Optional[str] = PROJECT, region: Optional[str] = REGION,
                      dry_run: bool = typer.Option(False, "--dry-run", help="print the request; submit nothing")) -> None:
        """Submit a job again with the same request (it resumes from the checkpoints in its output folder)."""
        from ddsp_launch.cloud import discovery

        client = _client(project, region)
        name = client.resolve(job)
        old = client.get(name)
        kind = "HyperparameterTuningJob" if "/hyperparameterTuningJobs/" in name else "CustomJob"
        schema = discovery.request_schema()
        body = schema.writable(kind, old)
        schema.check(kind, body)
        if dry_run:
            typer.echo(json.dumps(body, indent=2))
            return
        _print_submitted(client.create(kind, body), resubmitted=name)

    @app.command("upload")
    def upload(src: Path = typer.Argument(..., help="local folder or file (audio, or a prepared dataset)"),
               dest: str = typer.Argument(..., help="gs://BUCKET/PATH"),
               region: Optional[str] = typer.Option(None, help="also check that the bucket is in this Vertex AI region"),
               project: Optional[str] = PROJECT) -> None:
        """Upload to Cloud Storage, skipping files already there with the same checksum."""
        from ddsp_launch.adapters import storage
        from ddsp_launch.cloud import discovery
        from ddsp_launch.common import gcs

        uri = gcs.GcsUri.parse(dest)
        if region:
            discovery.check_region(region)
        pairs = storage.plan_upload(src, uri)
        client = gcs.make_client(project)
        if region:
            storage.check_bucket(uri, region, client)
        with _bytes_progress(f"uploading to {uri}", storage.total_bytes([p for p, _ in pairs])) as advance:
            done = storage.upload(src, uri, client, advance)
        typer.echo(done.summary("uploaded"))

    @app.command("download")
    def download(src: str = typer.Argument(..., help="gs://BUCKET/PATH, a run id (`ddsp-launch runs`) or a Vertex AI job id"),
                 dest: Path = typer.Argument(..., help="local folder"),
                 everything: bool = typer.Option(False, "--all", help="the whole folder, not just the model"),
                 statistics: Optional[str] = typer.Option(None, help="gs:// dataset_statistics.json (or ddsp's .pkl) to fetch with the model"),
                 project: Optional[str] = PROJECT, region: Optional[str] = REGION) -> None:
        """Download a trained model (newest complete checkpoint, operative config, dataset statistics) or a whole folder.

        With a folder that holds checkpoints (directly or in checkpoints/, as Vertex AI writes
        them), only the newest complete checkpoint, the newest operative config and the
        dataset statistics are fetched, each checked against its CRC32C; files already here
        with the same checksum are skipped. Otherwise (or with --all) the whole folder."""
        from ddsp_launch.adapters import storage
        from ddsp_launch.common import gcs

        if dest.exists() and not dest.is_dir():
            raise InputError(f"{dest} is a file", "give a folder to download into (a new one, or one of yours)")
        uri, dataset = _download_source(src, project, region)
        candidates = [statistics] if statistics else [f"{dataset}/{n}" for n in model_files.STATISTICS_NAMES] if dataset else []
        client = gcs.make_client(project)
        model = None if everything else storage.model_in(uri, client)
        if model is None:
            blobs = storage.plan_download(uri, client)
            with _bytes_progress(f"downloading {uri}", sum(size for _, size, _ in blobs)) as advance:
                done = storage.download(uri, dest, client, advance)
            typer.echo(done.summary("downloaded"))
            return
        found, files = model
        if candidates and found.statistics is None:
            files.append(_statistics_object(candidates, uri, client))
        with _bytes_progress(f"downloading the model in gs://{uri.bucket}/{found.folder}", sum(f[1] for f in files)) as advance:
            done = storage.download_files(uri.bucket, found.folder, files, dest, client, advance)
        typer.echo(done.summary("downloaded"))
        typer.echo(f"model: {dest} ({found.checkpoint[len(found.folder):]})")
        if model_files.statistics_in(dest) is None:
            opts.say(f"note: no {model_files.STATISTICS} came with it; `ddsp-launch transfer` needs --statistics (or pass --statistics here)")

    @app.command("tune")
    @opts.training_options
    def tune_cmd(
        data: str = typer.Argument(..., help="prepared dataset folder or TFRecord glob"),
        output: Path = typer.Argument(..., help="folder for the trials (trial-N/) and the results"),
        config: Path = typer.Option(Path("configs/hypertune.yaml"), "--config", help="studySpec YAML (Vertex form or legacy trainingInput)"),
        local: bool = typer.Option(False, "--local", help="run the trials on this machine (the only mode here; `submit --tune` runs them on Vertex AI)"),
        trials: Optional[int] = typer.Option(None, min=1, help="number of trials [default: the config's maxTrialCount]"),
        parallel: Optional[int] = typer.Option(None, min=1, help="trials at a time [default: 1]"),
        seed: int = typer.Option(0, help="random search seed"),
        algorithm: Optional[str] = typer.Option(None, help="grid or random [default: the config's; Bayesian falls back to random here]"),
        training: TrainingParams = None,
    ) -> None:
        """Try a hyperparameter study on this machine: real trials, a results table, the best marked."""
        from ddsp_launch.cloud import config as job_config
        from ddsp_launch.cloud.study import parse
        from ddsp_launch.common import destinations
        from ddsp_launch.runtime import process, tuning
        from ddsp_launch.spec import dataset_pattern

        if not local:
            raise InputError("`ddsp-launch tune` runs studies locally", "add --local, or use `ddsp-launch submit --tune FILE` for Vertex AI")
        cfg = job_config.read(config)
        if cfg.study is None:
            raise InputError(f"{config} holds no studySpec", "see configs/hypertune.yaml")
        study = parse(cfg.study, f"{config}: studySpec")
        algo = {"grid": "GRID_SEARCH", "random": "RANDOM_SEARCH", None: None}.get(algorithm and algorithm.lower(), "bad")
        if algo == "bad":
            raise InputError(f"--algorithm {algorithm!r} is unknown", "grid or random")
        params = training
        params.validate()
        pattern = dataset_pattern(data)
        destinations.check_apart(output, {"data": data}, "output folder")
        process.require_trainer_stack("`ddsp-launch tune --local`")
        count = trials or cfg.max_trial_count or 4
        results = tuning.run(study, pattern, output, params, count, parallel or 1, seed, algo, opts.say)
        _print_results(study, results, output)
        if not any(r.metric is not None for r in results):
            raise JobFailed("no trial reported a metric", f"see {output}/trial-*/train.log")


def _download_source(src: str, project: Optional[str], region: Optional[str]) -> tuple:
    """(the gs:// folder, the gs:// dataset folder its statistics may be in, or None) for a path, run id or job id."""
    from ddsp_launch.common import gcs

    if gcs.is_gcs(src):
        return gcs.GcsUri.parse(src), None
    import re

    if re.fullmatch(r"[0-9]+", src) or src.startswith("projects/"):
        client = _client(project, region)
        job = client.get(client.resolve(src))
        spec = job.get("jobSpec") or job.get("trialJobSpec") or {}
        base = (spec.get("baseOutputDirectory") or {}).get("outputUriPrefix")
        if not base:
            raise InputError(f"job {src} has no baseOutputDirectory", "download its output folder by its gs:// path")
        return gcs.GcsUri.parse(base), _dataset_from_args(spec)
    from ddsp_launch.launch import records

    rec = records.load(src)
    if not gcs.is_gcs(rec.get("output", "")):
        raise InputError(f"run {rec['id']} wrote to {rec.get('output')} on this machine: nothing to download",
                         f"use the folder as it is: ddsp-launch transfer {rec.get('output')} ...")
    data = rec.get("settings", {}).get("data", "")
    return gcs.GcsUri.parse(rec["output"]), data.rstrip("/") if gcs.is_gcs(data) and "*" not in data else None


def _dataset_from_args(spec: dict):
    for pool in spec.get("workerPoolSpecs") or []:
        for arg in (pool.get("containerSpec") or {}).get("args") or []:
            if arg.startswith("--file_pattern=gs://"):
                return arg.split("=", 1)[1].rsplit("/", 1)[0]
    return None


def _statistics_object(candidates: list[str], model, client) -> tuple:
    """(object name, size, crc32c) of the first of these statistics files that exists (the safe
    format first); it must be in the bucket of ``model`` (the model's gs:// folder)."""
    from ddsp_launch.common import gcs

    for candidate in candidates:
        parsed = gcs.GcsUri.parse(candidate)
        blob = client.bucket(parsed.bucket).get_blob(parsed.path)
        if blob is not None:
            if parsed.bucket != model.bucket:
                raise InputError("the statistics must be in the model's bucket", "copy them beside the checkpoints")
            return parsed.path, blob.size or 0, blob.crc32c
    raise InputError(f"no dataset statistics at {' or '.join(candidates)}", f"pass --statistics gs://.../{model_files.STATISTICS}")


def _merge_study(cfg, study_cfg):
    if cfg is None:
        return study_cfg
    for name in ("study", "max_trial_count", "parallel_trial_count", "max_failed_trial_count"):
        if getattr(study_cfg, name):
            setattr(cfg, name, getattr(study_cfg, name))
    return cfg


def _print_submitted(job: dict, resubmitted: str | None = None) -> None:
    from ddsp_launch.adapters import vertex

    typer.echo(f"submitted: {job['name']}" + (f" (again, from {resubmitted})" if resubmitted else ""))
    typer.echo(f"state:     {job.get('state', '').removeprefix('JOB_STATE_')}")
    typer.echo(f"console:   {vertex.console_url(job['name'])}")
    typer.echo(f"logs:      ddsp-launch jobs logs {vertex.job_id(job['name'])} --follow")


def _follow(client, name: str, interval: float) -> None:
    from ddsp_launch.common.errors import Interrupted

    try:
        final = client.follow(name, lambda line: typer.echo(line.format()), interval=interval)
    except KeyboardInterrupt:
        job = name.rsplit("/", 1)[-1]
        raise Interrupted(f"stopped following; the job goes on running: {name}",
                          f"watch again: ddsp-launch jobs logs {job} --follow; stop it: ddsp-launch jobs cancel {job}") from None
    state = final.get("state", "")
    typer.echo(f"job {state.removeprefix('JOB_STATE_').lower()}: {name}")
    if state != "JOB_STATE_SUCCEEDED":
        raise JobFailed(f"job ended {state.removeprefix('JOB_STATE_')}: {(final.get('error') or {}).get('message', '')}",
                        f"see `ddsp-launch jobs logs {name.rsplit('/', 1)[-1]}`")


class _bytes_progress:
    """A rich progress bar in bytes on stderr; a callable that advances it."""

    def __init__(self, what: str, total: int):
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

        self.progress = Progress("{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                                 console=Console(stderr=True), transient=False, disable=os.environ.get("CI") == "true")
        self.task = self.progress.add_task(what, total=total)

    def __enter__(self):
        self.progress.start()
        return lambda n: self.progress.advance(self.task, n)

    def __exit__(self, *exc):
        self.progress.stop()


def _print_results(study, results, output: Path) -> None:
    names = sorted({k for r in results for k in r.params})
    typer.echo(f"\n{'trial':<6}" + "".join(f"{n:<16}" for n in names) + f"{study.metric_id:<12}{'step':<8}")
    for r in results:
        metric = f"{r.metric:.4f}" if r.metric is not None else f"- (exit {r.exit_code})"
        typer.echo(f"{r.trial:<6}" + "".join(f"{str(r.params[n]):<16}" for n in names) + f"{metric:<12}{str(r.step or ''):<8}"
                   + ("  <- best" if r.best else ""))
    typer.echo(f"\nresults: {output / 'results.json'} and results.csv ({study.goal.lower()} {study.metric_id})")
