"""The DDSP-VST plugin's rules as code (common/vst.py) and the model presets (common/presets.py):
pure, no TensorFlow. The checker on real converted models is in tests/trainer/test_vst.py."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ddsp_launch.common import presets, tfrecord, vst
from ddsp_launch.common.errors import InputError

STATS = {"mean_min_pitch_note": 55.0, "mean_max_pitch_note": 79.0, "mean_min_power_note": -40.0, "mean_max_power_note": -10.0}
META = vst.metadata(STATS, "3.7.0", "2026-12-01T12:00:00", "test")
FLATBUFFER = bytes(range(256)) * 40  # stands in for a model: what follows the zip is all the checks here read


def test_metadata_has_every_field_ddsp_export_writes_with_its_type():
    assert vst.metadata_problems(META) == []
    assert set(META) == {*vst.FLOAT_FIELDS, *vst.STRING_FIELDS, *vst.SHAPE_FIELDS, "exported_by"}
    assert META["mean_max_pitch_note_hz"] == pytest.approx(vst.midi_to_hz(79.0)) and vst.midi_to_hz(69.0) == 440.0


@pytest.mark.parametrize("change, message", [
    ({"export_time": None}, "metadata.json has no 'export_time' (a string)"),
    ({"mean_min_pitch_note": "55"}, 'mean_min_pitch_note is "55", not a number'),
    ({"mean_max_power_note": True}, "mean_max_power_note is true, not a number"),
    ({"num_harmonics": 60.0}, "num_harmonics is 60.0, not a whole number"),
    ({"version": 3.7}, "version is 3.7, not a string"),
    ({"num_noise_amps": 98}, "num_noise_amps is 98, the plugin plays 65"),
    ({"sample_rate": 48000}, "sample_rate is 48000, the plugin plays 16000"),
])
def test_each_metadata_problem_is_named(change, message):
    meta = {k: v for k, v in {**META, **change}.items() if v is not None}
    problems = vst.metadata_problems(meta)
    assert len(problems) == 1 and message in problems[0], problems


def test_metadata_is_a_zip_entry_whose_offsets_count_from_the_start_of_the_file():
    data = vst.pack(FLATBUFFER, META)
    assert data.startswith(FLATBUFFER)
    assert json.loads(zipfile.ZipFile(io.BytesIO(data)).read("metadata.json")) == META
    end = data.rfind(b"PK\x05\x06")
    directory = struct.unpack("<I", data[end + 16:end + 20])[0]  # JUCE seeks here, from the start of the file
    assert data[directory:directory + 4] == b"PK\x01\x02"
    assert vst.read_metadata(data) == (META, None)


def test_a_zip_made_alone_and_appended_is_found_by_python_but_not_by_the_plugin():
    alone = io.BytesIO()
    with zipfile.ZipFile(alone, "w") as zf:
        zf.writestr("metadata.json", json.dumps(META))
    data = FLATBUFFER + alone.getvalue()
    assert json.loads(zipfile.ZipFile(io.BytesIO(data)).read("metadata.json")) == META  # Python adjusts the offsets
    meta, why = vst.read_metadata(data)
    assert meta is None and "offsets count from the start of the zip" in why


@pytest.mark.parametrize("data, why", [
    (FLATBUFFER, "no zip is appended"),
    (vst.pack(FLATBUFFER, META)[:-30], "no zip is appended"),
])
def test_missing_metadata_is_named(data, why):
    assert why in vst.read_metadata(data)[1]


def test_bytes_that_are_no_tflite_model_fail_the_first_rule_only():
    report = vst.check(b"not a model at all")
    assert not report.ok and [r for r, p in report.rules if p] == ["a TensorFlow Lite flatbuffer"]
    assert "not a TFLite model" in report.problems[0] and "FAIL" in "\n".join(report.lines())


def test_the_plugins_inputs_are_midi_over_127_and_power_db_over_80_plus_1():
    assert vst.f0_scaled([440.0])[0] == pytest.approx(69 / 127)
    assert vst.f0_scaled([0.0, 1e6]).tolist() == pytest.approx([0.0, 1.0], abs=1e-4)  # clamped to MIDI 0..127
    assert vst.pw_scaled([-80.0, -40.0, 0.0]).tolist() == [0.0, 0.5, 1.0]


def test_the_plugins_models_folder_on_each_system(tmp_path):
    home = tmp_path / "home"
    tail = Path("Magenta/DDSP/Models")
    assert vst.models_folder("Darwin", home, {}) == home / "Documents" / tail
    assert vst.models_folder("Windows", home, {"USERPROFILE": str(tmp_path / "User")}) == tmp_path / "User" / "Documents" / tail
    assert vst.models_folder("Linux", home, {}) == home / "Documents" / tail
    (home / ".config").mkdir(parents=True)
    (home / ".config" / "user-dirs.dirs").write_text('XDG_DESKTOP_DIR="$HOME/Desktop"\nXDG_DOCUMENTS_DIR="$HOME/Dokumente"\n')
    assert vst.models_folder("Linux", home, {}) == home / "Dokumente" / tail


@pytest.mark.parametrize("name, ok", [("Violin", "Violin"), ("My Violin.tflite", "My Violin"), ("../up", None), (".hidden", None),
                                      ("a/b", None), ("a:b", None), (" ", None)])
def test_model_names_are_plain_file_names(name, ok):
    if ok:
        assert vst.model_name(name) == ok
    else:
        with pytest.raises(InputError, match="cannot be a model file name"):
            vst.model_name(name)


def test_a_file_in_the_plugins_folder_is_replaced_only_when_ours_and_asked(tmp_path):
    target = tmp_path / "Violin.tflite"
    vst.check_target(target, replace=False)  # nothing there
    target.write_bytes(vst.pack(FLATBUFFER, META))
    with pytest.raises(InputError, match="pass --force to replace it"):
        vst.check_target(target, replace=False)
    vst.check_target(target, replace=True)
    target.write_bytes(vst.pack(FLATBUFFER, {k: v for k, v in META.items() if k != "exported_by"}))  # e.g. the colab's
    with pytest.raises(InputError, match="is not a model ddsp-launch exported"):
        vst.check_target(target, replace=True)


def test_install_refuses_a_file_the_plugin_would_not_load(tmp_path):
    bad = tmp_path / "Violin.tflite"
    bad.write_bytes(vst.pack(FLATBUFFER, META))
    with pytest.raises(InputError, match="would not load in the DDSP-VST plugin") as err:
        vst.install(bad, tmp_path / "Models")
    assert "FAIL  a TensorFlow Lite flatbuffer" in str(err.value) and not (tmp_path / "Models").exists()
    named = tmp_path / "violin.bin"
    named.write_bytes(b"")
    with pytest.raises(InputError, match="only .tflite files"):
        vst.install(named, tmp_path / "Models")


# ---- presets --------------------------------------------------------------------------------------
def test_presets_count_frames_as_ddsp_does():
    assert presets.SOLO.example_frames(4) == 1000 and presets.VST.example_frames(4) == 201  # 'same' vs 'center'
    assert presets.fitting(64000, 1000) == "solo_instrument" and presets.fitting(64000, 201) == "vst"
    assert presets.fitting(64000, 300) is None
    assert presets.SOLO.provider_bindings == ()
    assert presets.VST.provider_bindings == ("TFRecordProvider.frame_rate = 50", "TFRecordProvider.centered = True")
    assert presets.VST.gin_files == ("models/vst/vst.gin", "datasets/tfrecord.gin")


def test_a_dataset_for_another_preset_is_refused_with_the_fix():
    presets.check_dataset("vst", "vst", "x")
    with pytest.raises(InputError, match=r"prepared for --model vst \(50 centred frames/s\), not for --model solo_instrument") as err:
        presets.check_dataset("solo_instrument", "vst", "the dataset d")
    assert "ddsp-launch prepare IN OUT --model solo_instrument" in err.value.fix and "or train with --model vst" in err.value.fix
    with pytest.raises(InputError, match="a model preset this version does not know"):
        presets.check_dataset("vst", "bigger", "the dataset d")
    assert presets.of_manifest({"parameters": {}}) == "solo_instrument"  # datasets prepared before presets


def _dataset(folder: Path, preset: str | None) -> str:
    folder.mkdir()
    (folder / "train.tfrecord-00000-of-00001").write_bytes(tfrecord.frame(b"\x0a\x00"))
    if preset:
        (folder / "manifest.json").write_text(json.dumps({"format": "ddsp-launch/dataset", "parameters": {"preset": preset}}))
    return str(folder / "train.tfrecord*")


def test_the_trainer_refuses_a_dataset_prepared_for_another_preset_before_tensorflow(tmp_path):
    from ddsp_launch.trainer import task

    def validate(*argv):
        return task.validate(task.build_parser().parse_args(["--save_dir", str(tmp_path / "run"), *argv]))

    vst_data, solo_data = _dataset(tmp_path / "v", "vst"), _dataset(tmp_path / "s", "solo_instrument")
    with pytest.raises(task.TaskError, match="prepared for --model vst .*not for --model solo_instrument"):
        validate("--file_pattern", vst_data)
    with pytest.raises(task.TaskError, match="prepared for --model solo_instrument .*not for --model vst"):
        validate("--file_pattern", solo_data, "--model", "vst")
    config = validate("--file_pattern", vst_data, "--model", "vst")
    assert config.model == "vst" and config.gin_file == presets.VST.gin_files
    assert validate("--file_pattern", _dataset(tmp_path / "n", None), "--model", "vst").model == "vst"  # no manifest: TF decides


def test_export_flags_for_the_plugin_are_checked_before_anything_runs(tmp_path):
    from ddsp_launch.trainer import tool_args

    def check(*argv):
        ns = tool_args.export_parser().parse_args([str(tmp_path / "run"), *argv])
        tool_args.check_destinations("export", ns)
        return ns

    with pytest.raises(InputError, match="--install is for --vst exports"):
        check("--install")
    with pytest.raises(InputError, match="--name is for --vst exports"):
        check("--name", "Violin")
    with pytest.raises(InputError, match="--tflite and --vst are two different exports"):
        check("--vst", "--tflite")
    ns = check("--vst", "-o", str(tmp_path / "out"), "--name", "Cello.tflite")
    assert tool_args.plugin_model(ns) == tmp_path / "out" / "Cello.tflite"
    assert tool_args.plugin_model(check("--vst")) == tmp_path / "run" / "export" / "run.tflite"
    assert np.isclose(vst.HOP_MS, 20.0)
