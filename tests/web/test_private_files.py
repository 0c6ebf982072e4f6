"""What ddsp-launch writes about a run (records, logs, settings files) is the user's alone:
files 0600, its own folders 0700, whatever the umask."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.conftest import ddsp_launch
from tests.web.conftest import start_web, stop_web, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # a real (one-step) training run


def mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


def test_a_run_started_from_the_page_leaves_only_private_files(small_dataset, tmp_path):
    web = start_web(tmp_path, "--allow-root", str(small_dataset))
    try:
        output = tmp_path / "run"
        form = {"target": "process", "data": str(small_dataset), "output": str(output), "batch_size": "2",
                "num_steps": "1", "steps_per_save": "1", "steps_per_summary": "10"}
        status, _, body = web.get("/api/runs", "POST", data=json.dumps(form).encode())
        assert status == 200, body
        run_id = json.loads(body)["id"]
        run = wait_until(lambda: (r := json.loads(web.get(f"/api/runs/{run_id}")[2]))["state"] not in ("starting", "running") and r,
                         timeout=600, every=1, what="the run to end")
        assert run["state"] == "succeeded", web.get(f"/api/runs/{run_id}/log")[2].decode()[-3000:]
    finally:
        stop_web(web)
    home = web.home
    runs = home / "runs"
    [config] = (web.workspace / "configs").glob("*.yaml")
    modes = {"state folder": mode(home), "runs folder": mode(runs), "configs folder": mode(config.parent),
             "record": mode(runs / f"{run_id}.json"), "run log": mode(runs / f"{run_id}.log"), "run config": mode(config),
             "record beside the output": mode(output / "ddsp-launch-run.json")}
    assert modes == {"state folder": "0o700", "runs folder": "0o700", "configs folder": "0o700", "record": "0o600",
                     "run log": "0o600", "run config": "0o600", "record beside the output": "0o600"}
    assert not [p.name for p in runs.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_a_saved_settings_file_and_records_written_under_an_open_umask_are_private(small_dataset, tmp_path, monkeypatch):
    """--save-config's file, and a state folder from an older version that others could open."""
    home = tmp_path / "home"
    (home / "runs").mkdir(parents=True)
    os.chmod(home, 0o755)
    os.chmod(home / "runs", 0o755)
    saved = tmp_path / "my-run.yaml"
    proc = ddsp_launch("train", "--yes", "--target", "process", "--data", str(small_dataset), "--output", str(tmp_path / "run"),
                       "--num-steps", "1", "--save-config", str(saved), env={"DDSP_LAUNCH_HOME": str(home)},
                       preexec_fn=lambda: os.umask(0), timeout=300)
    assert proc.returncode == 0 and saved.is_file(), proc.stderr[-2000:]
    assert mode(saved) == "0o600"

    from ddsp_launch.launch import records

    monkeypatch.setenv("DDSP_LAUNCH_HOME", str(home))
    old = os.umask(0)
    try:
        path = records.write({"id": "20261201-000000-process-abcd", "state": "succeeded", "settings": {}})
    finally:
        os.umask(old)
    assert (mode(path), mode(home / "runs"), mode(home)) == ("0o600", "0o700", "0o700")
