"""Issue 23's promise, end to end: the musician's machine needs the CLI and a Docker engine,
nothing of TensorFlow.

The wheel of this checkout is installed into a fresh virtualenv (its dependencies pinned by
the project's lock files), which is checked to hold no TensorFlow, before and after. With
that install alone, through the CPU training image on the offline base image: a folder of
mixed-format recordings is prepared (Ctrl-C in the middle first: no dataset, no leftovers,
no container; the rerun completes), a model trains a few steps (`train` preparing the same
audio itself, in its image), a recording is transferred and the model exported; each output checked as the tests of each command check it, and
nothing written anywhere but the folders the commands were given (and ddsp-launch's own
home, named by DDSP_LAUNCH_HOME).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import BASE_IMAGE

ROOT = Path(__file__).resolve().parents[2]
STACK = ("tensorflow", "tf_keras", "ddsp", "librosa", "crepe")


def _no_stack(venv: Path) -> None:
    probe = subprocess.run([str(venv / "bin" / "python"), "-c",
                            f"import importlib.util as u; print([m for m in {STACK!r} if u.find_spec(m)])"],
                           capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "[]", f"{venv} holds {probe.stdout}"
    listed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
                            capture_output=True, text=True, check=True)
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert not names & {"tensorflow", "tensorflow-cpu", "tf-keras", "ddsp", "librosa"}, names


def _tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _mixed_recordings(example_audio: Path, folder: Path) -> None:
    """Four real recordings, 12 s each, in four formats, rates and channel counts."""
    import soxr

    def clip(name):
        audio, sr = sf.read(example_audio / f"{name}.wav", dtype="float32")
        return audio[: 12 * sr], sr

    (folder / "nested").mkdir(parents=True)
    audio, sr = clip("scales")
    sf.write(folder / "a.flac", soxr.resample(np.stack([audio, 0.5 * audio], axis=1), sr, 44100), 44100, subtype="PCM_24")
    audio, sr = clip("ode_to_joy")
    sf.write(folder / "b.mp3", soxr.resample(np.stack([audio, audio], axis=1), sr, 48000), 48000)
    audio, sr = clip("frere_jacques")
    sf.write(folder / "nested" / "c.ogg", soxr.resample(audio, sr, 22050), 22050)
    audio, sr = clip("greensleeves")
    sf.write(folder / "d.wav", (audio * 32767).astype(np.int16), sr)
    (folder / "notes.txt").write_text("not audio")


@pytest.mark.slow  # the recordings are made with the training stack's soxr; the wheel's own venv has none of it
@pytest.mark.docker
@pytest.mark.timeout(3600)  # may build the CPU image first (the session's fixture)
def test_a_wheel_without_tensorflow_prepares_trains_transfers_and_exports_in_the_image(wheel, cpu_image, example_audio,
                                                                                         build_ca_bundle, tmp_path):
    venv = tmp_path / "venv"
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}  # a fresh venv sees no checkout
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=clean)
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                              "-c", str(ROOT / "requirements" / "trainer-py311.lock"), "-c", str(ROOT / "requirements" / "dev.txt"),
                              str(wheel)], capture_output=True, text=True, timeout=900, env=clean)
    assert install.returncode == 0, install.stderr[-3000:]
    _no_stack(venv)

    work, home, state, tmp = tmp_path / "music", tmp_path / "home", tmp_path / "state", tmp_path / "tmp"
    for folder in (work, home, tmp):
        folder.mkdir()
    audio = work / "cello takes"  # a space: paths are passed as they are
    _mixed_recordings(example_audio, audio)
    melody = work / "melody.wav"
    sf.write(melody, sf.read(example_audio / "ode_to_joy.wav", dtype="float32")[0][: 6 * 16000], 16000)
    inputs = _tree(work)
    checkout = sorted(p.name for p in ROOT.iterdir())  # no build/, egg-info or data/ appears in it
    env = dict(clean)
    env.update(HOME=str(home), DDSP_LAUNCH_HOME=str(state), TMPDIR=str(tmp), PATH=f"{venv / 'bin'}:{env['PATH']}")
    exe = str(venv / "bin" / "ddsp-launch")

    def cli(*args, timeout=1200):
        return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=work)

    # The installed package builds the checkout's image: same context, same tag, nothing rebuilt.
    built = cli("build", "--cpu", "--base-image", BASE_IMAGE, "--ca-bundle", str(build_ca_bundle))
    assert built.returncode == 0, built.stderr[-3000:]
    assert f"image:  {cpu_image}  (up to date, not rebuilt)" in built.stdout
    doctor = cli("doctor", timeout=120)
    assert "in Docker (the training image): yes; the image is built from the installed package" in doctor.stdout
    assert "--target process): no, it needs the training stack here" in doctor.stdout
    where = ("--base-image", BASE_IMAGE)

    # prepare, Ctrl-C once the dataset's records are being written: nothing complete-looking is left
    ds = work / "cello-dataset"
    started = subprocess.Popen([exe, "prepare", str(audio), str(ds), *where], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env, cwd=work)
    deadline = time.monotonic() + 900
    while not list(work.glob(".ddsp-launch-*/.cello-dataset.partial/train.tfrecord-*")):
        assert started.poll() is None and time.monotonic() < deadline, started.stdout.read()[-3000:]
        time.sleep(0.05)
    started.send_signal(signal.SIGINT)
    log = started.communicate(timeout=300)[0]
    assert started.returncode == 130, log[-3000:]
    assert "runtime: docker" in log and "stopping the container" in log
    assert sorted(p.name for p in work.iterdir()) == ["cello takes", "melody.wav"]  # no dataset, no scratch folder
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", "label=ddsp-launch.tool=prepare"], capture_output=True, text=True).stdout.split()
    mounts = subprocess.run(["docker", "inspect", "--format", "{{range .Mounts}}{{.Source}} {{end}}", *ids],
                            capture_output=True, text=True).stdout if ids else ""
    assert str(audio) not in mounts  # the container is gone (others' prepare containers aside)

    again = cli("prepare", str(audio), str(ds), *where)
    assert again.returncode == 0, again.stderr[-3000:] + again.stdout[-3000:]
    assert f"dataset ready: {ds}" in again.stdout and f"train with: --file_pattern '{ds}/train.tfrecord*'" in again.stdout
    assert f"--mount 'type=bind,source={audio},target=/in/0,readonly'" in again.stderr  # the recordings, read-only
    manifest = json.loads((ds / "manifest.json").read_text())
    by_name = {s["origin"]: s for s in manifest["sources"]}
    assert set(by_name) == {str(audio / n) for n in ("a.flac", "b.mp3", "nested/c.ogg", "d.wav")}  # the user's paths
    assert manifest["input"] == str(audio)
    assert (by_name[str(audio / "a.flac")]["sample_rate"], by_name[str(audio / "a.flac")]["channels"]) == (44100, 2)
    assert by_name[str(audio / "b.mp3")]["sample_rate"] == 48000
    assert all(s["examples"]["train"] == 9 for s in manifest["sources"])  # 12 s: 4 s examples every 1 s
    assert manifest["counts"]["train_examples"] == 36 and (ds / "dataset_statistics.json").is_file()
    from ddsp_launch.common import tfrecord

    assert tfrecord.problem(next(ds.glob("train.tfrecord-*")), examples=True) is None
    assert all(p.stat().st_uid == os.getuid() for p in [ds, *ds.rglob("*")])

    # check of raw audio measures it in the image too, naming the user's files; nothing written
    checked = cli("check", str(audio), *where)
    assert checked.returncode == 0, checked.stderr[-3000:] + checked.stdout[-3000:]
    assert "runtime: docker" in checked.stderr and f"{audio / 'nested' / 'c.ogg'}:" in checked.stdout
    assert "usable" in checked.stdout and "/in/0" not in checked.stdout

    # train prepares raw audio (--prepare-to) in the image it trains in, through the same tool
    run, ds2 = work / "runs" / "cello", work / "cello-dataset-2"
    trained = cli("train", "--yes", "--target", "docker", "--device", "cpu", "--data", str(audio), "--prepare-to", str(ds2),
                  "--output", str(run),
                  "--num-steps", "3", "--steps-per-save", "3", "--batch-size", "2", "--steps-per-summary", "1000",
                  "--no-tensorboard", *where)
    assert trained.returncode == 0, trained.stderr[-3000:] + trained.stdout[-3000:]
    assert "runtime: docker" in trained.stderr and "step 3/3" in trained.stdout and (run / "ckpt-3.index").is_file()
    assert list(run.glob("operative_config-*.gin")) and list((run / "summaries" / "train").glob("events.out.tfevents.*"))
    assert f"dataset ready: {ds2}" in trained.stdout and trained.stderr.count("runtime: docker") == 2
    counts = json.loads((ds2 / "manifest.json").read_text())["counts"]  # the same audio, the same examples, and the
    assert counts["eval_examples"] > 0 and counts["sources_used"] == manifest["counts"]["sources_used"]  # launcher
    assert counts["train_examples"] + counts["eval_examples"] == manifest["counts"]["train_examples"]  # holds some out

    out = work / "cello-melody.wav"
    played = cli("transfer", str(run), str(melody), "-o", str(out), "--statistics", str(ds / "dataset_statistics.json"), *where)
    assert played.returncode == 0, played.stderr[-3000:] + played.stdout[-3000:]
    assert "runtime: docker" in played.stderr + played.stdout
    assert sf.info(str(out)).frames == sf.info(str(melody)).frames and sf.info(str(out)).samplerate == 16000

    export = work / "cello-export"
    exported = cli("export", str(run), "-o", str(export), "--statistics", str(ds / "dataset_statistics.json"), *where)
    assert exported.returncode == 0, exported.stderr[-3000:] + exported.stdout[-3000:]
    meta = json.loads((export / "ddsp-model.json").read_text())
    assert meta["files"] == ["saved_model"] and (export / "saved_model" / "saved_model.pb").is_file()
    assert (export / "dataset_statistics.json").is_file()

    # Nothing written but the chosen folders: the inputs as they were, no scratch or staging
    # folder left anywhere, the checkout untouched, and ddsp-launch's own records in its home.
    assert {k: v for k, v in _tree(work).items() if k in inputs} == inputs
    assert sorted(p.name for p in work.iterdir()) == sorted(["cello takes", "melody.wav", "cello-dataset", "cello-dataset-2",
                                                             "runs", "cello-melody.wav", "cello-export"])
    assert sorted(p.name for p in run.parent.iterdir()) == ["cello"]
    assert list(tmp.iterdir()) == [] and list(home.iterdir()) == []
    assert sorted(p.name for p in state.iterdir()) == ["images", "runs"]
    assert sorted(p.name for p in ROOT.iterdir()) == checkout
    assert all(p.stat().st_uid == os.getuid() for p in [work, *work.rglob("*")])
    _no_stack(venv)
