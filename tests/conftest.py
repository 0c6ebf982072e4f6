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
    """A real gcp-storage-emulator on 127.0.0.1; yields its URL and sets STORAGE_EMULATOR_HOST."""
    port = free_port()
    exe = Path(sys.executable).parent / "gcp-storage-emulator"
    proc = subprocess.Popen(
        [str(exe), "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory"],
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
