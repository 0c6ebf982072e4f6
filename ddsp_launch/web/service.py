"""What the web pages do, without HTTP: check and start runs, follow them, cancel them,
pack a model, run a timbre transfer. A second front end on the launcher's core.

A run is started as `ddsp-launch train --config FILE --yes` in its own process group (the
same settings, checks, runtime choice and run record as the command line; the record is
named by us, so `ddsp-launch runs` shows the same run). Its output goes to
``runs/ID.log`` beside the record; step and loss are read from the trainer's lines there.
Files the pages receive are written only inside the workspace or the run's own folder.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ddsp_launch.common import eval_log, gcs, model_files, paths, presets, private
from ddsp_launch.common.errors import InputError
from ddsp_launch.launch import launcher, records, resolve
from ddsp_launch.launch import settings as st
from ddsp_launch.web import uploads
from ddsp_launch.web.policy import Policy

STEP_LINE = re.compile(r"^step (\d+)/(\d+)\s+total_loss (\S+)", re.M)


class NotFound(InputError):
    status = 404


class NotReady(InputError):
    status = 409


def log_path(run_id: str) -> Path:
    return paths.runs_dir() / f"{run_id}.log"


def check_id(run_id: str) -> str:
    if not records.valid_id(run_id):
        raise NotFound(f"no run {run_id!r}", "pick one from the runs page")
    return run_id


# ---- a run from the page ----------------------------------------------------------------
def run_from_form(form: dict, upload_dir: Path | None, policy: Policy) -> launcher.Checked:
    """The page's answers, resolved and checked exactly as `ddsp-launch train` resolves and
    checks flags (same conversions, same rules, same messages), over the server's own
    settings (see policy.py). With uploaded audio the data is the upload folder, prepared
    beside it first."""
    flags = policy.page_settings(form)
    for name in ("gin_file", "gin_param"):
        if isinstance(flags.get(name), str):
            flags[name] = [line.strip() for line in flags[name].splitlines() if line.strip()]
    st.check_gin(flags, "the page")
    if upload_dir is not None:
        flags["data"] = str(upload_dir / "audio")
        flags["prepare_to"] = str(upload_dir / "dataset")
    flags["tensorboard"] = False
    return launcher.check(resolve.finalize(st.resolve(flags, policy.server, os.environ)))


# ---- following a run ----------------------------------------------------------------------
@dataclass
class Progress:
    step: int | None = None
    num_steps: int | None = None
    losses: list[tuple[int, float]] = field(default_factory=list)


def progress(log: Path) -> Progress:
    if not log.is_file():
        return Progress()
    p = Progress()
    for m in STEP_LINE.finditer(log.read_text(errors="replace")):
        try:
            loss = float(m.group(3))
        except ValueError:
            continue
        p.step, p.num_steps = int(m.group(1)), int(m.group(2))
        p.losses.append((p.step, loss))
    return p


def tail(log: Path, max_bytes: int = 24_000) -> str:
    if not log.is_file():
        return ""
    with open(log, "rb") as f:
        f.seek(max(0, log.stat().st_size - max_bytes))
        return f.read().decode(errors="replace")


def checkpoint_step(output: str | None) -> int | None:
    """The step of the newest complete checkpoint in a local run folder (None: none yet, or gs://)."""
    if not output or gcs.is_gcs(output) or not Path(output).is_dir():
        return None
    try:
        model = model_files.newest_in(Path(output))
    except InputError:  # a checkpoint without its operative config: not a usable model
        return None
    return model.step if model else None


def held_out(output: str | None) -> dict:
    """A local run's held-out evaluations for its page: [[step, spectral loss], ...] and the best checkpoint's step."""
    if not output or gcs.is_gcs(output) or not Path(output).is_dir():
        return {"evals": [], "best_step": None}
    evals = [[e["step"], e["spectral_loss"]] for e in eval_log.entries(Path(output)) if isinstance(e.get("spectral_loss"), (int, float))]
    best = eval_log.best(Path(output))
    return {"evals": evals, "best_step": best["step"] if best else None}


def statistics_for(record: dict) -> Path | None:
    """The dataset statistics of a local run: beside its prepared dataset."""
    s = record.get("settings", {})
    for folder in (s.get("prepare_to"), s.get("data")):
        if folder and not gcs.is_gcs(folder) and Path(folder).is_dir() and (found := model_files.statistics_in(Path(folder))):
            return found
    return None


def health_for(record: dict) -> list[str] | None:
    """The health report of a local run's prepared dataset (its manifest's), as prepare printed it."""
    import json

    from ddsp_launch.common import health

    s = record.get("settings", {})
    for folder in (s.get("prepare_to"), s.get("data")):
        if folder and not gcs.is_gcs(folder) and (Path(folder) / presets.MANIFEST).is_file():
            try:
                report = json.loads((Path(folder) / presets.MANIFEST).read_text()).get("health")
                return health.lines(report) if report else None
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                return None
    return None


# ---- the processes this server started ----------------------------------------------------
@dataclass
class Transfer:
    id: str
    input: Path
    result: Path
    log: Path
    process: subprocess.Popen

    def state(self) -> str:
        code = self.process.poll()
        return "running" if code is None else ("succeeded" if code == 0 and self.result.is_file() else "failed")


class Service:
    def __init__(self, workspace: Path, limits: uploads.Limits = uploads.Limits()):
        self.workspace, self.limits = workspace, limits
        self.processes: dict[str, subprocess.Popen] = {}
        self.transfers: dict[str, Transfer] = {}
        self.uploads: dict[str, uploads.Box] = {}  # issued by this process only

    # uploads for a new run
    def new_upload(self) -> str:
        upload_id = secrets.token_hex(6)
        folder = private.private_dir(private.private_dir(self.workspace / "uploads") / upload_id)
        self.uploads[upload_id] = uploads.Box(folder, self.limits)
        return upload_id

    def upload(self, upload_id) -> uploads.Box:
        box = self.uploads.get(upload_id) if isinstance(upload_id, str) else None
        if box is None:
            raise uploads.UploadRefused(404, f"unknown upload {str(upload_id)[:40]!r}: this server did not issue it",
                                        "start again from the new-run page (uploads are kept only while the server runs)")
        return box

    def clean_uploads(self) -> list[Path]:
        """Remove upload folders older than a day that no recorded run reads (at server start)."""
        root = self.workspace / "uploads"
        used = set()
        for rec in records.all_records():
            for key in ("data", "prepare_to"):
                value = str(rec.get("settings", {}).get(key) or "")
                parts = Path(value).relative_to(root).parts if value and Path(value).is_relative_to(root) else ()
                used.update(root / part for part in parts[:1])
        return uploads.clean_old(root, used)

    def start(self, run: launcher.Checked) -> str:
        """Start `ddsp-launch train` on these settings; returns the run id."""
        launcher.preflight(run)
        run_id = records.new_id(run.settings.target)
        config = st.save(run.settings, private.private_dir(self.workspace / "configs") / f"{run_id}.yaml")
        log = log_path(run_id)
        private.private_dir(log.parent)
        env = {**os.environ, "DDSP_LAUNCH_RUN_ID": run_id, "PYTHONUNBUFFERED": "1"}
        with private.open_file(log, "ab") as out:
            self.processes[run_id] = subprocess.Popen(
                [sys.executable, "-m", "ddsp_launch", "train", "--config", str(config), "--yes"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        return run_id

    def status(self, run_id: str) -> dict:
        check_id(run_id)
        try:
            record = records.load(run_id)
        except InputError:
            record = None
        proc = self.processes.get(run_id)
        alive = proc is not None and proc.poll() is None
        if record is None:
            if proc is None:
                raise NotFound(f"no run {run_id!r}", "pick one from the runs page")
            state = "starting" if alive else "failed"
            record = {"id": run_id, "state": state}
        elif not alive and proc is not None and record.get("state") in ("starting", "running"):
            record = {**record, "state": "failed"}  # the launcher died without saying so
        prog = progress(log_path(run_id))
        output = record.get("output")
        saved = checkpoint_step(output)
        return {
            "id": run_id, "state": record.get("state"), "target": record.get("target"), "output": output,
            "created": record.get("created"), "command_line": record.get("command_line"), "job": record.get("job"),
            "console": record.get("console"),
            "step": prog.step if prog.step is not None else saved,  # runs started elsewhere: the newest checkpoint's
            "num_steps": prog.num_steps or record.get("settings", {}).get("num_steps"),
            "loss": prog.losses[-1][1] if prog.losses else None, "losses": prog.losses,
            "can_cancel": alive, "has_checkpoint": saved is not None,
            "model": record.get("settings", {}).get("model") or presets.DEFAULT,
            "local": bool(output) and not gcs.is_gcs(output),
            "health": health_for(record),
            **held_out(output),
        }

    def summaries(self) -> list[dict]:
        out = []
        for rec in records.all_records():
            try:
                out.append(self.status(rec["id"]))
            except (InputError, KeyError):
                continue
        return out

    def cancel(self, run_id: str) -> bool:
        """Ctrl-C to the run's process group: the trainer saves a checkpoint, the record says interrupted."""
        proc = self.processes.get(check_id(run_id))
        if proc is None or proc.poll() is not None:
            return False
        os.killpg(proc.pid, signal.SIGINT)
        return True

    def model_zip(self, run_id: str) -> Path:
        """A zip of the best checkpoint by held-out loss (else the newest complete one), its operative
        config and the dataset statistics."""
        record = records.load(check_id(run_id))
        output = record.get("output") or ""
        if gcs.is_gcs(output):
            raise NotReady("this run's model is in Cloud Storage", f"ddsp-launch download {run_id} MODEL_DIR")
        model = model_files.choose_in(Path(output)) if Path(output).is_dir() else None
        if model is None:
            raise NotReady("no complete checkpoint yet", "wait for the first checkpoint (every steps_per_save steps)")
        files = [Path(output) / n for n in model.names]
        statistics = statistics_for(record)
        if model.statistics is None and statistics is not None:
            files.append(statistics)
        fd, name = tempfile.mkstemp(prefix=f"{run_id}-", suffix=".zip", dir=self.workspace)
        os.close(fd)
        with zipfile.ZipFile(name, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            for f in files:
                z.write(f, f"{run_id}/{f.name}")
        return Path(name)

    def plugin_model(self, run_id: str) -> tuple[Path, Path]:
        """The run's model exported for the DDSP-VST plugin by `ddsp-launch export --vst` (checked
        against the plugin's rules there): (NAME.tflite, the scratch folder holding it)."""
        record = records.load(check_id(run_id))
        output = record.get("output") or ""
        if gcs.is_gcs(output):
            raise NotReady("this run's model is in Cloud Storage",
                           f"ddsp-launch download {run_id} MODEL_DIR, then ddsp-launch export MODEL_DIR --vst")
        if (record.get("settings", {}).get("model") or presets.DEFAULT) != presets.VST.name:
            raise NotReady("the DDSP-VST plugin plays models trained for it, and this run trains solo_instrument",
                           "start a run with the model 'vst' (its data prepared for it)")
        if checkpoint_step(output) is None:
            raise NotReady("no complete checkpoint yet", "wait for the first checkpoint (every steps_per_save steps)")
        stats = statistics_for(record)
        scratch = Path(tempfile.mkdtemp(prefix=f"{run_id}-vst-", dir=self.workspace))
        argv = [sys.executable, "-m", "ddsp_launch", "export", output, "-o", str(scratch / "export"), "--vst", "--name", run_id,
                *(["--statistics", str(stats)] if stats else [])]
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if proc.returncode != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            lines = [line for line in proc.stderr.splitlines() if line.startswith(("error:", "  Fix:"))]
            raise InputError(" ".join(lines) or f"the export failed (exit {proc.returncode})", "see `ddsp-launch export --help`")
        return scratch / "export" / f"{run_id}.tflite", scratch

    def start_transfer(self, run_id: str, recording: Path) -> Transfer:
        record = records.load(check_id(run_id))
        output = Path(record["output"])
        stats = statistics_for(record)
        tid = secrets.token_hex(6)
        result = recording.with_name(f"{recording.stem}-{tid}-transferred.wav")
        log = recording.with_name(f"{recording.stem}-{tid}.log")
        argv = [sys.executable, "-m", "ddsp_launch", "transfer", str(output), str(recording), "-o", str(result)]
        if stats is not None:
            argv += ["--statistics", str(stats)]
        with private.open_file(log, "wb") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        self.transfers[tid] = Transfer(tid, recording, result, log, proc)
        return self.transfers[tid]

    def transfer(self, tid: str) -> Transfer:
        if tid not in self.transfers:
            raise NotFound(f"no transfer {tid!r}", "upload the recording again")
        return self.transfers[tid]

    def stop_transfers(self) -> None:
        """On shutdown: transfers end with the server; training runs go on (see `ddsp-launch runs`)."""
        for t in self.transfers.values():
            if t.process.poll() is None:
                os.killpg(t.process.pid, signal.SIGINT)
