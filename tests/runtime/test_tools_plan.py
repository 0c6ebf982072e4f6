"""`transfer` / `export` in the image, planned: inputs mounted read-only, results through a
scratch folder moved into place only on success, the tools' own flags passed on."""

from __future__ import annotations

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
