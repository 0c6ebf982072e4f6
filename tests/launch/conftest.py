"""Driving the real interactive launcher in a pseudo-terminal."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

DOWN, ENTER, CLEAR = "\x1b[B", "\r", "\x15"  # arrow down, Enter, Ctrl-U (clear the line)


class Terminal:
    """`ddsp-launch ARGS` in a real pty, answered with keystrokes."""

    def __init__(self, *args: str, env: dict | None = None, timeout: float = 60):
        import pexpect

        full_env = {**os.environ, "TERM": "xterm", **(env or {})}
        full_env.pop("CI", None)
        full_env.update({k: v for k, v in (env or {}).items()})
        exe = str(Path(sys.executable).parent / "ddsp-launch")
        self.child = pexpect.spawn(exe, list(args), env=full_env, encoding="utf-8", timeout=timeout, dimensions=(60, 200))
        self.transcript: list[str] = []
        self.child.logfile_read = _Collect(self.transcript)

    def expect(self, pattern: str, timeout: float | None = None) -> None:
        self.child.expect(pattern, timeout=timeout)

    def type(self, prompt: str, text: str) -> None:
        """Answer a text prompt, replacing its default."""
        self.expect(prompt)
        self.child.send(CLEAR + text + ENTER)

    def enter(self, prompt: str) -> None:
        """Accept the default."""
        self.expect(prompt)
        self.child.send(ENTER)

    def pick(self, prompt: str, number: int) -> None:
        """Choose item ``number`` (1-based) of a select prompt by its shortcut key."""
        self.expect(prompt)
        self.child.send(str(number) + ENTER)

    def finish(self, timeout: float = 600) -> int:
        import pexpect

        self.child.expect(pexpect.EOF, timeout=timeout)
        self.child.close()
        return self.child.exitstatus

    @property
    def text(self) -> str:
        import re

        return re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", "".join(self.transcript))


class _Collect:
    def __init__(self, sink: list[str]):
        self.sink = sink

    def write(self, data: str) -> None:
        self.sink.append(data)

    def flush(self) -> None:
        pass


@pytest.fixture
def launcher_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("DDSP_LAUNCH_HOME", str(home))
    return home


@pytest.fixture
def small_dataset_or_folder(tmp_path) -> Path:
    """A folder with a TFRecord file name in it: enough for settings checks (nothing trains)."""
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "train.tfrecord-00000-of-00001").write_bytes(b"")
    return ds
