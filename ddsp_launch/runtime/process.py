"""The process runtime: run a container-side entry point as a local process.

The host side never imports TensorFlow; it starts the trainer's modules with the same
Python when the training stack is installed here (the Docker runtime comes later).
"""

from __future__ import annotations

import contextlib
import importlib.util
import signal
import subprocess
import sys

from ddsp_launch.common.errors import MissingDependencyError

TRAINER_MODULES = ("tensorflow", "tf_keras", "ddsp", "librosa", "soundfile", "soxr")
INSTALL_HINT = "bash scripts/install.sh (or: pip install --no-deps -r requirements/trainer-py311.lock)"


def missing_trainer_modules() -> list[str]:
    return [m for m in TRAINER_MODULES if importlib.util.find_spec(m) is None]


def require_trainer_stack(what: str) -> None:
    missing = missing_trainer_modules()
    if missing:
        raise MissingDependencyError(
            f"{what} needs the training stack, which is not installed in {sys.executable} "
            f"(missing: {', '.join(missing)})",
            INSTALL_HINT,
        )


def run_module(module: str, args: list[str]) -> int:
    """Run ``python -m module args`` in the foreground; returns its exit code.
    Ctrl-C reaches the child too (same process group); we wait for it to clean up."""
    proc = subprocess.Popen([sys.executable, "-m", module, *args])
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return proc.wait()


@contextlib.contextmanager
def sigterm_as_interrupt():
    """SIGTERM to us acts as Ctrl-C while the block runs: a container is stopped the same way,
    and every ``finally`` (scratch and staging folders) still runs."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
