"""What the pages show of a run, from its record, its log and its folder (no server)."""

from __future__ import annotations

import pytest

from ddsp_launch.launch import records
from ddsp_launch.web.service import Service, log_path


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DDSP_LAUNCH_HOME", str(tmp_path / "home"))
    return tmp_path


def write_run(run_id: str, output, state: str = "succeeded") -> None:
    records.write({"id": run_id, "state": state, "target": "process", "output": str(output),
                   "created": "2026-11-30T13:48:55+00:00", "settings": {"num_steps": 30}})


def checkpoint(folder, step: int, shards: int = 1, written: int | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"ckpt-{step}.index").write_bytes(b"i")
    for k in range(shards if written is None else written):
        (folder / f"ckpt-{step}.data-{k:05d}-of-{shards:05d}").write_bytes(b"d")
    (folder / "operative_config-0.gin").write_text("# gin")


def test_a_run_started_from_the_command_line_shows_its_newest_checkpoint(home):
    out = home / "run"
    checkpoint(out, 10)
    checkpoint(out, 20)
    checkpoint(out, 30, shards=2, written=1)  # still being written: not a model yet
    write_run("20261130-134855-auto-e712", out)
    run = Service(home / "ws").status("20261130-134855-auto-e712")
    assert (run["step"], run["num_steps"], run["loss"], run["has_checkpoint"], run["local"]) == (20, 30, None, True, True)


def test_the_trainers_log_gives_step_and_loss(home):
    out = home / "run"
    checkpoint(out, 10)
    write_run("20261130-134900-process-aaaa", out, state="running")
    log_path("20261130-134900-process-aaaa").write_text(
        "no checkpoint to resume from\nstep 10/30  total_loss 15.420  mean(10) 20.234\n"
        "step 20/30  total_loss 13.490  mean(20) 18.821\n")
    run = Service(home / "ws").status("20261130-134900-process-aaaa")
    assert run["step"] == 20 and run["loss"] == pytest.approx(13.49) and run["losses"] == [(10, 15.42), (20, 13.49)]


def test_no_checkpoint_or_one_without_its_config_is_no_model(home):
    out = home / "run"
    out.mkdir()
    write_run("20261130-135000-process-bbbb", out)
    service = Service(home / "ws")
    assert service.status("20261130-135000-process-bbbb")["has_checkpoint"] is False
    checkpoint(out, 10)
    (out / "operative_config-0.gin").unlink()
    run = service.status("20261130-135000-process-bbbb")
    assert run["has_checkpoint"] is False and run["step"] is None
