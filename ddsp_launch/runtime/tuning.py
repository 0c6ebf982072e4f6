"""A hyperparameter study run on this machine: the sweep a user tries before paying Vertex AI.

Rerunning the same command into the same folder resumes an interrupted sweep (each trial
from its checkpoints); a different sweep in that folder is refused.

Each trial is a real training run of the trainer (process runtime) with the study's values
passed as `--name=value`, exactly as Vertex AI passes them, reporting through
cloudml-hypertune into its own metric file (CLOUD_ML_HP_METRIC_FILE). The metric files are
read back into a results table (printed, and saved as results.json and results.csv).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from ddsp_launch.cloud.study import Study
from ddsp_launch.common import datasets
from ddsp_launch.common.errors import InputError
from ddsp_launch.spec import RunSpec, task_argv

METRIC_FILE = "hypertune/output.metrics"


@dataclass
class TrialResult:
    trial: int
    params: dict
    metric: float | None
    step: int | None
    exit_code: int
    save_dir: str
    best: bool = False


def trial_argv(study: Study, spec: RunSpec, save_dir: Path, values: dict) -> list[str]:
    """One trial: the run's parameters with the trial's values in their place."""
    return [sys.executable, "-m", "ddsp_launch.trainer.task",
            *task_argv(spec, datasets.pattern(spec.dataset), save_dir=str(save_dir), params=spec.params.with_values(values),
                       hypertune_metric=study.metric_id)]


def read_metric(path: Path, metric_id: str) -> tuple[float | None, int | None]:
    """The last value cloudml-hypertune wrote for ``metric_id``, and its step."""
    if not path.is_file():
        return None, None
    last = None
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if metric_id in entry:
            last = entry
    if last is None:
        return None, None
    return float(last[metric_id]), int(last.get("global_step") or 0)


def run(study: Study, spec: RunSpec, trials: int, parallel: int = 1, seed: int = 0, algorithm: str | None = None,
        say: Callable[[str], None] = print) -> list[TrialResult]:
    """Run the sweep of ``spec`` (a local run; its output is the sweep's folder); every trial's log is output/trial-N/train.log."""
    output = spec.output
    sets = study.trials(trials, seed=seed, algorithm=algorithm)
    record = {"studySpec": study.spec, "trials": sets, "seed": seed, "trainer_args": task_argv(spec, datasets.pattern(spec.dataset))}
    previous = output / "study.json"
    if previous.is_file() and json.loads(previous.read_text()) != json.loads(json.dumps(record)):
        raise InputError(f"{output} holds a different sweep (its study.json differs), whose checkpoints these trials would resume",
                         "choose a new output folder; rerunning the same command in the same folder resumes it")
    output.mkdir(parents=True, exist_ok=True)
    previous.write_text(json.dumps(record, indent=2))
    pending = list(enumerate(sets, start=1))
    running: dict[int, tuple[subprocess.Popen, dict, object]] = {}
    exits: dict[int, int] = {}
    try:
        while pending or running:
            while pending and len(running) < parallel:
                number, values = pending.pop(0)
                tdir = output / f"trial-{number}"
                tdir.mkdir(exist_ok=True)
                (tdir / METRIC_FILE).unlink(missing_ok=True)
                env = {**os.environ, "CLOUD_ML_HP_METRIC_FILE": str(tdir / METRIC_FILE), "CLOUD_ML_TRIAL_ID": str(number)}
                log = (tdir / "train.log").open("wb")
                say(f"trial {number}/{len(sets)}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
                proc = subprocess.Popen(trial_argv(study, spec, tdir, values), env=env,
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                running[number] = (proc, values, log)
            for number, (proc, values, log) in list(running.items()):
                if proc.poll() is not None:
                    log.close()
                    exits[number] = proc.returncode
                    del running[number]
                    metric, _ = read_metric(output / f"trial-{number}" / METRIC_FILE, study.metric_id)
                    state = f"{study.metric_id} {metric:.4f}" if metric is not None else f"no metric (exit {proc.returncode}, see trial-{number}/train.log)"
                    say(f"trial {number} finished: {state}")
            time.sleep(0.5)
    except KeyboardInterrupt:
        say("interrupted: stopping the running trials (each saves a checkpoint)")
        for number, (proc, _, log) in running.items():
            proc.send_signal(signal.SIGTERM)
        for number, (proc, _, log) in running.items():
            exits[number] = proc.wait()
            log.close()
        raise
    finally:
        results = collect(study, output, sets, exits)
        if results:
            save(results, output)
    return results


def collect(study: Study, output: Path, sets: list[dict], exits: dict[int, int]) -> list[TrialResult]:
    results = []
    for number, values in enumerate(sets, start=1):
        if number not in exits:
            continue
        metric, step = read_metric(output / f"trial-{number}" / METRIC_FILE, study.metric_id)
        results.append(TrialResult(number, values, metric, step, exits[number], str(output / f"trial-{number}")))
    scored = [r for r in results if r.metric is not None]
    if scored:
        best = scored[0]
        for r in scored[1:]:
            if study.better(r.metric, best.metric):
                best = r
        best.best = True
    return results


def save(results: list[TrialResult], output: Path) -> None:
    (output / "results.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    names = sorted({k for r in results for k in r.params})
    with (output / "results.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["trial", *names, "metric", "step", "exit_code", "best"])
        for r in results:
            w.writerow([r.trial, *[r.params.get(n, "") for n in names], "" if r.metric is None else r.metric,
                        "" if r.step is None else r.step, r.exit_code, "*" if r.best else ""])
