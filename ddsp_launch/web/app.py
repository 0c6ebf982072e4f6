"""`ddsp-launch web`: the pages and their JSON API (Starlette, served by uvicorn).

Pages: /new (a run: upload audio or give a path, the launcher's settings, the equivalent
command, launch), /runs (the run records), /runs/ID (log, loss curve, TensorBoard, cancel,
model zip, timbre transfer). Every page's work is done by `service.Service`; a refusal is
the core's own LaunchError, answered by one handler (`Pages.answer_error`) as JSON
{"error", "fix"} with its status, or as a page for a browser. Which settings the form shows
for which target comes from the settings table (each field's targets), not from the page.

What reaches these routes has passed the gates (gates.py: Host, same origin, token), and
what a page may choose for a run is bounded by policy.py.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ddsp_launch.common.errors import InputError, LaunchError
from ddsp_launch.launch import launcher, records, settings as st
from ddsp_launch.spec import TARGETS
from ddsp_launch.web import uploads
from ddsp_launch.web.policy import PAGE_FIELDS, Policy
from ddsp_launch.web.service import Service, check_id, log_path, run_from_form, tail

HERE = Path(__file__).parent
HYPERPARAMETERS = tuple(n for n in st.HYPERPARAMETERS if n not in ("gin_file", "gin_param"))
GROUPS = (  # the settings a page may choose (policy.PAGE_FIELDS), as the new-run form shows them
    ("Where", ("target", "device", "name")),
    ("Data and output", ("data", "output", "prepare_to")),
    ("Training", HYPERPARAMETERS),
    ("Model", ("gin_file", "gin_param")),
)


def declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length", "")
    return int(value) if value.isascii() and value.isdigit() else None


def groups() -> list[tuple[str, list[st.Field]]]:
    """The new-run form's sections: the groups above, and the other settings a page may choose,
    one section per target (named after it), each shown only when that target is chosen."""
    named = {n for _, names in GROUPS for n in names}
    out = [(title, [st.BY_NAME[n] for n in names if n in PAGE_FIELDS]) for title, names in GROUPS]
    others = [st.BY_NAME[n] for n in PAGE_FIELDS if n not in named]
    by_target = {f.targets: [g for g in others if g.targets == f.targets] for f in others}
    return out[:3] + [(" / ".join(TARGETS[t] for t in ts or ()) or "Other", fs) for ts, fs in by_target.items()] + out[3:]


class Pages:
    """The route handlers, over one Service; `create_app` maps URLs onto them. A handler
    raises LaunchError for anything refused: `answer_error` (the one handler) answers it."""

    def __init__(self, workspace: Path, policy: Policy, limits: uploads.Limits):
        self.service, self.policy, self.limits = Service(workspace, limits), policy, limits
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))

    async def answer_error(self, request: Request, exc: LaunchError):
        """Every refusal: its status (400 unless it says), as JSON {"error", "fix"}; a page for a browser."""
        status = getattr(exc, "status", 400)
        if "text/html" in request.headers.get("accept", "") and not request.url.path.startswith("/api/"):
            return self.templates.TemplateResponse(request, "missing.html", {"message": str(exc), "page": "missing",
                                                                             "status": status}, status_code=status)
        return JSONResponse({"error": exc.message, "fix": exc.fix}, status_code=status)

    async def new_page(self, request: Request):
        return self.templates.TemplateResponse(request, "new.html", {
            "groups": groups(), "targets": TARGETS, "max_upload_mb": self.limits.per_file / 1e6,
            "server": self.policy.shown(), "page": "new"})

    async def runs_page(self, request: Request):
        return self.templates.TemplateResponse(request, "runs.html", {"runs": self.service.summaries(), "page": "runs"})

    async def run_page(self, request: Request):
        run = self.service.status(request.path_params["run_id"])
        return self.templates.TemplateResponse(request, "run.html", {"run": run, "page": "run"})

    async def new_upload(self, request: Request):
        return JSONResponse({"upload": self.service.new_upload()})

    async def put_upload(self, request: Request):
        box = self.service.upload(request.path_params["upload"])
        path = await uploads.receive(request.stream(), box.folder / "audio", request.path_params["name"],
                                     self.limits.per_file, declared_length(request), box)
        return JSONResponse({"name": path.name, "bytes": path.stat().st_size})

    async def form_run(self, request: Request) -> launcher.Checked:
        try:
            body = await request.json()
        except ValueError:
            raise InputError("the page sent no settings (the body is not JSON)", "reload the page") from None
        if not isinstance(body, dict):
            raise InputError(f"the settings must be a JSON object, not {json.dumps(body)[:40]}",
                             'send {"setting": value, ...}, e.g. {"num_steps": 300}')
        upload = body.pop("upload", None)
        folder = self.service.upload(upload).folder if upload is not None else None
        if folder is not None and not [p for p in (folder / "audio").glob("[!.]*")]:
            raise InputError("no audio uploaded yet", "drop your recordings on the upload area, or give a data path instead")
        return await run_in_threadpool(run_from_form, body, folder, self.policy)  # checks may ask Cloud Storage

    async def check(self, request: Request):
        run = await self.form_run(request)
        return JSONResponse({"command": run.settings.command_line(), "cost": run.cost()})

    async def launch(self, request: Request):
        run = await self.form_run(request)
        run_id = await run_in_threadpool(self.service.start, run)
        return JSONResponse({"id": run_id, "url": f"/runs/{run_id}", "command": run.settings.command_line()})

    async def api_runs(self, request: Request):
        return JSONResponse(self.service.summaries())

    async def api_run(self, request: Request):
        return JSONResponse(self.service.status(request.path_params["run_id"]))

    async def api_log(self, request: Request):
        return PlainTextResponse(tail(log_path(check_id(request.path_params["run_id"]))))

    async def cancel(self, request: Request):
        return JSONResponse({"cancelled": self.service.cancel(request.path_params["run_id"])})

    async def tensorboard(self, request: Request):
        from ddsp_launch.adapters import tensorboard as tb  # noqa: PLC0415

        logdir = records.logdir(records.load(check_id(request.path_params["run_id"])))
        board = await run_in_threadpool(tb.start, logdir)  # waits for TensorBoard to answer
        return JSONResponse({"url": board.url, "reused": board.reused})

    async def model_zip(self, request: Request):
        run_id = request.path_params["run_id"]
        path = await run_in_threadpool(self.service.model_zip, run_id)  # zips the checkpoint: seconds for a big model
        return FileResponse(str(path), media_type="application/zip", filename=f"{run_id}-model.zip",
                            background=BackgroundTask(path.unlink, missing_ok=True))

    async def plugin_model(self, request: Request):
        """The run's model for the DDSP-VST plugin: exported and checked on demand (half a minute)."""
        model, scratch = await run_in_threadpool(self.service.plugin_model, request.path_params["run_id"])
        return FileResponse(str(model), media_type="application/octet-stream", filename=model.name,
                            background=BackgroundTask(shutil.rmtree, scratch, ignore_errors=True))

    async def put_transfer(self, request: Request):
        run_id = request.path_params["run_id"]
        run = self.service.status(run_id)
        if not run["local"]:
            raise InputError("this run's model is in Cloud Storage", f"ddsp-launch download {run_id} MODEL_DIR, then ddsp-launch transfer")
        if not run["has_checkpoint"]:
            raise InputError("no complete checkpoint yet", "wait for the first checkpoint")
        folder = self.service.workspace / "transfers" / run_id  # never inside the model folder, which is read
        recording = await uploads.receive(request.stream(), folder, request.path_params["name"],
                                          self.limits.per_file, declared_length(request))
        return JSONResponse({"transfer": self.service.start_transfer(run_id, recording).id})

    async def get_transfer(self, request: Request):
        t = self.service.transfer(request.path_params["tid"])
        state = t.state()
        message = tail(t.log, 4000).strip().splitlines()[-1:] if state != "running" else []
        return JSONResponse({"state": state, "message": message[0] if message else "",
                             "url": f"/api/transfers/{t.id}/audio" if state == "succeeded" else None})

    async def transfer_audio(self, request: Request):
        t = self.service.transfer(request.path_params["tid"])
        if t.state() != "succeeded":
            return PlainTextResponse("not ready", status_code=409)
        return FileResponse(str(t.result), media_type="audio/wav", filename=t.result.name)

    async def home(self, request: Request):
        return RedirectResponse("/runs" if self.service.summaries() else "/new", status_code=303)


def create_app(workspace: Path, policy: Policy, limits: uploads.Limits = uploads.Limits()):
    """The routes. Serve it behind the gates (server.py does)."""
    p = Pages(workspace, policy, limits)
    p.service.clean_uploads()
    routes = [
        Route("/", p.home),
        Route("/new", p.new_page),
        Route("/runs", p.runs_page),
        Route("/runs/{run_id}", p.run_page),
        Route("/runs/{run_id}/model.zip", p.model_zip),
        Route("/runs/{run_id}/plugin.tflite", p.plugin_model),
        Route("/api/uploads", p.new_upload, methods=["POST"]),
        Route("/api/uploads/{upload}/{name:path}", p.put_upload, methods=["PUT"]),
        Route("/api/check", p.check, methods=["POST"]),
        Route("/api/runs", p.launch, methods=["POST"]),
        Route("/api/runs", p.api_runs, methods=["GET"]),
        Route("/api/runs/{run_id}", p.api_run),
        Route("/api/runs/{run_id}/log", p.api_log),
        Route("/api/runs/{run_id}/cancel", p.cancel, methods=["POST"]),
        Route("/api/runs/{run_id}/tensorboard", p.tensorboard, methods=["POST"]),
        Route("/api/runs/{run_id}/transfers/{name:path}", p.put_transfer, methods=["PUT"]),
        Route("/api/transfers/{tid}", p.get_transfer),
        Route("/api/transfers/{tid}/audio", p.transfer_audio),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        p.service.stop_transfers()

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={LaunchError: p.answer_error})
    app.state.service = p.service
    return app
