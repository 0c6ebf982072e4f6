"""Job config files: Vertex forms, and the original AI Platform configs converted."""

from __future__ import annotations

from pathlib import Path

import pytest

from ddsp_launch.cloud import config
from ddsp_launch.cloud.study import parse
from ddsp_launch.common.errors import InputError
from tests.cloud.vertex_requests import request

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "us-central1-docker.pkg.dev/my-proj/ddsp/trainer:gpu-1"


def submit_spec(name: str, **flags):
    """The request `ddsp-launch submit --job-config configs/NAME.yaml` makes."""
    return request(job_config=str(ROOT / "configs" / f"{name}.yaml"), image=IMAGE, **flags)


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(text)
    return path


def test_legacy_single_vm():
    cfg = config.read(ROOT / "configs/legacy/config_single_vm.yaml")
    body = submit_spec("legacy/config_single_vm").checked_body()
    (pool,) = body["jobSpec"]["workerPoolSpecs"]
    assert pool["machineSpec"] == {"machineType": "n1-highmem-8", "acceleratorType": "NVIDIA_TESLA_T4", "acceleratorCount": 1}
    assert any("masterType n1-highmem-8" in n and "workerPoolSpecs[0]" in n for n in cfg.notes)
    assert "shut down on 2025-01-31" in cfg.notes[0]


def test_legacy_multiple_vms():
    cfg = config.read(ROOT / "configs/legacy/config_multiple_vms.yaml")
    body = submit_spec("legacy/config_multiple_vms").checked_body()
    chief, workers = body["jobSpec"]["workerPoolSpecs"]
    assert chief["replicaCount"] == "1" and workers["replicaCount"] == "3"
    for pool in (chief, workers):
        assert pool["machineSpec"] == {"machineType": "n1-highcpu-32", "acceleratorType": "NVIDIA_TESLA_T4", "acceleratorCount": 2}
    assert body["jobSpec"]["scheduling"]["restartJobOnWorkerRestart"] is True
    assert any(n.startswith("useChiefInTfConfig -> dropped") for n in cfg.notes)
    assert any("workerPoolSpecs[1]: 3 x" in n for n in cfg.notes)


def test_legacy_hypertune():
    cfg = config.read(ROOT / "configs/legacy/config_hypertune.yaml")
    spec = submit_spec("legacy/config_hypertune")
    body = spec.checked_body()
    assert spec.kind == "HyperparameterTuningJob"
    assert body["maxTrialCount"] == 4 and body["parallelTrialCount"] == 4
    study = body["studySpec"]
    assert study["metrics"] == [{"metricId": "Loss", "goal": "MINIMIZE"}]
    (param,) = study["parameters"]
    # 3e-4 is a number here, although PyYAML's YAML 1.1 resolver would read a string
    assert param == {"parameterId": "learning_rate", "discreteValueSpec": {"values": [0.0001, 0.0003, 0.001, 0.01]}}
    assert "decayCurveStoppingSpec" in study
    pool = body["trialJobSpec"]["workerPoolSpecs"][0]
    assert pool["machineSpec"]["machineType"] == "n1-highmem-64" and pool["machineSpec"]["acceleratorCount"] == 4
    assert "--hypertune_metric=Loss" in pool["containerSpec"]["args"]
    assert any("maxParallelTrials -> parallelTrialCount 4" in n for n in cfg.notes)


@pytest.mark.parametrize("name", ["single-gpu", "multi-worker"])
def test_shipped_vertex_configs(name):
    cfg = config.read(ROOT / f"configs/{name}.yaml")
    assert cfg.notes == []
    submit_spec(name).checked_body()


def test_shipped_study_runs_on_both_sides():
    spec = request(study=str(ROOT / "configs/hypertune.yaml"), image=IMAGE)
    assert spec.checked_body()["maxTrialCount"] == 8
    trials = parse(spec.target.study).trials(3, seed=1)
    assert all(1e-4 <= t["learning_rate"] <= 1e-2 and t["batch_size"] in (8, 16, 32) for t in trials)


def test_basic_gpu_tier_maps_to_a_t4(tmp_path):
    cfg = config.read(write(tmp_path, "trainingInput:\n  scaleTier: BASIC_GPU\n"))
    assert cfg.primary.describe() == "n1-standard-8 + 1 x NVIDIA_TESLA_T4"
    assert any("K80s are retired" in n for n in cfg.notes)


@pytest.mark.parametrize("text, message", [
    ("trainingInput:\n  scaleTier: STANDARD_1\n", "scaleTier STANDARD_1 has no Vertex AI equivalent"),
    ("trainingInput:\n  scaleTier: CUSTOM\n", "scaleTier CUSTOM needs masterType"),
    ("trainingInput:\n  scaleTier: CUSTOM\n  masterType: n1-standard-8\n  parameterServerCount: 2\n  parameterServerType: n1-standard-4\n",
     "parameter servers are not used"),
    ("trainingInput:\n  scaleTier: CUSTOM\n  masterType: n1-standard-8\n  workerCount: 2\n", "workerCount 2 needs workerType"),
    ("trainingInput:\n  scaleTier: CUSTOM\n  masterTyp: n1-standard-8\n", "unknown key(s) masterTyp"),
    ("trainingInput:\n  scaleTier: CUSTOM\n  masterType: n1-standard-8\n  masterConfig:\n    acceleratorConfig: {count: 1, type: NVIDIA_TESLA_K80}\n",
     "K80"),
    ("trainingInput:\n  hyperparameters:\n    goal: LOWER\n", "goal must be MINIMIZE or MAXIMIZE"),
    ("workerPoolSpecs:\n  - machineSpec: {machineType: n1-standard-8, acceleratorType: NVIDIA_T4}\n", "'NVIDIA_T4' is not one of"),
    ("workerPoolSpecs:\n  - machineSpec: {machineType: n1-standard-8}\n    replicas: 2\n", "unknown field(s) replicas"),
    ("scheduling: {timeout: 2h}\n", "'2h' is not a duration"),
    ("studySpec:\n  metrics: [{metricId: Loss, goal: MINIMIZE}]\n  parameters: [{parameterId: lr, doubleValueSpec: {min: 1}}]\n",
     "unknown field(s) min"),
    ("maxTrials: 3\n", "not a job config"),
    ("workerPoolSpecs: [\n", "is not valid YAML"),
])
def test_config_errors(tmp_path, text, message):
    with pytest.raises(InputError) as err:
        config.read(write(tmp_path, text))
    assert message in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="cannot read config file"):
        config.read(tmp_path / "nope.yaml")


def test_flags_override_the_config():
    target = submit_spec("multi-worker", workers=1, spot=False, region="europe-west4").target
    assert target.workers == 1 and not target.spot and target.region == "europe-west4"
    target = submit_spec("multi-worker").target  # what the settings leave at their defaults, the file says
    assert target.workers == 3 and target.spot and target.primary.machine_type != "n1-standard-8"


def test_a_job_config_given_as_a_settings_file_says_which_flag_takes_it(tmp_path):
    from ddsp_launch.launch import settings as st

    with pytest.raises(InputError) as err:
        st.read_config(ROOT / "configs/single-gpu.yaml")
    assert "is a Vertex AI job config, not a settings file" in err.value.message and "--job-config" in err.value.fix


def test_what_a_job_config_chose_is_kept_by_a_settings_file_and_a_rerun(tmp_path):
    """Its machines, workers and spot become the run's settings (origin "job config"): saved,
    replayed or printed, the run is the same job, and a setting given over it still wins."""
    from ddsp_launch.launch import launcher, resolve
    from ddsp_launch.launch import settings as st
    from tests.cloud.vertex_requests import BASE

    flags = {**BASE, "image": IMAGE, "job_config": str(ROOT / "configs/multi-worker.yaml")}
    s = resolve.settings(flags, None, {})
    assert (s.machine_type, s.accelerator, s.workers, s.spot) == ("n1-highcpu-32", "NVIDIA_TESLA_T4:2", 3, True)
    assert s.origin["machine_type"] == "job config" and "--machine-type n1-highcpu-32" in s.command_line()
    first = launcher.check(s).plan.body()
    saved = st.save(s, tmp_path / "run.yaml")
    assert launcher.check(resolve.settings({}, saved, {})).plan.body() == first
    record = {"settings": s.values, "origin": s.origin}
    assert launcher.check(resolve.finalize(st.from_record(record))).plan.body() == first
    mine = resolve.settings({**flags, "workers": 1}, None, {"DDSP_LAUNCH_SPOT": "false"})
    assert (mine.workers, mine.spot, mine.machine_type) == (1, False, "n1-highcpu-32")
