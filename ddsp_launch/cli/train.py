"""The commands that train: `train` (asks in a terminal), `run` (this machine), `submit`
(Vertex AI), `tune` (a sweep here) and `rerun`. Each is a thin door into the same resolver
(launch/resolve.py): the same settings, precedence, environment and --config file for all;
a command only names its flags, calls the library and prints."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from ddsp_launch.cli import options as opts
from ddsp_launch.common.errors import InputError, JobFailed
from ddsp_launch.launch import launcher, resolve
from ddsp_launch.launch import settings as st
from ddsp_launch.spec import TARGETS, LocalTarget

PASS_EXTRA = {"allow_extra_args": True}
CONFIG = typer.Option(None, "--config", help="YAML file of settings (keys as the flags, e.g. batch_size: 16; what --save-config writes)")
DRY_RUN = typer.Option(False, "--dry-run", help="print what would run (the commands, or the Vertex AI request); start nothing")
QUIET_BOARD = {"tensorboard": False}  # run, submit and tune start no TensorBoard unless asked
HYPER = st.HYPERPARAMETERS
LOCAL = ("image", "base_image", "ca_bundle", "prepare_to", "name", "tensorboard", "probe")
VERTEX = ("image", "project", "region", "job_config", "study", "machine_type", "accelerator", "workers", "worker_machine_type",
          "worker_accelerator", "spot", "timeout_hours", "max_cost", "regions", "fallback", "service_account", "label", "name", "max_trials", "parallel_trials",
          "allow_cross_region", "push_to", "base_image", "prepare_to", "tensorboard")

TRAIN_HELP = f"""Train a model: asks what it needs in a terminal, or takes it all from flags / a config file.

With no flags in a terminal, `ddsp-launch train` (or plain `ddsp-launch`) asks where to
train, GPU or CPU, the data, the output and the hyperparameters, shows a summary with the
equivalent command line, and runs, saves or cancels. With --yes, CI=true, or no terminal
it never asks: a missing value is an error naming its flag. Flags after `--` go to the
trainer as they are.

Precedence (the same for run, submit and tune): flags > --config FILE > environment
(DDSP_LAUNCH_<SETTING>, e.g. DDSP_LAUNCH_BATCH_SIZE; the project also from
GOOGLE_CLOUD_PROJECT) > defaults. Data and output paths are never taken from the environment.

Targets: {', '.join(f'{k} ({v})' for k, v in TARGETS.items())}.

Examples:
  ddsp-launch
  ddsp-launch train --yes --target process --data data/violin-dataset --output runs/violin --num-steps 300
  ddsp-launch train --config my-run.yaml
"""

RUN_HELP = """Train on this machine, in the training image (Docker) or as a local process.

DATA is a folder written by `ddsp-launch prepare` (or a TFRecord glob, or gs://...);
OUTPUT a folder (or gs://...) for checkpoints and TensorBoard summaries. A rerun with
the same OUTPUT resumes; Ctrl-C stops cleanly after saving a checkpoint. Flags after
`--` go to the trainer as they are (see `ddsp-launch task --help`). The same as
`ddsp-launch train --yes --target RUNTIME`, with the same settings, --config and environment.

Examples:
  ddsp-launch run data/violin-dataset runs/violin --cpu --num-steps 300
  ddsp-launch run gs://my-bucket/violin gs://my-bucket/runs/violin --gpu -- --gin_param 'RnnFcDecoder.rnn_channels = 256'
"""

SUBMIT_HELP = """Submit a training job to Vertex AI (a custom job, or a tuning job with --study).

DATA is a prepared dataset on gs://, or one on this machine (or audio with --prepare-to),
which is uploaded to OUTPUT/dataset first; OUTPUT a gs:// folder: checkpoints, summaries
and the final model land under it (one sub-folder per trial for tuning). --job-config takes
a Vertex CustomJobSpec YAML or a legacy AI Platform `trainingInput` YAML (converted, with
the mapping printed); settings you give override it. The same as `ddsp-launch train --yes
--target vertex`. Checks the request offline and the buckets online before anything is
spent; --dry-run prints the request and the equivalent gcloud command and submits nothing.

Examples:
  ddsp-launch submit gs://my-bucket/violin gs://my-bucket/runs/violin --image REGION-docker.pkg.dev/P/R/ddsp@sha256:... --job-config configs/single-gpu.yaml
  ddsp-launch submit ... --job-config configs/multi-worker.yaml --spot --timeout-hours 12
  ddsp-launch submit ... --study configs/hypertune.yaml --dry-run
"""


def execute(s: st.Settings, dry_run: bool = False) -> launcher.Result | None:
    """Check, then run or submit (or only show it); prints where everything is."""
    run = launcher.check(s)
    if s.values.get("probe") and isinstance(run.spec.target, LocalTarget):
        from ddsp_launch.launch import probe

        probe.measure(run.spec, run.plan, opts.say, opts.progress)  # the summary (dry run or run) shows it
    if dry_run:
        launcher.dry_run(run, opts.echo, opts.say)
        return None
    launcher.preflight(run)
    # `ddsp-launch web` names the run it starts, to follow it
    result = launcher.launch(run, opts.say, opts.progress, run_id=os.environ.get("DDSP_LAUNCH_RUN_ID") or None)
    rec = result.record
    if rec.get("job"):
        opts.echo(f"submitted: {rec['job']}\nconsole:   {rec['console']}\n"
                  f"logs:      ddsp-launch jobs logs {rec['job'].rsplit('/', 1)[-1]} --follow")
    opts.echo(f"\nrun:          {rec['id']} ({rec['state']})")
    opts.echo(f"outputs:      {s.output}")
    if rec.get("tensorboard"):
        opts.echo(f"TensorBoard:  {rec['tensorboard']['url']}")
    opts.echo(f"record:       {result.record_path}   (ddsp-launch runs show {rec['id']}; ddsp-launch rerun {rec['id']})")
    return result


def _exit(result: launcher.Result | None) -> None:
    raise typer.Exit(result.exit_code if result else 0)


@opts.settings_options([f.name for f in st.FIELDS])
def train(
    ctx: typer.Context,
    config: Optional[Path] = CONFIG,
    yes: bool = typer.Option(False, "--yes", "-y", help="never ask; take flags, config file, environment and defaults"),
    save_config: Optional[Path] = typer.Option(None, help="write the resolved settings to this file and stop"),
    dry_run: bool = DRY_RUN,
    flags: dict = None,
) -> None:
    run_train(config, yes, save_config, dry_run, flags, tuple(ctx.args))


def run_train(config: Optional[Path] = None, yes: bool = False, save_config: Optional[Path] = None,
              dry_run: bool = False, flags: Optional[dict] = None, extra: tuple[str, ...] = ()) -> None:
    from ddsp_launch.launch import prompts

    s = resolve.settings(flags or {}, config, os.environ, extra_args=extra)
    if prompts.wanted(yes) and not save_config:
        from ddsp_launch.common import paths
        from ddsp_launch.launch import doctor

        s, action = prompts.interview(prompts.with_last_answers(s), doctor.engine_answers(), opts.say)
        st.save(s, paths.last_answers())
        if action == "cancel":
            opts.say("cancelled; nothing was started")
            return
        if action == "save":
            save_config = prompts.save_path()
            if save_config is None:
                raise typer.Exit(130)
    if save_config:
        launcher.check(s)
        path = st.save(s, save_config)
        opts.echo(f"saved {path}; run it with: ddsp-launch train --config {path}")
        return
    _exit(execute(s, dry_run))


@opts.settings_options(HYPER + LOCAL)
def run(
    ctx: typer.Context,
    data: str = typer.Argument(..., help="prepared dataset folder, TFRecord glob, or gs://BUCKET/PREFIX"),
    output: str = typer.Argument(..., help="folder or gs://BUCKET/PREFIX for checkpoints and summaries"),
    runtime: Optional[str] = typer.Option(None, help="docker, process, or auto (docker when its engine answers) [default: auto]"),
    gpu: Optional[bool] = typer.Option(None, "--gpu/--cpu", help="train on NVIDIA GPUs (docker --gpus all) or the CPU [default: cpu]"),
    config: Optional[Path] = CONFIG,
    dry_run: bool = DRY_RUN,
    flags: dict = None,
) -> None:
    device = None if gpu is None else ("gpu" if gpu else "cpu")
    s = resolve.settings({**flags, "data": data, "output": output, "target": runtime, "device": device}, config, os.environ,
                         door={**QUIET_BOARD, "target": "auto", "device": "cpu"}, extra_args=tuple(ctx.args))
    if s.target not in LocalTarget.NAMES:
        raise InputError(f"`ddsp-launch run` trains on this machine, not on {s.target} ({s.origin['target']})",
                         "--runtime docker, process or auto; `ddsp-launch submit` for Vertex AI")
    _exit(execute(s, dry_run))


@opts.settings_options(HYPER + VERTEX, decls={"spot": ("--spot/--on-demand",), "study": ("--study", "--tune")})
def submit(
    ctx: typer.Context,
    data: str = typer.Argument(..., help="gs:// dataset folder or TFRecord glob, or a dataset here (uploaded first)"),
    output: str = typer.Argument(..., help="gs:// base output directory"),
    config: Optional[Path] = CONFIG,
    follow: bool = typer.Option(False, "--follow", help="stream the job's logs until it ends"),
    interval: float = typer.Option(15.0, min=0.0, help="seconds between polls with --follow"),
    dry_run: bool = DRY_RUN,
    flags: dict = None,
) -> None:
    s = resolve.settings({**flags, "data": data, "output": output, "target": "vertex"}, config, os.environ,
                         door=QUIET_BOARD, extra_args=tuple(ctx.args))
    result = execute(s, dry_run)
    if follow and result is not None:
        from ddsp_launch.launch.targets import vertex

        vertex.follow(result.record, interval, opts.echo)


@opts.settings_options(HYPER + ("prepare_to",))
def tune(
    data: str = typer.Argument(..., help="prepared dataset folder or TFRecord glob"),
    output: str = typer.Argument(..., help="folder for the trials (trial-N/) and the results"),
    study: Optional[Path] = typer.Option(None, "--study", help="studySpec YAML (Vertex form or legacy trainingInput), e.g. configs/hypertune.yaml"),
    local: bool = typer.Option(False, "--local", help="run the trials on this machine (the only mode here; `submit --study` runs them on Vertex AI)"),
    trials: Optional[int] = typer.Option(None, help="number of trials [default: the study's maxTrialCount, else 4]"),
    parallel: int = typer.Option(1, help="trials at a time"),
    search_seed: int = typer.Option(0, help="the random search's seed"),
    algorithm: Optional[str] = typer.Option(None, help="grid or random [default: the study's; Bayesian falls back to random here]"),
    config: Optional[Path] = CONFIG,
    dry_run: bool = typer.Option(False, "--dry-run", help="print each trial's trainer command; start nothing"),
    flags: dict = None,
) -> None:
    """Try a hyperparameter study on this machine: real trials, a results table, the best marked."""
    import shlex

    from ddsp_launch.launch import tune as sweep

    if not local:
        raise InputError("`ddsp-launch tune` runs studies locally", "add --local, or use `ddsp-launch submit --study FILE` for Vertex AI")
    s = resolve.settings({**flags, "data": data, "output": output, "target": "process"}, config, os.environ, door=QUIET_BOARD)
    planned = sweep.plan(s, sweep.Sweep(study, trials, parallel, search_seed, algorithm))
    if dry_run:
        for command in planned.commands():
            opts.echo(shlex.join(command))
        opts.say("dry run: nothing started")
        return
    results = sweep.run(planned, opts.say)
    _print_results(planned.study, results, Path(s.output))
    if not any(r.metric is not None for r in results):
        raise JobFailed("no trial reported a metric", f"see {s.output}/trial-*/train.log")


def _print_results(study, results, output: Path) -> None:
    names = sorted({k for r in results for k in r.params})
    opts.echo(f"\n{'trial':<6}" + "".join(f"{n:<16}" for n in names) + f"{study.metric_id:<12}{'step':<8}")
    for r in results:
        metric = f"{r.metric:.4f}" if r.metric is not None else f"- (exit {r.exit_code})"
        opts.echo(f"{r.trial:<6}" + "".join(f"{str(r.params[n]):<16}" for n in names) + f"{metric:<12}{str(r.step or ''):<8}"
                  + ("  <- best" if r.best else ""))
    opts.echo(f"\nresults: {output / 'results.json'} and results.csv ({study.goal.lower()} {study.metric_id})")


def rerun(run_id: str = typer.Argument(..., help="a run id from `ddsp-launch runs`"),
          dry_run: bool = typer.Option(False, "--dry-run", help="print what it replays; start nothing")) -> None:
    """Replay a recorded run with the same settings (a local run resumes from its checkpoints)."""
    from ddsp_launch.launch import records

    rec = records.load(run_id)
    s = resolve.finalize(st.from_record(rec))
    opts.say(f"replaying {rec['id']}: {s.command_line()}")
    _exit(execute(s, dry_run))


def register(app: typer.Typer) -> None:
    app.command("train", help=TRAIN_HELP, context_settings=PASS_EXTRA)(train)
    app.command("run", help=RUN_HELP, context_settings=PASS_EXTRA)(run)
    app.command("submit", help=SUBMIT_HELP, context_settings=PASS_EXTRA)(submit)
    app.command("tune")(tune)
    app.command("rerun")(rerun)
