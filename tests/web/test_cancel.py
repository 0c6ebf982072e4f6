"""Cancel from the run page's API: the trainer gets Ctrl-C, saves a checkpoint, and the
record says interrupted (the same as Ctrl-C in a terminal)."""

from __future__ import annotations

import json

import pytest

from tests.web.conftest import start_web, stop_web, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # real training


def test_cancel_saves_a_checkpoint_and_records_the_interruption(small_dataset, tmp_path):
    web = start_web(tmp_path, "--allow-root", str(small_dataset))  # the dataset lies outside tmp_path
    try:
        output = tmp_path / "run"
        form = {"target": "process", "data": str(small_dataset), "output": str(output), "batch_size": "2",
                "num_steps": "100000", "steps_per_save": "100000", "steps_per_summary": "10"}
        status, _, body = web.get("/api/runs", "POST", data=json.dumps(form).encode(), headers={"Content-Type": "application/json"})
        assert status == 200, body
        run_id = json.loads(body)["id"]
        run = wait_until(lambda: (r := json.loads(web.get(f"/api/runs/{run_id}")[2]))["step"] and r, timeout=600, every=1,
                         what="the first step")
        assert run["state"] == "running" and run["can_cancel"] is True and run["has_checkpoint"] is False
        assert json.loads(web.get(f"/api/runs/{run_id}/cancel", "POST")[2]) == {"cancelled": True}
        run = wait_until(lambda: (r := json.loads(web.get(f"/api/runs/{run_id}")[2]))["state"] not in ("starting", "running") and r,
                         timeout=300, every=1, what="the run to stop")
        assert run["state"] == "interrupted", web.get(f"/api/runs/{run_id}/log")[2].decode()[-3000:]
        assert run["has_checkpoint"] is True and run["can_cancel"] is False  # saved on the way out
        assert json.loads(web.get(f"/api/runs/{run_id}/cancel", "POST")[2]) == {"cancelled": False}
        assert web.get(f"/runs/{run_id}/model.zip")[0] == 200
    finally:
        stop_web(web)
