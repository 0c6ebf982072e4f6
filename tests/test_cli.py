"""The ddsp-launch command line."""

from __future__ import annotations

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
