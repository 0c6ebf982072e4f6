"""Building the CPU image with a real Docker engine: tags, cache, no secrets in layers, errors."""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from ddsp_launch.image import build as image_build
from ddsp_launch.common.errors import ImageError
from ddsp_launch.image import context, dockerfile
from tests.conftest import BASE_IMAGE, TEST_CA_MARKER, ddsp_launch

pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.timeout(2400)]  # a cold image build


def test_build_is_content_addressed_recorded_and_a_noop_when_unchanged(docker_engine, cpu_image, tmp_path):
    expected = image_build.plan(image_build.BuildSpec("cpu", BASE_IMAGE)).local_ref
    assert cpu_image == expected and re.fullmatch(r"ddsp-launch:cpu-[0-9a-f]{12}", cpu_image)
    config = docker_engine.api.inspect_image(cpu_image)["Config"]
    assert config["User"] == "ddsp" and config["Entrypoint"] == ["python", "-m", "ddsp_launch.trainer.task"]

    again = ddsp_launch("build", "--cpu", "--base-image", BASE_IMAGE, env={"DDSP_LAUNCH_HOME": str(tmp_path)}, check=True)
    assert "up to date, not rebuilt" in again.stdout and "Step 1/" not in again.stderr
    record = json.loads(next((tmp_path / "images").glob("cpu-*.json")).read_text())
    assert record["image"] == cpu_image and record["image_id"] == docker_engine.image_id(cpu_image)
    assert record["built"] is False and record["base_image"] == BASE_IMAGE


def test_the_image_runs_the_pinned_stack_as_a_non_root_user(docker_engine, cpu_image):
    out = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "python", cpu_image, "-c",
         "import os, importlib.metadata as m; print(os.getuid(), m.version('tensorflow-cpu'), m.version('ddsp'))"],
        capture_output=True, text=True, check=True, timeout=300,
    ).stdout.split()
    lock = (dockerfile.PROJECT_ROOT / dockerfile.CPU_LOCK).read_text()
    assert out[0] == "1000"
    assert f"tensorflow-cpu=={out[1]}" in lock and f"ddsp=={out[2]}" in lock


def _copy_project(tmp_path: Path) -> Path:
    """The image's sources, copied, with a code-only change (so a new tag)."""
    root = context.copy_sources(tmp_path / "proj")
    with (root / "ddsp_launch" / "trainer" / "task.py").open("a") as f:
        f.write("\n# a code-only change\n")
    return root


def test_a_code_only_change_rebuilds_only_the_code_layer(docker_engine, cpu_image, build_ca_bundle, tmp_path):
    """Build a copy of the project (A), change only code, build again (B): B reuses every
    layer of A but the last. (A is itself a code-only change of the session's image.)"""
    root = _copy_project(tmp_path)
    spec = image_build.BuildSpec("cpu", BASE_IMAGE, ca_bundle=build_ca_bundle)
    built = []
    try:
        layers, cached = [], []
        for change in ("a", "b"):
            with (root / "ddsp_launch" / "trainer" / "task.py").open("a") as f:
                f.write(f"# code-only change {change}\n")
            ctx = context.collect("cpu", BASE_IMAGE, root=root)
            plan = image_build.BuildPlan(spec, ctx, ctx.tag())
            lines: list[str] = []
            result = image_build.build(plan, docker_engine, lines.append)
            built.append(result.image)
            assert result.built and result.image != cpu_image
            layers.append(docker_engine.api.inspect_image(result.image)["RootFS"]["Layers"])
            cached.append(sum("Using cache" in line for line in lines))
        a, b = layers
        assert len(a) == len(b) and a[:-1] == b[:-1] and a[-1] != b[-1]
        assert cached[1] >= 4  # environment stage, system packages, the venv copy: all from cache
    finally:
        for image in built:
            docker_engine.api.remove_image(image, force=True)


def test_no_ca_bundle_or_credentials_in_any_layer(docker_engine, cpu_image):
    marker = TEST_CA_MARKER.read_text().splitlines()[3].encode()  # a line of the marker's base64 body
    names_seen = 0
    forbidden = re.compile(r"(^|/)(build-ca\.pem|application_default_credentials\.json|\.docker/config\.json)$")
    found: list[str] = []
    outer = tarfile.open(fileobj=_Stream(docker_engine.export_layers(cpu_image)), mode="r|")
    for member in outer:
        if not member.name.endswith("layer.tar"):
            continue
        with tarfile.open(fileobj=outer.extractfile(member), mode="r|") as layer:
            for entry in layer:
                names_seen += 1
                if forbidden.search(entry.name):
                    found.append(f"{member.name}: {entry.name}")
                if entry.isfile() and entry.size:
                    if marker in layer.extractfile(entry).read():
                        found.append(f"{member.name}: {entry.name} holds the CA marker")
    assert names_seen > 10000 and not found
    env = docker_engine.api.inspect_image(cpu_image)["Config"]["Env"]
    assert not any(e.startswith(("PIP_CERT=", "REQUESTS_CA_BUNDLE=", "SSL_CERT_FILE=")) for e in env)


class _Stream:
    """A file-like view of the SDK's chunked `docker save` stream."""

    def __init__(self, chunks):
        self.chunks, self.buf = iter(chunks), b""

    def read(self, n=-1):
        while n < 0 or len(self.buf) < n:
            try:
                self.buf += next(self.chunks)
            except StopIteration:
                break
        out, self.buf = (self.buf, b"") if n < 0 else (self.buf[:n], self.buf[n:])
        return out


def test_a_base_image_that_cannot_be_pulled_is_a_clear_error(docker_engine):
    proc = ddsp_launch("build", "--cpu", "--base-image", "registry.invalid/nothing:1", timeout=300)
    assert proc.returncode == 5, proc.stderr
    assert "the base image cannot be pulled" in proc.stderr and "--base-image" in proc.stderr


def test_the_ca_bundle_is_what_pip_trusts_in_the_build(docker_engine, tmp_path):
    """A bundle holding only the (unrelated) marker certificate must make pip fail, which
    shows the bundle reaches pip; the error names the fix."""
    root = _copy_project(tmp_path)
    ctx = context.collect("cpu", BASE_IMAGE, root=root)
    plan = image_build.BuildPlan(image_build.BuildSpec("cpu", BASE_IMAGE, ca_bundle=TEST_CA_MARKER), ctx, ctx.tag())
    with pytest.raises(ImageError) as err:
        image_build.build(plan, docker_engine, lambda line: None)
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value) or "certificate verify failed" in str(err.value)
    assert "--ca-bundle" in str(err.value)
    assert docker_engine.image_id(plan.local_ref) is None
