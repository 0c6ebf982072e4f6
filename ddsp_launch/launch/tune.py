"""`ddsp-launch tune --local`: a study's trials on this machine, from the same run settings as
every other command (launch/resolve.py), before paying Vertex AI for them (`submit --study`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ddsp_launch.common.errors import InputError
from ddsp_launch.launch import resolve, steps
from ddsp_launch.launch.settings import Settings

ALGORITHMS = {"grid": "GRID_SEARCH", "random": "RANDOM_SEARCH"}
DEFAULT_TRIALS = 4


@dataclass(frozen=True)
class Sweep:
    study_file: Path | None
    trials: int | None = None  # default: the study's maxTrialCount, else DEFAULT_TRIALS
    parallel: int = 1
    seed: int = 0  # of a random search
    algorithm: str | None = None  # grid or random; default: the study's (Bayesian: random here)


@dataclass(frozen=True)
class Planned:
    """A checked sweep: the study, the run every trial varies, how many trials and how they are picked."""

    study: object
    spec: object
    sweep: Sweep
    count: int
    algorithm: str | None

    def trials(self) -> list[dict]:
        return self.study.trials(self.count, seed=self.sweep.seed, algorithm=self.algorithm)

    def commands(self) -> list[list[str]]:
        """Each trial's trainer command, as `run` starts it (--dry-run prints them)."""
        from ddsp_launch.runtime import tuning

        return [tuning.trial_argv(self.study, self.spec, Path(self.spec.output) / f"trial-{n}", values)
                for n, values in enumerate(self.trials(), start=1)]


def plan(s: Settings, sweep: Sweep) -> Planned:
    """Everything checked before a trial starts: the study file, the choices, the run (launch/resolve.py)."""
    from ddsp_launch.cloud import config as job_config
    from ddsp_launch.cloud.study import parse

    if sweep.study_file is None:
        raise InputError("`ddsp-launch tune` needs a study", "--study FILE: a studySpec YAML, e.g. configs/hypertune.yaml")
    cfg = job_config.read(sweep.study_file)
    if cfg.study is None:
        raise InputError(f"{sweep.study_file} holds no studySpec", "see configs/hypertune.yaml")
    study = parse(cfg.study, f"{sweep.study_file}: studySpec")
    algorithm = ALGORITHMS.get(sweep.algorithm.lower(), "bad") if sweep.algorithm else None
    if algorithm == "bad":
        raise InputError(f"--algorithm {sweep.algorithm!r} is unknown", "grid or random")
    for name, value in (("--trials", sweep.trials), ("--parallel", sweep.parallel)):
        if value is not None and value < 1:
            raise InputError(f"{name} must be at least 1, got {value}")
    return Planned(study, resolve.spec_of(s), sweep, sweep.trials or cfg.max_trial_count or DEFAULT_TRIALS, algorithm)


def run(planned: Planned, say: Callable[[str], None]):
    """Run the trials (audio prepared first); their results."""
    from ddsp_launch.runtime import process, tuning

    process.require_trainer_stack("`ddsp-launch tune --local`")
    if planned.spec.prepare_to:
        steps.prepare(planned.spec, say)
    return tuning.run(planned.study, planned.spec, planned.count, planned.sweep.parallel, planned.sweep.seed,
                      planned.algorithm, say)
