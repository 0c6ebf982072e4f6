"""What the benchmarks share: the example audio and a dataset prepared from it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import render_examples  # noqa: E402

EXAMPLE_AUDIO = ROOT / "data" / "examples" / "violin"


def example_audio() -> Path:
    render_examples.render_all(EXAMPLE_AUDIO, "violin")
    return EXAMPLE_AUDIO


def example_dataset(out: Path, files: str = "") -> Path:
    """Prepare the example violin (or one of its files, e.g. 'scales.wav') into ``out``."""
    source = example_audio() / files if files else example_audio()
    subprocess.run([sys.executable, "-m", "ddsp_launch.trainer.prepare", "--quiet", "--no-statistics",
                    str(source), str(out)], check=True)
    return out


def start_emulator() -> subprocess.Popen:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "gcp-storage-emulator"
    proc = subprocess.Popen([str(exe), "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{port}"
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.1)
    raise RuntimeError("the GCS emulator did not start")


def with_emulator(run, args) -> None:
    """``run(args)`` with a gcp-storage-emulator running (STORAGE_EMULATOR_HOST set)."""
    emulator = start_emulator()
    try:
        run(args)
    finally:
        emulator.terminate()
