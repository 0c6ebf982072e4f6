"""Push to a real registry (Debian's docker-registry, htpasswd auth) and pull back by digest."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import urllib.request

import pytest

from ddsp_launch.adapters.docker_engine import RegistryAuth
from tests.conftest import BASE_IMAGE, ddsp_launch, free_port, need, wait_for_port

pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.timeout(1800)]  # builds and pushes images
USER, PASSWORD = "trainer", "correct horse battery staple"


@pytest.fixture(scope="module")
def local_registry(tmp_path_factory):
    """A real registry on 127.0.0.1 with htpasswd authentication; yields host:port."""
    if not (shutil.which("docker-registry") and shutil.which("htpasswd")):
        need("docker-registry or htpasswd is not installed", "apt-get install -y docker-registry apache2-utils (scripts/docker_up.sh)")
    root = tmp_path_factory.mktemp("registry")
    htpasswd = subprocess.run(["htpasswd", "-Bbn", USER, PASSWORD], capture_output=True, text=True, check=True).stdout
    (root / "htpasswd").write_text(htpasswd)
    port = free_port()
    (root / "config.yml").write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        f"auth:\n  htpasswd:\n    realm: ddsp-launch-tests\n    path: {root / 'htpasswd'}\n"
    )
    proc = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _catalog(host: str) -> list[str]:
    req = urllib.request.Request(f"http://{host}/v2/_catalog")
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode())
    return json.load(urllib.request.urlopen(req, timeout=10))["repositories"]


def test_wrong_password_fails_before_anything_is_pushed(local_registry, cpu_image):
    proc = ddsp_launch("build", "--cpu", "--base-image", BASE_IMAGE, "--push", f"{local_registry}/ddsp-launch",
                       "--registry-user", USER, env={"DDSP_LAUNCH_REGISTRY_PASSWORD": "wrong"}, timeout=300)
    assert proc.returncode == 5, proc.stderr
    assert "authentication failed" in proc.stderr and "DDSP_LAUNCH_REGISTRY_PASSWORD" in proc.stderr
    assert "wrong" not in proc.stdout + proc.stderr  # the password is never printed
    assert _catalog(local_registry) == []


def test_push_is_skipped_when_the_registry_has_the_tag_and_pulls_back_by_digest(local_registry, cpu_image, docker_engine):
    repo = f"{local_registry}/team/ddsp-launch"
    args = ("build", "--cpu", "--base-image", BASE_IMAGE, "--push", repo, "--registry-user", USER)
    env = {"DDSP_LAUNCH_REGISTRY_PASSWORD": PASSWORD}
    first = ddsp_launch(*args, env=env, timeout=1200, check=True)
    tag = cpu_image.split(":")[1]
    assert f"pushed: {repo}:{tag}  (pushed)" in first.stdout
    digest = next(l.split()[1] for l in first.stdout.splitlines() if l.startswith("digest:"))
    assert digest.startswith("sha256:") and _catalog(local_registry) == ["team/ddsp-launch"]
    assert PASSWORD not in first.stdout + first.stderr

    second = ddsp_launch(*args, env=env, timeout=600, check=True)
    assert "registry had it, not pushed" in second.stdout and f"digest: {digest}" in second.stdout

    # Pull back by digest with nothing but the registry's copy under that name.
    docker_engine.api.remove_image(f"{repo}:{tag}")
    pinned = f"{repo}@{digest}"
    image_id = docker_engine.pull(pinned, RegistryAuth(USER, PASSWORD, local_registry))
    assert image_id == docker_engine.image_id(cpu_image)
    assert pinned in docker_engine.repo_digests(cpu_image)
