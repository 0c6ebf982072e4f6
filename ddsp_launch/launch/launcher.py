"""From settings to a running training: check, plan, act, record; one router for every target.

`check` builds the run's `RunSpec` (launch/resolve.py, the one place) and its target's plan:
everything that can be refused is refused there, before anything is spent (no image built or
pushed, no dataset prepared or uploaded, no job submitted). `launch` then writes the run
record and hands the spec to its target's module (launch/targets), which prepares, uploads,
builds, trains or submits, and starts TensorBoard; the record says how it ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ddsp_launch.common.errors import InputError
from ddsp_launch.launch import doctor, records, resolve, steps, targets
from ddsp_launch.launch.settings import Settings
from ddsp_launch.spec import RunSpec

Say = Callable[[str], None]


@dataclass(frozen=True)
class Checked:
    """A run that passed every offline check: its settings (as recorded), its spec and its target's plan."""

    settings: Settings
    spec: RunSpec
    plan: object

    @property
    def target(self):
        return targets.module(self.spec.target)

    def cost(self) -> str:
        return self.target.cost(self.spec)


@dataclass
class Result:
    exit_code: int
    record: dict
    record_path: Path


def check(s: Settings) -> Checked:
    """Everything offline: the spec (checked once) and its target's plan."""
    spec = resolve.spec_of(s)
    return Checked(s, spec, targets.module(spec.target).plan(spec))


def dry_run(run: Checked, echo: Say, say: Say) -> None:
    """What would happen: the target's commands or request (stdout), the same run as one command (stderr)."""
    say(f"same run: {run.settings.command_line()}")
    run.target.dry_run(run.spec, run.plan, echo, say)
    say("dry run: nothing started")


def preflight(run: Checked) -> None:
    """The quick checks of this machine the target needs (disk, GPU, credentials); raises with every failure."""
    doctor.require(run.target.preflight(run.spec))


def launch(run: Checked, say: Say, progress: Say, tensorboard_start=None, run_id: str | None = None) -> Result:
    """Run or submit a checked run, writing its record (under ``run_id`` when the caller chose
    it: `ddsp-launch web` does, to follow the run)."""
    s, spec = run.settings, run.spec
    if run_id is not None and not records.valid_id(run_id):
        raise InputError(f"run id {run_id!r}", "letters, digits, '.', '_' and '-' only")
    record = {
        "id": run_id or records.new_id(s.target), "created": records.now(), "state": "starting",
        "target": s.target, "settings": dict(s.values), "origin": dict(s.origin), "extra_args": list(s.extra_args),
        "command_line": s.command_line(), "git_commit": records.git_commit(),
        "data": s.data, "output": s.output, "logdir": run.target.logdir(spec),
    }
    path = records.write(record)
    say(f"run record: {path}")
    going = steps.Run(record, say, progress, tensorboard_start)
    try:
        code = run.target.act(spec, run.plan, going)
    except KeyboardInterrupt:
        going.save(state="interrupted", finished=records.now())
        raise
    except Exception as exc:
        going.save(state="failed", error=str(exc), finished=records.now())
        raise
    records.write(record)
    return Result(code, record, path)
