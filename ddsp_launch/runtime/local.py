"""Train on this machine: in the training image (Docker) or as a local process.

``auto`` uses Docker when its engine answers and says so when it falls back to the
process runtime. The container's (or process's) exit code becomes the command's.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from ddsp_launch.common.errors import EngineUnavailable, ImageError
from ddsp_launch.common.gcs import GcsUri
from ddsp_launch.image import build as image_build
from ddsp_launch.runtime import container, process
from ddsp_launch.spec import LocalTarget, RunSpec, task_argv

Say = Callable[[str], None]


@dataclass
class Outcome:
    runtime: str
    exit_code: int
    image: str | None = None
    command: list[str] | None = None


def _target(spec: RunSpec) -> LocalTarget:
    return spec.target  # a LocalTarget: launch/targets routes only those here


def choose_runtime(spec: RunSpec, say: Say):
    """(runtime name, engine or None). Explicit choices are honoured or fail clearly."""
    if _target(spec).runtime == "process":
        return "process", None
    from ddsp_launch.adapters import docker_engine

    try:
        return "docker", docker_engine.connect()
    except EngineUnavailable as exc:
        if _target(spec).runtime == "docker":
            raise
        say(f"Docker is not available ({exc.message}): training as a local process instead (--runtime process).")
        return "process", None


def build_spec(spec: RunSpec) -> image_build.BuildSpec:
    from ddsp_launch.image import dockerfile

    target = _target(spec)
    return image_build.BuildSpec(
        variant=target.device, base_image=target.base_image or dockerfile.DEFAULT_BASE_IMAGE,
        ca_bundle=image_build.resolve_ca_bundle(target.ca_bundle),
    )


def process_argv(spec: RunSpec, file_pattern: str) -> list[str]:
    output = str(spec.output) if isinstance(spec.output, GcsUri) else str(spec.output.resolve())
    return task_argv(spec, file_pattern, save_dir=output)


def image_for(spec: RunSpec, engine, say: Say, progress: Say) -> str | None:
    """The image a Docker run of ``spec`` uses (built from this package if missing, or pulled);
    None when ``auto`` cannot build it (no base image) and the process runtime should be used."""
    image = _target(spec).image
    if image is None:
        plan = image_build.plan(build_spec(spec))
        if engine.image_id(plan.local_ref) is None:
            say(f"building the training image {plan.local_ref} from {plan.spec.base_image} "
                "(the first build downloads the pinned stack: several minutes)")
        try:
            result = image_build.build(plan, engine, progress, warn=say)
        except ImageError as exc:
            if _target(spec).runtime == "auto" and "base image cannot be pulled" in exc.message:
                say(f"{exc}\nUsing the local process instead (--runtime process).")
                return None
            raise
        image = result.image
        say(f"image: {image} ({'built' if result.built else 'up to date'}; record {result.record})")
    elif engine.image_id(image) is None:
        say(f"pulling {image}")
        engine.pull(image, None)
    return image


def run(spec: RunSpec, file_pattern: str, say: Say, progress: Say) -> Outcome:
    """Train ``spec`` here on ``file_pattern`` (its dataset prepared, the machine checked: see launch/targets/local)."""
    runtime, engine = choose_runtime(spec, say)
    if runtime == "process":
        return _run_process(spec, file_pattern, say)
    image = image_for(spec, engine, say, progress)
    if image is None:
        return _run_process(spec, file_pattern, say)

    cplan = container.plan(spec, image, file_pattern)
    output_dir = None if isinstance(spec.output, GcsUri) else spec.output.resolve()
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


def _run_process(spec: RunSpec, file_pattern: str, say: Say) -> Outcome:
    process.require_trainer_stack("the process runtime")
    argv = process_argv(spec, file_pattern)
    say(f"runtime: local process ({sys.executable} -m ddsp_launch.trainer.task)")
    return Outcome("process", process.run_module("ddsp_launch.trainer.task", argv), command=argv)


def write_stdout(chunk: bytes) -> None:
    sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()
