"""A local run's time estimate, from this machine's measured training speed.

`--probe` trains ten steps of the run's own model, data and batch size here, in the image or
as a process as the run would, into a scratch folder, and keeps the steps per second the
trainer measured (its train_speed.json: the first step, which traces the graph, left out)
in the home's `speeds.json`. The entry is keyed by what sets the speed: runtime, device,
model, batch size and this machine's CPU count. A local run that finishes updates the same
entry from its own, longer measurement. The preview reads the entry; nothing here guesses:
with none, it says how to measure one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from ddsp_launch.cloud.prices import duration
from ddsp_launch.common import paths, private
from ddsp_launch.common.errors import InputError, LaunchError
from ddsp_launch.spec import RunSpec

PROBE_STEPS = 10


def speeds_file() -> Path:
    return paths.home() / "speeds.json"


def key(spec: RunSpec) -> str:
    t = spec.target
    return f"{t.runtime}/{t.device}/{spec.params.model}/batch {spec.params.batch_size}/{os.cpu_count()} cpus"


def _all() -> dict:
    try:
        found = json.loads(speeds_file().read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _measured(found) -> dict | None:
    """``found`` if it holds a positive steps_per_sec (a stored entry, or a train_speed.json), else None."""
    ok = isinstance(found, dict) and isinstance(found.get("steps_per_sec"), (int, float)) and found["steps_per_sec"] > 0
    return found if ok else None


def known(spec: RunSpec) -> dict | None:
    """The newest measured speed for this run's kind, or None."""
    return _measured(_all().get(key(spec)))


def read_speed(folder: Path) -> dict | None:
    """The trainer's train_speed.json in a run's (local) output folder, or None."""
    try:
        return _measured(json.loads((folder / paths.TRAIN_SPEED).read_text()))
    except (OSError, ValueError):
        return None


def remember(spec: RunSpec, speed: dict, how: str) -> dict:
    entry = {"steps_per_sec": float(speed["steps_per_sec"]), "steps": int(speed.get("steps", 0)), "how": how,
             "measured": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    speeds = _all()
    speeds[key(spec)] = entry
    private.write_text(speeds_file(), json.dumps(speeds, indent=1, sort_keys=True) + "\n")
    return entry


def measure(spec: RunSpec, file_pattern: str, say, progress) -> dict:
    """Train PROBE_STEPS steps of ``spec`` here into a scratch folder; keep and return the speed."""
    from ddsp_launch.runtime import local  # noqa: PLC0415 - Docker's SDK only when a probe runs

    if spec.prepare_to:
        raise InputError("--probe measures training on a prepared dataset; DATA is audio still to prepare",
                         f"prepare it first (ddsp-launch prepare {spec.data} {spec.prepare_to}), then --data {spec.prepare_to}")
    big = PROBE_STEPS * 1000  # no checkpoint or summary inside the measured steps
    params = dataclasses.replace(spec.params, num_steps=PROBE_STEPS, steps_per_save=big, steps_per_summary=big)
    say(f"probe: {PROBE_STEPS} training steps on this machine, for the time estimate (about a minute)")
    with tempfile.TemporaryDirectory(prefix="ddsp-launch-probe-") as scratch:
        out = Path(scratch) / "probe"
        outcome = local.run(dataclasses.replace(spec, output=out, params=params, tensorboard=False), file_pattern, say, progress)
        speed = read_speed(out)
    if outcome.exit_code or speed is None:
        raise LaunchError(f"the probe's training exited {outcome.exit_code} without a measured speed",
                          "its output above says why; the run itself would fail the same way")
    return remember(spec, speed, f"{PROBE_STEPS}-step probe")


def lines(spec: RunSpec) -> list[str]:
    """The preview of a local run: speed, time and what it costs."""
    t = spec.target
    where = f"this machine's {'GPU' if t.device == 'gpu' else f'CPU ({os.cpu_count()} cores)'}, {t.runtime} runtime"
    head, entry = f"local: {where}, no cloud charges", known(spec)
    if entry is None:
        return [head, f"speed:         unknown for batch {spec.params.batch_size} here: add --probe to measure "
                      f"{PROBE_STEPS} steps first (about a minute)"]
    seconds = spec.params.num_steps / entry["steps_per_sec"]
    return [head,
            f"speed:         {entry['steps_per_sec']:.3g} steps/s at batch {spec.params.batch_size} "
            f"({entry['how']} on this machine, {entry['measured']})",
            f"time:          {duration(seconds)} for {spec.params.num_steps} steps (estimate)"]
