"""README: `ddsp-launch build --dry-run` prints the Dockerfile and the docker commands only,
and `ddsp-launch run --dry-run` the exact `docker run` command; neither builds, starts,
writes or records anything. DOCKER_HOST names a socket nothing listens on, so a dry run
that reached for an engine would fail."""

from __future__ import annotations

import shlex
from pathlib import Path

from tests.conftest import ROOT, ddsp_launch


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")) if folder.exists() else []


def test_build_dry_run_prints_the_committed_dockerfile_and_the_build_command(tmp_path):
    env = {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock", "DDSP_LAUNCH_HOME": str(tmp_path / "home")}
    proc = ddsp_launch("build", "--cpu", "--dry-run", env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith((ROOT / "Dockerfile.cpu").read_text())  # the file a test keeps equal to the template
    [build] = [line for line in proc.stdout.splitlines() if line.startswith("docker build ")]
    argv = shlex.split(build.split(" < ")[0])
    tag = argv[argv.index("--tag") + 1]
    assert tag.startswith("ddsp-launch:cpu-") and len(tag) == len("ddsp-launch:cpu-") + 12
    assert "BASE_IMAGE=python:3.11-slim-bookworm" in argv
    assert files_under(tmp_path / "home") == []  # no image record: nothing was built


def test_run_dry_run_prints_the_docker_run_command_and_starts_nothing(tmp_path):
    data, out = tmp_path / "ds", tmp_path / "runs" / "violin"
    data.mkdir()
    (data / "train.tfrecord-00000-of-00001").write_bytes(b"")
    env = {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock", "DDSP_LAUNCH_HOME": str(tmp_path / "home")}
    proc = ddsp_launch("run", str(data), str(out), "--runtime", "docker", "--cpu", "--image", "ddsp-launch:cpu-0123456789ab",
                       "--num-steps", "300", "--dry-run", env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    [line] = [l for l in proc.stdout.splitlines() if l.startswith("docker run ")]
    argv = shlex.split(line)
    assert f"type=bind,source={data},target=/data,readonly" in argv
    assert f"type=bind,source={out},target=/output" in argv
    image = argv.index("ddsp-launch:cpu-0123456789ab")
    assert "--save_dir=/output" in argv[image:] and "--file_pattern=/data/train.tfrecord*" in argv[image:]
    assert "--num_steps=300" in argv[image:]
    assert not out.exists() and files_under(tmp_path / "home") == []  # no output folder, no run record
