"""Vertex AI (aiplatform v1) and Cloud Logging (logging v2) through google-api-python-client.

The client is built from the discovery documents bundled with the library (no network
until a call), against the region's own endpoint, with Application Default Credentials.
Calls are retried with exponential backoff on 429 and 5xx (the library's `num_retries`);
refusals become `CloudError`s that say what to do. DDSP_LAUNCH_VERTEX_ENDPOINT and
DDSP_LAUNCH_LOGGING_ENDPOINT point the client elsewhere (a local test server).
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from ddsp_launch.cloud import jobs as jobs_rules
from ddsp_launch.common.errors import CloudError, InputError

VERTEX_ENDPOINT_ENV = "DDSP_LAUNCH_VERTEX_ENDPOINT"
LOGGING_ENDPOINT_ENV = "DDSP_LAUNCH_LOGGING_ENDPOINT"
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
KINDS = {"customJobs": "CustomJob", "hyperparameterTuningJobs": "HyperparameterTuningJob"}
TERMINAL_STATES = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED", "JOB_STATE_PARTIALLY_SUCCEEDED"}
_NAME = re.compile(r"^projects/([^/]+)/locations/([^/]+)/(customJobs|hyperparameterTuningJobs)/([^/]+)$")


def console_url(name: str) -> str:
    m = _NAME.match(name)
    if not m:
        return ""
    project, region, collection, job_id = m.groups()
    page = "training/custom-jobs" if collection == "customJobs" else "training/hyperparameter-tuning-jobs"
    return f"https://console.cloud.google.com/vertex-ai/locations/{region}/{page}/{job_id}?project={project}"


def job_id(name: str) -> str:
    return name.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class LogLine:
    timestamp: str
    severity: str
    text: str
    insert_id: str
    replica: str = ""

    def format(self) -> str:
        who = f" [{self.replica}]" if self.replica else ""
        return f"{self.timestamp[:19].replace('T', ' ')} {self.severity[:1] or ' '}{who} {self.text}"


def is_local(endpoint: str) -> bool:
    """A local stand-in for the service (no credentials sent)."""
    return bool(re.match(r"^http://(127\.0\.0\.1|localhost)(:|/|$)", endpoint))


def uses_local_services() -> bool:
    """Vertex AI and Cloud Storage both pointed at local stand-ins: no Google credentials needed."""
    return is_local(os.environ.get(VERTEX_ENDPOINT_ENV, "")) and is_local(os.environ.get("STORAGE_EMULATOR_HOST", ""))


def _credentials(endpoint: str):
    from google.auth.credentials import AnonymousCredentials  # noqa: PLC0415

    if is_local(endpoint):
        return AnonymousCredentials()
    import google.auth  # noqa: PLC0415
    from google.auth.exceptions import DefaultCredentialsError  # noqa: PLC0415

    try:
        creds, _ = google.auth.default(scopes=SCOPES)
    except DefaultCredentialsError:
        raise CloudError(
            "no Google Cloud credentials (Application Default Credentials) found",
            "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file",
        ) from None
    return creds


class Vertex:
    """Custom and tuning jobs in one project and region, and their logs."""

    def __init__(self, project: str, region: str, *, retries: int = 5, credentials=None):
        from googleapiclient import discovery  # noqa: PLC0415

        self.project, self.region, self.retries = project, region, retries
        self.endpoint = os.environ.get(VERTEX_ENDPOINT_ENV) or f"https://{region}-aiplatform.googleapis.com"
        self.logging_endpoint = os.environ.get(LOGGING_ENDPOINT_ENV) or "https://logging.googleapis.com"
        creds = credentials or _credentials(self.endpoint)
        self._api = discovery.build("aiplatform", "v1", credentials=creds, static_discovery=True,
                                    client_options={"api_endpoint": self.endpoint}, cache_discovery=False)
        self._logging = discovery.build("logging", "v2", credentials=credentials or _credentials(self.logging_endpoint),
                                        static_discovery=True, cache_discovery=False,
                                        client_options={"api_endpoint": self.logging_endpoint})

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    def _collection(self, collection: str):
        return getattr(self._api.projects().locations(), collection)()

    def _execute(self, request, doing: str):
        import httplib2  # noqa: PLC0415
        from googleapiclient.errors import HttpError  # noqa: PLC0415

        try:
            return request.execute(num_retries=self.retries)
        except HttpError as exc:
            raise explain(exc, doing, self) from None
        except (httplib2.HttpLib2Error, OSError) as exc:
            raise CloudError(f"cannot reach {self.endpoint} while {doing}: {exc}",
                             "check the network connection and the region name; retry later") from None

    # ---- jobs ---------------------------------------------------------------------------------
    def create(self, kind: str, body: dict) -> dict:
        collection = "customJobs" if kind == "CustomJob" else "hyperparameterTuningJobs"
        return self._execute(self._collection(collection).create(parent=self.parent, body=body), f"submitting the {kind}")

    def resolve(self, ref: str) -> str:
        """A full job name from a name, a console URL's id, or a bare numeric id."""
        if _NAME.match(ref):
            return ref
        if not re.match(r"^[0-9]+$", ref):
            raise InputError(f"{ref!r} is not a job id", "give the number `ddsp-launch jobs list` shows, or the full projects/.../customJobs/ID name")
        from googleapiclient.errors import HttpError  # noqa: PLC0415

        for collection in KINDS:
            name = f"{self.parent}/{collection}/{ref}"
            try:
                self._collection(collection).get(name=name).execute(num_retries=self.retries)
                return name
            except HttpError as exc:
                if exc.resp.status != 404:
                    raise explain(exc, f"looking up job {ref}", self) from None
        raise CloudError(f"no job {ref} in project {self.project}, region {self.region}",
                         "check the id and --region: `ddsp-launch jobs list --region REGION`")

    def get(self, name: str) -> dict:
        return self._execute(self._collection(self._kind(name)).get(name=name), f"reading {name}")

    def cancel(self, name: str) -> None:
        self._execute(self._collection(self._kind(name)).cancel(name=name, body={}), f"cancelling {name}")

    def list(self, limit: int = 50) -> list[dict]:
        """Custom and tuning jobs, newest first."""
        jobs: list[dict] = []
        for collection in KINDS:
            api = self._collection(collection)
            request = api.list(parent=self.parent, pageSize=min(limit, 100))
            while request is not None and len(jobs) < 10 * limit:
                page = self._execute(request, "listing jobs")
                jobs += page.get(collection, [])
                request = api.list_next(request, page)
        return sorted(jobs, key=lambda j: j.get("createTime", ""), reverse=True)[:limit]

    @staticmethod
    def _kind(name: str) -> str:
        m = _NAME.match(name)
        if not m:
            raise CloudError(f"{name!r} is not a Vertex AI job name")
        return m.group(3)

    # ---- logs ---------------------------------------------------------------------------------
    def log_lines(self, name: str, since: str | None = None, limit: int = 1000) -> list[LogLine]:
        """The job's Cloud Logging entries (resource ml_job), oldest first, after ``since``."""
        flt = f'resource.type="ml_job" AND resource.labels.job_id="{job_id(name)}"'
        if since:
            flt += f' AND timestamp>="{since}"'
        body = {"resourceNames": [f"projects/{self.project}"], "filter": flt, "orderBy": "timestamp asc", "pageSize": min(limit, 1000)}
        lines: list[LogLine] = []
        while True:
            page = self._execute(self._logging.entries().list(body=body), f"reading the logs of {name}")
            lines += [_log_line(e) for e in page.get("entries", [])]
            token = page.get("nextPageToken")
            if not token or len(lines) >= limit:
                return lines
            body = {**body, "pageToken": token}

    def follow(self, name: str, emit: Callable[[LogLine], None], interval: float = 15.0,
               sleep: Callable[[float], None] = time.sleep) -> dict:
        """Print log lines as they arrive until the job is in a terminal state; its last state."""
        seen: set[str] = set()
        since = None
        while True:
            job = self.get(name)  # the state first: the logs read next hold all it wrote up to then
            for line in self.log_lines(name, since):
                if line.insert_id not in seen:
                    seen.add(line.insert_id)
                    emit(line)
                    since = line.timestamp
            if job.get("state") in TERMINAL_STATES:
                return job
            sleep(interval)


def for_project(project: str | None, region: str | None) -> Vertex:
    """A client for ``project`` (required) in ``region`` (checked; default us-central1)."""
    from ddsp_launch.cloud import discovery
    from ddsp_launch.cloud.jobs import DEFAULT_REGION

    if not project:
        raise InputError("no Google Cloud project given", "pass --project PROJECT_ID or set GOOGLE_CLOUD_PROJECT")
    return Vertex(project, discovery.check_region(region or DEFAULT_REGION))


def follow_to_end(client: Vertex, name: str, interval: float, emit: Callable[[str], None],
                  on_failed: Callable[[dict], tuple[Vertex, str] | None] | None = None) -> dict:
    """Print a job's log lines until it ends; raise JobFailed unless it succeeded. Ctrl-C stops
    following only (Interrupted, exit 130): the job goes on. ``on_failed`` may name another job
    to follow instead of failing (capacity fail-over)."""
    from ddsp_launch.common.errors import Interrupted, JobFailed

    while True:
        job = job_id(name)
        try:
            final = client.follow(name, lambda line: emit(line.format()), interval=interval)
        except KeyboardInterrupt:
            raise Interrupted(f"stopped following; the job goes on running: {name}",
                              f"watch again: ddsp-launch jobs logs {job} --follow; stop it: ddsp-launch jobs cancel {job}") from None
        nxt = on_failed(final) if on_failed and final.get("state") == "JOB_STATE_FAILED" else None
        if nxt is None:
            break
        client, name = nxt
    state = final.get("state", "")
    emit(f"job {state.removeprefix('JOB_STATE_').lower()}: {name}")
    if state != "JOB_STATE_SUCCEEDED":
        raise JobFailed(f"job ended {state.removeprefix('JOB_STATE_')}: {(final.get('error') or {}).get('message', '')}",
                        f"see `ddsp-launch jobs logs {job}`")
    return final


def _log_line(entry: dict) -> LogLine:
    payload = entry.get("jsonPayload") or {}
    text = entry.get("textPayload") or payload.get("message") or (json.dumps(payload) if payload else "")
    labels = entry.get("labels") or {}
    replica = labels.get("ml.googleapis.com/replica_name") or labels.get("replica_name") or ""
    if labels.get("ml.googleapis.com/trial_id"):
        replica = f"trial {labels['ml.googleapis.com/trial_id']}" + (f" {replica}" if replica else "")
    return LogLine(entry.get("timestamp", ""), entry.get("severity", ""), text.rstrip("\n"), entry.get("insertId", ""), replica)


def explain(exc, doing: str, client: Vertex) -> CloudError:
    """An HttpError from Vertex AI or Cloud Logging as a message that says what to do."""
    status = exc.resp.status
    try:
        error = json.loads(exc.content.decode("utf-8", "replace")).get("error", {})
    except (ValueError, AttributeError):
        error = {}
    message = error.get("message") or exc._get_reason() or ""  # noqa: SLF001
    reason = error.get("status", "")
    text = json.dumps(error).lower()
    where = f"project {client.project}, region {client.region}"
    if status == 429 or reason == "RESOURCE_EXHAUSTED" or "quota" in text or jobs_rules.is_capacity_error(error):
        return _capacity(CloudError(
            f"quota exceeded while {doing} ({where}): {message}",
            f"ask for more quota (console: IAM & Admin > Quotas, filter 'aiplatform' and region {client.region}), "
            "try another region (submit --regions r1,r2,...), or use fewer or smaller machines / GPUs",
        ))
    if status == 401:
        return CloudError(f"credentials refused while {doing}: {message}",
                          "refresh them: `gcloud auth application-default login`")
    if status == 403:
        if "service_disabled" in text or "has not been used" in text or "is disabled" in text:
            api = "logging.googleapis.com" if "logging" in text else "aiplatform.googleapis.com"
            return CloudError(f"the API {api} is not enabled in project {client.project}",
                              f"enable it: gcloud services enable {api} --project {client.project}")
        return CloudError(
            f"permission denied while {doing} ({where}): {message}",
            "ask a project owner for roles/aiplatform.user (and roles/logging.viewer for logs), "
            "or log in as an account that has them: gcloud auth application-default login",
        )
    if status == 404:
        return CloudError(f"not found while {doing} ({where}): {message}",
                          "check the project id, the region (jobs live in the region they were submitted to) and the job id")
    if status == 400:
        return CloudError(f"Vertex AI refused the request while {doing}: {message}",
                          "fix the field it names; `--dry-run` prints the request without sending it")
    return CloudError(f"Vertex AI failed while {doing} (HTTP {status}, after {client.retries} retries): {message}",
                      "this is on Google's side; retry in a few minutes")


def _capacity(exc: CloudError) -> CloudError:
    exc.capacity = True
    return exc


def iter_states(jobs: list[dict]) -> Iterator[tuple[str, str, str, str, str]]:
    """(id, kind, display name, state, created) rows for a table."""
    for job in jobs:
        m = _NAME.match(job.get("name", ""))
        kind = "tuning" if m and m.group(3) == "hyperparameterTuningJobs" else "custom"
        yield job_id(job.get("name", "")), kind, job.get("displayName", ""), job.get("state", "").removeprefix("JOB_STATE_"), job.get("createTime", "")[:19]
