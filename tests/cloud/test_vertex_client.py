"""The real google-api-python-client against the local Vertex AI / Cloud Logging server."""

from __future__ import annotations

import pytest

from ddsp_launch.adapters import vertex
from ddsp_launch.common.errors import CloudError, InputError
from tests.cloud import vertex_requests

IMAGE = "us-central1-docker.pkg.dev/my-proj/ddsp/trainer@sha256:" + "b" * 64
STUDY = {"metrics": [{"metricId": "Loss", "goal": "MINIMIZE"}],
         "parameters": [{"parameterId": "learning_rate", "discreteValueSpec": {"values": [1e-4, 1e-3]}}]}


def spec(**kw):
    return vertex_requests.direct(IMAGE, **kw)


@pytest.fixture
def client(fake_gcp):
    return vertex.Vertex("my-proj", "us-central1", retries=2)


def test_custom_job_lifecycle_with_logs(fake_gcp, client):
    s = spec(spot=True, workers=1)
    job = client.create(s.kind, s.checked_body())
    name = job["name"]
    assert name.startswith("projects/my-proj/locations/us-central1/customJobs/")
    assert job["state"] == "JOB_STATE_QUEUED"
    verb, path, body = fake_gcp.requests[-1]
    assert (verb, path) == ("POST", "/v1/projects/my-proj/locations/us-central1/customJobs")
    assert body["jobSpec"]["scheduling"]["strategy"] == "SPOT"
    lines = []
    final = client.follow(name, lines.append, interval=0)
    assert final["state"] == "JOB_STATE_SUCCEEDED"
    texts = [line.text for line in lines]
    assert texts[0] == "Waiting for job to be provisioned." and texts[-1] == "Job completed successfully."
    assert [t for t in texts if t.startswith("step")] == ["step 100 loss 9.00", "step 200 loss 8.00", "step 300 loss 7.00"]
    assert len({line.insert_id for line in lines}) == len(lines)  # no line twice
    assert lines[2].replica == "workerpool0-0"
    logging_calls = [b for v, p, b in fake_gcp.requests if p == "/v2/entries:list"]
    assert logging_calls and all(f'resource.labels.job_id="{vertex.job_id(name)}"' in b["filter"] for b in logging_calls)
    assert client.log_lines(name)[-1].text == "Job completed successfully."


def test_tuning_job_list_status_and_cancel(fake_gcp, client):
    custom = client.create("CustomJob", spec().checked_body())
    tuning_spec = spec(study=STUDY, max_trial_count=2, parallel_trial_count=2)
    tuning = client.create(tuning_spec.kind, tuning_spec.checked_body())
    assert "/hyperparameterTuningJobs/" in tuning["name"]
    listed = client.list()
    assert {j["name"] for j in listed} == {custom["name"], tuning["name"]}
    assert client.resolve(vertex.job_id(tuning["name"])) == tuning["name"]
    client.get(tuning["name"])
    client.get(tuning["name"])  # queued -> pending -> running
    assert client.get(tuning["name"])["trials"]
    client.cancel(tuning["name"])
    assert client.get(tuning["name"])["state"] == "JOB_STATE_CANCELLED"
    with pytest.raises(CloudError, match="Cannot cancel job"):
        client.cancel(tuning["name"])


def test_resolve_unknown_id(fake_gcp, client):
    with pytest.raises(CloudError) as err:
        client.resolve("123")
    assert "no job 123 in project my-proj, region us-central1" in str(err.value)
    with pytest.raises(InputError, match="is not a job id"):  # a name the user typed: bad input (2)
        client.resolve("my-job")


def test_the_server_validates_like_the_service(fake_gcp, client):
    with pytest.raises(CloudError) as err:
        client.create("CustomJob", {"displayName": "x", "jobSpec": {"workerPoolSpecs": [{"replicaCount": "x1"}]}})
    assert "refused the request" in str(err.value)  # the local Vertex AI's own rules (tests/cloud/vertex_rules.py)
    assert "jobSpec.workerPoolSpecs[0].machineSpec.machineType: Required in a worker pool" in str(err.value)


def test_retries_on_429_and_5xx(fake_gcp, client):
    job = client.create("CustomJob", spec().checked_body())
    before = len(fake_gcp.requests)
    fake_gcp.inject(429)
    fake_gcp.inject(503)
    assert client.get(job["name"])["name"] == job["name"]
    assert len(fake_gcp.requests) - before == 3  # two refusals, then the answer


@pytest.mark.parametrize("status, message, reason, expected, fix", [
    (429, "Quota exceeded for aiplatform.googleapis.com/custom_model_training_nvidia_t4_gpus", "RESOURCE_EXHAUSTED",
     "quota exceeded while submitting", "ask for more quota"),
    (403, "Vertex AI API has not been used in project my-proj before or it is disabled.", "PERMISSION_DENIED",
     "aiplatform.googleapis.com is not enabled", "gcloud services enable aiplatform.googleapis.com --project my-proj"),
    (403, "Permission 'aiplatform.customJobs.create' denied", "PERMISSION_DENIED",
     "permission denied while submitting", "roles/aiplatform.user"),
    (404, "Project my-proj not found", "NOT_FOUND", "not found while submitting", "check the project id, the region"),
    (500, "Internal error", "INTERNAL", "HTTP 500, after 2 retries", "retry in a few minutes"),
])
def test_refusals_say_what_to_do(fake_gcp, client, status, message, reason, expected, fix):
    fake_gcp.inject(status, times=3 if status in (429, 500) else 1, message=message, reason=reason)
    with pytest.raises(CloudError) as err:
        client.create("CustomJob", spec().checked_body())
    assert expected in err.value.message and fix in err.value.fix
    assert fake_gcp.jobs == {}  # nothing was created


def test_unreachable_endpoint(monkeypatch):
    from tests.conftest import free_port

    monkeypatch.setenv("DDSP_LAUNCH_VERTEX_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("DDSP_LAUNCH_LOGGING_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    client = vertex.Vertex("my-proj", "us-central1", retries=0)
    with pytest.raises(CloudError, match="cannot reach http://127.0.0.1"):
        client.list()


def test_no_credentials(monkeypatch, tmp_path):
    """Against Google's real endpoints without Application Default Credentials: a clear error, no call."""
    for name in ("DDSP_LAUNCH_VERTEX_ENDPOINT", "DDSP_LAUNCH_LOGGING_ENDPOINT", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")  # no metadata server either
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    with pytest.raises(CloudError) as err:
        vertex.Vertex("my-proj", "us-central1")
    assert "no Google Cloud credentials" in err.value.message
    assert "gcloud auth application-default login" in err.value.fix


def test_console_url():
    assert vertex.console_url("projects/p/locations/europe-west4/hyperparameterTuningJobs/42") == (
        "https://console.cloud.google.com/vertex-ai/locations/europe-west4/training/hyperparameter-tuning-jobs/42?project=p")


def test_requests_go_to_the_regional_endpoint(monkeypatch):
    from google.auth.credentials import AnonymousCredentials

    monkeypatch.delenv("DDSP_LAUNCH_VERTEX_ENDPOINT", raising=False)
    monkeypatch.delenv("DDSP_LAUNCH_LOGGING_ENDPOINT", raising=False)
    client = vertex.Vertex("my-proj", "europe-west4", credentials=AnonymousCredentials())
    request = client._collection("customJobs").create(parent=client.parent, body={"displayName": "x"})  # built, not sent
    assert request.uri.startswith("https://europe-west4-aiplatform.googleapis.com/v1/projects/my-proj/locations/europe-west4/customJobs")
    assert request.method == "POST"
    logs = client._logging.entries().list(body={"filter": "x"})
    assert logs.uri.startswith("https://logging.googleapis.com/v2/entries:list")
