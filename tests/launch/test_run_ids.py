"""Run ids are exact (issue 15): `runs show`, `rerun` and `tensorboard` read one record of the
records folder by its id, never a glob of the user's string, never a path outside the folder."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ddsp_launch

RUN_ID = "20261125-094511-process-6e5d"


@pytest.fixture
def home(tmp_path):
    """A records folder with one run, and JSON files outside it that a path id could reach."""
    home = tmp_path / "home"
    (home / "runs").mkdir(parents=True)
    record = {"id": RUN_ID, "target": "process", "state": "succeeded", "output": str(tmp_path / "out"),
              "settings": {"target": "process", "data": str(tmp_path / "data"), "output": str(tmp_path / "out")}}
    (home / "runs" / f"{RUN_ID}.json").write_text(json.dumps(record))
    planted = {"id": "planted", "output": str(tmp_path / "planted"), "settings": {"target": "process", "output": "/"}}
    (home / "secret.json").write_text(json.dumps(planted))
    (tmp_path / "abs.json").write_text(json.dumps(planted))
    return home


def run(home, *args):
    return ddsp_launch(*args, env={"DDSP_LAUNCH_HOME": str(home)}, timeout=120)


def test_an_exact_id_is_shown(home):
    proc = run(home, "runs", "show", RUN_ID)
    assert proc.returncode == 0 and json.loads(proc.stdout)["id"] == RUN_ID


@pytest.mark.parametrize("args", [
    ("runs", "show", "*"),
    ("runs", "show", ""),
    ("runs", "show", "2026*"),
    ("runs", "show", "[0-9]"),
    ("runs", "show", "../secret"),
    ("runs", "show", "../../home/secret"),
    ("rerun", "--dry-run", "ABS"),
    ("rerun", "--dry-run", "*"),
    ("download", "../secret", "DEST"),
], ids=["glob", "empty", "prefix-glob", "class-glob", "parent", "parent2", "rerun-abs", "rerun-glob", "download-parent"])
def test_glob_and_path_ids_are_refused(home, tmp_path, args):
    args = [str(tmp_path / "abs") if a == "ABS" else str(tmp_path / "dest") if a == "DEST" else a for a in args]
    proc = run(home, *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "is not a run id" in proc.stderr and "ddsp-launch runs" in proc.stderr and "Traceback" not in proc.stderr
    assert "planted" not in proc.stdout and RUN_ID not in proc.stdout


def test_a_part_of_an_id_is_not_an_id(home):
    proc = run(home, "runs", "show", RUN_ID[:15])
    assert proc.returncode == 2 and f"no run record '{RUN_ID[:15]}'" in proc.stderr and RUN_ID not in proc.stdout


def test_tensorboard_refuses_a_glob(home, tmp_path):
    proc = run(home, "tensorboard", "*")
    assert proc.returncode == 2 and "is neither a folder here nor a run id" in proc.stderr, proc.stdout + proc.stderr
    assert not (tmp_path / "out").exists() and not (home / "tensorboard").exists()  # nothing was started
