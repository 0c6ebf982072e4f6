"""Vertex AI request bodies from a spec: shapes, and every validation error before submission."""

from __future__ import annotations

import dataclasses

import pytest

from ddsp_launch.cloud import discovery, jobs
from ddsp_launch.cloud.machines import Machine
from ddsp_launch.common.errors import InputError
from ddsp_launch.spec import TrainingParams

IMAGE = "us-central1-docker.pkg.dev/my-proj/ddsp/trainer@sha256:" + "a" * 64
STUDY = {
    "metrics": [{"metricId": "Loss", "goal": "MINIMIZE"}],
    "parameters": [{"parameterId": "learning_rate", "doubleValueSpec": {"minValue": 1e-4, "maxValue": 1e-2}, "scaleType": "UNIT_LOG_SCALE"}],
    "algorithm": "RANDOM_SEARCH",
}


def spec(**kw) -> jobs.CloudJobSpec:
    base = dict(project="my-proj", image=IMAGE, data="gs://ddsp-data/violin", output="gs://ddsp-data/runs/v1")
    return jobs.from_sources(None, **{**base, **kw})


@pytest.fixture(scope="module")
def schema():
    return discovery.RequestSchema()


def test_single_machine_job(schema):
    s = spec(params=TrainingParams(batch_size=16, learning_rate=1e-4, num_steps=40000)).validate()
    body = s.checked_body()
    assert s.kind == "CustomJob" and s.region == "us-central1"
    pools = body["jobSpec"]["workerPoolSpecs"]
    assert len(pools) == 1 and pools[0]["replicaCount"] == "1"
    assert pools[0]["machineSpec"] == {"machineType": "n1-standard-8", "acceleratorType": "NVIDIA_TESLA_T4", "acceleratorCount": 1}
    args = pools[0]["containerSpec"]["args"]
    assert args[0] == "--file_pattern=gs://ddsp-data/violin/train.tfrecord*"
    assert "--batch_size=16" in args and "--learning_rate=0.0001" in args and "--num_steps=40000" in args
    assert not any(a.startswith(("--save_dir", "--hypertune")) for a in args)  # Vertex's AIP_* dirs decide
    assert body["jobSpec"]["baseOutputDirectory"] == {"outputUriPrefix": "gs://ddsp-data/runs/v1"}
    assert "scheduling" not in body["jobSpec"]
    assert body["labels"] == {"app": "ddsp-launch"}
    assert schema.errors("CustomJob", body) == []


def test_multi_worker_spot_job():
    s = spec(worker_count=3, worker=Machine("n1-highcpu-32", "NVIDIA_TESLA_T4", 2), spot=True, timeout="43200s",
             service_account="trainer@my-proj.iam.gserviceaccount.com", labels=(("instrument", "violin"),)).validate()
    job = s.checked_body()["jobSpec"]
    assert [p["replicaCount"] for p in job["workerPoolSpecs"]] == ["1", "3"]
    assert job["workerPoolSpecs"][1]["machineSpec"]["acceleratorCount"] == 2
    assert job["workerPoolSpecs"][0]["containerSpec"] == job["workerPoolSpecs"][1]["containerSpec"]
    assert job["scheduling"] == {"strategy": "SPOT", "restartJobOnWorkerRestart": True, "timeout": "43200s"}
    assert job["serviceAccount"] == "trainer@my-proj.iam.gserviceaccount.com"
    assert s.body()["labels"]["instrument"] == "violin"


def test_tuning_job(schema):
    s = spec(study=STUDY, max_trial_count=6, parallel_trial_count=3).validate()
    body = s.checked_body()
    assert s.kind == "HyperparameterTuningJob"
    assert body["studySpec"] == STUDY and body["maxTrialCount"] == 6 and body["parallelTrialCount"] == 3
    args = body["trialJobSpec"]["workerPoolSpecs"][0]["containerSpec"]["args"]
    assert "--hypertune" in args and "--hypertune_metric=Loss" in args
    assert not any(a.startswith("--learning_rate") for a in args)  # Vertex passes the trial's value
    assert "--batch_size=32" in args
    assert schema.errors("HyperparameterTuningJob", body) == []


def test_metric_id_is_the_tag_the_trainer_reports():
    study = {**STUDY, "metrics": [{"metricId": "total_loss", "goal": "MINIMIZE"}]}
    args = spec(study=study).validate().trainer_args()
    assert "--hypertune_metric=total_loss" in args


def test_gcloud_equivalent():
    text = spec(spot=True).validate().gcloud_command()
    assert "gcloud ai custom-jobs create --project=my-proj --region=us-central1" in text
    assert "--config=ddsp-job.yaml" in text and "strategy: SPOT" in text
    tuned = spec(study=STUDY).validate().gcloud_command()
    assert "gcloud ai hp-tuning-jobs create" in tuned and "--max-trial-count=4" in tuned and "studySpec:" in tuned


@pytest.mark.parametrize("changes, message", [
    (dict(project="My_Project"), "'My_Project' is not a Google Cloud project id"),
    (dict(region="us-central9"), "'us-central9' is not a Vertex AI region"),
    (dict(data="data/violin-dataset"), "data 'data/violin-dataset' is on this machine"),
    (dict(output="runs/v1"), "output 'runs/v1' is on this machine"),
    (dict(output="gs://A_B/x"), "'A_B' is not a valid bucket name"),
    (dict(image="ddsp-launch:cpu-0123"), "is not in a registry Vertex AI can pull from"),
    (dict(image="gcr.io/my-proj/ddsp:1"), "Container Registry"),
    (dict(primary=Machine("n1-standard-8", "NVIDIA_TESLA_K80", 1)), "K80"),
    (dict(worker_count=2, worker=Machine("n1-standard-8", "NVIDIA_TESLA_T4", 3)), "worker pool: 3 x NVIDIA_TESLA_T4 is not offered"),
    (dict(timeout="2h"), "timeout '2h' is not a duration"),
    (dict(service_account="me@example.com"), "is not a service account e-mail"),
    (dict(labels=(("Instrument", "violin"),)), "label Instrument=violin is not allowed"),
    (dict(params=TrainingParams(learning_rate=2.0)), "learning-rate must be between 0 and 1"),
    (dict(study=STUDY, max_trial_count=2, parallel_trial_count=3), "parallelTrialCount 3 exceeds maxTrialCount 2"),
    (dict(study=STUDY, extra_args=("--learning_rate=0.1",)), "learning_rate is both tuned and fixed"),
    (dict(study={**STUDY, "metrics": []}), "needs exactly one metric"),
    (dict(study={**STUDY, "parameters": [{"parameterId": "dropout", "doubleValueSpec": {"minValue": 0, "maxValue": 1}}]}),
     "'dropout' is not a trainer flag"),
    (dict(study={**STUDY, "parameters": [{"parameterId": "learning_rate", "doubleValueSpec": {"minValue": 0, "maxValue": 1e-2},
                                          "scaleType": "UNIT_LOG_SCALE"}]}), "a log scale needs minValue > 0"),
    (dict(study={**STUDY, "algorithm": "GRID_SEARCH"}), "grid search cannot enumerate the continuous parameter learning_rate"),
])
def test_validation_errors(changes, message):
    with pytest.raises(InputError) as err:
        dataclasses.replace(spec(), **changes).validate()
    assert message in str(err.value)


def test_missing_required_values_name_the_flags():
    with pytest.raises(InputError, match="missing --project, --image"):
        jobs.from_sources(None, data="gs://ddsp-data/x", output="gs://ddsp-data/y")
