"""Train on this machine: in the training image (Docker) or as a local process.

``auto`` uses Docker when its engine answers and says so when it falls back to the
process runtime. The container's (or process's) exit code becomes the command's.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ddsp_launch.common.errors import EngineUnavailable, ImageError
from ddsp_launch.image import build as image_build
from ddsp_launch.runtime import container, process
from ddsp_launch.spec import LocalRunSpec, resolve_ca_bundle

Say = Callable[[str], None]


@dataclass
class Outcome:
    runtime: str
    exit_code: int
    image: str | None = None
    command: list[str] | None = None


def choose_runtime(spec: LocalRunSpec, say: Say):
    """(runtime name, engine or None). Explicit choices are honoured or fail clearly."""
    if spec.runtime == "process":
        return "process", None
    from ddsp_launch.adapters import docker_engine

    try:
        return "docker", docker_engine.connect()
    except EngineUnavailable as exc:
        if spec.runtime == "docker":
            raise
        say(f"Docker is not available ({exc.message}): training as a local process instead (--runtime process).")
        return "process", None


def build_spec(spec: LocalRunSpec) -> image_build.BuildSpec:
    from ddsp_launch.image import dockerfile

    return image_build.BuildSpec(
        variant=spec.device, base_image=spec.base_image or dockerfile.DEFAULT_BASE_IMAGE,
        ca_bundle=resolve_ca_bundle(spec.ca_bundle),
    )


def process_argv(spec: LocalRunSpec) -> list[str]:
    output = spec.output if spec.output_is_gcs else str(Path(spec.output).resolve())
    return [f"--save_dir={output}", f"--file_pattern={spec.file_pattern()}", *spec.params.task_args()]


def run(spec: LocalRunSpec, say: Say, progress: Say) -> Outcome:
    spec.validate()
    if spec.device == "gpu":  # refused before any image is built, never trained on the CPU instead
        from ddsp_launch.launch import doctor

        doctor.require(doctor.gpu_checks(spec.runtime))
    runtime, engine = choose_runtime(spec, say)
    if runtime == "process":
        return _run_process(spec, say)

    image = spec.image
    if image is None:
        plan = image_build.plan(build_spec(spec))
        if engine.image_id(plan.local_ref) is None:
            say(f"building the training image {plan.local_ref} from {plan.spec.base_image} "
                "(the first build downloads the pinned stack: several minutes)")
        try:
            result = image_build.build(plan, engine, progress, warn=say)
        except ImageError as exc:
            if spec.runtime == "auto" and "base image cannot be pulled" in exc.message:
                say(f"{exc}\nTraining as a local process instead (--runtime process).")
                return _run_process(spec, say)
            raise
        image = result.image
        say(f"image: {image} ({'built' if result.built else 'up to date'}; record {result.record})")
    elif engine.image_id(image) is None:
        say(f"pulling {image}")
        engine.pull(image, None)

    cplan = container.plan(spec, image)
    output_dir = None if spec.output_is_gcs else Path(spec.output).resolve()
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        if cplan.user == container.IMAGE_USER:
            container.chown_tree(output_dir, *container.IMAGE_IDS)
    say("runtime: docker\n  " + cplan.command_line())
    try:
        with process.sigterm_as_interrupt():
            code = engine.run(cplan.image, list(cplan.args), cplan.sdk_create_kwargs(), cplan.sdk_host_config(),
                              write_stdout)
    finally:
        if output_dir is not None and cplan.user == container.IMAGE_USER:
            container.chown_tree(output_dir, os.getuid(), os.getgid())  # hand the outputs back to the host user
    return Outcome("docker", code, image=image, command=cplan.argv())


def _run_process(spec: LocalRunSpec, say: Say) -> Outcome:
    process.require_trainer_stack("the process runtime")
    argv = process_argv(spec)
    say(f"runtime: local process ({sys.executable} -m ddsp_launch.trainer.task)")
    return Outcome("process", process.run_module("ddsp_launch.trainer.task", argv), command=argv)


def write_stdout(chunk: bytes) -> None:
    sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()
