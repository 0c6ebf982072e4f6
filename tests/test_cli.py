"""The ddsp-launch command line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ddsp_launch.runtime import process
from ddsp_launch.common.errors import MissingDependencyError


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ddsp_launch", *args], capture_output=True, text=True)


def test_help_lists_the_subcommands():
    proc = cli("--help")
    assert proc.returncode == 0
    for command in ("prepare", "task", "train", "version"):
        assert command in proc.stdout


def test_every_subcommand_has_help():
    prepare = cli("prepare", "--help")
    assert prepare.returncode == 0
    assert "usage: ddsp-launch prepare" in prepare.stdout and "--eval-fraction" in prepare.stdout
    train = cli("task", "--help")
    assert train.returncode == 0
    assert "usage: ddsp-launch task" in train.stdout and "--file_pattern" in train.stdout
    version = cli("version", "--help")
    assert version.returncode == 0 and "Print the versions" in version.stdout


@pytest.mark.slow  # prepare runs with the training stack
def test_prepare_passes_exit_codes_and_messages_through(tmp_path):
    proc = cli("prepare", str(tmp_path / "missing"), str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "missing does not exist" in proc.stderr


@pytest.mark.slow  # task runs with the training stack
def test_train_passes_bad_flags_through(tmp_path):
    proc = cli("task", "--save_dir", str(tmp_path / "run"), "--file_pattern", str(tmp_path / "none*"))
    assert proc.returncode == 2 and "matches no files" in proc.stderr


@pytest.mark.slow  # the training stack
def test_version_reports_the_training_stack():
    proc = cli("version")
    assert proc.returncode == 0 and "training stack: installed" in proc.stdout


def test_missing_training_stack_is_explained(monkeypatch):
    monkeypatch.setattr(process, "TRAINER_MODULES", ("numpy", "no_such_module_xyz"))
    with pytest.raises(MissingDependencyError) as info:
        process.require_trainer_stack("`ddsp-launch prepare`")
    assert "missing: no_such_module_xyz" in str(info.value)
    assert "scripts/install.sh" in str(info.value)


def test_prepare_on_a_host_without_the_stack_names_both_ways_out(host_install, tmp_path):
    """A host-only install: --runtime process is refused naming the install and the image;
    auto without Docker names both too. Nothing is written either way."""
    import subprocess

    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "a.wav").write_bytes(b"RIFF")
    base = [str(host_install / "ddsp-launch"), "prepare", str(tmp_path / "rec"), str(tmp_path / "ds")]
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    process_only = subprocess.run([*base, "--runtime", "process"], capture_output=True, text=True, env=env, timeout=120)
    assert process_only.returncode == 4 and "needs the training stack" in process_only.stderr
    assert "scripts/install.sh" in process_only.stderr and "--runtime docker" in process_only.stderr
    auto = subprocess.run(base, capture_output=True, text=True, env=env, timeout=120)
    assert auto.returncode == 4 and "needs the training stack here or Docker" in auto.stderr and "docker_up.sh" in auto.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec"]
