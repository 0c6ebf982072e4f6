"""TensorBoard on gs:// logs: synced into a local cache from the GCS emulator, refreshed while it runs."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def event_file(folder, step: int) -> None:
    """A real TensorBoard event file with one scalar, written by tensorboard's own writer (no TensorFlow)."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(folder))
    value = summary_pb2.Summary.Value(tag="losses/total_loss", simple_value=10.0 - step)
    writer.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary_pb2.Summary(value=[value])))
    writer.close()


def tags(url: str) -> dict:
    with urllib.request.urlopen(url + "data/plugin/scalars/tags", timeout=10) as resp:  # noqa: S310 - loopback
        return json.loads(resp.read())


def test_gs_logs_are_synced_and_refreshed(gcs_emulator, tmp_path, monkeypatch):
    from ddsp_launch.adapters import tensorboard
    from ddsp_launch.common import gcs

    monkeypatch.setenv("DDSP_LAUNCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DDSP_LAUNCH_TB_SYNC_SECONDS", "1")
    client = gcs.make_client()
    if not client.bucket("ddsp-tb").exists():
        client.create_bucket("ddsp-tb")
    bucket = client.bucket("ddsp-tb")
    local = tmp_path / "events"
    (local / "train").mkdir(parents=True)
    event_file(local / "train", 1)
    for f in (local / "train").iterdir():
        bucket.blob(f"runs/v1/logs/train/{f.name}").upload_from_filename(str(f))

    board = tensorboard.start("gs://ddsp-tb/runs/v1/logs")
    try:
        assert board.source == "gs://ddsp-tb/runs/v1/logs" and board.host == "127.0.0.1" and not board.reused
        deadline = time.monotonic() + 60
        while "train" not in tags(board.url) and time.monotonic() < deadline:
            time.sleep(1)
        assert "losses/total_loss" in tags(board.url)["train"]

        (local / "eval").mkdir()  # the job writes more while it runs: the refresher brings it
        event_file(local / "eval", 2)
        for f in (local / "eval").iterdir():
            bucket.blob(f"runs/v1/logs/eval/{f.name}").upload_from_filename(str(f))
        while "eval" not in tags(board.url) and time.monotonic() < deadline + 30:
            time.sleep(1)
        assert "losses/total_loss" in tags(board.url)["eval"]

        again = tensorboard.start("gs://ddsp-tb/runs/v1/logs")
        assert again.reused and again.port == board.port
    finally:
        for pid in (board.pid, board.sync_pid):
            if pid:
                os.kill(pid, signal.SIGTERM)


def test_a_taken_port_is_skipped():
    import socket

    from ddsp_launch.adapters import tensorboard

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        assert tensorboard.free_port("127.0.0.1", first=port) > port  # a taken port is skipped
