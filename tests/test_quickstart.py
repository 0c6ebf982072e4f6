"""The README's first command, `bash scripts/quickstart.sh`, on a small budget (2 training
steps, its own data folder and ddsp-launch home), so the quick start cannot silently break:
it renders the example violin, prepares it, and trains in the CPU image (a Docker engine
answers here), then says where everything is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BASE_IMAGE, ROOT, stop_tensorboards

pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.timeout(2400)]  # may wait for the CPU image to build


def test_the_quick_start_prepares_trains_in_docker_and_says_where_everything_is(docker_engine, cpu_image, tmp_path):
    """(cpu_image: the session's image is built first, so under two test workers the quick
    start does not build the same image a second time while the other worker builds it.)"""
    data, home = tmp_path / "data", tmp_path / "home"
    env = {**os.environ, "DDSP_LAUNCH_DATA": str(data), "DDSP_LAUNCH_HOME": str(home), "DDSP_LAUNCH_STEPS": "2",
           "DDSP_LAUNCH_BASE_IMAGE": BASE_IMAGE,  # python:3.11-slim cannot be pulled here (README)
           "DDSP_LAUNCH_VENV": os.environ.get("DDSP_LAUNCH_VENV") or str(Path(sys.executable).parent.parent)}  # this run's
    if Path("/etc/ssl/certs/ca-certificates.crt").is_file():
        env.setdefault("PIP_CERT", "/etc/ssl/certs/ca-certificates.crt")  # pip behind this machine's proxy, if it builds
    try:
        proc = subprocess.run(["bash", str(ROOT / "scripts" / "quickstart.sh")], capture_output=True, text=True,
                              env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, timeout=2100)
    finally:
        stop_tensorboards(home)  # the TensorBoard it leaves running
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "runtime: docker" in log
    assert "step 2/2" in log and "Done." in proc.stdout
    assert sorted(p.name for p in (data / "examples" / "violin").glob("*.wav")) == [
        "frere_jacques.wav", "greensleeves.wav", "ode_to_joy.wav", "scales.wav"]
    manifest = json.loads((data / "violin-dataset" / "manifest.json").read_text())
    assert manifest["counts"]["train_examples"] > 100 and manifest["counts"]["eval_examples"] > 0
    model = data / "violin-model"
    assert (model / "ckpt-2.index").is_file() and list(model.glob("operative_config-*.gin"))
    assert list((model / "summaries" / "train").glob("events.out.tfevents.*"))
    assert all(p.stat().st_uid == os.getuid() for p in [model, *model.rglob("*")])
    [record] = [json.loads(p.read_text()) for p in (home / "runs").glob("*.json")]
    assert record["state"] == "succeeded" and record["output"] == str(model)
    assert f"Done.\n  audio:        {data}/examples/violin/" in proc.stdout
