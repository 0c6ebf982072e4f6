"""`ddsp-launch web`: the pages and their JSON API (Starlette, served by uvicorn).

Pages: /new (a run: upload audio or give a path, the launcher's settings, the equivalent
command, launch), /runs (the run records), /runs/ID (log, loss curve, TensorBoard, cancel,
model zip, timbre transfer). Every page's work is done by `service.Service`; errors are
the core's own messages, answered as JSON {"error", "fix"}.

Bound to 127.0.0.1 unless told otherwise; on any other address every request needs the
token (``?token=`` once, then a cookie; or ``Authorization: Bearer``).
"""

from __future__ import annotations

import contextlib
import secrets
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs

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
from ddsp_launch.web import uploads
from ddsp_launch.web.service import HIDDEN_FIELDS, Service, check_id, log_path, settings_from_form, tail

HERE = Path(__file__).parent
COOKIE = "ddsp_launch_token"
GROUPS = (
    ("Where", ("target", "device", "name")),
    ("Data and output", ("data", "output", "prepare_to")),
    ("Training", ("batch_size", "learning_rate", "num_steps", "steps_per_save", "steps_per_summary", "early_stop_loss_value")),
    ("Google Cloud (Vertex AI)", ("project", "region", "machine_type", "accelerator", "workers", "spot", "push_to")),
    ("Image and model", ("image", "base_image", "gin_file", "gin_param")),
)


def error(exc: LaunchError, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": exc.message, "fix": exc.fix}, status_code=getattr(exc, "status", status))


class TokenGate:
    """Pure ASGI: every HTTP request carries the token, or gets 401 (request bodies untouched)."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        given = parse_qs(scope.get("query_string", b"").decode()).get("token", [None])[0]
        cookie = SimpleCookie(headers.get("cookie", "")).get(COOKIE)
        bearer = headers.get("authorization", "").removeprefix("Bearer ").strip() or None
        if given and secrets.compare_digest(given, self.token):
            response = RedirectResponse(scope["path"], status_code=303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
            return await response(scope, receive, send)
        for candidate in (cookie.value if cookie else None, bearer):
            if candidate and secrets.compare_digest(candidate, self.token):
                return await self.app(scope, receive, send)
        await PlainTextResponse("this ddsp-launch web server needs its token: open the URL it printed (with ?token=...)",
                                status_code=401)(scope, receive, send)


def create_app(workspace: Path, token: str | None = None, max_upload_mb: float = uploads.DEFAULT_LIMIT_MB):
    service = Service(workspace)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    limit = int(max_upload_mb * 1e6)

    def fields():
        groups = []
        for title, names in GROUPS:
            groups.append((title, [st.BY_NAME[n] for n in names if n not in HIDDEN_FIELDS]))
        return groups

    async def new_page(request: Request):
        return templates.TemplateResponse(request, "new.html", {"groups": fields(), "targets": st.TARGETS,
                                                                 "max_upload_mb": max_upload_mb, "page": "new"})

    async def runs_page(request: Request):
        return templates.TemplateResponse(request, "runs.html", {"runs": service.summaries(), "page": "runs"})

    async def run_page(request: Request):
        try:
            run = service.status(request.path_params["run_id"])
        except LaunchError as exc:
            return templates.TemplateResponse(request, "missing.html", {"message": str(exc), "page": "missing"}, status_code=404)
        return templates.TemplateResponse(request, "run.html", {"run": run, "page": "run"})

    async def new_upload(request: Request):
        token, _ = service.new_upload_dir()
        return JSONResponse({"upload": token})

    async def put_upload(request: Request):
        try:
            folder = service.upload_dir(request.path_params["upload"]) / "audio"
            declared = int(request.headers["content-length"]) if "content-length" in request.headers else None
            path = await uploads.receive(request.stream(), folder, request.path_params["name"], limit, declared)
        except LaunchError as exc:
            return error(exc)
        return JSONResponse({"name": path.name, "bytes": path.stat().st_size})

    async def form_settings(request: Request) -> st.Settings:
        try:
            body = await request.json()
        except ValueError:
            raise InputError("the page sent no settings", "reload the page") from None
        upload = body.pop("upload", None)
        folder = service.upload_dir(upload) if upload else None
        if folder is not None and not any((folder / "audio").glob("*")):
            raise InputError("no audio uploaded yet", "drop your recordings on the upload area, or give a data path instead")
        return await run_in_threadpool(settings_from_form, body, folder)  # checks may ask Cloud Storage

    async def check(request: Request):
        try:
            s = await form_settings(request)
        except LaunchError as exc:
            return error(exc)
        return JSONResponse({"command": s.command_line(), "cost": launcher.cost_class(s)})

    async def launch(request: Request):
        try:
            s = await form_settings(request)
            run_id = await run_in_threadpool(service.start, s)
        except LaunchError as exc:
            return error(exc)
        return JSONResponse({"id": run_id, "url": f"/runs/{run_id}", "command": s.command_line()})

    async def api_runs(request: Request):
        return JSONResponse(service.summaries())

    async def api_run(request: Request):
        try:
            return JSONResponse(service.status(request.path_params["run_id"]))
        except LaunchError as exc:
            return error(exc, 404)

    async def api_log(request: Request):
        try:
            return PlainTextResponse(tail(log_path(check_id(request.path_params["run_id"]))))
        except LaunchError as exc:
            return error(exc, 404)

    async def cancel(request: Request):
        try:
            return JSONResponse({"cancelled": service.cancel(request.path_params["run_id"])})
        except LaunchError as exc:
            return error(exc, 404)

    async def tensorboard(request: Request):
        from ddsp_launch.adapters import tensorboard as tb  # noqa: PLC0415

        try:
            logdir = records.logdir(records.load(check_id(request.path_params["run_id"])))
            board = await run_in_threadpool(tb.start, logdir)  # waits for TensorBoard to answer
        except LaunchError as exc:
            return error(exc)
        return JSONResponse({"url": board.url, "reused": board.reused})

    async def model_zip(request: Request):
        run_id = request.path_params["run_id"]
        try:
            path = await run_in_threadpool(service.model_zip, run_id)  # zips the checkpoint: seconds for a big model
        except LaunchError as exc:
            return error(exc, 409)
        return FileResponse(str(path), media_type="application/zip", filename=f"{run_id}-model.zip",
                            background=BackgroundTask(path.unlink, missing_ok=True))

    async def put_transfer(request: Request):
        run_id = request.path_params["run_id"]
        try:
            run = service.status(run_id)
            if not run["local"]:
                raise InputError("this run's model is in Cloud Storage", f"ddsp-launch download {run_id} MODEL_DIR, then ddsp-launch transfer")
            if not run["has_checkpoint"]:
                raise InputError("no complete checkpoint yet", "wait for the first checkpoint")
            declared = int(request.headers["content-length"]) if "content-length" in request.headers else None
            recording = await uploads.receive(request.stream(), Path(run["output"]) / "transfers", request.path_params["name"],
                                              limit, declared)
            t = service.start_transfer(run_id, recording)
        except LaunchError as exc:
            return error(exc)
        return JSONResponse({"transfer": t.id})

    async def get_transfer(request: Request):
        try:
            t = service.transfer(request.path_params["tid"])
        except LaunchError as exc:
            return error(exc, 404)
        state = t.state()
        message = tail(t.log, 4000).strip().splitlines()[-1:] if state != "running" else []
        return JSONResponse({"state": state, "message": message[0] if message else "",
                             "url": f"/api/transfers/{t.id}/audio" if state == "succeeded" else None})

    async def transfer_audio(request: Request):
        try:
            t = service.transfer(request.path_params["tid"])
        except LaunchError as exc:
            return error(exc, 404)
        if t.state() != "succeeded":
            return PlainTextResponse("not ready", status_code=409)
        return FileResponse(str(t.result), media_type="audio/wav", filename=t.result.name)

    async def home(request: Request):
        return RedirectResponse("/runs" if service.summaries() else "/new", status_code=303)

    routes = [
        Route("/", home),
        Route("/new", new_page),
        Route("/runs", runs_page),
        Route("/runs/{run_id}", run_page),
        Route("/runs/{run_id}/model.zip", model_zip),
        Route("/api/uploads", new_upload, methods=["POST"]),
        Route("/api/uploads/{upload}/{name:path}", put_upload, methods=["PUT"]),
        Route("/api/check", check, methods=["POST"]),
        Route("/api/runs", launch, methods=["POST"]),
        Route("/api/runs", api_runs, methods=["GET"]),
        Route("/api/runs/{run_id}", api_run),
        Route("/api/runs/{run_id}/log", api_log),
        Route("/api/runs/{run_id}/cancel", cancel, methods=["POST"]),
        Route("/api/runs/{run_id}/tensorboard", tensorboard, methods=["POST"]),
        Route("/api/runs/{run_id}/transfers/{name:path}", put_transfer, methods=["PUT"]),
        Route("/api/transfers/{tid}", get_transfer),
        Route("/api/transfers/{tid}/audio", transfer_audio),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        service.stop_transfers()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.service = service
    return TokenGate(app, token) if token else app
