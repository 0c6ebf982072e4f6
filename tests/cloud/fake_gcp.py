"""A local stand-in for Vertex AI (aiplatform v1) and Cloud Logging (logging v2) REST APIs.

Serves the calls ddsp-launch makes, on 127.0.0.1, routed by the discovery documents' own
method paths. A create request is checked against tests/cloud/vertex_rules.py, what Google's
documentation says the service refuses, written apart from ddsp-launch's own checker (this
module imports nothing of ddsp_launch): a 400 INVALID_ARGUMENT naming the fields otherwise,
as the service answers. Jobs move through their states as they are read (QUEUED -> PENDING
-> RUNNING -> SUCCEEDED, or FAILED / CANCELLED), writing log entries on the way. `inject()`
makes the next calls fail with a chosen status.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.cloud import vertex_rules


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _routes() -> list[tuple[str, re.Pattern, str, str | None]]:
    """(http method, path regex, method id, request schema) for the methods served."""
    out = []
    for api, collections in ((("aiplatform", "v1"), ("customJobs", "hyperparameterTuningJobs")), (("logging", "v2"), ("entries",))):
        doc = vertex_rules.document(*api)
        for name in collections:
            node = doc["resources"]
            if name != "entries":
                node = node["projects"]["resources"]["locations"]["resources"]
            for mid, m in node[name]["methods"].items():
                if mid not in ("create", "get", "list", "cancel"):
                    continue
                pattern = re.sub(r"\{[^}]+\}", "([^/:]+)", m.get("flatPath", m["path"])).replace(":", r"\:")
                out.append((m["httpMethod"], re.compile(f"^/{pattern}$"), f"{name}.{mid}", (m.get("request") or {}).get("$ref")))
    return out


@dataclass
class Job:
    collection: str
    body: dict
    polls_running: int = 3
    fail: bool = False
    stockout: bool = False
    step: int = 0
    logs: list = field(default_factory=list)


class FakeGcp:
    def __init__(self, running_polls: int = 3):
        self.routes = _routes()
        self.regions = {e["location"] for e in vertex_rules.document().get("endpoints", []) if e.get("location")}
        self.jobs: dict[str, Job] = {}
        self.requests: list[tuple[str, str, dict | None]] = []
        self.running_polls = running_polls
        self.fail_names: set[str] = set()  # display names whose jobs end FAILED
        # (region, spot) -> "quota": create refused as Vertex AI refuses it (HTTP 429 RESOURCE_EXHAUSTED, quota);
        # "stockout": accepted, then FAILED with code 8 and Vertex AI's 'Resources are insufficient in region'
        self.stockouts: dict[tuple[str, bool], str] = {}
        self._errors: list[tuple[int, str, str]] = []
        self._ids = itertools.count(1000000001)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _serve(self, verb):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, payload = fake.handle(verb, self.path, raw)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def inject(self, status: int, times: int = 1, message: str = "injected", reason: str = "") -> None:
        """The next ``times`` calls fail with HTTP ``status``."""
        self._errors += [(status, message, reason)] * times

    # ---- dispatch -------------------------------------------------------------------------
    def handle(self, verb: str, url: str, raw: bytes) -> tuple[int, dict]:
        path, _, query = url.partition("?")
        body = json.loads(raw) if raw else None
        with self._lock:
            self.requests.append((verb, path, body))
            if self._errors:
                status, message, reason = self._errors.pop(0)
                return status, _error(status, message, reason or {429: "RESOURCE_EXHAUSTED", 403: "PERMISSION_DENIED",
                                                                      404: "NOT_FOUND"}.get(status, "UNAVAILABLE"))
            for method, regex, mid, schema in self.routes:
                m = regex.match(path)
                if method == verb and m:
                    collection, action = mid.split(".")
                    if action == "create":
                        problems = vertex_rules.problems(schema.removeprefix("GoogleCloudAiplatformV1"), body)
                        if problems:
                            return 400, _error(400, "Invalid request: " + "; ".join(f"{path}: {why}" for path, why in problems),
                                               "INVALID_ARGUMENT")
                    if collection == "entries":
                        return self._entries_list(body)
                    return getattr(self, "_" + action)(collection, m.groups(), body, query)
            return 404, _error(404, f"no such method: {verb} {path}", "NOT_FOUND")

    def _check_location(self, groups) -> tuple[int, dict] | None:
        if groups[1] not in self.regions:
            return 400, _error(400, f"Location {groups[1]} is not supported", "INVALID_ARGUMENT")
        return None

    def _create(self, collection, groups, body, query):
        bad = self._check_location(groups)
        if bad:
            return bad
        spec = body.get("jobSpec") or body.get("trialJobSpec") or {}
        shortage = self.stockouts.get((groups[1], spec.get("scheduling", {}).get("strategy") == "SPOT"))
        if shortage == "quota":
            gpu = spec["workerPoolSpecs"][0]["machineSpec"].get("acceleratorType", "cpus").lower()
            return 429, _error(429, f"The following quota metrics exceed quota limits: aiplatform.googleapis.com/"
                                    f"custom_model_training_{gpu}s (region {groups[1]})", "RESOURCE_EXHAUSTED")
        name = f"projects/{groups[0]}/locations/{groups[1]}/{collection}/{next(self._ids)}"
        job = Job(collection, {**body, "name": name, "state": "JOB_STATE_QUEUED", "createTime": _now(), "updateTime": _now()},
                  polls_running=self.running_polls, fail=body.get("displayName") in self.fail_names)
        job.stockout = shortage == "stockout"
        self.jobs[name] = job
        self._log(job, "INFO", "Waiting for job to be provisioned.")
        return 200, job.body

    def _get(self, collection, groups, body, query):
        name = f"projects/{groups[0]}/locations/{groups[1]}/{collection}/{groups[2]}"
        job = self.jobs.get(name)
        if job is None:
            return 404, _error(404, f"The CustomJob does not exist: {name}", "NOT_FOUND")
        self._advance(job)
        return 200, job.body

    def _list(self, collection, groups, body, query):
        prefix = f"projects/{groups[0]}/locations/{groups[1]}/{collection}/"
        found = [j.body for n, j in self.jobs.items() if n.startswith(prefix)]
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        size, start = int(params.get("pageSize", 100)), int(params.get("pageToken", 0) or 0)
        page = {collection: found[start:start + size]}
        if start + size < len(found):
            page["nextPageToken"] = str(start + size)
        return 200, page

    def _cancel(self, collection, groups, body, query):
        name = f"projects/{groups[0]}/locations/{groups[1]}/{collection}/{groups[2]}"
        job = self.jobs.get(name)
        if job is None:
            return 404, _error(404, f"not found: {name}", "NOT_FOUND")
        if job.body["state"] in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
            return 400, _error(400, f"Cannot cancel job {name} in state {job.body['state']}", "FAILED_PRECONDITION")
        job.body["state"] = "JOB_STATE_CANCELLING"
        self._log(job, "WARNING", "Job is being cancelled.")
        return 200, {}

    def _entries_list(self, body):
        flt = body.get("filter", "")
        m = re.search(r'resource\.labels\.job_id="([0-9]+)"', flt)
        since = re.search(r'timestamp>="?([^"]+)"?', flt)
        entries = [e for job in self.jobs.values() for e in job.logs
                   if m and job.body["name"].endswith("/" + m.group(1)) and (not since or e["timestamp"] >= since.group(1))]
        entries.sort(key=lambda e: e["timestamp"])
        start = int(body.get("pageToken") or 0)
        size = body.get("pageSize", 50)
        page = {"entries": entries[start:start + size]}
        if start + size < len(entries):
            page["nextPageToken"] = str(start + size)
        return 200, page

    # ---- the job's life -------------------------------------------------------------------
    def _advance(self, job: Job) -> None:
        state = job.body["state"]
        nxt = {"JOB_STATE_QUEUED": "JOB_STATE_PENDING", "JOB_STATE_PENDING": "JOB_STATE_RUNNING",
               "JOB_STATE_CANCELLING": "JOB_STATE_CANCELLED"}.get(state)
        if state == "JOB_STATE_PENDING" and job.stockout:
            job.body.update(state="JOB_STATE_FAILED", updateTime=_now(), endTime=_now(), error={
                "code": 8, "message": f"Resources are insufficient in region: {job.body['name'].split('/')[3]}. "
                                      "Please try a different region. If you use K80, please consider using P100 or V100 instead."})
            self._log(job, "ERROR", "Job failed.")
            return
        if state == "JOB_STATE_RUNNING":
            job.step += 100
            self._log(job, "INFO", f"step {job.step} loss {10 - job.step / 100:.2f}", replica="workerpool0-0")
            if job.step >= 100 * job.polls_running:
                nxt = "JOB_STATE_FAILED" if job.fail else "JOB_STATE_SUCCEEDED"
        if nxt is None:
            return
        job.body.update(state=nxt, updateTime=_now())
        if nxt == "JOB_STATE_RUNNING":
            job.body["startTime"] = _now()
            self._log(job, "INFO", "Job is running.")
            if job.collection == "hyperparameterTuningJobs":
                job.body["trials"] = [{"id": str(i + 1), "state": "ACTIVE"} for i in range(job.body.get("parallelTrialCount", 1))]
        elif nxt == "JOB_STATE_FAILED":
            job.body.update(endTime=_now(), error={"code": 13, "message": "The replica workerpool0-0 exited with a non-zero status of 1."})
            self._log(job, "ERROR", "Job failed.")
        elif nxt in ("JOB_STATE_SUCCEEDED", "JOB_STATE_CANCELLED"):
            job.body["endTime"] = _now()
            self._log(job, "INFO", "Job completed successfully." if nxt.endswith("SUCCEEDED") else "Job was cancelled.")

    def _log(self, job: Job, severity: str, text: str, replica: str | None = None) -> None:
        labels = {"ml.googleapis.com/replica_name": replica} if replica else {}
        job.logs.append({
            "insertId": f"{len(job.logs):08d}{job.body['name'][-6:]}", "timestamp": _now(), "severity": severity,
            "textPayload": text, "labels": labels,
            "resource": {"type": "ml_job", "labels": {"job_id": job.body["name"].rsplit("/", 1)[-1]}},
        })


def _error(code: int, message: str, status: str) -> dict:
    return {"error": {"code": code, "message": message, "status": status}}
