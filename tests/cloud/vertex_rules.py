"""What Vertex AI refuses in a create request, written down for the local stand-in
(tests/cloud/fake_gcp.py) from Google's own documentation, not from ddsp-launch's checker
(ddsp_launch/cloud/discovery.py): the two are written apart, so that a mistake in one shows
up as a disagreement (tests/cloud/test_vertex_golden.py runs both over the same golden
requests in tests/cloud/golden/).

Every rule says where it is written. Sources:
  REST      https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.customJobs
            and .../projects.locations.hyperparameterTuningJobs (the field tables: "Required.")
  MACHINE   https://cloud.google.com/vertex-ai/docs/reference/rest/v1/MachineSpec
            ("For BatchPredictionJob or as part of WorkerPoolSpec this field is required.")
  PRIMARY   https://cloud.google.com/vertex-ai/docs/training/distributed-training
            ("You must specify a primary replica ... set its replicaCount to 1"; later pools may be {})
  ONEOF     google/cloud/aiplatform/v1/custom_job.proto (WorkerPoolSpec: oneof task) and
            study.proto (ParameterSpec: oneof parameter_value_spec)
  FIELDS    the aiplatform v1 discovery document bundled with google-api-python-client: the
            names each message has (the service answers "Unknown name" for any other)
"""

from __future__ import annotations

import functools
import json
import re

VALUE_SPECS = ("doubleValueSpec", "integerValueSpec", "discreteValueSpec", "categoricalValueSpec")
KINDS = {"CustomJob": "GoogleCloudAiplatformV1CustomJob",
         "HyperparameterTuningJob": "GoogleCloudAiplatformV1HyperparameterTuningJob"}


@functools.lru_cache(maxsize=None)
def document(api: str = "aiplatform", version: str = "v1") -> dict:
    from googleapiclient import discovery_cache

    return json.loads(discovery_cache.get_static_doc(api, version))


def problems(kind: str, body) -> list[tuple[str, str]]:
    """(path, what is wrong, with its source) for each rule ``body`` breaks, as a ``kind`` create request."""
    if not isinstance(body, dict):
        return [("(body)", "the request body must be a JSON object")]
    found = list(_unknown_names(KINDS[kind], body, ""))
    if not body.get("displayName"):
        found.append(("displayName", "Required (REST)"))
    elif len(body["displayName"]) > 128:
        found.append(("displayName", "at most 128 characters (REST)"))
    if kind == "CustomJob":
        found += _job_spec(body.get("jobSpec"), "jobSpec")
    else:
        for name in ("maxTrialCount", "parallelTrialCount"):
            if not _positive(body.get(name)):
                found.append((name, "Required, a number of trials (REST)"))
        found += _study(body.get("studySpec"), "studySpec")
        found += _job_spec(body.get("trialJobSpec"), "trialJobSpec")
    return found


def _job_spec(spec, where: str) -> list[tuple[str, str]]:
    if not isinstance(spec, dict):
        return [(where, "Required (REST)")]
    pools = spec.get("workerPoolSpecs")
    if not isinstance(pools, list) or not pools or not pools[0]:
        return [(f"{where}.workerPoolSpecs[0]", "Required: the primary replica's pool (PRIMARY)")]
    found = []
    if str(pools[0].get("replicaCount")) != "1":
        found.append((f"{where}.workerPoolSpecs[0].replicaCount", "must be 1: the primary replica (PRIMARY)"))
    for i, pool in enumerate(pools):
        at = f"{where}.workerPoolSpecs[{i}]"
        if not pool:
            continue  # an empty later pool is allowed (PRIMARY)
        if not (pool.get("machineSpec") or {}).get("machineType"):
            found.append((f"{at}.machineSpec.machineType", "Required in a worker pool (MACHINE)"))
        accelerator = (pool.get("machineSpec") or {}).get("acceleratorType")
        if accelerator is not None and accelerator not in _enum("GoogleCloudAiplatformV1MachineSpec", "acceleratorType"):
            found.append((f"{at}.machineSpec.acceleratorType", f"{accelerator!r} is no AcceleratorType (FIELDS)"))
        if i and not _positive(pool.get("replicaCount")):
            found.append((f"{at}.replicaCount", "a positive number of replicas (REST)"))
        tasks = [t for t in ("containerSpec", "pythonPackageSpec") if t in pool]
        if len(tasks) != 1:
            found.append((at, "exactly one of containerSpec, pythonPackageSpec (ONEOF)"))
        elif tasks == ["containerSpec"] and not pool["containerSpec"].get("imageUri"):
            found.append((f"{at}.containerSpec.imageUri", "Required: the container image to run (REST)"))
    prefix = (spec.get("baseOutputDirectory") or {}).get("outputUriPrefix")
    if "baseOutputDirectory" in spec and not str(prefix or "").startswith("gs://"):
        found.append((f"{where}.baseOutputDirectory.outputUriPrefix", "Required, a gs:// URI (REST)"))
    timeout = (spec.get("scheduling") or {}).get("timeout")
    if timeout is not None and not re.fullmatch(r"\d+(\.\d{1,9})?s", str(timeout)):
        found.append((f"{where}.scheduling.timeout", "a duration in seconds such as \"3600s\" (REST)"))
    return found


def _study(study, where: str) -> list[tuple[str, str]]:
    if not isinstance(study, dict):
        return [(where, "Required (REST)")]
    found = []
    metrics, parameters = study.get("metrics"), study.get("parameters")
    if not metrics:
        found.append((f"{where}.metrics", "Required: at least one metric (REST)"))
    for i, metric in enumerate(metrics or []):
        if not metric.get("metricId") or metric.get("goal") not in ("MAXIMIZE", "MINIMIZE"):
            found.append((f"{where}.metrics[{i}]", "a metricId and a goal, MAXIMIZE or MINIMIZE (REST)"))
    if not parameters:
        found.append((f"{where}.parameters", "Required: at least one parameter (REST)"))
    for i, parameter in enumerate(parameters or []):
        if not parameter.get("parameterId"):
            found.append((f"{where}.parameters[{i}].parameterId", "Required (REST)"))
        if sum(k in parameter for k in VALUE_SPECS) != 1:
            found.append((f"{where}.parameters[{i}]", f"exactly one of {', '.join(VALUE_SPECS)} (ONEOF)"))
    return found


def _positive(value) -> bool:
    try:
        return int(str(value)) >= 1
    except ValueError:
        return False


def _enum(schema: str, field: str) -> list[str]:
    return document()["schemas"][schema]["properties"][field].get("enum", [])


def _unknown_names(schema: str, value, where: str):
    """Field names the message does not have, anywhere in ``value`` (FIELDS)."""
    props = document()["schemas"][schema].get("properties", {})
    for key, item in value.items():
        at = f"{where}.{key}".lstrip(".")
        if key not in props:
            yield at, "Unknown name: the message has no such field (FIELDS)"
            continue
        ref = props[key].get("$ref") or props[key].get("items", {}).get("$ref")
        items = item if isinstance(item, list) else [item]
        for n, one in enumerate(items):
            if ref and isinstance(one, dict):
                yield from _unknown_names(ref, one, f"{at}[{n}]" if isinstance(item, list) else at)
