"""From recordings to the DDSP-VST plugin: prepare --model vst, a few training steps, export --vst,
checked by the plugin's rules; broken models refused each with its own message; streamed controls
equal batch ones; transfer --engine plugin follows the melody; --model mismatches refused."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ddsp_launch.common import vst
from ddsp_launch.common.errors import InputError
from ddsp_launch.trainer.prepare.sources import SILENCE_DBFS
from tests.conftest import ddsp_launch
from tests.trainer.test_transfer import flute, harmonic_pitch, melody_pitch, within_a_semitone  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # fixtures: prepare, 4 training steps, an export
STATS = "dataset_statistics.json"


@pytest.fixture(scope="module")
def vst_data(example_audio, tmp_path_factory) -> Path:
    """12 s of violin prepared for --model vst (9 examples of 4 s)."""
    import soundfile as sf

    root = tmp_path_factory.mktemp("vst")
    audio, sr = sf.read(str(example_audio / "scales.wav"), dtype="float32")
    sf.write(str(root / "take.wav"), audio[: 12 * sr], sr)
    proc = ddsp_launch("prepare", "--quiet", "--model", "vst", str(root / "take.wav"), str(root / "ds"), timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--model vst" in proc.stdout  # the command to train with names the preset
    return root / "ds"


@pytest.fixture(scope="module")
def vst_run(vst_data) -> Path:
    run = vst_data.parent / "run"
    proc = ddsp_launch("task", "--model", "vst", "--save_dir", str(run), "--file_pattern", str(vst_data / "train.tfrecord*"),
                       "--batch_size", "2", "--num_steps", "4", "--steps_per_save", "4", "--steps_per_summary", "4",
                       "--audio_summaries=false", timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return run


@pytest.fixture(scope="module")
def exported(vst_run, vst_data):
    out = vst_data.parent / "plugin"
    proc = ddsp_launch("export", str(vst_run), "-o", str(out), "--vst", "--name", "Violin", "--statistics", str(vst_data / STATS),
                       timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, out


def test_prepare_train_export_and_the_plugin_checks_pass(vst_data, exported):
    manifest = json.loads((vst_data / "manifest.json").read_text())["parameters"]
    assert (manifest["preset"], manifest["frame_rate"], manifest["padding"], manifest["example_frames"]) == ("vst", 50, "center", 201)
    proc, out = exported
    assert sorted(p.name for p in out.iterdir()) == ["Violin.tflite", STATS, "ddsp-model.json", "metadata.json"]
    named = next(line for line in proc.stdout.splitlines() if line.startswith("exported "))
    assert sorted(named.split(": ", 1)[1].split(", ")) == sorted(p.name for p in out.iterdir())  # says what it wrote
    print(proc.stdout)  # the checker's output, for the record
    rules = [line for line in proc.stdout.splitlines() if line.startswith("  ok") or line.startswith("  FAIL")]
    assert len(rules) == 7 and all(line.startswith("  ok") for line in rules), proc.stdout
    assert "streamed hop by hop = the trained model" in proc.stdout

    data = (out / "Violin.tflite").read_bytes()
    report = vst.check(data)
    assert report.ok, report.lines()
    meta = json.loads(zipfile.ZipFile(out / "Violin.tflite").read("metadata.json"))  # the plugin reads the .tflite as a zip
    assert meta == json.loads((out / "metadata.json").read_text()) == report.metadata
    stats = json.loads((vst_data / STATS).read_text())
    assert meta["mean_min_pitch_note"] == stats["mean_min_pitch_note"] and meta["mean_max_power_note"] == stats["mean_max_power_note"]
    assert (meta["num_harmonics"], meta["num_noise_amps"], meta["frame_rate"], meta["frame_size"], meta["sample_rate"],
            meta["version"]) == (60, 65, 50, 1024, 16000, "3.7.0")
    assert abs(meta["mean_min_pitch_note_hz"] - vst.midi_to_hz(meta["mean_min_pitch_note"])) < 1e-6
    record = json.loads((out / "ddsp-model.json").read_text())["streaming_vs_batch"]
    assert record["frames"] == 300 and max(record["largest_relative_difference"].values()) <= record["allowed"] == 1e-4


# ---- the checker, on models the plugin would refuse ----------------------------------------------
def controls_model(tmp: Path, harmonics=60, noise=65, f0_name="f0_scaled", flex=False) -> bytes:
    """A small model with the plugin's signature (or not), converted as export converts."""
    import tensorflow as tf

    size = 1 + harmonics + noise + vst.STATE_SIZE
    spec = [tf.TensorSpec([1], tf.float32), tf.TensorSpec([1], tf.float32), tf.TensorSpec([vst.STATE_SIZE], tf.float32)]

    def controls(w, f0, pw, state):
        y = w * (f0 + pw)
        if flex:  # an inverse FFT has no builtin TFLite kernel: SELECT_TF_OPS makes it a Flex op
            y = y + tf.reduce_mean(tf.signal.irfft(tf.complex(y[:noise], y[:noise])))
        return (tf.sigmoid(y[:1]), tf.nn.softmax(y[1:1 + harmonics]), tf.sigmoid(y[1 + harmonics:1 + harmonics + noise]),
                tf.tanh(state * y[-vst.STATE_SIZE:]))

    class Controls(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(tf.linspace(-1.0, 1.0, size))

        @tf.function(input_signature=spec)
        def call(self, f0_scaled, pw_scaled, state):
            return controls(self.w, f0_scaled, pw_scaled, state)

        @tf.function(input_signature=spec)
        def call_hz(self, f0_hz, pw_scaled, state):
            return controls(self.w, f0_hz, pw_scaled, state)

    module = Controls()
    fn = module.call if f0_name == "f0_scaled" else module.call_hz
    tf.saved_model.save(module, str(tmp / "saved"), signatures={"call": fn.get_concrete_function()})
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp / "saved"), signature_keys=["call"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS] + ([tf.lite.OpsSet.SELECT_TF_OPS] if flex else [])
    try:
        return converter.convert()
    finally:
        shutil.rmtree(tmp / "saved")


GOOD_META = vst.metadata({"mean_min_pitch_note": 55.0, "mean_max_pitch_note": 79.0, "mean_min_power_note": -40.0,
                          "mean_max_power_note": -10.0}, "3.7.0", "2026-12-01T12:00:00", "test")
INPUTS, OUTPUTS, OPS, META = (f"inputs {', '.join(f'{n} [{s}]' for n, s in vst.INPUTS.items())}",
                              f"outputs {', '.join(f'{n} [{s}]' for n, s in vst.OUTPUTS.items())}",
                              "builtin ops only (TFLite's BuiltinOpResolver, no Flex ops)",
                              "metadata.json inside, as the plugin reads it (a zip entry; fields and types)")


@pytest.mark.parametrize("case, rule, message", [
    ("flex", OPS, "FlexIRFFT (TensorFlow ops through the Flex delegate, which the plugin does not link"),
    ("name", INPUTS, "input tensor 'call_f0_hz:0' is not one the plugin knows"),
    ("48k", OUTPUTS, "StatefulPartitionedCall:1 (harmonic distribution) has 100 values, the plugin needs 60"),
    ("no-metadata", META, "holds no metadata.json: no zip is appended to the flatbuffer"),
    ("wrong-type", META, 'metadata.json: num_harmonics is "60", not a whole number'),
    ("relative-zip", META, "its zip's offsets count from the start of the zip, not of the file"),
])
def test_the_checker_refuses_a_model_the_plugin_would_refuse(tmp_path, case, rule, message):
    flatbuffer = controls_model(tmp_path, flex=case == "flex", f0_name="f0_hz" if case == "name" else "f0_scaled",
                                **({"harmonics": 100, "noise": 98} if case == "48k" else {}))
    assert vst.check(vst.pack(flatbuffer, GOOD_META)).ok == (case in ("no-metadata", "wrong-type", "relative-zip"))
    if case == "no-metadata":
        data = flatbuffer
    elif case == "wrong-type":
        data = vst.pack(flatbuffer, {**GOOD_META, "num_harmonics": "60"})
    elif case == "relative-zip":  # `cat model.tflite metadata.zip`: a zip made on its own, then appended
        (tmp_path / "m.zip").unlink(missing_ok=True)
        with zipfile.ZipFile(tmp_path / "m.zip", "w") as zf:
            zf.writestr("metadata.json", json.dumps(GOOD_META))
        data = flatbuffer + (tmp_path / "m.zip").read_bytes()
    else:
        data = vst.pack(flatbuffer, GOOD_META)
    report = vst.check(data)
    assert [r for r, problems in report.rules if problems] == [rule], report.lines()
    assert any(message in p for p in report.problems), report.problems
    model = tmp_path / f"{case}.tflite"
    model.write_bytes(data)
    with pytest.raises(InputError, match="would not load in the DDSP-VST plugin"):
        vst.install(model, tmp_path / "Models")
    assert not (tmp_path / "Models").exists()


def test_streamed_controls_equal_the_trained_models(vst_run, vst_data, exported):
    """The exported file hop by hop, state carried, against the trained model over the whole phrase:
    within vst_export.TOLERANCE (1e-4 of each control's largest value). Not carrying the state is
    caught by the same comparison."""
    import gin

    from ddsp_launch.common import gin_rules
    from ddsp_launch.trainer import vst_export
    from ddsp_launch.trainer.ddsp_compat import import_ddsp
    from ddsp_launch.trainer.prepare import stats as dataset_stats
    from ddsp_launch.trainer.model_folder import ModelFolder

    ddsp = import_ddsp()
    folder = ModelFolder.find(vst_run, vst_data / STATS)
    with gin.unlock_config():
        gin.parse_config(gin_rules.check_file(folder.operative_config, registry=True), skip_unknown=True)
    f0, pw = vst_export.check_phrase(dataset_stats.read(folder.statistics))
    batch = vst_export.batch_controls(folder.checkpoint, folder, f0, pw, ddsp)
    data = (exported[1] / "Violin.tflite").read_bytes()
    differences = vst_export.compare(vst_export.stream(data, f0, pw), batch)
    assert max(differences.values()) <= vst_export.TOLERANCE, differences

    forgetful = vst_export.Stream(data)
    frames = []
    for f, p in zip(f0, pw):
        forgetful.state[:] = 0.0  # the state not fed back
        frames.append(forgetful(f, p))
    amnesic = {name: np.stack([fr[name] for fr in frames]) for name in vst_export.ROLES}
    assert max(vst_export.compare(amnesic, batch).values()) > 100 * vst_export.TOLERANCE


def test_transfer_with_the_plugin_engine_follows_the_melody(exported, flute, melody_pitch, tmp_path):  # noqa: F811
    """The flute melody played by the exported model the way the plugin plays it: the same length,
    not silent, and the harmonic part within a semitone of the input on most voiced frames."""
    import soundfile as sf

    source, frames, f0 = melody_pitch
    out = tmp_path / "plugin-ode.wav"
    proc = ddsp_launch("transfer", str(exported[1] / "Violin.tflite"), str(flute / "ode_to_joy.wav"), "-o", str(out),
                       "--engine", "plugin", "--stems", timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "played as the DDSP-VST plugin plays it" in proc.stderr and "octave shift" in proc.stderr
    audio, sr = sf.read(str(out), dtype="float32")
    harmonic, _ = sf.read(str(tmp_path / "plugin-ode-harmonic.wav"), dtype="float32")
    assert sr == 16000 and len(audio) == len(source) == len(harmonic)
    for name, part in (("mix", audio), ("harmonic stem", harmonic)):
        peak, rms = 20 * np.log10(np.abs(part).max()), 20 * np.log10(np.sqrt(np.mean(part ** 2)))
        assert peak > SILENCE_DBFS and rms > SILENCE_DBFS, f"the {name} is silent: peak {peak:.1f}, RMS {rms:.1f} dBFS"
    agreement = within_a_semitone(harmonic_pitch(harmonic, frames, f0), f0)
    assert agreement > 0.8, f"the harmonic part is within a semitone of the input on {agreement:.0%} of voiced frames"


def test_model_mismatches_are_refused(vst_data, vst_run, small_dataset, tmp_path):
    """Trainer and dataset must agree on the preset (the manifest before TensorFlow, else the first
    record); export --vst refuses a model the plugin cannot play, before converting anything."""
    args = ["--batch_size", "2", "--num_steps", "1", "--audio_summaries=false"]
    proc = ddsp_launch("task", "--model", "vst", "--save_dir", str(tmp_path / "a"), "--file_pattern",
                       str(small_dataset / "train.tfrecord*"), *args, timeout=300)
    assert proc.returncode == 2 and "was prepared for --model solo_instrument (250 frames/s), not for --model vst" in proc.stderr
    assert "prepare IN OUT --model vst" in proc.stderr and not (tmp_path / "a").exists()
    bare = tmp_path / "records"  # the vst records without their manifest
    bare.mkdir()
    for record in vst_data.glob("train.tfrecord*"):
        shutil.copy(record, bare)
    proc = ddsp_launch("task", "--save_dir", str(tmp_path / "b"), "--file_pattern", str(bare / "train.tfrecord*"), *args, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "was prepared for --model vst (50 centred frames/s), not for --model solo_instrument" in proc.stderr

    wide = tmp_path / "vst48k"  # the model folder, its gin saying vst_48k.gin's shape
    shutil.copytree(vst_run, wide, ignore=shutil.ignore_patterns("summaries"))
    for gin_file in wide.glob("operative_config-*.gin"):
        text = gin_file.read_text()
        assert "('harmonic_distribution', 60), ('noise_magnitudes', 65)" in text
        gin_file.write_text(text.replace("('harmonic_distribution', 60), ('noise_magnitudes', 65)",
                                         "('harmonic_distribution', 100), ('noise_magnitudes', 98)"))
    proc = ddsp_launch("export", str(wide), "-o", str(tmp_path / "out"), "--vst", "--statistics", str(vst_data / STATS),
                       timeout=600)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "has a shape the DDSP-VST plugin rejects: harmonics 100 (the plugin's: 60); noise magnitudes 98" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_install_copies_only_what_passes_and_replaces_only_our_own(exported, tmp_path):
    model = exported[1] / "Violin.tflite"
    models = tmp_path / "Documents" / "Magenta" / "DDSP" / "Models"
    assert vst.install(model, models) == models / "Violin.tflite"
    assert (models / "Violin.tflite").read_bytes() == model.read_bytes()
    assert vst.install(model, models) == models / "Violin.tflite"  # the same bytes again: nothing to do
    newer = tmp_path / "Violin.tflite"
    data = model.read_bytes()
    newer.write_bytes(vst.pack(data[: zipfile.ZipFile(model).infolist()[0].header_offset], {**GOOD_META, "export_time": "later"}))
    with pytest.raises(InputError, match="already exists .a model ddsp-launch exported earlier"):
        vst.install(newer, models)
    vst.install(newer, models, replace=True)
    assert json.loads(zipfile.ZipFile(models / "Violin.tflite").read("metadata.json"))["export_time"] == "later"
    foreign = {k: v for k, v in GOOD_META.items() if k != "exported_by"}
    (models / "Violin.tflite").write_bytes(vst.pack(data[: zipfile.ZipFile(model).infolist()[0].header_offset], foreign))
    with pytest.raises(InputError, match="is not a model ddsp-launch exported"):
        vst.install(model, models, replace=True)
    assert not list(models.glob(".*.part"))


def test_install_plugin_model_checks_then_copies_where_the_plugin_looks(exported, tmp_path):
    model = exported[1] / "Violin.tflite"
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / ".config")}  # Linux: the XDG documents folder
    proc = ddsp_launch("install-plugin-model", str(model), env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    target = tmp_path / "Documents" / "Magenta" / "DDSP" / "Models" / "Violin.tflite"
    assert f"installed {target}" in proc.stdout and "FAIL" not in proc.stdout and target.read_bytes() == model.read_bytes()
    broken = tmp_path / "Broken.tflite"
    data = model.read_bytes()
    broken.write_bytes(data[: zipfile.ZipFile(model).infolist()[0].header_offset])  # no metadata.json
    proc = ddsp_launch("install-plugin-model", str(broken), "--to", str(tmp_path / "elsewhere"), timeout=120)
    assert proc.returncode == 2 and "FAIL  metadata.json inside" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "elsewhere").exists()


def test_the_run_page_downloads_the_model_for_the_plugin(vst_run, vst_data, tmp_path):
    from tests.conftest import wait_until
    from tests.web.conftest import start_web, stop_web

    web = start_web(tmp_path)
    try:
        run_id = "20261201-120000-process-cccc"
        (web.home / "runs").mkdir(parents=True, exist_ok=True, mode=0o700)
        (web.home / "runs" / f"{run_id}.json").write_text(json.dumps({
            "id": run_id, "state": "succeeded", "target": "process", "output": str(vst_run),
            "settings": {"model": "vst", "output": str(vst_run), "data": str(vst_data)}}))
        assert "Download for DDSP-VST" in web.get(f"/runs/{run_id}")[2].decode()
        status, headers, body = web.get(f"/runs/{run_id}/plugin.tflite", timeout=600)  # exported on request
        assert status == 200, body[-2000:]
        assert f"{run_id}.tflite" in headers["content-disposition"]
        assert vst.check(body).ok and json.loads(zipfile.ZipFile(io.BytesIO(body)).read("metadata.json"))["num_harmonics"] == 60
        wait_until(lambda: not [p for p in web.workspace.iterdir() if "-vst-" in p.name], what="the scratch export removed")
    finally:
        stop_web(web)


@pytest.mark.docker
@pytest.mark.timeout(2400)  # may build the CPU image first
def test_export_vst_in_the_image_installs_on_this_machine(vst_run, vst_data, cpu_image, tmp_path):
    """README: `export --vst --install` without the training stack here runs the export in the image
    and installs the checked file into this machine's plugin folder (not the container's)."""
    import os

    out = tmp_path / "plugin"
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / ".config")}  # Linux: the XDG documents folder
    proc = ddsp_launch("export", str(vst_run), "-o", str(out), "--vst", "--name", "Docked", "--install",
                       "--statistics", str(vst_data / STATS), "--runtime", "docker", "--image", cpu_image, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    said = proc.stdout + proc.stderr
    target = tmp_path / "Documents" / "Magenta" / "DDSP" / "Models" / "Docked.tflite"
    assert "runtime: docker" in said and f"installed {target}" in said
    assert target.read_bytes() == (out / "Docked.tflite").read_bytes() and vst.check(target.read_bytes()).ok
    assert (out / "Docked.tflite").stat().st_uid == os.getuid()
    assert sorted(p.name for p in out.iterdir()) == ["Docked.tflite", STATS, "ddsp-model.json", "metadata.json"]
