"""Ctrl-C, SIGTERM or kill mid-run never leaves a complete-looking dataset; a rerun completes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def start(inp: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ddsp_launch.trainer.prepare", "--quiet", "--workers", "2", str(inp), str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_until_writing(out: Path, proc: subprocess.Popen, timeout: float = 120) -> Path:
    staging = out.parent / f".{out.name}.partial"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shards = list(staging.glob("train.tfrecord-*"))
        if shards and shards[0].stat().st_size > 0:
            return staging
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("prepare never started writing")


def frozen_mid_run(out: Path, proc: subprocess.Popen) -> Path:
    """Prepare once it writes records, stopped there (SIGSTOP): a signal sent now is handled
    before it can finish, so the test never races the run's completion."""
    staging = wait_until_writing(out, proc)
    proc.send_signal(signal.SIGSTOP)
    assert staging.exists() and not out.exists() and not (staging / "manifest.json").exists()  # still mid-run
    return staging


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_run_leaves_nothing_and_exits_130(example_audio, tmp_path, sig):
    out = tmp_path / "ds"
    proc = start(example_audio, out)
    staging = frozen_mid_run(out, proc)
    proc.send_signal(sig)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "no dataset was written" in err or "Stopped by signal" in err
    assert not out.exists()
    assert not staging.exists()  # cleaned up on a clean interrupt


def test_kill_mid_run_then_rerun_completes(example_audio, tmp_path):
    out = tmp_path / "ds"
    proc = start(example_audio, out)
    staging = frozen_mid_run(out, proc)
    proc.kill()
    proc.wait(timeout=30)
    assert not out.exists()  # nothing at the output path looks like a dataset
    assert staging.exists()  # the hidden leftovers of the killed run

    proc = start(example_audio, out)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "removed the leftovers of an interrupted run" in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["train_examples"] > 100
    assert not staging.exists()
