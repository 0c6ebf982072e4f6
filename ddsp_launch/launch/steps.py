"""The steps every target's launch shares: the run record as it goes, preparing audio here,
uploading a prepared dataset, starting TensorBoard on the run's logs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ddsp_launch.common import gcs
from ddsp_launch.common.errors import InputError, LaunchError
from ddsp_launch.launch import records
from ddsp_launch.spec import RunSpec

Say = Callable[[str], None]
EVAL_FRACTION = 0.1  # held out by the launcher's prepare step: the trainer evaluates on it (trainer/evaluation.py)


@dataclass
class Run:
    """One launch under way: its record (rewritten at each step) and where messages go."""

    record: dict
    say: Say
    progress: Say
    tensorboard_start: Callable | None = None  # `ddsp-launch web` starts its own, on demand

    def save(self, **changes) -> None:
        self.record.update(changes)
        records.write(self.record)


def prepare(spec: RunSpec, say: Say, progress: Say | None = None) -> Path:
    """Prepare the audio of ``spec.data`` into ``spec.prepare_to`` (unless that is done), on this
    machine: where a local run trains (its image, or the process), else (a Vertex AI run, a
    local sweep) with the training stack here, or in the CPU training image when it is missing.
    The same `ddsp-launch prepare` as the command line (runtime/tools.py), holding out an eval
    split (EVAL_FRACTION of the audio's chunks, when there are two or more)."""
    from ddsp_launch.runtime import process, tools
    from ddsp_launch.spec import LocalTarget

    progress = progress or say
    target = spec.prepare_to
    if (target / "manifest.json").is_file():
        say(f"dataset {target} is already prepared")
        return target
    args = [str(spec.data), str(target), "--model", spec.params.model, "--eval-fraction", str(EVAL_FRACTION)]
    say(f"preparing {spec.data} -> {target}")
    if isinstance(spec.target, LocalTarget):
        from ddsp_launch.runtime import local

        runtime, engine = local.choose_runtime(spec, say)
        image = local.image_for(spec, engine, say, progress) if runtime == "docker" else None
        if image is None:
            process.require_trainer_stack("preparing audio")
            code = process.run_module(tools.MODULES["prepare"], args)
        else:
            tools.checked("prepare", args)
            code = tools.run_in_image("prepare", args, image, engine, say)
    else:
        code = tools.run("prepare", args, say, progress)
    if code != 0:
        raise InputError(f"preparing {spec.data} failed (exit {code})", "see the messages above")
    return target


def upload(dataset: Path, uri: gcs.GcsUri, run: Run) -> None:
    """Upload a prepared dataset for a run that reads it from Cloud Storage."""
    from ddsp_launch.adapters import storage

    pairs = storage.plan_upload(dataset, uri)
    total = storage.total_bytes([p for p, _ in pairs])
    run.say(f"uploading the dataset {dataset} ({total / 1e6:.1f} MB) to {uri}")
    sent = [0]

    def advance(n: int) -> None:
        sent[0] += n
        run.progress(f"uploaded {sent[0] / 1e6:.1f} / {total / 1e6:.1f} MB")

    done = storage.upload(dataset, uri, gcs.make_client(), advance)
    run.say(done.summary("uploaded"))
    run.save(dataset=str(dataset), uploaded_data=str(uri))


def tensorboard(spec: RunSpec, logdir: str, run: Run) -> None:
    """TensorBoard on the run's logs (a running one reused), unless the spec says no."""
    if not spec.tensorboard:
        return
    from ddsp_launch.adapters import tensorboard as tb

    try:
        board = (run.tensorboard_start or tb.start)(logdir)
    except LaunchError as exc:
        run.say(f"TensorBoard not started: {exc}")
        return
    run.record["tensorboard"] = {"url": board.url, "logdir": board.logdir, "source": board.source, "pid": board.pid}
    run.say(f"TensorBoard: {board.url}  ({'already running' if board.reused else 'started'}, logs {logdir})")
