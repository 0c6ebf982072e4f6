"""The local target: train on this machine, in the training image (Docker) or as a process.

Data may be local (a dataset, a TFRecord glob, or audio prepared here first) or gs://, and
so may the output. A GPU run needs an NVIDIA GPU here (and in Docker, its runtime): refused
before an image is built or a run recorded, never trained on the CPU instead.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from ddsp_launch.common import datasets, eval_log, image_refs, paths
from ddsp_launch.common.gcs import GcsUri
from ddsp_launch.launch import doctor, probe, records, steps
from ddsp_launch.launch.settings import Settings
from ddsp_launch.launch.targets.base import Accepts
from ddsp_launch.spec import LocalTarget, RunSpec

ACCEPTS = Accepts(local_output=True, uploads_data=False)


def finalize(s: Settings) -> Settings:
    if s.values.get("device") is None:
        s.values["device"] = "gpu" if doctor.has_nvidia_gpu() else "cpu"
        s.origin.setdefault("device", "default")
    return s


def target_of(s: Settings) -> tuple[LocalTarget, tuple[str, ...]]:
    from ddsp_launch.image.build import check_ca_bundle

    image = image_refs.check_reference(s.image) if s.image else None
    ca_bundle = check_ca_bundle(Path(s.ca_bundle)) if s.ca_bundle else None
    return LocalTarget(s.target, s.device or "cpu", image, s.base_image, ca_bundle), ()


def plan(spec: RunSpec) -> str:
    """The TFRecords the trainer will read (those `prepare` is yet to write, when DATA is audio)."""
    return datasets.planned_pattern(spec.prepare_to) if spec.prepare_to else datasets.pattern(spec.data)


def dry_run(spec: RunSpec, file_pattern: str, echo, say) -> None:
    """The commands it would run: the trainer as a process, or the image build and `docker run`."""
    from ddsp_launch.image import build as image_build
    from ddsp_launch.runtime import container, local

    if spec.prepare_to:
        say(f"would prepare {spec.data} into {spec.prepare_to} first")
    say(cost(spec))
    if spec.target.runtime == "process":
        echo(shlex.join([sys.executable, "-m", "ddsp_launch.trainer.task", *local.process_argv(spec, file_pattern)]))
        return
    image = spec.target.image
    if image is None:
        bplan = image_build.plan(local.build_spec(spec))
        for line in bplan.printed():
            echo(line)
        image = bplan.local_ref
    echo(container.plan(spec, image, file_pattern).command_line())


def cost(spec: RunSpec) -> str:
    return "\n".join(probe.lines(spec))


def preflight(spec: RunSpec) -> list[doctor.Check]:
    out = spec.output if isinstance(spec.output, Path) else Path.cwd()
    checks = [doctor.disk_check(out, 5.0 if spec.target.runtime == "docker" else 1.0)]
    if spec.target.device == "gpu":
        checks += doctor.gpu_checks(spec.target.runtime)  # never a CPU run recorded as a GPU one
    return checks


def logdir(spec: RunSpec) -> str:
    return paths.join(str(spec.output), paths.SUMMARIES)


def act(spec: RunSpec, file_pattern: str, run: steps.Run) -> int:
    from ddsp_launch.runtime import local

    if spec.prepare_to:
        steps.prepare(spec, run.say, run.progress)
        file_pattern = datasets.pattern(spec.prepare_to)
    run.say(cost(spec))
    run.record["data_fingerprint"] = _fingerprint(spec.dataset)
    if isinstance(spec.output, Path):
        spec.output.mkdir(parents=True, exist_ok=True)
    steps.tensorboard(spec, logdir(spec), run)
    run.save(state="running")
    outcome = local.run(spec, file_pattern, run.say, run.progress)
    run.record.update(runtime=outcome.runtime, image=outcome.image, exit_code=outcome.exit_code, finished=records.now(),
                      state={0: "succeeded", 130: "interrupted", 143: "interrupted"}.get(outcome.exit_code, "failed"))
    if outcome.image:
        run.record["image_id"] = _image_id(outcome.image)
    end = eval_log.run_end(spec.output) if isinstance(spec.output, Path) else None
    if end is not None:  # why the trainer stopped (finished, early stop and why, a signal), and the best step
        run.record.update(stop_reason=end.get("reason"), best_step=end.get("best_step"))
    speed = probe.read_speed(spec.output) if isinstance(spec.output, Path) and outcome.exit_code == 0 else None
    if speed is not None and speed.get("steps", 0) > probe.PROBE_STEPS:  # longer than a probe: a better figure
        run.record["speed"] = probe.remember(spec, speed, f"{speed['steps']}-step run {run.record['id']}")
    return outcome.exit_code


def _fingerprint(dataset) -> str | None:
    return None if isinstance(dataset, GcsUri) else records.fingerprint(dataset)


def _image_id(image: str) -> str | None:
    try:
        from ddsp_launch.adapters import docker_engine

        return docker_engine.connect().image_id(image)
    except Exception:  # noqa: BLE001 - the record is still useful without it
        return None
