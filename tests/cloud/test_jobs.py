"""Vertex AI request bodies from settings: shapes, and every refusal before submission (all
made in one place, launch/resolve.py, for every door)."""

from __future__ import annotations

import pytest

from ddsp_launch.cloud import discovery
from ddsp_launch.cloud.study import parse
from ddsp_launch.common import tfrecord
from ddsp_launch.common.errors import InputError
from tests.cloud.vertex_requests import direct, request

STUDY = """\
studySpec:
  metrics: [{metricId: METRIC, goal: MINIMIZE}]
  parameters:
    - {parameterId: learning_rate, doubleValueSpec: {minValue: 1.0e-4, maxValue: 1.0e-2}, scaleType: UNIT_LOG_SCALE}
  algorithm: RANDOM_SEARCH
"""


@pytest.fixture(scope="module")
def schema():
    return discovery.RequestSchema()


def study_file(tmp_path, text: str = STUDY, metric: str = "Loss") -> str:
    path = tmp_path / "study.yaml"
    path.write_text(text.replace("METRIC", metric))
    return str(path)


def test_single_machine_job(schema):
    r = request(batch_size=16, learning_rate=1e-4, num_steps=40000)
    body = r.checked_body()
    assert r.kind == "CustomJob" and r.target.region == "us-central1"
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
    r = request(workers=3, worker_machine_type="n1-highcpu-32", worker_accelerator="NVIDIA_TESLA_T4:2", spot=True,
                timeout_hours=12, service_account="trainer@my-proj.iam.gserviceaccount.com", label=["instrument=violin"])
    job = r.checked_body()["jobSpec"]
    assert [p["replicaCount"] for p in job["workerPoolSpecs"]] == ["1", "3"]
    assert job["workerPoolSpecs"][1]["machineSpec"]["acceleratorCount"] == 2
    assert job["workerPoolSpecs"][0]["containerSpec"] == job["workerPoolSpecs"][1]["containerSpec"]
    assert job["scheduling"] == {"strategy": "SPOT", "restartJobOnWorkerRestart": True, "timeout": "43200s"}
    assert job["serviceAccount"] == "trainer@my-proj.iam.gserviceaccount.com"
    assert r.body()["labels"]["instrument"] == "violin"


def test_tuning_job(schema, tmp_path):
    r = request(study=study_file(tmp_path), max_trials=6, parallel_trials=3)
    body = r.checked_body()
    assert r.kind == "HyperparameterTuningJob"
    assert body["studySpec"]["metrics"] == [{"metricId": "Loss", "goal": "MINIMIZE"}]
    assert body["maxTrialCount"] == 6 and body["parallelTrialCount"] == 3
    args = body["trialJobSpec"]["workerPoolSpecs"][0]["containerSpec"]["args"]
    assert "--hypertune" in args and "--hypertune_metric=Loss" in args
    assert not any(a.startswith("--learning_rate") for a in args)  # Vertex passes the trial's value
    assert "--batch_size=32" in args
    assert schema.errors("HyperparameterTuningJob", body) == []


def test_metric_id_is_the_tag_the_trainer_reports(tmp_path):
    assert "--hypertune_metric=total_loss" in request(study=study_file(tmp_path, metric="total_loss")).trainer_args()


def test_data_on_this_machine_is_read_from_the_uploaded_dataset(tmp_path):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "train.tfrecord-00000-of-00001").write_bytes(tfrecord.frame(b"\x0a\x00"))
    r = request(data=str(tmp_path / "ds"))
    args = r.body()["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["args"]
    assert args[0] == "--file_pattern=gs://ddsp-data/runs/v1/dataset/train.tfrecord*"


def test_gcloud_equivalent(tmp_path):
    text = request(spot=True).gcloud_command()
    assert "gcloud ai custom-jobs create --project=my-proj --region=us-central1" in text
    assert "--config=ddsp-job.yaml" in text and "strategy: SPOT" in text
    tuned = request(study=study_file(tmp_path)).gcloud_command()
    assert "gcloud ai hp-tuning-jobs create" in tuned and "--max-trial-count=4" in tuned and "studySpec:" in tuned


def test_rendering_from_a_spec_made_by_hand():
    r = direct(workers=1, spot=True)
    assert [p["replicaCount"] for p in r.checked_body()["jobSpec"]["workerPoolSpecs"]] == ["1", "1"]


@pytest.mark.parametrize("flags, message", [
    (dict(project="My_Project"), "'My_Project' is not a Google Cloud project id"),
    (dict(region="us-central9"), "'us-central9' is not a Vertex AI region"),
    (dict(data="data/no-such-dataset"), "no data at"),
    (dict(output="runs/v1"), "output '"),
    (dict(output="gs://A_B/x"), "'A_B' is not a valid bucket name"),
    (dict(image="ddsp-launch:cpu-0123"), "is not in a registry Vertex AI can pull from"),
    (dict(image="gcr.io/my-proj/ddsp:1"), "Container Registry"),
    (dict(image=None), "needs a pushed image"),
    (dict(accelerator="NVIDIA_TESLA_K80:1"), "K80"),
    (dict(workers=2, worker_accelerator="NVIDIA_TESLA_T4:3"), "worker pool: 3 x NVIDIA_TESLA_T4 is not offered"),
    (dict(workers=-1), "workers must be >= 0"),
    (dict(timeout_hours=0.0), "--timeout-hours must be > 0"),
    (dict(service_account="me@example.com"), "is not a service account e-mail"),
    (dict(label=["Instrument=violin"]), "label Instrument=violin is not allowed"),
    (dict(label=["instrument"]), "--label 'instrument' is not KEY=VALUE"),
    (dict(learning_rate=2.0), "learning-rate must be between 0 and 1"),
    (dict(STUDY=True, max_trials=2, parallel_trials=3), "parallelTrialCount 3 exceeds maxTrialCount 2"),
    (dict(STUDY="metrics: []"), "needs exactly one metric"),
    (dict(STUDY="parameterId: dropout"), "'dropout' is not a trainer flag"),
    (dict(STUDY="minValue: 1.0e-4"), "a log scale needs minValue > 0"),
    (dict(STUDY="algorithm: GRID_SEARCH"), "grid search cannot enumerate the continuous parameter learning_rate"),
])
def test_refusals(tmp_path, flags, message):
    change = flags.pop("STUDY", None)
    if change:
        text = STUDY
        if isinstance(change, str) and change.startswith("metrics"):
            text = "studySpec:\n  metrics: []\n" + STUDY.split("\n", 2)[2]
        elif isinstance(change, str) and change.startswith("parameterId"):
            text = STUDY.replace("parameterId: learning_rate", change)
        elif isinstance(change, str) and change.startswith("minValue"):
            text = STUDY.replace("minValue: 1.0e-4", "minValue: 0")
        elif isinstance(change, str):
            text = STUDY.replace("algorithm: RANDOM_SEARCH", change)
        flags["study"] = study_file(tmp_path, text)
    with pytest.raises(InputError) as err:
        request(**flags)
    assert message in str(err.value)


def test_a_study_and_a_fixed_trainer_flag_clash(tmp_path):
    with pytest.raises(InputError, match="learning_rate is both tuned and fixed"):
        request(study=study_file(tmp_path), extra_args=("--learning_rate=0.1",))


def test_missing_required_values_name_the_flags():
    with pytest.raises(InputError, match="missing --project"):
        request(project=None)
    with pytest.raises(InputError, match="missing --data, --output"):
        request(data=None, output=None)


def test_the_study_the_request_holds_is_the_one_the_trials_use(tmp_path):
    r = request(study=study_file(tmp_path))
    trials = parse(r.target.study).trials(3, seed=1)
    assert all(1e-4 <= t["learning_rate"] <= 1e-2 for t in trials)
