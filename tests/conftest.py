"""Shared fixtures: real example audio, a real GCS emulator, small helpers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import render_examples  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@pytest.fixture(scope="session")
def example_audio(tmp_path_factory) -> Path:
    """About three minutes of FluidSynth violin, rendered from examples/midi (cached in data/)."""
    cache = Path(os.environ.get("DDSP_LAUNCH_DATA", ROOT / "data")) / "examples" / "violin"
    render_examples.render_all(cache, "violin")
    return cache


@pytest.fixture(scope="session")
def midi_dir() -> Path:
    return ROOT / "examples" / "midi"


@pytest.fixture(scope="session")
def gcs_emulator():
    """A real gcp-storage-emulator on 127.0.0.1; yields its URL and sets STORAGE_EMULATOR_HOST.
    Started through tests/cloud/gcs_emulator.py, so names such as ``a/../b`` are kept as Cloud Storage keeps them."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "cloud" / "gcs_emulator.py"), "start", "--host", "127.0.0.1", "--port", str(port),
         "--in-memory"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    old = os.environ.get("STORAGE_EMULATOR_HOST")
    try:
        wait_for_port(port)
        url = f"http://127.0.0.1:{port}"
        os.environ["STORAGE_EMULATOR_HOST"] = url
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if old is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = old


@pytest.fixture(scope="session")
def small_dataset(example_audio, tmp_path_factory) -> Path:
    """A prepared dataset from one example file (about 40 examples), made once per session."""
    out = tmp_path_factory.mktemp("small") / "ds"
    subprocess.run(
        [sys.executable, "-m", "ddsp_launch.trainer.prepare", "--quiet", "--no-statistics",
         str(example_audio / "scales.wav"), str(out)],
        check=True, capture_output=True,
    )
    return out


# ---- Docker ------------------------------------------------------------------------------
# CI (scripts/docker_up.sh, run by scripts/test.sh) installs and starts a real engine and
# makes the offline base image; without one these tests fail under CI=true, skip elsewhere.
BASE_IMAGE = "local/debian:bookworm"
TEST_CA_MARKER = ROOT / "tests" / "data" / "test-ca-marker.pem"


def _need(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must provide it (scripts/docker_up.sh)")
    pytest.skip(reason)


def ddsp_launch(*args: str, env: dict | None = None, timeout: float = 1800, check: bool = False,
                **kw) -> subprocess.CompletedProcess:
    """Run the real `ddsp-launch` command line."""
    exe = Path(sys.executable).parent / "ddsp-launch"
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"ddsp-launch {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def docker_engine():
    from ddsp_launch.adapters import docker_engine as de
    from ddsp_launch.common.errors import EngineUnavailable

    try:
        engine = de.connect()
    except EngineUnavailable as exc:
        _need(f"no Docker engine ({exc.message})")
    if engine.image_id(BASE_IMAGE) is None:
        _need(f"no base image {BASE_IMAGE} (bash scripts/make_base_image.sh)")
    return engine


@pytest.fixture(scope="session")
def build_ca_bundle(tmp_path_factory) -> Path:
    """This machine's CA bundle (pip needs it behind the proxy) plus a marker certificate
    that must never show up in an image. Same bytes every run, so the build cache holds."""
    system = next((Path(p) for p in (os.environ.get("PIP_CERT"), os.environ.get("SSL_CERT_FILE"),
                                     "/etc/ssl/certs/ca-certificates.crt") if p and Path(p).is_file()), None)
    bundle = tmp_path_factory.mktemp("ca") / "bundle.pem"
    bundle.write_bytes((system.read_bytes() if system else b"") + TEST_CA_MARKER.read_bytes())
    return bundle


@pytest.fixture(scope="session")
def cpu_image(docker_engine, build_ca_bundle) -> str:
    """The CPU training image, built by `ddsp-launch build` from this checkout."""
    proc = ddsp_launch("build", "--cpu", "--base-image", BASE_IMAGE, "--ca-bundle", str(build_ca_bundle), check=True)
    [line] = [l for l in proc.stdout.splitlines() if l.startswith("image:")]
    return line.split()[1]


# ---- Google Cloud ---------------------------------------------------------------------------
@pytest.fixture
def fake_gcp(monkeypatch):
    """The local Vertex AI + Cloud Logging server (tests/cloud/fake_gcp.py), the client pointed at it."""
    from tests.cloud.fake_gcp import FakeGcp

    with FakeGcp() as fake:
        monkeypatch.setenv("DDSP_LAUNCH_VERTEX_ENDPOINT", fake.url)
        monkeypatch.setenv("DDSP_LAUNCH_LOGGING_ENDPOINT", fake.url)
        yield fake
