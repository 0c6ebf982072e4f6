"""TensorBoard for a run: started on 127.0.0.1 at the first free port from 6006, or reused.

A TensorBoard started here keeps running after the command ends (its own session); its
port, pid and log directory are noted in $DDSP_LAUNCH_HOME/tensorboard/PORT.json, and a
later launch pointed at the same directory reuses it when it still answers. gs:// logs
are copied into a local cache with google-cloud-storage (TensorFlow's gs:// filesystem
cannot be pointed at an emulator or use ADC files in every setup) and refreshed by a small
background process while the job runs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from ddsp_launch.common import gcs, paths
from ddsp_launch.common.errors import MissingDependencyError

FIRST_PORT = 6006


@dataclass
class Board:
    port: int
    pid: int
    logdir: str
    host: str = "127.0.0.1"
    source: str | None = None  # the gs:// folder a cache is synced from
    sync_pid: int | None = None
    reused: bool = False
    host_checked: bool = False  # started through tensorboard_serve (older ones answered any Host: never reused)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"


def boards_dir() -> Path:
    return paths.boards_dir()


def cache_for(uri: str) -> Path:
    parsed = gcs.GcsUri.parse(uri)
    return paths.boards_cache() / parsed.bucket / parsed.path.strip("/")


def answers(board: Board, timeout: float = 2.0) -> dict | None:
    """TensorBoard's /data/environment, or None when nothing (or not TensorBoard) answers."""
    try:
        with urllib.request.urlopen(f"{board.url}data/environment", timeout=timeout) as resp:  # noqa: S310 - loopback
            return json.loads(resp.read())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def find(logdir: str) -> Board | None:
    """A TensorBoard started by ddsp-launch that still serves ``logdir``."""
    if not boards_dir().is_dir():
        return None
    for path in sorted(boards_dir().glob("*.json")):
        try:
            board = Board(**json.loads(path.read_text()))
        except (ValueError, TypeError):
            continue
        if board.host_checked and board.logdir == logdir and _alive(board.pid) and answers(board) is not None:
            board.reused = True
            return board
    return None


def free_port(host: str, first: int = FIRST_PORT, tries: int = 100) -> int:
    for port in range(first, first + tries):
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise MissingDependencyError(f"no free port for TensorBoard in {first}-{first + tries - 1} on {host}",
                                 "stop some TensorBoards: pkill -f tensorboard")


def command() -> list[str]:
    """TensorBoard started through our module, which refuses a rebound Host (tensorboard_serve.py)."""
    if importlib.util.find_spec("tensorboard") is None:
        raise MissingDependencyError("TensorBoard is not installed here", "pip install tensorboard (or bash scripts/install.sh)")
    return [sys.executable, "-m", "ddsp_launch.adapters.tensorboard_serve"]


def start(logdir: str, host: str = "127.0.0.1", first_port: int = FIRST_PORT, timeout: float = 120.0) -> Board:
    """Serve ``logdir`` (a local folder, or gs:// synced into a cache); reuse a TensorBoard already serving it."""
    source = logdir if gcs.is_gcs(logdir) else None
    local = str(cache_for(logdir)) if source else str(Path(logdir).resolve())
    existing = find(local)
    if existing is not None:
        return existing
    Path(local).mkdir(parents=True, exist_ok=True)
    boards_dir().mkdir(parents=True, exist_ok=True)
    port = free_port(host, first_port)
    log = (boards_dir() / f"{port}.log").open("wb")
    proc = subprocess.Popen([*command(), "--logdir", local, "--host", host, "--port", str(port), "--reload_interval", "5"],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    board = Board(port, proc.pid, local, host, source, host_checked=True)
    deadline = time.monotonic() + timeout
    while answers(board) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            tail = (boards_dir() / f"{port}.log").read_text(errors="replace")[-1500:]
            raise MissingDependencyError(f"TensorBoard did not start on {board.url}:\n{tail}", "run it by hand: tensorboard --logdir " + local)
        time.sleep(0.5)
    if source:
        board.sync_pid = subprocess.Popen(
            [sys.executable, "-m", "ddsp_launch.adapters.tensorboard", source, local],
            stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True).pid
    (boards_dir() / f"{port}.json").write_text(json.dumps({**asdict(board), "reused": False}, indent=2))
    return board


def sync(source: str, dest: Path, interval: float = 30.0, hours: float = 24.0) -> None:
    """Copy new and changed files from gs:// ``source`` into ``dest`` until ``hours`` have passed.
    Objects whose names do not map inside ``dest`` stop it (InputError, naming them) before that round writes anything."""
    from ddsp_launch.adapters import storage
    from ddsp_launch.common.errors import NothingThere, StorageError

    client = gcs.make_client()
    uri = gcs.GcsUri.parse(source)
    deadline = time.monotonic() + hours * 3600
    while time.monotonic() < deadline:
        try:
            storage.download(uri, dest, client, replace=True)  # our cache: event files grow
        except (StorageError, NothingThere):
            pass  # nothing written yet, or a moment's refusal: try again next round
        time.sleep(interval)


if __name__ == "__main__":  # the background refresher started by start(); its stderr goes to the board's log
    from ddsp_launch.common.errors import LaunchError

    try:
        sync(sys.argv[1], Path(sys.argv[2]), float(os.environ.get("DDSP_LAUNCH_TB_SYNC_SECONDS", "30")))
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
