"""Every bad input gets a clear error naming the problem and the fix, before work is done."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ddsp_launch.common.errors import InputError
from ddsp_launch.trainer.prepare import pipeline
from tests.conftest import need

OPTS = pipeline.PrepareOptions(workers=1, statistics=False)


def tone(path: Path, seconds: float, amplitude: float = 0.3, sr: int = 16000) -> Path:
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, (amplitude * np.sin(2 * np.pi * 330 * t)).astype(np.float32), sr)
    return path


def prepare_error(inp, out, options=OPTS) -> str:
    with pytest.raises(InputError) as info:
        pipeline.prepare(str(inp), str(out), options)
    return str(info.value)


def test_missing_path(tmp_path):
    msg = prepare_error(tmp_path / "nope", tmp_path / "out")
    assert "nope does not exist" in msg and "Fix:" in msg
    assert not (tmp_path / "out").exists()


def test_empty_folder(tmp_path):
    (tmp_path / "in").mkdir()
    assert "is empty" in prepare_error(tmp_path / "in", tmp_path / "out")


def test_no_audio_among_other_files(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("x")
    (tmp_path / "in" / "b.png").write_bytes(b"\x89PNG")
    msg = prepare_error(tmp_path / "in", tmp_path / "out")
    assert "No audio files among the 2 files" in msg and ".png" in msg and ".wav" in msg


def test_glob_matching_nothing(tmp_path):
    assert "No files match" in prepare_error(f"{tmp_path}/*.wav", tmp_path / "out")


def _folder_with(tmp_path, bad_name: str, bad_bytes: bytes | None = None, bad_seconds=None, amplitude=0.3):
    src = tmp_path / "in"
    src.mkdir()
    tone(src / "good.wav", 9.0)
    if bad_bytes is not None:
        (src / bad_name).write_bytes(bad_bytes)
    else:
        tone(src / bad_name, bad_seconds, amplitude)
    return src


@pytest.mark.parametrize("name, kwargs, reason", [
    ("corrupt.wav", {"bad_bytes": b"RIFF\x24\x00\x00\x00WAVEjunkjunkjunk"}, "cannot be decoded"),
    ("corrupt.mp3", {"bad_bytes": os.urandom(5000)}, "cannot be decoded"),
    ("silent.wav", {"bad_seconds": 6.0, "amplitude": 0.0}, "is silent"),
    ("short.wav", {"bad_seconds": 2.5}, "is 2.50 s long, shorter than one 4 s example"),
])
@pytest.mark.slow  # then prepares the good file with the training stack
@pytest.mark.timeout(300)
def test_bad_file_fails_by_default_and_is_skipped_on_request(tmp_path, name, kwargs, reason):
    src = _folder_with(tmp_path, name, **kwargs)
    msg = prepare_error(src, tmp_path / "out")
    assert f"{src / name}: {reason}" in msg
    assert "--on-bad-file skip" in msg
    assert not (tmp_path / "out").exists() and not any(tmp_path.glob(".out.partial"))

    manifest = pipeline.prepare(str(src), str(tmp_path / "out"), pipeline.PrepareOptions(workers=1, statistics=False, on_bad_file="skip"))
    assert [s["origin"] for s in manifest["sources"]] == [str(src / "good.wav")]
    assert manifest["skipped"][0]["origin"] == str(src / name)
    assert reason in manifest["skipped"][0]["reason"]
    assert manifest["counts"]["train_examples"] == 6


def test_all_files_bad_and_skipped_is_still_an_error(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    tone(src / "short.wav", 1.0)
    msg = prepare_error(src, tmp_path / "out", pipeline.PrepareOptions(workers=1, on_bad_file="skip"))
    assert "None of the input files can be used" in msg


def test_output_not_empty(tmp_path):
    src = _folder_with(tmp_path, "b.wav", bad_seconds=5.0)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    for overwrite in (False, True):
        msg = prepare_error(src, tmp_path / "out", pipeline.PrepareOptions(workers=1, statistics=False, overwrite=overwrite))
        assert "is not empty" in msg and "not a dataset made by ddsp-launch" in msg and "pass --overwrite" not in msg
        assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


@pytest.mark.slow  # prepares datasets with the training stack
@pytest.mark.timeout(300)
def test_overwrite_replaces_only_our_own_dataset(tmp_path):
    src = _folder_with(tmp_path, "b.wav", bad_seconds=5.0)
    opts = pipeline.PrepareOptions(workers=1, statistics=False, overwrite=True)
    first = pipeline.prepare(str(src), str(tmp_path / "out"), opts)
    msg = prepare_error(src, tmp_path / "out")  # ours, but without --overwrite
    assert "already holds a dataset" in msg and "--overwrite" in msg
    (tmp_path / "out" / "take2.wav").write_bytes(b"RIFF mine")  # a file of the user's put in our folder
    msg = prepare_error(src, tmp_path / "out", opts)
    assert "files it did not write: take2.wav" in msg and (tmp_path / "out" / "take2.wav").read_bytes() == b"RIFF mine"
    (tmp_path / "out" / "take2.wav").unlink()
    second = pipeline.prepare(str(src), str(tmp_path / "out"), opts)
    assert second["counts"] == first["counts"] and (tmp_path / "out" / "manifest.json").exists()


@pytest.mark.parametrize("layout", ["same", "above", "below", "link"])
def test_prepare_never_writes_over_its_input(tmp_path, layout):
    """`prepare REC REC --overwrite` and `prepare P/takes P --overwrite` deleted the recordings (issue 16)."""
    project = tmp_path / "P"
    takes = project / "takes"
    takes.mkdir(parents=True)
    tone(takes / "t1.wav", 5.0)
    (project / "notes.txt").write_text("unrelated")
    (tmp_path / "link").symlink_to(takes)
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    out = {"same": takes, "above": project, "below": takes / "dataset", "link": tmp_path / "link"}[layout]
    proc = subprocess.run([sys.executable, "-m", "ddsp_launch.trainer.prepare", str(takes), str(out), "--overwrite"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "nothing of an input is ever written over" in proc.stderr
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before
    assert not list(tmp_path.rglob(".*.partial"))


def test_output_is_a_file(tmp_path):
    src = _folder_with(tmp_path, "b.wav", bad_seconds=5.0)
    (tmp_path / "out").write_text("x")
    assert "exists and is a file" in prepare_error(src, tmp_path / "out")


@pytest.mark.parametrize("target", ["inside", "below"])
def test_output_not_writable(target):
    """Run as an unprivileged user (root can write anywhere) against a read-only folder:
    the output inside it, or below it (where even looking is denied)."""
    import tempfile

    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        need("setpriv is missing (root must drop to another user: root writes anywhere)", "apt-get install -y util-linux")

    tmp_path = Path(tempfile.mkdtemp(prefix="ddsp-launch-test-"))  # pytest's tmp is root-only
    tmp_path.chmod(0o755)
    src = _folder_with(tmp_path, "b.wav", bad_seconds=5.0)
    src.chmod(0o755)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555 if target == "inside" else 0o700)
    locked.chmod(0o555 if target == "inside" else 0o700)
    out = locked / "out" if target == "inside" else locked / "sub" / "out"
    user = [] if os.geteuid() != 0 else ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    proc = subprocess.run(
        [*user, sys.executable, "-m", "ddsp_launch.trainer.prepare", str(src), str(out)],
        capture_output=True, text=True, env={**os.environ, "HOME": str(tmp_path)},
    )
    shutil.rmtree(tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert f"Cannot write to {out.parent}" in proc.stderr and "Fix:" in proc.stderr


def test_gcs_output_is_refused_with_the_way_to_upload(tmp_path):
    src = _folder_with(tmp_path, "b.wav", bad_seconds=5.0)
    proc = subprocess.run([sys.executable, "-m", "ddsp_launch.trainer.prepare", str(src), "gs://bucket/ds"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "local folder" in proc.stderr and "gcloud storage cp" in proc.stderr


@pytest.mark.parametrize("args, needle", [
    (["--example-secs", "2.5"], "whole number"),
    (["--eval-fraction", "1.5"], "--eval-fraction must be in [0, 1)"),
    (["--f0", "yin"], "invalid choice: 'yin'"),
    (["--f0-min-hz", "900", "--f0-max-hz", "100"], "--f0-min-hz < --f0-max-hz"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_flags(tmp_path, args, needle):
    src = _folder_with(tmp_path, "b.wav", bad_seconds=5.0)
    proc = subprocess.run([sys.executable, "-m", "ddsp_launch.trainer.prepare", str(src), str(tmp_path / "o"), *args],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and needle in proc.stderr, proc.stderr
    assert not (tmp_path / "o").exists()
