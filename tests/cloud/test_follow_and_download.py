"""README promises of the cloud commands, end to end through the real CLI, the local
Vertex AI (tests/cloud/fake_gcp.py) and the GCS emulator: `jobs logs --follow` prints until
the job ends (exit 7 when it did not succeed), and `download RUN_ID` fetches the model of a
run `ddsp-launch train --target vertex` recorded."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import ddsp_launch

IMAGE = "us-central1-docker.pkg.dev/my-proj/ddsp/trainer@sha256:" + "f" * 64
ENV = {"GOOGLE_CLOUD_PROJECT": "my-proj"}


@pytest.fixture
def bucket(gcs_emulator):
    from ddsp_launch.common import gcs

    client = gcs.make_client()
    found = client.bucket("ddsp-follow")
    if not found.exists():
        found = client.create_bucket("ddsp-follow")
    return found


def submitted(name: str) -> str:
    out = ddsp_launch("submit", "gs://ddsp-follow/violin", f"gs://ddsp-follow/runs/{name}", "--image", IMAGE,
                      "--project", "my-proj", "--name", name, env=ENV, check=True).stdout
    return re.search(r"customJobs/(\d+)", out).group(1)


def name_of(job_id: str) -> str:
    return f"projects/my-proj/locations/us-central1/customJobs/{job_id}"


@pytest.mark.parametrize("fails", [False, True], ids=["succeeds", "fails"])
def test_jobs_logs_follow_prints_until_the_job_ends(fake_gcp, bucket, fails):
    if fails:
        fake_gcp.fail_names.add("doomed")
    job_id = submitted("doomed" if fails else "fine")
    proc = ddsp_launch("jobs", "logs", job_id, "--follow", "--interval", "0", env=ENV, timeout=120)
    out = proc.stdout
    assert "Waiting for job to be provisioned." in out and "Job is running." in out
    assert [int(s) for s in re.findall(r"step (\d+) loss", out)] == [100, 200, 300]  # every line once, in order
    if fails:
        assert proc.returncode == 7, proc.stderr
        assert "Job failed." in out and "job ended FAILED" in proc.stderr
    else:
        assert proc.returncode == 0, proc.stderr
        assert "Job completed successfully." in out and out.rstrip().endswith(f"job succeeded: {name_of(job_id)}")
    states = [v for v, p, _ in fake_gcp.requests if p.endswith(f"/customJobs/{job_id}") and v == "GET"]
    assert states  # it asked for the job's state while following


def test_download_by_run_id_fetches_the_newest_complete_checkpoint(fake_gcp, bucket, tmp_path):
    home = tmp_path / "home"
    env = {**ENV, "DDSP_LAUNCH_HOME": str(home)}
    bucket.blob("violin/train.tfrecord-00000-of-00001").upload_from_string(b"")  # the data the job would read
    proc = ddsp_launch("train", "--yes", "--target", "vertex", "--data", "gs://ddsp-follow/violin", "--output",
                       "gs://ddsp-follow/runs/rid", "--image", IMAGE, "--no-tensorboard", env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    [record] = [json.loads(p.read_text()) for p in (home / "runs").glob("*.json")]
    run_id = record["id"]
    # what the job left in its output folder (Vertex: checkpoints/ under baseOutputDirectory); ckpt-4 half uploaded
    files = {"runs/rid/checkpoints/ckpt-2.index": b"i2", "runs/rid/checkpoints/ckpt-2.data-00000-of-00001": b"d2" * 500,
             "runs/rid/checkpoints/ckpt-4.data-00000-of-00001": b"d4", "runs/rid/checkpoints/operative_config-0.gin": b"g0",
             "violin/dataset_statistics.json": b'{"mean_pitch": 60}'}
    for name, data in files.items():
        bucket.blob(name).upload_from_string(data)
    down = ddsp_launch("download", run_id, str(tmp_path / "model"), env=env, timeout=120)
    assert down.returncode == 0, down.stderr
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "ckpt-2.data-00000-of-00001", "ckpt-2.index", "dataset_statistics.json", "operative_config-0.gin"]
    assert (tmp_path / "model" / "ckpt-2.data-00000-of-00001").read_bytes() == b"d2" * 500
    missing = ddsp_launch("download", "20260101-000000-vertex-zzzz", str(tmp_path / "none"), env=env, timeout=120)
    assert missing.returncode == 2 and not (tmp_path / "none").exists()


def test_the_seed_reaches_the_trainer_and_the_run_record(fake_gcp, bucket, tmp_path):
    home = tmp_path / "home"
    bucket.blob("violin/train.tfrecord-00000-of-00001").upload_from_string(b"")
    proc = ddsp_launch("train", "--yes", "--target", "vertex", "--data", "gs://ddsp-follow/violin", "--output",
                       "gs://ddsp-follow/runs/seeded", "--image", IMAGE, "--no-tensorboard", "--seed", "7",
                       env={**ENV, "DDSP_LAUNCH_HOME": str(home)}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    [record] = [json.loads(p.read_text()) for p in (home / "runs").glob("*.json")]
    assert record["settings"]["seed"] == 7 and "--seed 7" in record["command_line"]
    [body] = [b for v, p, b in fake_gcp.requests if v == "POST" and p.endswith("/customJobs")]
    assert "--seed=7" in body["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["args"]
    refused = ddsp_launch("train", "--yes", "--target", "vertex", "--data", "gs://ddsp-follow/violin", "--output",
                          "gs://ddsp-follow/runs/x", "--image", IMAGE, "--no-tensorboard", "--seed", "-1",
                          env={**ENV, "DDSP_LAUNCH_HOME": str(home)}, timeout=120)
    assert refused.returncode == 2 and "seed must be" in refused.stderr


def test_download_takes_the_best_checkpoint_by_default_and_checkpoint_chooses(gcs_emulator, bucket, tmp_path):
    """A run that kept its best checkpoint (best/ beside the checkpoints, issue 21): download
    takes it by default; --checkpoint newest the newest, a missing step is refused (exit 2)."""
    files = {"runs/b/checkpoints/ckpt-8.index": b"i8", "runs/b/checkpoints/ckpt-8.data-00000-of-00001": b"d8",
             "runs/b/checkpoints/best/ckpt-4.index": b"i4", "runs/b/checkpoints/best/ckpt-4.data-00000-of-00001": b"d4",
             "runs/b/checkpoints/best.json": b'{"step": 4}', "runs/b/checkpoints/operative_config-0.gin": b"g0",
             "runs/b/checkpoints/dataset_statistics.json": b'{"mean_pitch": 60}'}
    for name, data in files.items():
        bucket.blob(name).upload_from_string(data)
    best = ddsp_launch("download", "gs://ddsp-follow/runs/b", str(tmp_path / "best"), env=ENV, timeout=120)
    assert best.returncode == 0, best.stderr
    assert sorted(p.name for p in (tmp_path / "best").iterdir()) == [
        "ckpt-4.data-00000-of-00001", "ckpt-4.index", "dataset_statistics.json", "operative_config-0.gin"]
    assert (tmp_path / "best" / "ckpt-4.data-00000-of-00001").read_bytes() == b"d4"
    newest = ddsp_launch("download", "gs://ddsp-follow/runs/b", str(tmp_path / "newest"), "--checkpoint", "newest", env=ENV, timeout=120)
    assert newest.returncode == 0, newest.stderr
    assert sorted(p.name for p in (tmp_path / "newest").glob("ckpt-*")) == ["ckpt-8.data-00000-of-00001", "ckpt-8.index"]
    missing = ddsp_launch("download", "gs://ddsp-follow/runs/b", str(tmp_path / "six"), "--checkpoint", "6", env=ENV, timeout=120)
    assert missing.returncode == 2 and "holds no complete checkpoint ckpt-6" in missing.stderr
    assert not (tmp_path / "six").exists()
