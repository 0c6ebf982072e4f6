"""The cloud commands end to end: real CLI processes, the local Vertex AI server, the GCS emulator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import Lines, ddsp_launch, wait_until

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "us-central1-docker.pkg.dev/my-proj/ddsp/trainer@sha256:" + "c" * 64
BASE = ["gs://ddsp-cli/violin", "gs://ddsp-cli/runs/v1", "--image", IMAGE, "--project", "my-proj"]


@pytest.fixture
def bucket(gcs_emulator):
    from ddsp_launch.common import gcs

    client = gcs.make_client()
    if not client.bucket("ddsp-cli").exists():
        client.create_bucket("ddsp-cli")
    return "ddsp-cli"


def creates(fake) -> list[dict]:
    return [b for v, p, b in fake.requests if v == "POST" and p.endswith(("/customJobs", "/hyperparameterTuningJobs"))]


def test_dry_run_of_a_legacy_config_explains_and_sends_nothing(fake_gcp):
    proc = ddsp_launch("submit", *BASE, "--job-config", str(ROOT / "configs/legacy/config_hypertune.yaml"), "--dry-run", check=True)
    assert "AI Platform Training was shut down" in proc.stderr
    assert "hyperparameters.maxTrials -> maxTrialCount 4" in proc.stderr
    assert "dry run: nothing started" in proc.stderr
    body = json.loads(proc.stdout.split("\n", 1)[1].split("\n# equivalent gcloud command:")[0])
    assert body["studySpec"]["metrics"] == [{"metricId": "Loss", "goal": "MINIMIZE"}]
    assert "gcloud ai hp-tuning-jobs create --project=my-proj --region=us-central1" in proc.stdout
    assert fake_gcp.requests == []


def test_submit_follow_to_success(fake_gcp, bucket):
    proc = ddsp_launch("submit", *BASE, "--job-config", str(ROOT / "configs/multi-worker.yaml"), "--num-steps", "300",
                       "--label", "instrument=violin", "--follow", "--interval", "0", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "bucket gs://ddsp-cli: reachable, location US" in proc.stderr
    assert "submitted: projects/my-proj/locations/us-central1/customJobs/" in proc.stdout
    assert "console:   https://console.cloud.google.com/vertex-ai/locations/us-central1/training/custom-jobs/" in proc.stdout
    assert "step 300 loss 7.00" in proc.stdout and "job succeeded" in proc.stdout
    (body,) = creates(fake_gcp)
    assert body["labels"] == {"app": "ddsp-launch", "instrument": "violin"}
    assert body["jobSpec"]["scheduling"]["strategy"] == "SPOT"
    assert "--num_steps=300" in body["jobSpec"]["workerPoolSpecs"][1]["containerSpec"]["args"]


def test_submit_follow_to_failure_exits_7(fake_gcp, bucket):
    fake_gcp.fail_names.add("doomed")
    proc = ddsp_launch("submit", *BASE, "--name", "doomed", "--follow", "--interval", "0", timeout=120)
    assert proc.returncode == 7
    assert "job ended FAILED: The replica workerpool0-0 exited with a non-zero status of 1." in proc.stderr
    assert "ddsp-launch jobs logs" in proc.stderr


@pytest.mark.parametrize("args, message", [
    (["--region", "europe-west4"], "bucket gs://ddsp-cli is in US, but the job would run in europe-west4"),
    (["--region", "mars-north1"], "'mars-north1' is not a Vertex AI region"),
    (["--accelerator", "NVIDIA_TESLA_T4:3"], "3 x NVIDIA_TESLA_T4 is not offered"),
    (["--machine-type", "a2-highgpu-1g", "--accelerator", "NVIDIA_TESLA_T4"], "a2-highgpu-1g takes exactly 1 x NVIDIA_TESLA_A100"),
    (["--job-config", str(ROOT / "configs/legacy/config_single_vm.yaml"), "--tune", str(ROOT / "configs/single-gpu.yaml")], "holds no studySpec"),
    (["--config", str(ROOT / "configs/single-gpu.yaml")], "pass it as --job-config"),
    (["--label", "Instrument=violin"], "label Instrument=violin is not allowed"),
    (["--label", "instrument"], "--label 'instrument' is not KEY=VALUE"),
])
def test_bad_input_is_refused_before_submitting(fake_gcp, bucket, args, message):
    proc = ddsp_launch("submit", *BASE, *args)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert creates(fake_gcp) == []


def test_local_data_is_uploaded_and_a_missing_project_named(fake_gcp, monkeypatch, tmp_path):
    """submit takes data on this machine as train --target vertex does: the job reads OUTPUT/dataset."""
    from ddsp_launch.common import tfrecord

    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.delenv("CLOUDSDK_CORE_PROJECT", raising=False)
    proc = ddsp_launch("submit", str(tmp_path / "nowhere"), "gs://ddsp-cli/runs/v1", "--image", IMAGE, "--project", "my-proj")
    assert proc.returncode == 2 and "no data at" in proc.stderr
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "train.tfrecord-00000-of-00001").write_bytes(tfrecord.frame(b"\x0a\x00"))
    proc = ddsp_launch("submit", str(tmp_path / "ds"), "gs://ddsp-cli/runs/v1", "--image", IMAGE, "--project", "my-proj",
                       "--dry-run", check=True)
    assert f"would upload the dataset {tmp_path / 'ds'} to gs://ddsp-cli/runs/v1/dataset first" in proc.stderr
    assert '"--file_pattern=gs://ddsp-cli/runs/v1/dataset/train.tfrecord*"' in proc.stdout
    proc = ddsp_launch("submit", *BASE[:4])
    assert proc.returncode == 2 and "missing --project" in proc.stderr
    assert fake_gcp.requests == []


def test_jobs_commands(fake_gcp, bucket):
    env = {"GOOGLE_CLOUD_PROJECT": "my-proj"}
    fake_gcp.running_polls = 100  # still running when cancelled
    out = ddsp_launch("submit", *BASE, "--tune", str(ROOT / "configs/hypertune.yaml"), "--max-trials", "2", check=True).stdout
    name = out.split("submitted: ")[1].split()[0]
    job_id = name.rsplit("/", 1)[1]
    assert "/hyperparameterTuningJobs/" in name
    listed = ddsp_launch("jobs", "list", env=env, check=True).stdout
    assert job_id in listed and "tuning" in listed and "QUEUED" in listed
    status = ddsp_launch("jobs", "status", job_id, env=env, check=True).stdout
    assert f"hyperparameter-tuning-jobs/{job_id}" in status
    assert status.split("state:")[1].split()[0] in ("PENDING", "RUNNING")  # each read moves the fake job on
    wait_until(lambda: "RUNNING" in ddsp_launch("jobs", "status", job_id, env=env, check=True).stdout, every=0,
               what="the job to run (each read moves it on)")
    logs = ddsp_launch("jobs", "logs", job_id, env=env, check=True).stdout
    assert "Waiting for job to be provisioned." in logs and "Job is running." in logs
    assert "cancelling" in ddsp_launch("jobs", "cancel", job_id, env=env, check=True).stdout
    assert "CANCELLED" in ddsp_launch("jobs", "status", job_id, env=env, check=True).stdout
    again = ddsp_launch("jobs", "resubmit", job_id, env=env, check=True).stdout
    assert f"(again, from {name})" in again
    first, second = creates(fake_gcp)
    assert first == second  # the same request, output-only fields stripped, valid for the server
    missing = ddsp_launch("jobs", "status", "999", env=env)
    assert missing.returncode == 6 and "no job 999" in missing.stderr


def test_upload_and_download(gcs_emulator, bucket, tmp_path):
    src = tmp_path / "ds"
    src.mkdir()
    for i in range(3):
        (src / f"train.tfrecord-0000{i}-of-00003").write_bytes(bytes([i]) * 50_000)
    up = ddsp_launch("upload", str(src), "gs://ddsp-cli/datasets/ds", "--region", "us-central1", check=True)
    assert "uploaded 3 file(s), 0.1 MiB; 0 already there" in up.stdout
    again = ddsp_launch("upload", str(src), "gs://ddsp-cli/datasets/ds", check=True)
    assert "uploaded 0 file(s)" in again.stdout and "3 already there" in again.stdout
    down = ddsp_launch("download", "gs://ddsp-cli/datasets/ds", str(tmp_path / "back"), check=True)
    assert "downloaded 3 file(s)" in down.stdout
    assert sorted(p.name for p in (tmp_path / "back").iterdir()) == sorted(p.name for p in src.iterdir())
    wrong = ddsp_launch("upload", str(src), "gs://ddsp-cli/datasets/ds", "--region", "asia-east1")
    assert wrong.returncode == 2 and "is in US, but the job would run in asia-east1" in wrong.stderr


def test_ctrl_c_while_following_leaves_the_job_running(fake_gcp, bucket):
    import os
    import signal
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "ddsp-launch"
    proc = subprocess.Popen([str(exe), "submit", *BASE, "--follow", "--interval", "60"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    lines, errors = Lines(proc.stdout), Lines(proc.stderr)
    assert lines.until("submitted: ", timeout=60).startswith("submitted: ")
    lines.until("Waiting for job", timeout=60)  # following: the first log line arrived
    proc.send_signal(signal.SIGINT)
    lines.rest(timeout=30)
    err = errors.rest(timeout=30)
    proc.wait(timeout=30)
    assert proc.returncode == 130
    assert "stopped following; the job goes on running" in err and "ddsp-launch jobs cancel" in err
    (job,) = fake_gcp.jobs.values()
    assert job.body["state"] not in ("JOB_STATE_CANCELLED", "JOB_STATE_CANCELLING")


def test_download_a_model_by_path_and_by_job_id(fake_gcp, bucket, tmp_path):
    """Only the newest *complete* checkpoint, its operative config and the statistics come down."""
    from ddsp_launch.common import gcs

    b = gcs.make_client().bucket(bucket)
    files = {
        "runs/m1/checkpoints/ckpt-2.index": b"i2", "runs/m1/checkpoints/ckpt-2.data-00000-of-00001": b"d2" * 1000,
        "runs/m1/checkpoints/ckpt-4.index": b"i4", "runs/m1/checkpoints/ckpt-4.data-00000-of-00002": b"d4",  # half uploaded
        "runs/m1/checkpoints/operative_config-0.gin": b"g0", "runs/m1/checkpoints/operative_config-2.gin": b"g2",
        "runs/m1/logs/train/events.out.tfevents.1": b"e", "datasets/v/dataset_statistics.pkl": b"stats",
    }
    for name, data in files.items():
        b.blob(name).upload_from_string(data)
    proc = ddsp_launch("download", "gs://ddsp-cli/runs/m1", str(tmp_path / "m"), "--statistics", "gs://ddsp-cli/datasets/v/dataset_statistics.pkl")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "ckpt-2.data-00000-of-00001", "ckpt-2.index", "dataset_statistics.pkl", "operative_config-2.gin"]
    assert (tmp_path / "m" / "ckpt-2.data-00000-of-00001").read_bytes() == b"d2" * 1000
    assert "model: " in proc.stdout and "(ckpt-2)" in proc.stdout

    spec = {"workerPoolSpecs": [{"machineSpec": {"machineType": "n1-standard-8"}, "replicaCount": "1",
                                 "containerSpec": {"imageUri": IMAGE, "args": ["--file_pattern=gs://ddsp-cli/datasets/v/train.tfrecord*"]}}],
            "baseOutputDirectory": {"outputUriPrefix": "gs://ddsp-cli/runs/m1"}}
    from ddsp_launch.adapters import vertex

    job = vertex.Vertex("my-proj", "us-central1").create("CustomJob", {"displayName": "m1", "jobSpec": spec})
    by_job = ddsp_launch("download", vertex.job_id(job["name"]), str(tmp_path / "j"), env={"GOOGLE_CLOUD_PROJECT": "my-proj"})
    assert by_job.returncode == 0, by_job.stderr
    assert (tmp_path / "j" / "dataset_statistics.pkl").read_bytes() == b"stats"  # found from the job's --file_pattern
    b.blob("datasets/v/dataset_statistics.json").upload_from_string(b'{"mean_pitch": 60}')
    safe = ddsp_launch("download", vertex.job_id(job["name"]), str(tmp_path / "k"), env={"GOOGLE_CLOUD_PROJECT": "my-proj"})
    assert safe.returncode == 0, safe.stderr
    assert [p.name for p in (tmp_path / "k").glob("dataset_statistics.*")] == ["dataset_statistics.json"]  # the safe format first
    everything = ddsp_launch("download", "gs://ddsp-cli/runs/m1", str(tmp_path / "all"), "--all", check=True)
    assert "downloaded 7 file(s)" in everything.stdout
    missing = ddsp_launch("download", "gs://ddsp-cli/runs/none", str(tmp_path / "n"))
    assert missing.returncode == 2 and "nothing under gs://ddsp-cli/runs/none" in missing.stderr  # nothing is there: bad input


@pytest.mark.slow  # prepares audio with the training stack
@pytest.mark.timeout(1200)
def test_train_in_the_cloud_from_data_on_this_machine(fake_gcp, bucket, small_dataset, example_audio, tmp_path):
    """A prepared dataset here, or audio with --prepare-to, goes to OUTPUT/dataset before the job is submitted."""
    from ddsp_launch.common import gcs

    env = {"DDSP_LAUNCH_HOME": str(tmp_path / "home"), "GOOGLE_CLOUD_PROJECT": "my-proj"}
    common = ["train", "--yes", "--target", "vertex", "--image", IMAGE, "--no-tensorboard", "--num-steps", "50"]
    proc = ddsp_launch(*common, "--data", str(small_dataset), "--output", "gs://ddsp-cli/runs/here", env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    client = gcs.make_client()
    uploaded = sorted(b.name for b in client.list_blobs("ddsp-cli", prefix="runs/here/dataset/"))
    here = sorted(p.relative_to(small_dataset).as_posix() for p in small_dataset.rglob("*") if p.is_file())
    assert uploaded == [f"runs/here/dataset/{n}" for n in here] and any("train.tfrecord" in n for n in uploaded)
    (body,) = creates(fake_gcp)
    args = body["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["args"]
    assert "--file_pattern=gs://ddsp-cli/runs/here/dataset/train.tfrecord*" in args
    [record] = [json.loads(p.read_text()) for p in (tmp_path / "home" / "runs").glob("*.json")]
    assert record["state"] == "submitted" and record["uploaded_data"] == "gs://ddsp-cli/runs/here/dataset"
    assert record["data"] == str(small_dataset)

    # audio: prepared here into --prepare-to first
    audio = tmp_path / "takes"
    audio.mkdir()
    melody, sr = sf.read(str(example_audio / "scales.wav"), dtype="float32")
    sf.write(str(audio / "take1.wav"), melody[: 8 * sr], sr)
    proc = ddsp_launch(*common, "--data", str(audio), "--prepare-to", str(tmp_path / "takes-dataset"),
                       "--output", "gs://ddsp-cli/runs/takes", env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "takes-dataset" / "manifest.json").is_file()
    names = [b.name for b in client.list_blobs("ddsp-cli", prefix="runs/takes/dataset/")]
    assert "runs/takes/dataset/manifest.json" in names and any("train.tfrecord" in n for n in names)
    assert len(creates(fake_gcp)) == 2


def test_cloud_run_from_local_data_refuses_what_it_cannot_upload(fake_gcp, bucket, tmp_path):
    env = {"DDSP_LAUNCH_HOME": str(tmp_path / "home"), "GOOGLE_CLOUD_PROJECT": "my-proj"}
    common = ["train", "--yes", "--target", "vertex", "--image", IMAGE, "--no-tensorboard", "--output", "gs://ddsp-cli/runs/x"]
    (tmp_path / "empty").mkdir()
    (tmp_path / "audio").mkdir()
    sf.write(str(tmp_path / "audio" / "a.wav"), np.zeros(16000, np.float32), 16000)
    cases = [
        (["--data", str(tmp_path / "empty")], "holds no TFRecords"),
        (["--data", str(tmp_path / "audio")], "--prepare-to"),
        (["--data", str(tmp_path / "audio"), "--prepare-to", "gs://ddsp-cli/ds"], "audio is prepared on this machine"),
        (["--data", str(tmp_path / "audio" / "a.wav")], "a cloud run uploads a dataset folder"),
        (["--data", str(tmp_path / "nowhere")], "no data at"),
    ]
    for args, message in cases:
        proc = ddsp_launch(*common, *args, env=env, timeout=120)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)
    assert creates(fake_gcp) == []
    from ddsp_launch.common import gcs

    assert list(gcs.make_client().list_blobs("ddsp-cli", prefix="runs/x")) == []  # nothing uploaded
