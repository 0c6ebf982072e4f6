"""Request validation against the bundled aiplatform v1 discovery document."""

from __future__ import annotations

import pytest

from ddsp_launch.cloud import discovery
from ddsp_launch.common.errors import InputError

GOOD = {
    "displayName": "ddsp",
    "jobSpec": {
        "workerPoolSpecs": [{
            "machineSpec": {"machineType": "n1-standard-8", "acceleratorType": "NVIDIA_TESLA_T4", "acceleratorCount": 1},
            "replicaCount": "1",
            "containerSpec": {"imageUri": "us-central1-docker.pkg.dev/p/r/i:t", "args": ["--num_steps=10"]},
        }],
        "scheduling": {"timeout": "3600s", "strategy": "SPOT"},
    },
}


@pytest.fixture(scope="module")
def schema():
    return discovery.RequestSchema()


def test_a_good_body_passes(schema):
    assert schema.errors("CustomJob", GOOD) == []


def test_regions_and_accelerators_come_from_the_document():
    regions = discovery.regions()
    assert "us-central1" in regions and "europe-west4" in regions
    assert len(regions) > 20
    assert "NVIDIA_TESLA_T4" in discovery.accelerator_types()
    assert "ACCELERATOR_TYPE_UNSPECIFIED" not in discovery.accelerator_types()


def test_unknown_region_names_neighbours():
    with pytest.raises(InputError) as err:
        discovery.check_region("us-central9")
    assert "'us-central9' is not a Vertex AI region" in str(err.value)
    assert "us-central1" in err.value.fix and "europe" not in err.value.fix


def test_unknown_accelerator():
    with pytest.raises(InputError, match="unknown accelerator type 'NVIDIA_TESLA_X'"):
        discovery.check_accelerator("NVIDIA_TESLA_X")


@pytest.mark.parametrize("mutate, expected", [
    (lambda b: b["jobSpec"]["workerPoolSpecs"][0]["containerSpec"].update(imageUrl="x"),
     "jobSpec.workerPoolSpecs[0].containerSpec: unknown field(s) imageUrl"),
    (lambda b: b["jobSpec"]["workerPoolSpecs"][0]["machineSpec"].update(acceleratorType="NVIDIA_TESLA_X"),
     "jobSpec.workerPoolSpecs[0].machineSpec.acceleratorType: 'NVIDIA_TESLA_X' is not one of"),
    (lambda b: b["jobSpec"]["workerPoolSpecs"][0]["machineSpec"].update(acceleratorCount="two"),
     "jobSpec.workerPoolSpecs[0].machineSpec.acceleratorCount: 'two' is not of type integer"),
    (lambda b: b["jobSpec"]["workerPoolSpecs"].append({**b["jobSpec"]["workerPoolSpecs"][0], "replicaCount": "1.5"}),
     "jobSpec.workerPoolSpecs[1].replicaCount: '1.5' is not an integer"),
    (lambda b: b["jobSpec"]["scheduling"].update(timeout="1h"),
     "jobSpec.scheduling.timeout: '1h' is not a duration"),
    (lambda b: b.update(state="JOB_STATE_RUNNING"), "state: is output only"),
    (lambda b: b.update(createTime="2026-01-01T00:00:00Z"), "createTime: is output only"),
    (lambda b: b["jobSpec"].update(workerPoolSpecs={}), "jobSpec.workerPoolSpecs: {} is not of type array"),
])
def test_each_kind_of_mistake_is_named(schema, mutate, expected):
    import copy

    body = copy.deepcopy(GOOD)
    mutate(body)
    errors = schema.errors("CustomJob", body)
    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_int64_accepts_numbers_and_decimal_strings(schema):
    import copy

    body = copy.deepcopy(GOOD)
    pools = body["jobSpec"]["workerPoolSpecs"]
    pools += [{**pools[0], "replicaCount": 3}, {**pools[0], "replicaCount": "3"}]
    assert schema.errors("CustomJob", body) == []


def test_check_raises_with_every_problem(schema):
    body = {"displayName": 5, "name": "x", "bogus": True}
    with pytest.raises(InputError) as err:
        schema.check("CustomJob", body)
    text = str(err.value)
    assert "displayName: 5 is not of type string" in text
    assert "name: is output only" in text
    assert "unknown field(s) bogus" in text
    assert "nothing was submitted" in text


def test_writable_strips_output_only_fields_recursively(schema):
    returned = {**GOOD, "name": "projects/p/locations/l/customJobs/1", "state": "JOB_STATE_FAILED",
                "createTime": "2026-01-01T00:00:00Z", "error": {"code": 13, "message": "boom"}}
    body = schema.writable("CustomJob", returned)
    assert body == GOOD
    assert schema.errors("CustomJob", body) == []
    tuning = {"displayName": "t", "trials": [{"id": "1"}], "state": "JOB_STATE_SUCCEEDED",
              "studySpec": {"metrics": [{"metricId": "Loss", "goal": "MINIMIZE"}]}, "maxTrialCount": 2}
    assert schema.writable("HyperparameterTuningJob", tuning) == {
        "displayName": "t", "studySpec": {"metrics": [{"metricId": "Loss", "goal": "MINIMIZE"}]}, "maxTrialCount": 2}


def test_logging_request_schema():
    logs = discovery.RequestSchema(discovery.LOGGING)
    assert logs.errors("ListLogEntriesRequest", {"resourceNames": ["projects/p"], "filter": "x", "pageSize": 10}) == []
    assert logs.errors("ListLogEntriesRequest", {"resourceNames": ["projects/p"], "filters": "x"}) == ["(body): unknown field(s) filters"]
    assert logs.errors("ListLogEntriesRequest", {"filter": "x"}) == [
        'resourceNames: required (the discovery document marks it "Required."), missing']


def test_required_fields_and_the_services_own_rules_are_named(schema):
    import copy

    assert schema.errors("CustomJob", {}) == [
        'displayName: required (the discovery document marks it "Required."), missing',
        'jobSpec: required (the discovery document marks it "Required."), missing']
    body = copy.deepcopy(GOOD)
    body["jobSpec"]["workerPoolSpecs"][0]["pythonPackageSpec"] = {"executorImageUri": "x", "packageUris": ["gs://b/p"],
                                                                 "pythonModule": "m"}
    [problem] = schema.errors("CustomJob", body)
    assert problem.startswith("jobSpec.workerPoolSpecs[0]: Vertex AI requires that a worker pool that is not empty runs "
                              "exactly one task") and "custom_job.proto" in problem  # the rule and its source
    assert schema.errors("CustomJobSpec", {"workerPoolSpecs": [{"machineSpec": {"machineType": "n1-standard-4"}}]},
                         partial=True) == []  # a config file's part: the image comes later
