"""A local run's time estimate: a real 10-step probe, the speeds it keeps, and the preview's arithmetic."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from ddsp_launch.common import paths
from ddsp_launch.common.errors import InputError
from ddsp_launch.launch import probe
from ddsp_launch.spec import LocalTarget, RunSpec, TrainingParams
from tests.conftest import ddsp_launch


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("DDSP_LAUNCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def spec(batch_size: int = 4, num_steps: int = 4000, runtime: str = "process", **kw) -> RunSpec:
    return RunSpec(Path("ds"), Path("out"), LocalTarget(runtime, "cpu"),
                   TrainingParams(batch_size=batch_size, num_steps=num_steps), **kw)


def test_without_a_measurement_the_preview_says_how_to_get_one(home):
    text = "\n".join(probe.lines(spec()))
    assert "no cloud charges" in text and f"CPU ({os.cpu_count()} cores)" in text
    assert "speed:         unknown for batch 4 here: add --probe" in text
    assert "time:" not in text


def test_the_estimate_is_steps_over_the_measured_speed(home):
    probe.remember(spec(), {"steps_per_sec": 0.5, "steps": 9}, "10-step probe")
    text = "\n".join(probe.lines(spec(num_steps=4000)))  # 4000 / 0.5 = 8000 s = 2 h 13 min 20 s
    assert "speed:         0.5 steps/s at batch 4 (10-step probe on this machine" in text
    assert "time:          2 h 13 min for 4000 steps (estimate)" in text
    assert "time:          6 min 40 s for 200 steps" in "\n".join(probe.lines(spec(num_steps=200)))
    # the speed is per kind of run: another batch size or runtime has none yet
    assert "unknown for batch 8" in "\n".join(probe.lines(spec(batch_size=8)))
    assert "unknown" in "\n".join(probe.lines(spec(runtime="docker")))
    assert oct(probe.speeds_file().stat().st_mode & 0o777) == "0o600"


def test_a_damaged_speeds_file_or_train_speed_is_no_figure(home, tmp_path):
    probe.speeds_file().parent.mkdir(parents=True, exist_ok=True)
    probe.speeds_file().write_text("{not json")
    assert probe.known(spec()) is None
    probe.speeds_file().write_text(json.dumps({probe.key(spec()): {"steps_per_sec": -1}}))
    assert probe.known(spec()) is None
    (tmp_path / paths.TRAIN_SPEED).write_text(json.dumps({"steps_per_sec": 0}))
    assert probe.read_speed(tmp_path) is None
    (tmp_path / paths.TRAIN_SPEED).write_text(json.dumps({"steps_per_sec": 1.5, "steps": 9}))
    assert probe.read_speed(tmp_path)["steps_per_sec"] == 1.5


def test_the_probe_needs_a_prepared_dataset(home, tmp_path):
    with pytest.raises(InputError, match="--probe measures training on a prepared dataset") as exc:
        probe.measure(spec(prepare_to=tmp_path / "ds"), "x", print, print)
    assert "ddsp-launch prepare" in exc.value.fix


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_real_probe_measures_this_machine_and_the_dry_run_shows_the_time(small_dataset, tmp_path):
    env = {"DDSP_LAUNCH_HOME": str(tmp_path / "home")}
    out = tmp_path / "out"
    proc = ddsp_launch("run", str(small_dataset), str(out), "--runtime", "process", "--cpu", "--batch-size", "2",
                       "--num-steps", "3000", "--probe", "--dry-run", env=env, timeout=500)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    said = proc.stdout + proc.stderr
    assert "probe: 10 training steps on this machine" in said
    [measured] = re.findall(r"speed: ([\d.]+) steps/s over steps 2-10 \(batch 2\)", said)  # the trainer's own line
    [shown] = re.findall(r"speed:\s+([\d.]+) steps/s at batch 2 \(10-step probe on this machine", said)
    assert float(shown) == pytest.approx(float(measured), rel=0.01) and float(shown) > 0
    [(hours, minutes)] = re.findall(r"time:\s+(?:(\d+) h )?(\d+) min.* for 3000 steps \(estimate\)", said)
    # the line shows the speed to 3 decimals (+-0.0005) and the time to the minute (+-1)
    low, high = 3000 / (float(measured) + 0.0005) / 60 - 1, 3000 / (float(measured) - 0.0005) / 60 + 1
    assert low <= int(hours or 0) * 60 + int(minutes) <= high
    assert "dry run: nothing started" in said and not out.exists()  # the probe trained in a scratch folder
    speeds = json.loads((tmp_path / "home" / "speeds.json").read_text())
    assert list(speeds) == ["process/cpu/solo_instrument/batch 2/" + f"{os.cpu_count()} cpus"]
