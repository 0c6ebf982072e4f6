"""A Docker engine that cannot be reached: clear errors (exit 4, the fix named), no traceback.

Neither test needs an engine: each points DOCKER_HOST at a socket it controls, so what it
proves does not depend on how this machine's engine socket is set up."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from tests.conftest import BASE_IMAGE, ddsp_launch, need


def test_engine_not_running_is_a_clear_error(tmp_path):
    proc = ddsp_launch("build", "--cpu", "--base-image", BASE_IMAGE,
                       env={"DOCKER_HOST": f"unix://{tmp_path}/docker.sock"}, timeout=120)
    assert proc.returncode == 4
    assert "not running" in proc.stderr and "Fix:" in proc.stderr


def test_permission_denied_on_the_socket_is_a_clear_error():
    """A listening socket the user may not open, as the engine's is to a user outside the
    docker group: root's own with mode 0600 and the command run as nobody (root opens
    anything), or, run as a user, the user's own socket with mode 0."""
    root = os.geteuid() == 0
    if root and shutil.which("setpriv") is None:
        need("setpriv is missing (root must drop to another user: root opens any socket)", "apt-get install -y util-linux")
    folder = Path(tempfile.mkdtemp(prefix="ddsp-launch-sock-"))  # not pytest's tmp: nobody must reach the socket
    folder.chmod(0o755)
    path = folder / "docker.sock"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        server.listen()
        path.chmod(0o600 if root else 0)
        user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if root else []
        exe = Path(os.sys.executable).parent / "ddsp-launch"
        proc = subprocess.run(
            [*user, str(exe), "build", "--cpu", "--base-image", BASE_IMAGE],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "DOCKER_HOST": f"unix://{path}", "HOME": str(folder), "DDSP_LAUNCH_HOME": str(folder / "home")},
        )
    finally:
        server.close()
        shutil.rmtree(folder)
    assert proc.returncode == 4, proc.stderr
    assert "permission denied on the Docker socket" in proc.stderr and "docker group" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_engine_of_another_architecture_runs_the_amd64_image_emulated():
    """The locks pin x86-64 wheels (tensorflow-cpu has no Linux arm64 wheel): an arm64 engine
    (Apple silicon's Docker Desktop) is asked for linux/amd64; an x86-64 one for nothing."""
    from ddsp_launch.adapters import docker_engine

    assert docker_engine.emulated_platform("x86_64") is None and docker_engine.emulated_platform("amd64") is None
    assert docker_engine.emulated_platform("aarch64") == docker_engine.emulated_platform("arm64") == "linux/amd64"
