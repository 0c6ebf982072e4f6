"""`transfer` / `export` in the image, planned: inputs mounted read-only, results through a
scratch folder moved into place only on success, the tools' own flags passed on."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from ddsp_launch.common.errors import InputError
from ddsp_launch.runtime import tools


@pytest.fixture()
def model(tmp_path):
    m = tmp_path / "runs" / "violin"
    m.mkdir(parents=True)
    (m / "ckpt-6.index").write_bytes(b"")
    return m


@pytest.fixture()
def melody(tmp_path):
    f = tmp_path / "in" / "melody.wav"
    f.parent.mkdir()
    f.write_bytes(b"RIFF")
    return f


def _mounts(tplan):
    return {m.target: m for m in tplan.plan.mounts}


def test_transfer_mounts_inputs_read_only_and_writes_through_a_scratch_folder(model, melody, tmp_path):
    out = tmp_path / "out" / "violin-melody.wav"
    stats = tmp_path / "ds" / "dataset_statistics.pkl"
    stats.parent.mkdir()
    stats.write_bytes(b"x")
    tplan = tools.plan("transfer", [str(model), str(melody), "-o", str(out), f"--statistics={stats}", "--octave-shift", "-1"],
                       "img:tag", host_uid=1234, host_gid=99)
    mounts = _mounts(tplan)
    assert mounts["/in/0"].source == str(model) and mounts["/in/0"].read_only
    assert mounts["/in/1"].source == str(melody.parent) and mounts["/in/1"].read_only
    assert mounts["/in/2"].source == str(stats.parent) and mounts["/in/2"].read_only
    [result] = tplan.results
    assert mounts["/out/0"].source == str(result.scratch) and not mounts["/out/0"].read_only
    assert result.scratch.parent == out.parent and result.scratch.is_dir()  # same file system: the move is a rename
    assert tplan.plan.args == ("/in/0", "/in/1/melody.wav", "-o", "/out/0/violin-melody.wav",
                               "--statistics=/in/2/dataset_statistics.pkl", "--octave-shift", "-1")
    assert tplan.plan.user == "1234:99" and ("HOME", "/tmp") in tplan.plan.env
    argv = tplan.plan.argv()
    assert argv[argv.index("--entrypoint") + 1] == "python"
    assert argv[argv.index("img:tag") + 1:][:2] == ["-m", "ddsp_launch.trainer.transfer"]
    assert tplan.plan.sdk_create_kwargs()["entrypoint"] == ["python", "-m", "ddsp_launch.trainer.transfer"]


def test_results_move_into_place_on_success_only(model, melody, tmp_path):
    out = tmp_path / "out.wav"
    ok = tools.plan("transfer", [str(model), str(melody), "-o", str(out)], "img", host_uid=1, host_gid=1)
    (ok.results[0].scratch / "out.wav").write_bytes(b"audio")
    tools.finish(ok, succeeded=True)
    assert out.read_bytes() == b"audio" and not ok.results[0].scratch.exists()

    failed = tools.plan("transfer", [str(model), str(melody), "-o", str(tmp_path / "other.wav")], "img", host_uid=1, host_gid=1)
    (failed.results[0].scratch / "other.wav").write_bytes(b"half")
    tools.finish(failed, succeeded=False)
    assert not (tmp_path / "other.wav").exists() and not failed.results[0].scratch.exists()


def test_export_defaults_to_model_export_and_refuses_to_replace_without_force(model, tmp_path):
    tplan = tools.plan("export", [str(model)], "img", host_uid=0, host_gid=0)
    assert tplan.plan.args[-2:] == ("--output", "/out/0/export") and tplan.results[0].destination == model / "export"
    assert tplan.plan.user == "1000:1000"  # root on the host: the image's own non-root user
    tools.finish(tplan, succeeded=False)

    (model / "export").mkdir()
    with pytest.raises(InputError, match="(?s)already exists.*--force"):
        tools.plan("export", [str(model)], "img")
    forced = tools.plan("export", [str(model), "--force"], "img", host_uid=1, host_gid=1)
    (forced.results[0].scratch / "export").mkdir()
    (forced.results[0].scratch / "export" / "ddsp-model.json").write_text("{}")
    tools.finish(forced, succeeded=True)
    assert (model / "export" / "ddsp-model.json").is_file()


def test_a_missing_input_is_refused_before_anything_runs(model, tmp_path):
    with pytest.raises(InputError, match="nothere.wav does not exist"):
        tools.plan("transfer", [str(model), str(tmp_path / "nothere.wav"), "-o", str(tmp_path / "o.wav")], "img")
    assert not list(tmp_path.glob(".ddsp-launch-*"))


def test_usage_errors_are_the_tools_own(model, capsys):
    with pytest.raises(SystemExit) as exit_:
        tools.plan("transfer", [str(model)], "img")  # no INPUT, no -o
    assert exit_.value.code == 2 and "required" in capsys.readouterr().err


def test_host_options_are_taken_out_of_the_tools_arguments():
    host, rest = tools.split_host_options(["m", "--runtime", "docker", "i.wav", "--image=img:1", "--base-image", "b", "-o", "x.wav"])
    assert host == {"runtime": "docker", "image": "img:1", "base_image": "b"} and rest == ["m", "i.wav", "-o", "x.wav"]


def test_files_the_image_user_cannot_read_are_staged_as_copies_for_root(model, tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    melody = private / "melody.wav"
    melody.write_bytes(b"RIFF")
    tplan = tools.plan("transfer", [str(model), str(melody), "-o", str(tmp_path / "o.wav")], "img", host_uid=0, host_gid=0)
    assert len(tplan.staged) == 2  # pytest's tmp_path is itself closed (700): the model folder is copied too
    staged = _mounts(tplan)["/in/1"].source
    assert Path(staged) in tplan.staged and tplan.plan.args[1] == "/in/1/melody.wav"
    assert (Path(staged) / "melody.wav").read_bytes() == b"RIFF" and oct(Path(staged).stat().st_mode & 0o777) == "0o755"
    assert (Path(_mounts(tplan)["/in/0"].source) / "ckpt-6.index").is_file()
    tools.finish(tplan, succeeded=False)
    assert not any(p.exists() for p in tplan.staged) and melody.exists()


def test_a_refusal_after_staging_leaves_nothing_behind(model, tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "m.wav").write_bytes(b"RIFF")
    (model / "export").mkdir()
    before = set(Path(tempfile.gettempdir()).glob("ddsp-launch-in-*"))
    with pytest.raises(InputError):
        tools.plan("export", [str(model), "--statistics", str(private / "m.wav")], "img", host_uid=0, host_gid=0)
    assert set(Path(tempfile.gettempdir()).glob("ddsp-launch-in-*")) == before


# ---- prepare and check of audio in the image (issue 23) -----------------------------------
@pytest.fixture()
def recordings(tmp_path):
    rec = tmp_path / "recordings" / "cello"
    (rec / "day2").mkdir(parents=True)
    for name in ("a.wav", "b.flac", "day2/c.mp3"):
        (rec / name).write_bytes(b"audio")
    return rec


def test_prepare_mounts_the_audio_read_only_and_builds_the_dataset_in_a_scratch_folder(recordings, tmp_path):
    out = tmp_path / "datasets" / "cello"
    tplan = tools.plan("prepare", [str(recordings), str(out), "--model", "vst"], "img", host_uid=1234, host_gid=99)
    mounts = _mounts(tplan)
    assert mounts["/in/0"].source == str(recordings) and mounts["/in/0"].read_only
    [result] = tplan.results
    assert mounts["/out/0"].source == str(result.scratch) and not mounts["/out/0"].read_only
    assert result.scratch.parent == out.parent and not out.exists()  # nothing at the destination until it succeeds
    assert tplan.plan.args == ("/in/0", "/out/0/cello", "--model", "vst")
    argv = tplan.plan.argv()
    assert argv[argv.index("img") + 1:][:2] == ["-m", "ddsp_launch.trainer.prepare"]
    # what the tool prints and the manifest records: the user's paths, not the container's
    env = dict(tplan.plan.env)
    assert json.loads(env["DDSP_LAUNCH_SHOWN_PATHS"]) == {"/in/0": str(recordings), "/out/0/cello": str(out)}
    tools.finish(tplan, succeeded=False)
    assert sorted(p.name for p in out.parent.iterdir()) == []


def test_a_glob_is_mounted_at_its_fixed_folder_and_keeps_its_pattern(recordings, tmp_path):
    tplan = tools.plan("check", [f"{recordings}/**/*.mp3", "--strict"], "img", host_uid=1, host_gid=1)
    assert _mounts(tplan)["/in/0"].source == str(recordings)
    assert tplan.plan.args == ("/in/0/**/*.mp3", "--strict") and tplan.results == []


def test_one_file_is_read_through_its_folder(recordings, tmp_path):
    tplan = tools.plan("check", [str(recordings / "b.flac")], "img", host_uid=1, host_gid=1)
    assert _mounts(tplan)["/in/0"].source == str(recordings) and tplan.plan.args == ("/in/0/b.flac",)


def test_gs_audio_passes_through_with_the_credentials_mounted_read_only(tmp_path, monkeypatch):
    key = tmp_path / "key.json"
    key.write_text("{}")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    tplan = tools.plan("prepare", ["gs://my-bucket/cello", str(tmp_path / "ds")], "img", host_uid=1, host_gid=1)
    assert tplan.plan.args[0] == "gs://my-bucket/cello"
    [creds] = [m for m in tplan.plan.mounts if m.target.endswith("application_default_credentials.json")]
    assert creds.source == str(key) and creds.read_only
    tools.finish(tplan, succeeded=False)


def test_prepare_refuses_a_taken_output_or_missing_audio_before_any_scratch_folder(recordings, tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        tools.plan("prepare", [str(recordings), str(taken), "--overwrite"], "img", host_uid=1, host_gid=1)
    with pytest.raises(InputError, match="does not exist"):
        tools.plan("prepare", [str(tmp_path / "nope"), str(tmp_path / "ds")], "img", host_uid=1, host_gid=1)
    with pytest.raises(InputError, match="No files match"):
        tools.plan("check", [f"{recordings}/*.ogg"], "img", host_uid=1, host_gid=1)
    with pytest.raises(InputError, match="inside"):
        tools.plan("prepare", [str(recordings), str(recordings / "ds")], "img", host_uid=1, host_gid=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recordings", "taken"]


def test_overwrite_replaces_an_old_dataset_only_when_the_new_one_is_complete(recordings, tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    shard = "train.tfrecord-00000-of-00001"
    (out / "manifest.json").write_text(json.dumps({"tool": "ddsp-launch 0.1.0", "shards": {"train": [shard]}}))
    (out / shard).write_bytes(b"old")
    tplan = tools.plan("prepare", [str(recordings), str(out), "--overwrite"], "img", host_uid=1, host_gid=1)
    [result] = tplan.results
    (result.scratch / "ds").mkdir()
    (result.scratch / "ds" / "manifest.json").write_text('{"new": 1}')
    tools.finish(tplan, succeeded=True)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"] and "new" in (out / "manifest.json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "recordings"]  # no scratch, no old copy left
