"""`ddsp-launch doctor` on a machine without Docker or credentials, and with them."""

from __future__ import annotations

import json

from tests.conftest import ddsp_launch


def no_machine(tmp_path) -> dict:
    return {"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock", "HOME": str(tmp_path), "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
            "GOOGLE_APPLICATION_CREDENTIALS": "", "GOOGLE_CLOUD_PROJECT": "", "CLOUDSDK_CORE_PROJECT": "",
            "DDSP_LAUNCH_HOME": str(tmp_path / "home")}


def test_failures_name_the_fix(tmp_path):
    proc = ddsp_launch("doctor", "--cloud", env=no_machine(tmp_path), timeout=120)
    assert proc.returncode == 4
    out = proc.stdout
    assert "[PASS] python: Python 3." in out
    assert "[FAIL] docker: the Docker engine is not running" in out and "fix: " in out.split("[FAIL] docker")[1].split("\n")[1]
    assert "[FAIL] credentials: no Application Default Credentials" in out and "gcloud auth application-default login" in out
    assert "[FAIL] project: no Google Cloud project set" in out and "export GOOGLE_CLOUD_PROJECT" in out
    assert "[PASS] disk:" in out
    assert "passed, 3 failed" in out


def test_gpu_check_without_a_gpu(tmp_path):
    proc = ddsp_launch("doctor", "--gpu", env=no_machine(tmp_path), timeout=120)
    assert proc.returncode == 4 and "[FAIL] nvidia: no NVIDIA GPU found" in proc.stdout and "--target vertex" in proc.stdout


def test_cloud_checks_pass_against_the_local_services(tmp_path, fake_gcp, gcs_emulator):
    from ddsp_launch.common import gcs

    client = gcs.make_client()
    if not client.bucket("ddsp-doctor").exists():
        client.create_bucket("ddsp-doctor")
    adc = tmp_path / "adc.json"
    adc.write_text(json.dumps({"type": "authorized_user", "client_id": "x", "client_secret": "y", "refresh_token": "refresh-secret-123"}))
    env = {**no_machine(tmp_path), "GOOGLE_APPLICATION_CREDENTIALS": str(adc)}
    proc = ddsp_launch("doctor", "--cloud", "--project", "my-proj", "--bucket", "gs://ddsp-doctor", env=env, timeout=120)
    out = proc.stdout
    assert f"[PASS] credentials: GOOGLE_APPLICATION_CREDENTIALS={adc}" in out
    assert "[PASS] project: my-proj" in out
    assert "[PASS] vertex ai: aiplatform.googleapis.com answers in us-central1" in out
    assert "[PASS] bucket: gs://ddsp-doctor exists, readable, location US" in out
    assert "refresh-secret-123" not in out + proc.stderr  # no secret printed
    wrong = ddsp_launch("doctor", "--cloud", "--project", "my-proj", "--bucket", "gs://ddsp-doctor", "--region", "asia-east1",
                        env=env, timeout=120)
    assert wrong.returncode == 4 and "[FAIL] bucket: bucket gs://ddsp-doctor is in US" in wrong.stdout


def test_a_launch_runs_the_quick_checks_first(tmp_path):
    proc = ddsp_launch("train", "--yes", "--target", "vertex", "--data", "gs://ddsp-x/ds", "--output", "gs://ddsp-x/run",
                       "--project", "my-proj", "--image", "us-central1-docker.pkg.dev/my-proj/r/ddsp:1",
                       env={**no_machine(tmp_path), "GOOGLE_CLOUD_PROJECT": "my-proj"}, timeout=120)
    assert proc.returncode == 4
    assert "this machine is not ready" in proc.stderr and "no Application Default Credentials" in proc.stderr
    assert not (tmp_path / "home" / "runs").exists()  # nothing started, nothing recorded


def test_doctor_says_what_this_machine_can_do(tmp_path):
    """Without Docker: no Docker runs, and the process runtime only with the training stack here."""
    import importlib.util

    proc = ddsp_launch("doctor", env=no_machine(tmp_path), timeout=120)
    out = proc.stdout.split("This machine can:")[1]
    assert "prepare, train, transfer and export in Docker: no (the Docker engine is not running" in out
    stack = importlib.util.find_spec("tensorflow") is not None
    assert ("--target process): yes" in out) == stack
    assert ("needs the training stack here" in out and "scripts/install.sh" in out) == (not stack)
