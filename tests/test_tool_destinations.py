"""transfer and export never write over what they read, and replace only their own output:
checked before the model is loaded (here, as a process) and before a container starts (the
image's plan). `transfer MODEL in.wav -o in.wav` replaced the recording (issue 16)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ddsp_launch.common.errors import InputError
from ddsp_launch.runtime import tools


def _wav(path: Path, software: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(str(path), "w", 16000, 1, "PCM_16", format="WAV") as f:
        if software:
            f.software = software
        f.write((0.3 * np.sin(np.arange(16000) / 5)).astype(np.float32))
    return path


def _digest(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _tool(command: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    module = {"transfer": "ddsp_launch.trainer.transfer", "export": "ddsp_launch.trainer.export"}[command]
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.fixture
def place(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "operative_config-0.gin").write_text("a.b = 1\n")
    _wav(tmp_path / "in.wav")
    _wav(tmp_path / "fresh.wav.part")
    (tmp_path / "mod.part").mkdir()
    (tmp_path / "mod.part" / "ckpt-1.index").write_text("the user's")
    _wav(tmp_path / "out-harmonic.wav")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("the user's")
    return tmp_path


TRANSFER_REFUSALS = [
    (["model", "in.wav", "-o", "in.wav"], "is the same place as the input recording"),
    (["model", "in.wav", "-o", "./sub/../in.wav"], "is the same place as the input recording"),
    (["model", "in.wav", "-o", "out.wav", "--plot", "in.wav"], "is the same place as the input recording"),
    (["model", "in.wav", "-o", "out.wav", "--stems"], "out-harmonic.wav already exists and was not written by ddsp-launch"),
    (["model", "fresh.wav.part", "-o", "fresh.wav"], "temporary file"),  # the .part would have been removed on failure
    (["model", "in.wav", "-o", "mod"], "mod.part is a folder"),
    (["model", "in.wav", "-o", "model"], "is the same place as the model"),
    (["model", "in.wav", "-o", "model/operative_config-0.gin"], "lies inside the model"),
    (["model", "in.wav", "-o", "mine/notes.txt"], "already exists and was not written by ddsp-launch"),
    (["model", "in.wav", "-o", "mine"], "is a folder"),
]


@pytest.mark.parametrize("argv, words", TRANSFER_REFUSALS)
def test_transfer_refuses_to_write_over_an_input_or_a_file_not_its_own(place, monkeypatch, argv, words):
    monkeypatch.chdir(place)
    (place / "sub").mkdir(exist_ok=True)
    before = _digest(place)
    proc = _tool("transfer", *argv, cwd=place)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert words in proc.stderr
    assert _digest(place) == before  # .part files included: the user's fresh.wav.part and mod.part stay
    with pytest.raises(InputError) as err:  # the same refusal before a container would start
        tools.plan("transfer", argv, "img", host_uid=1000, host_gid=1000)
    assert words in str(err.value)


def test_transfer_replaces_a_file_it_wrote(place):
    _wav(place / "again.wav", software="ddsp-launch transfer")
    proc = _tool("transfer", "model", "in.wav", "-o", "again.wav", cwd=place)
    # past the destination checks: the (fake) model is what stops it
    assert proc.returncode == 2 and "already exists" not in proc.stderr and "ckpt" in proc.stderr, proc.stderr


def _export(folder: Path, extra: str | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "saved_model").mkdir()
    (folder / "ddsp-model.json").write_text(json.dumps({"format": "ddsp-launch export 1", "files": ["saved_model"]}))
    if extra:
        (folder / extra).write_text("the user's")
    return folder


@pytest.mark.parametrize("argv, words", [
    (["model", "-o", "model", "--force"], "is the same place as the model"),
    (["model", "-o", ".", "--force"], "contains the model"),
    (["model", "-o", "mine", "--force"], "not a model export made by ddsp-launch, so --force will not replace it"),
    (["model", "-o", "mixed", "--force"], "files it did not write: notes.txt"),
    (["model", "-o", "ours"], "already exists"),
])
def test_export_force_replaces_only_its_own_export(place, monkeypatch, argv, words):
    monkeypatch.chdir(place)
    _export(place / "mixed", extra="notes.txt")
    _export(place / "ours")
    before = _digest(place)
    proc = _tool("export", *argv, cwd=place)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert words in proc.stderr
    assert _digest(place) == before
    with pytest.raises(InputError) as err:
        tools.plan("export", argv, "img", host_uid=1000, host_gid=1000)
    assert words in str(err.value)


def test_export_into_its_default_folder_and_over_its_own_export_passes_the_checks(place):
    _export(place / "ours")
    for argv in (["model"], ["model", "-o", "ours", "--force"]):
        proc = _tool("export", *argv, cwd=place)
        assert "ckpt" in proc.stderr and "replace" not in proc.stderr, proc.stderr  # stopped by the fake model only
