"""The Google API discovery documents bundled with google-api-python-client, as validators.

The client library sends whatever body it is given; these documents say what the service
accepts. `RequestSchema` turns a document's schemas into JSON Schema (int64 as a number or
a decimal string, durations as "3600s", enums, no unknown fields, output-only fields
refused, fields whose description starts "Required." required) and checks a request body
offline, before anything is spent. What the service requires beyond those descriptions is
the short table `SERVICE_RULES`, each rule with its source. The regions Vertex AI serves
and the accelerator types it knows come from the same document.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re

from ddsp_launch.common.errors import InputError

AIPLATFORM = ("aiplatform", "v1")
LOGGING = ("logging", "v2")
_PREFIX = {"aiplatform": "GoogleCloudAiplatformV1"}


@functools.lru_cache(maxsize=None)
def document(api: tuple[str, str]) -> dict:
    from googleapiclient import discovery_cache  # noqa: PLC0415

    text = discovery_cache.get_static_doc(*api)
    if text is None:  # pragma: no cover - the package ships both documents
        raise InputError(f"google-api-python-client has no bundled discovery document for {api[0]} {api[1]}",
                         "pip install -U google-api-python-client")
    return json.loads(text)


def revision(api: tuple[str, str] = AIPLATFORM) -> str:
    return document(api)["revision"]


def _locations() -> set[str]:
    return {e["location"] for e in document(AIPLATFORM).get("endpoints", []) if e.get("location")}


def _is_region(location: str) -> bool:
    """A region is AREA-PLACEn (us-central1); ``us``, ``eu``, ``asia`` are multi-regions."""
    return bool(re.fullmatch(r"[a-z]+-[a-z]+[0-9]+", location))


def regions() -> tuple[str, ...]:
    """The regions with a regional Vertex AI endpoint (the discovery document's list), where jobs run."""
    return tuple(sorted(loc for loc in _locations() if _is_region(loc)))


def accelerator_types() -> tuple[str, ...]:
    spec = document(AIPLATFORM)["schemas"]["GoogleCloudAiplatformV1MachineSpec"]["properties"]["acceleratorType"]
    return tuple(t for t in spec["enum"] if t != "ACCELERATOR_TYPE_UNSPECIFIED")


MULTI_REGIONS = ("us", "eu", "asia")  # bucket locations spanning many regions: no job runs "in" one


def check_region(region: str) -> str:
    known = regions()
    if region in known:
        return region
    area = region.strip().lower().split("-")[0]
    close = [r for r in known if r.split("-")[0] == {"eu": "europe"}.get(area, area)] or list(known)
    if region.strip().lower() in MULTI_REGIONS or (region in _locations() and not _is_region(region)):
        raise InputError(f"{region!r} is a multi-region location (a bucket's), not a Vertex AI region: a job runs in one "
                         "region", "choose one of: " + ", ".join(close))
    raise InputError(
        f"{region!r} is not a Vertex AI region (aiplatform v1, revision {revision()})",
        "choose one of: " + ", ".join(close),
    )


def check_accelerator(name: str) -> str:
    known = accelerator_types()
    if name not in known:
        raise InputError(f"unknown accelerator type {name!r}", "choose one of: " + ", ".join(known))
    return name


@dataclasses.dataclass(frozen=True)
class ServiceRule:
    """What Vertex AI requires of every ``schema`` object beyond the discovery document's
    "Required." fields: ``rule`` in words, ``check`` as JSON Schema, and where it is written."""

    schema: str
    rule: str
    check: dict
    source: str


_NOT_EMPTY = {"minProperties": 1}
SERVICE_RULES = (
    ServiceRule("GoogleCloudAiplatformV1CustomJobSpec",
                "workerPoolSpecs[0] is the primary replica: it is required, not empty, with replicaCount 1",
                {"properties": {"workerPoolSpecs": {"minItems": 1, "prefixItems": [
                    {"required": ["replicaCount"], "properties": {"replicaCount": {"enum": [1, "1"]}}}]}}},
                "https://cloud.google.com/vertex-ai/docs/training/distributed-training (\"Use the first worker pool "
                "specification only for your primary replica, and set its replicaCount to 1\")"),
    ServiceRule("GoogleCloudAiplatformV1WorkerPoolSpec",
                "a worker pool that is not empty names its machine: machineSpec.machineType",
                {"if": _NOT_EMPTY, "then": {"required": ["machineSpec"], "properties": {"machineSpec": {"required": ["machineType"]}}}},
                "MachineSpec.machineType in the discovery document and https://cloud.google.com/vertex-ai/docs/reference/rest/v1/"
                "MachineSpec (\"as part of WorkerPoolSpec this field is required\")"),
    ServiceRule("GoogleCloudAiplatformV1WorkerPoolSpec",
                "a worker pool that is not empty runs exactly one task: containerSpec or pythonPackageSpec",
                {"if": _NOT_EMPTY, "then": {"oneOf": [{"required": ["containerSpec"]}, {"required": ["pythonPackageSpec"]}]}},
                "google/cloud/aiplatform/v1/custom_job.proto (WorkerPoolSpec: oneof task { container_spec, "
                "python_package_spec }); https://cloud.google.com/vertex-ai/docs/training/create-custom-job"),
    ServiceRule("GoogleCloudAiplatformV1StudySpecParameterSpec",
                "a study parameter has exactly one of doubleValueSpec, integerValueSpec, discreteValueSpec, categoricalValueSpec",
                {"oneOf": [{"required": [k]} for k in ("doubleValueSpec", "integerValueSpec", "discreteValueSpec",
                                                        "categoricalValueSpec")]},
                "google/cloud/aiplatform/v1/study.proto (ParameterSpec: oneof parameter_value_spec); "
                "https://cloud.google.com/vertex-ai/docs/training/using-hyperparameter-tuning"),
)


@functools.lru_cache(maxsize=None)
def request_schema(api: tuple[str, str] = AIPLATFORM) -> "RequestSchema":
    """The shared validator for ``api`` (its JSON Schemas are compiled once, on first use)."""
    return RequestSchema(api)


_INT = r"^-?[0-9]+$"
_DURATION = r"^-?[0-9]+(\.[0-9]{1,9})?s$"


class RequestSchema:
    """JSON Schema validation of request bodies for one API's discovery document."""

    def __init__(self, api: tuple[str, str] = AIPLATFORM):
        self.api = api
        self.doc = document(api)
        self._validators: dict[tuple[str, bool], object] = {}

    def name(self, short: str) -> str:
        """'CustomJob' -> 'GoogleCloudAiplatformV1CustomJob' (full names pass through)."""
        schemas = self.doc["schemas"]
        if short in schemas:
            return short
        full = _PREFIX.get(self.api[0], "") + short
        if full not in schemas:
            raise KeyError(f"{self.api[0]} {self.api[1]} has no schema {short!r}")
        return full

    def errors(self, schema: str, body: object, partial: bool = False) -> list[str]:
        """Every problem with ``body`` as a ``schema`` request, as 'path: message' lines.
        ``partial``: a part of a request that ddsp-launch completes (a config file's CustomJobSpec
        without its image), so what is there is checked and nothing is required."""
        validator = self._validator(self.name(schema), partial)
        found = sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path])
        return [_describe(e) for e in found]

    def check(self, schema: str, body: object, what: str | None = None, partial: bool = False) -> None:
        problems = self.errors(schema, body, partial)
        if problems:
            raise InputError(
                f"the {what or schema} request is not valid for {self.api[0]} {self.api[1]}:\n    "
                + "\n    ".join(problems),
                "fix these fields in your config file or flags (nothing was submitted)",
            )

    def writable(self, schema: str, resource: object) -> object:
        """``resource`` (as the service returned it) without its output-only fields: a new request."""
        return self._strip(self.doc["schemas"][self.name(schema)], resource)

    def _strip(self, schema: dict, value: object) -> object:
        if "$ref" in schema:
            return self._strip(self.doc["schemas"][schema["$ref"]], value)
        if isinstance(value, list) and "items" in schema:
            return [self._strip(schema["items"], v) for v in value]
        if isinstance(value, dict) and "properties" in schema:
            props = schema["properties"]
            return {k: self._strip(props[k], v) for k, v in value.items() if k in props and not props[k].get("readOnly")}
        if isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
            return {k: self._strip(schema["additionalProperties"], v) for k, v in value.items()}
        return value

    def _validator(self, full: str, partial: bool = False):
        if (full, partial) not in self._validators:
            import jsonschema  # noqa: PLC0415

            defs = {n: _convert(s) for n, s in self.doc["schemas"].items()}
            for rule in SERVICE_RULES:
                if rule.schema in defs:
                    defs[rule.schema].setdefault("serviceRules", []).append(dataclasses.asdict(rule))
            root = {"$ref": f"#/$defs/{full}", "$defs": defs}
            keywords = {"readOnly": _read_only, "serviceRules": _service_rules}
            if partial:
                keywords.update(required=_nothing, serviceRules=_nothing)
            cls = jsonschema.validators.extend(jsonschema.Draft202012Validator, keywords)
            self._validators[(full, partial)] = cls(root)
        return self._validators[(full, partial)]


def _read_only(validator, value, instance, schema):
    if value:
        from jsonschema.exceptions import ValidationError  # noqa: PLC0415

        yield ValidationError("is output only (the service sets it); remove it from the request")


def _nothing(validator, value, instance, schema):
    return iter(())


def _service_rules(validator, rules, instance, schema):
    from jsonschema.exceptions import ValidationError  # noqa: PLC0415

    for rule in rules:
        if any(True for _ in validator.descend(instance, rule["check"])):
            yield ValidationError(f"Vertex AI requires that {rule['rule']} (source: {rule['source']})")


def _convert(schema: dict) -> dict:
    """One discovery schema as JSON Schema (2020-12)."""
    if "$ref" in schema:
        out: dict = {"$ref": f"#/$defs/{schema['$ref']}"}
    else:
        out = {}
        kind, fmt = schema.get("type"), schema.get("format")
        if kind == "string" and fmt in ("int64", "uint64"):
            out["anyOf"] = [{"type": "integer"}, {"type": "string", "pattern": _INT}]
        elif kind == "string" and fmt == "google-duration":
            out.update(type="string", pattern=_DURATION)
        elif kind in ("integer", "number", "boolean", "string", "array", "object"):
            out["type"] = kind
        if "enum" in schema:
            out["enum"] = schema["enum"]
        if kind == "array" and "items" in schema:
            out["items"] = _convert(schema["items"])
        if kind == "object":
            props = schema.get("properties")
            if props is not None:
                out["properties"] = {k: _convert(v) for k, v in props.items()}
                out["additionalProperties"] = False
                required = [k for k, v in props.items() if v.get("description", "").startswith("Required.")]
                if required:
                    out["required"] = required
            elif "additionalProperties" in schema:
                out["additionalProperties"] = _convert(schema["additionalProperties"])
    if schema.get("readOnly"):
        out["readOnly"] = True
    return out


def _describe(error) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".") or "(body)"
    if error.validator == "required":
        missing = re.match(r"'([^']+)'", error.message).group(1)
        where = f"{path}.{missing}" if path != "(body)" else missing
        return f"{where}: required (the discovery document marks it \"Required.\"), missing"
    if error.validator == "additionalProperties":
        unknown = re.findall(r"'([^']+)'", error.message.split("(")[-1])
        return f"{path}: unknown field(s) {', '.join(unknown)}"
    if error.validator == "enum":
        return f"{path}: {error.instance!r} is not one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "pattern" and error.validator_value == _DURATION:
        return f"{path}: {error.instance!r} is not a duration; write seconds with an 's', e.g. \"3600s\""
    if error.validator in ("anyOf", "pattern") and path.endswith(("Count", "count")):
        return f"{path}: {error.instance!r} is not an integer"
    if error.validator == "type":
        return f"{path}: {error.instance!r} is not of type {error.validator_value}"
    return f"{path}: {error.message}"
