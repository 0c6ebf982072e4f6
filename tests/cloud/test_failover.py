"""Capacity fail-over through the real CLI, the real API client, the local Vertex AI server
answering with Vertex AI's own capacity errors (a quota refusal at create: HTTP 429
RESOURCE_EXHAUSTED; a stockout: the job FAILED with code 8, 'Resources are insufficient in
region'), and the GCS emulator holding the run's checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

from ddsp_launch.cloud import jobs
from tests.cloud.test_cli_cloud import IMAGE, bucket, creates  # noqa: F401 (bucket: a fixture)
from tests.conftest import ddsp_launch


def base(out: str) -> list[str]:
    return ["gs://ddsp-cli/violin", f"gs://ddsp-cli/runs/{out}", "--image", IMAGE, "--project", "my-proj"]


def record_of(proc) -> dict:
    text = proc.stdout + proc.stderr
    return json.loads(Path(text.split("run record: ")[1].split()[0]).read_text())


def regions_posted(fake) -> list[str]:
    return [p.split("/locations/")[1].split("/")[0] for v, p, b in fake.requests if v == "POST" and p.endswith("/customJobs")]


def test_the_capacity_rules():
    assert jobs.is_capacity_error({"code": 8, "message": "Resources are insufficient in region: us-central1."})
    assert jobs.is_capacity_error({"code": 3, "message": "Resources are insufficient in region: us-east1. Please try"})
    assert not jobs.is_capacity_error({"code": 13, "message": "The replica workerpool0-0 exited with a non-zero status of 1."})
    assert not jobs.is_capacity_error(None)


def test_two_regions_out_of_quota_then_a_third(fake_gcp, bucket):  # noqa: F811
    fake_gcp.stockouts = {("us-central1", False): "quota", ("us-east1", False): "quota"}
    proc = ddsp_launch("submit", *base("q"), "--regions", "us-east1,europe-west4,us-west1")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    assert "attempt 1: us-central1, on demand: no capacity" in out and "attempt 2: us-east1, on demand: no capacity" in out
    assert "attempt 3: europe-west4, on demand: skipped" in out  # the bucket (US) does not allow it
    assert "attempt 4: us-west1, on demand: submitted projects/my-proj/locations/us-west1/customJobs/" in out
    # one retry of each refusal (HTTP 429 may be a rate limit), then the next region
    assert regions_posted(fake_gcp) == ["us-central1"] * 2 + ["us-east1"] * 2 + ["us-west1"]
    record = record_of(proc)
    assert [a["state"] for a in record["attempts"]] == ["no capacity", "no capacity", "skipped", "submitted"]
    assert "/locations/us-west1/" in record["job"] and "quota" in record["attempts"][0]["reason"]


def test_spot_stockout_falls_back_to_on_demand_and_resumes(fake_gcp, bucket):  # noqa: F811
    from ddsp_launch.common import gcs

    client = gcs.make_client()
    client.bucket("ddsp-cli").blob("runs/s/checkpoints/ckpt-300.index").upload_from_string(b"x")
    fake_gcp.stockouts = {("us-central1", True): "stockout"}
    proc = ddsp_launch("submit", *base("s"), "--spot", "--fallback", "on-demand", "--follow", "--interval", "0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "attempt 1 failed for capacity: Resources are insufficient in region: us-central1" in out
    assert "attempt 2: us-central1, on demand: submitted" in out and "resuming from gs://ddsp-cli/runs/s/checkpoints" in out
    first, second = creates(fake_gcp)
    assert first["jobSpec"]["scheduling"]["strategy"] == "SPOT" and "strategy" not in second["jobSpec"]["scheduling"]
    assert not any(a.startswith("--restore_dir") for a in first["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["args"])
    assert "--restore_dir=gs://ddsp-cli/runs/s/checkpoints" in second["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["args"]
    assert "job succeeded" in out
    record = record_of(proc)
    assert [(a["spot"], a["state"]) for a in record["attempts"]] == [(True, "FAILED"), (False, "submitted")]
    assert record["attempts"][1]["resumes_from"] == "gs://ddsp-cli/runs/s/checkpoints"


def test_no_retry_on_other_failures(fake_gcp, bucket):  # noqa: F811
    fake_gcp.inject(403, message="Permission denied on resource project my-proj.")
    proc = ddsp_launch("submit", *base("u"), "--regions", "us-east1")
    assert proc.returncode == 6 and "permission denied" in proc.stderr.lower()
    assert len(creates(fake_gcp)) == 1 and fake_gcp.jobs == {}  # the refused create only: us-east1 never tried
    fake_gcp.fail_names = {"broken"}
    proc = ddsp_launch("submit", *base("u2"), "--regions", "us-east1", "--name", "broken", "--follow", "--interval", "0")
    assert proc.returncode == 7 and "non-zero status" in proc.stderr
    assert regions_posted(fake_gcp)[1:] == ["us-central1"] and len(fake_gcp.jobs) == 1  # failed: not resubmitted
    proc = ddsp_launch("submit", *base("u3"), "--fallback", "on-demand")
    assert proc.returncode == 2 and "--fallback on-demand is for spot runs" in proc.stderr
