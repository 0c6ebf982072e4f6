"""Job config files: Vertex AI's own YAML forms and the legacy AI Platform `trainingInput`.

Three shapes are read, told apart by their top-level keys:
- a CustomJobSpec (`workerPoolSpecs`, `scheduling`, ...), what `gcloud ai custom-jobs
  create --config` takes;
- a tuning config (`studySpec`, `maxTrialCount`, `parallelTrialCount`, optional
  `trialJobSpec`), what `gcloud ai hp-tuning-jobs create --config` takes;
- AI Platform Training's `trainingInput` (the original DDSP-Docker configs), converted to
  the Vertex equivalent, every mapping explained in `JobConfig.notes`.
Each is checked against the discovery document's schema before anything else reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ddsp_launch.cloud import discovery
from ddsp_launch.cloud.machines import Machine, check as check_machine
from ddsp_launch.common.errors import InputError


def load_yaml(path: Path) -> object:
    """YAML with 1.2 numbers: `3e-4` is a float (PyYAML's 1.1 resolver reads it as a string)."""
    import yaml  # noqa: PLC0415

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
        list("-+0123456789"),
    )
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"cannot read config file {path}: {exc.strerror}", "give the path of a YAML file") from None
    try:
        return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise InputError(f"{path} is not valid YAML: {exc}", "check the indentation near the line named") from None


@dataclass
class JobConfig:
    """What a config file says about the job's machines, scheduling and tuning."""

    kind: str
    primary: Machine | None = None
    worker_count: int = 0
    worker: Machine | None = None
    scheduling: dict = field(default_factory=dict)
    service_account: str | None = None
    image: str | None = None
    extra_args: tuple[str, ...] = ()
    output: str | None = None
    study: dict | None = None
    max_trial_count: int | None = None
    parallel_trial_count: int | None = None
    max_failed_trial_count: int | None = None
    region: str | None = None
    notes: list[str] = field(default_factory=list)


def read(path: Path) -> JobConfig:
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise InputError(f"{path} holds no mapping", "see configs/ for examples")
    if "trainingInput" in data:
        return from_legacy(data["trainingInput"], path)
    if "studySpec" in data or "trialJobSpec" in data:
        return from_tuning(data, path)
    if "workerPoolSpecs" in data or "scheduling" in data or "jobSpec" in data:
        return from_custom_job_spec(data.get("jobSpec", data), path)
    raise InputError(
        f"{path}: not a job config (top-level keys: {', '.join(map(str, data)) or 'none'})",
        "expected workerPoolSpecs (custom job), studySpec (tuning) or trainingInput (AI Platform); see configs/",
    )


def from_custom_job_spec(spec: dict, path: Path | str, kind: str = "Vertex AI CustomJobSpec") -> JobConfig:
    discovery.request_schema().check("CustomJobSpec", spec, f"{kind} in {path}", partial=True)  # the image comes from --image
    cfg = JobConfig(kind=kind)
    pools = spec.get("workerPoolSpecs") or []
    if len(pools) > 2:
        raise InputError(f"{path}: {len(pools)} worker pools", "ddsp training uses a primary pool and at most one worker pool (no parameter servers)")
    if pools:
        cfg.primary = _machine(pools[0].get("machineSpec") or {}, path, "workerPoolSpecs[0]")
        if int(pools[0].get("replicaCount", 1)) != 1:
            raise InputError(f"{path}: workerPoolSpecs[0].replicaCount must be 1 (the chief)", "put further machines in workerPoolSpecs[1]")
        container = pools[0].get("containerSpec") or {}
        cfg.image = container.get("imageUri")
        cfg.extra_args = tuple(container.get("args") or ())
    if len(pools) == 2:
        cfg.worker_count = int(pools[1].get("replicaCount", 0))
        cfg.worker = _machine(pools[1].get("machineSpec") or {}, path, "workerPoolSpecs[1]")
    cfg.scheduling = dict(spec.get("scheduling") or {})
    cfg.service_account = spec.get("serviceAccount")
    cfg.output = (spec.get("baseOutputDirectory") or {}).get("outputUriPrefix")
    return cfg


def _machine(spec: dict, path, where: str) -> Machine:
    if "machineType" not in spec:
        raise InputError(f"{path}: {where}.machineSpec.machineType is missing", "e.g. machineType: n1-standard-8")
    return check_machine(Machine(spec["machineType"], spec.get("acceleratorType"), int(spec.get("acceleratorCount", 0))), where)


def from_tuning(data: dict, path: Path | str) -> JobConfig:
    allowed = {"studySpec", "trialJobSpec", "maxTrialCount", "parallelTrialCount", "maxFailedTrialCount", "displayName", "labels"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InputError(f"{path}: unknown key(s) {', '.join(unknown)}", "a tuning config holds: " + ", ".join(sorted(allowed)))
    trial = data.get("trialJobSpec")
    cfg = from_custom_job_spec(trial, path, "Vertex AI tuning config") if trial else JobConfig(kind="Vertex AI tuning config")
    discovery.request_schema().check("StudySpec", data.get("studySpec"), f"studySpec in {path}")
    cfg.study = data.get("studySpec")
    for key in ("maxTrialCount", "parallelTrialCount", "maxFailedTrialCount"):
        if key in data:
            value = data[key]
            if not isinstance(value, int) or value < 1:
                raise InputError(f"{path}: {key} must be a positive integer, got {value!r}")
            setattr(cfg, re.sub(r"([A-Z])", r"_\1", key).lower(), value)
    return cfg


# ---- AI Platform Training (ml.googleapis.com, shut down 2025-01-31) -> Vertex AI ---------------

_SCALE_TIERS = {
    "BASIC": (Machine("n1-standard-4"), "scaleTier BASIC -> one n1-standard-4"),
    "BASIC_GPU": (Machine("n1-standard-8", "NVIDIA_TESLA_T4", 1),
                  "scaleTier BASIC_GPU (one K80) -> n1-standard-8 + 1 x NVIDIA_TESLA_T4 (K80s are retired)"),
}
_LEGACY_KEYS = {
    "scaleTier", "masterType", "masterConfig", "workerType", "workerConfig", "workerCount",
    "parameterServerType", "parameterServerConfig", "parameterServerCount", "useChiefInTfConfig",
    "hyperparameters", "region", "jobDir", "args", "runtimeVersion", "pythonVersion", "scheduling",
    "serviceAccount",
}
_PARAM_TYPES = {"DOUBLE": "doubleValueSpec", "INTEGER": "integerValueSpec", "DISCRETE": "discreteValueSpec", "CATEGORICAL": "categoricalValueSpec"}


def from_legacy(ti: object, path: Path | str) -> JobConfig:
    if not isinstance(ti, dict):
        raise InputError(f"{path}: trainingInput holds no mapping")
    unknown = sorted(set(ti) - _LEGACY_KEYS)
    if unknown:
        raise InputError(f"{path}: trainingInput has unknown key(s) {', '.join(unknown)}",
                         "AI Platform fields understood: " + ", ".join(sorted(_LEGACY_KEYS)))
    cfg = JobConfig(kind="AI Platform trainingInput (legacy)")
    say = cfg.notes.append
    say("AI Platform Training was shut down on 2025-01-31; this config is converted to a Vertex AI job:")
    tier = ti.get("scaleTier", "BASIC")
    if tier in _SCALE_TIERS:
        cfg.primary, note = _SCALE_TIERS[tier]
        say(note)
    elif tier != "CUSTOM":
        raise InputError(f"{path}: scaleTier {tier} has no Vertex AI equivalent",
                         "write scaleTier: CUSTOM with masterType (and masterConfig.acceleratorConfig), or use configs/single-gpu.yaml")
    if tier == "CUSTOM":
        if "masterType" not in ti:
            raise InputError(f"{path}: scaleTier CUSTOM needs masterType", "e.g. masterType: n1-standard-8")
        cfg.primary = _legacy_machine(ti["masterType"], ti.get("masterConfig"), path, "master")
        say(f"masterType {ti['masterType']} + masterConfig.acceleratorConfig -> workerPoolSpecs[0] (1 replica): {cfg.primary.describe()}")
        image = (ti.get("masterConfig") or {}).get("imageUri")
        if image:
            cfg.image = image
            say(f"masterConfig.imageUri -> containerSpec.imageUri {image}")
    count = int(ti.get("workerCount", 0) or 0)
    if count:
        if "workerType" not in ti:
            raise InputError(f"{path}: workerCount {count} needs workerType", "e.g. workerType: n1-highcpu-32")
        cfg.worker_count = count
        cfg.worker = _legacy_machine(ti["workerType"], ti.get("workerConfig"), path, "worker")
        say(f"workerType/workerCount/workerConfig -> workerPoolSpecs[1]: {count} x ({cfg.worker.describe()})")
    if int(ti.get("parameterServerCount", 0) or 0):
        raise InputError(f"{path}: parameter servers are not used by ddsp training (MultiWorkerMirroredStrategy)",
                         "remove parameterServerType/parameterServerCount")
    if "useChiefInTfConfig" in ti:
        say("useChiefInTfConfig -> dropped: Vertex AI always names the primary 'chief' in TF_CONFIG, and the trainer accepts it")
    for key in ("runtimeVersion", "pythonVersion"):
        if key in ti:
            say(f"{key} -> dropped: the training image pins its own Python and TensorFlow")
    if "region" in ti:
        cfg.region = ti["region"]
        say(f"region -> the job's location {ti['region']}")
    if "jobDir" in ti:
        cfg.output = ti["jobDir"]
        say(f"jobDir -> baseOutputDirectory.outputUriPrefix {ti['jobDir']}")
    if ti.get("args"):
        cfg.extra_args = tuple(map(str, ti["args"]))
        say("args -> containerSpec.args (after the ones ddsp-launch sets)")
    if "serviceAccount" in ti:
        cfg.service_account = ti["serviceAccount"]
        say("serviceAccount -> jobSpec.serviceAccount")
    legacy_sched = ti.get("scheduling") or {}
    if "maxRunningTime" in legacy_sched:
        cfg.scheduling["timeout"] = legacy_sched["maxRunningTime"]
        say(f"scheduling.maxRunningTime -> scheduling.timeout {legacy_sched['maxRunningTime']}")
    if "hyperparameters" in ti:
        _legacy_tuning(ti["hyperparameters"], cfg, path)
    return cfg


def _legacy_machine(machine_type: str, config: dict | None, path, role: str) -> Machine:
    acc = (config or {}).get("acceleratorConfig") or {}
    gpu = acc.get("type")
    count = int(acc.get("count", 1 if gpu else 0))
    return check_machine(Machine(str(machine_type), gpu, count if gpu else 0), f"{path}: {role}")


def _legacy_tuning(hp: dict, cfg: JobConfig, path) -> None:
    say = cfg.notes.append
    goal = hp.get("goal")
    if goal not in ("MINIMIZE", "MAXIMIZE"):
        raise InputError(f"{path}: hyperparameters.goal must be MINIMIZE or MAXIMIZE, got {goal!r}")
    metric = hp.get("hyperparameterMetricTag") or "training/hptuning/metric"
    params = []
    for i, p in enumerate(hp.get("params") or []):
        kind = p.get("type")
        if kind not in _PARAM_TYPES:
            raise InputError(f"{path}: hyperparameters.params[{i}].type {kind!r} is unknown", "one of: " + ", ".join(_PARAM_TYPES))
        out: dict = {"parameterId": p.get("parameterName")}
        if kind in ("DOUBLE", "INTEGER"):
            out[_PARAM_TYPES[kind]] = {"minValue": p.get("minValue"), "maxValue": p.get("maxValue")}
            if kind == "INTEGER":  # int64 in Vertex's schema
                out[_PARAM_TYPES[kind]] = {k: str(int(v)) for k, v in out[_PARAM_TYPES[kind]].items() if v is not None}
        elif kind == "DISCRETE":
            out["discreteValueSpec"] = {"values": [float(v) for v in p.get("discreteValues") or []]}
        else:
            out["categoricalValueSpec"] = {"values": [str(v) for v in p.get("categoricalValues") or []]}
        if p.get("scaleType"):
            out["scaleType"] = p["scaleType"]
        params.append(out)
    study: dict = {"metrics": [{"metricId": metric, "goal": goal}], "parameters": params}
    algorithm = hp.get("algorithm")
    if algorithm:
        study["algorithm"] = algorithm
    say(f"hyperparameters.goal/hyperparameterMetricTag -> studySpec.metrics: {metric} ({goal})")
    say(f"hyperparameters.params ({len(params)}) -> studySpec.parameters (parameterName -> parameterId, "
        "discreteValues -> discreteValueSpec.values, minValue/maxValue -> doubleValueSpec/integerValueSpec)")
    if algorithm:
        say(f"hyperparameters.algorithm -> studySpec.algorithm {algorithm}")
    else:
        say("no algorithm -> Vertex AI's default (Bayesian optimisation), as AI Platform's was")
    if hp.get("enableTrialEarlyStopping"):
        study["decayCurveStoppingSpec"] = {"useElapsedDuration": False}
        say("enableTrialEarlyStopping -> studySpec.decayCurveStoppingSpec (stops trials whose curve lags)")
    for old, new in (("maxTrials", "max_trial_count"), ("maxParallelTrials", "parallel_trial_count"), ("maxFailedTrials", "max_failed_trial_count")):
        if old in hp:
            setattr(cfg, new, int(hp[old]))
            say(f"hyperparameters.{old} -> {re.sub(r'_([a-z])', lambda m: m.group(1).upper(), new)} {int(hp[old])}")
    discovery.request_schema().check("StudySpec", study, f"studySpec converted from {path}")
    cfg.study = study
