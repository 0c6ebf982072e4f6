"""The slim CPU image (issue 19): it holds exactly requirements/trainer-cpu-py311.lock, every
code path it runs imports inside it (so a package left out that is needed fails here), and
`prepare` reads every format it promises without ffmpeg."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ddsp_launch.common.audio import EXTENSIONS
from ddsp_launch.image import dockerfile

pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.timeout(2400)]  # may build the CPU image first

ROOT = dockerfile.PROJECT_ROOT
# The modules the image's users run (runtime/local.py, runtime/tools.py, cli/tools.py, launch/steps.py).
ENTRY_POINTS = ("ddsp_launch.trainer.task", "ddsp_launch.trainer.prepare", "ddsp_launch.trainer.prepare.check",
                "ddsp_launch.trainer.transfer", "ddsp_launch.trainer.export")
# Top-level modules of packages the CPU lock leaves out (scripts/lock_trainer.py, IMAGE_LEAVES_OUT).
LEFT_OUT_MODULES = ("bokeh", "IPython", "jedi", "pandas", "pyarrow", "clang", "keras", "sklearn", "hmmlearn",
                    "tensorboard_data_server")
# Imported by the trainer's code inside try/except, absent on purpose.
OPTIONAL_MODULES = {"crepe"}


def _run(image: str, code: str, *mounts: str, timeout: float = 900) -> subprocess.CompletedProcess:
    volumes = [a for m in mounts for a in ("-v", m)]
    return subprocess.run(["docker", "run", "--rm", *volumes, "--entrypoint", "python", image, "-c", code],
                          capture_output=True, text=True, timeout=timeout)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


INSTALLED = """
import importlib.metadata as m, json
print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))
"""


def test_the_image_holds_exactly_the_cpu_lock(cpu_image):
    proc = _run(cpu_image, INSTALLED)
    assert proc.returncode == 0, proc.stderr
    installed = {_normalize(n): v for n, v in json.loads(proc.stdout.splitlines()[-1]).items()}
    installed.pop("pip")
    lock = {}
    for line in (ROOT / dockerfile.CPU_LOCK).read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            lock[_normalize(name)] = version
    assert installed == lock
    assert "tensorflow" not in installed and installed["tensorflow-cpu"] == "2.19.1"


EVERY_CODE_PATH = r"""
import ast, importlib, importlib.util, pathlib, pkgutil, runpy, sys, json
from ddsp_launch.trainer import ddsp_compat
ddsp_compat.import_ddsp()
import ddsp_launch
root = pathlib.Path(ddsp_launch.__file__).parent
names = set()
for sub in ("trainer", "common"):
    names.update(m.name for m in pkgutil.walk_packages([str(root / sub)], f"ddsp_launch.{sub}."))
    for py in (root / sub).rglob("*.py"):  # every import statement, function-level ones too
        for node in ast.walk(ast.parse(py.read_text())):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
failed = {}
for name in sorted(names):
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = repr(exc)

# librosa's functions the image calls (trainer/prepare/features.py, ddsp's spectral_ops and
# export): its modules import numba at module level, and pyin runs numba-compiled code.
import numpy as np, librosa, ddsp
y = np.sin(2 * np.pi * 220 * np.arange(16000) / 16000).astype(np.float32)
f0, _, _ = librosa.pyin(y, fmin=40, fmax=2100, sr=16000, frame_length=1024, hop_length=64)
librosa.stft(y, n_fft=1024)
librosa.A_weighting(librosa.fft_frequencies(sr=16000, n_fft=1024))
librosa.resample(y, orig_sr=16000, target_sr=8000)
librosa.midi_to_hz(librosa.hz_to_midi(440.0))
loudness = ddsp.spectral_ops.compute_loudness(y, 16000).numpy()
import note_seq
try:
    note_seq.plot_sequence(None)
except ImportError as exc:
    placeholder = str(exc)
print(json.dumps({
    "failed": failed, "imported": len(names), "f0": float(np.nanmedian(f0)), "loudness": float(loudness.mean()),
    "present": [m for m in LEFT_OUT if importlib.util.find_spec(m) is not None], "placeholder": placeholder,
}))
"""


def test_every_code_path_the_image_runs_imports_in_it(cpu_image):
    code = f"LEFT_OUT = {LEFT_OUT_MODULES!r}\n" + EVERY_CODE_PATH
    proc = _run(cpu_image, code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert set(out["failed"]) <= OPTIONAL_MODULES, out["failed"]
    assert out["imported"] > 50
    assert abs(out["f0"] - 220) < 5 and np.isfinite(out["loudness"])
    assert out["present"] == []  # the image is the slim one
    assert "bokeh and IPython" in out["placeholder"]


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_each_entry_point_starts_in_the_image(cpu_image, module):
    proc = subprocess.run(["docker", "run", "--rm", "--entrypoint", "python", cpu_image, "-m", module, "--help"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "usage:" in proc.stdout


def test_no_ffmpeg_and_prepare_reads_every_promised_format_in_the_image(cpu_image, tmp_path):
    """A tiny recording in each format prepare promises (common/audio.py), written here by
    libsndfile, prepared in the image: soundfile's own libsndfile decodes them all."""
    src = tmp_path / "in"
    src.mkdir()
    sr, secs = 44100, 5.0
    t = np.arange(int(sr * secs)) / sr
    tone = 0.3 * sum(np.sin(2 * np.pi * 220 * k * t) / k for k in (1, 2, 3))
    stereo = np.stack([tone, tone], axis=1).astype(np.float32)
    formats = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS"),
               ".mp3": ("MP3", "MPEG_LAYER_III")}
    assert set(formats) == set(EXTENSIONS), "a format prepare promises is not tested here"
    for ext, (fmt, subtype) in formats.items():
        sf.write(src / f"tone{ext}", stereo, sr, format=fmt, subtype=subtype)
    os.chmod(tmp_path, 0o755)
    for p in src.iterdir():
        os.chmod(p, 0o644)
    os.chmod(src, 0o755)
    out = tmp_path / "out"
    out.mkdir()
    os.chmod(out, 0o777)  # the image's user (uid 1000) writes here

    which = _run(cpu_image, "import shutil; print(shutil.which('ffmpeg'), shutil.which('avconv'))")
    assert which.stdout.split() == ["None", "None"], which.stdout

    proc = subprocess.run(
        ["docker", "run", "--rm", "-v", f"{src}:/in:ro", "-v", f"{out}:/out", "--entrypoint", "python", cpu_image,
         "-m", "ddsp_launch.trainer.prepare", "--quiet", "/in", "/out/ds"],
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    manifest = json.loads((out / "ds" / "manifest.json").read_text())
    assert manifest["counts"]["sources_used"] == 4 and manifest["counts"]["sources_skipped"] == 0
    for source in manifest["sources"]:
        assert abs(source["seconds"] - secs) < 0.1, source
        assert source["examples"]["train"] >= 1, source
