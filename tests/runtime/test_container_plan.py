"""The `docker run` plan: mounts, user, devices, credentials; and its two renderings agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ddsp_launch.common.errors import InputError
from ddsp_launch.launch import launcher, resolve
from ddsp_launch.runtime import container


@pytest.fixture()
def dataset(tmp_path) -> Path:
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "train.tfrecord-00000-of-00001").write_bytes(b"")
    return ds


def _checked(data, output, extra_args=(), **flags) -> launcher.Checked:
    """A local run as every door resolves and checks it (launch/resolve.py)."""
    base = {"target": "docker", "device": "cpu", "data": str(data), "output": str(output), "batch_size": 4, "num_steps": 10}
    return launcher.check(resolve.settings({**base, **flags}, None, {}, extra_args=extra_args))


def _plan(data, output, image, host_uid=None, host_gid=None, **flags) -> container.ContainerPlan:
    run = _checked(data, output, **flags)
    return container.plan(run.spec, image, run.plan, host_uid=host_uid, host_gid=host_gid)


def test_local_paths_mount_data_read_only_and_output_writable(dataset, tmp_path):
    plan = _plan(dataset, tmp_path / "out", "img:tag", host_uid=1234, host_gid=99)
    mounts = {m.target: m for m in plan.mounts}
    assert mounts["/data"].source == str(dataset.resolve()) and mounts["/data"].read_only
    assert mounts["/output"].source == str((tmp_path / "out").resolve()) and not mounts["/output"].read_only
    assert "--save_dir=/output" in plan.args and "--file_pattern=/data/train.tfrecord*" in plan.args
    assert "--batch_size=4" in plan.args and "--num_steps=10" in plan.args
    # the host user's ids, so the outputs are theirs; never root
    assert plan.user == "1234:99" and ("HOME", "/tmp") in plan.env
    assert not plan.gpus


def test_root_host_runs_as_the_images_user(dataset, tmp_path):
    plan = _plan(dataset, tmp_path / "out", "img", host_uid=0, host_gid=0)
    assert plan.user == container.IMAGE_USER != "0:0"


def test_cli_rendering_matches_the_sdk_arguments(dataset, tmp_path):
    plan = _plan(dataset, tmp_path / "out", "ddsp-launch:cpu-abc", host_uid=1000, host_gid=1000, device="gpu")
    argv = plan.argv()
    assert argv[:2] == ["docker", "run"] and argv[argv.index("--gpus") + 1] == "all"
    image_at = argv.index("ddsp-launch:cpu-abc")
    assert tuple(argv[image_at + 1 :]) == plan.args
    flags = [argv[i + 1] for i, a in enumerate(argv) if a == "--mount"]
    sdk = plan.sdk_host_config()["mounts"]
    assert "--volume" not in argv and "binds" not in plan.sdk_host_config()
    assert flags == [f"type=bind,source={m['Source']},target={m['Target']}" + (",readonly" if m["ReadOnly"] else "") for m in sdk]
    assert [m["Type"] for m in sdk] == ["bind", "bind"]
    envs = [argv[i + 1] for i, a in enumerate(argv) if a == "--env"]
    assert envs == [f"{k}={v}" for k, v in plan.sdk_create_kwargs()["environment"].items()]
    assert argv[argv.index("--user") + 1] == plan.sdk_create_kwargs()["user"]
    [req] = plan.sdk_host_config()["device_requests"]
    assert req["Count"] == -1 and req["Capabilities"] == [["gpu"]]


def test_gcs_paths_pass_through_with_credentials_mounted_read_only(tmp_path, monkeypatch):
    adc = tmp_path / "adc.json"
    adc.write_text(json.dumps({"type": "authorized_user", "client_id": "x", "client_secret": "y", "refresh_token": "z"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    plan = _plan("gs://my-bucket/violin", "gs://my-bucket/runs/v1", "img", host_uid=5, host_gid=5)
    assert "--file_pattern=gs://my-bucket/violin/train.tfrecord*" in plan.args
    assert "--save_dir=gs://my-bucket/runs/v1" in plan.args
    [mount] = plan.mounts
    assert mount.source == str(adc) and mount.target == container.CREDENTIALS_MOUNT and mount.read_only
    assert ("GOOGLE_APPLICATION_CREDENTIALS", container.CREDENTIALS_MOUNT) in plan.env
    assert "refresh_token" not in plan.command_line() and "z" not in plan.args  # the file, never its contents
    assert plan.network is None


def test_gcs_without_any_credentials_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/gcloud here
    with pytest.raises(InputError, match="credentials") as err:
        _plan("gs://my-bucket/violin", tmp_path / "out", "img")
    assert "gcloud auth application-default login" in str(err.value)


def test_a_local_storage_emulator_is_reached_over_the_host_network(dataset, monkeypatch):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9023")
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("HOME", str(dataset))
    plan = _plan(dataset, "gs://bucket/run", "img", host_uid=1, host_gid=1)
    assert plan.network == "host" and ("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9023") in plan.env


def test_extra_trainer_flags_pass_through_in_order(dataset, tmp_path):
    run = _checked(dataset, tmp_path / "o", gin_param=["a.b = 1"], extra_args=("--log_every", "1"))
    args = container.plan(run.spec, "img", run.plan, host_uid=1, host_gid=1).args
    assert args[-3:] == ("--gin_param=a.b = 1", "--log_every", "1")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": "kubernetes"}, "unknown target"),
        ({"device": "tpu"}, "unknown device"),
        ({"batch_size": 0}, "batch-size must be > 0"),
        ({"learning_rate": 3.0}, "learning-rate"),
        ({"early_stop_loss_value": float("nan")}, "early-stop-loss-value must be >= 0"),
        ({"image": "Not An Image!"}, "not an image reference"),
        ({"ca_bundle": "/nonexistent/ca.pem"}, "does not exist"),
    ],
)
def test_bad_specs_are_refused_with_the_reason(dataset, tmp_path, kwargs, message):
    with pytest.raises(InputError, match=message):
        _checked(dataset, tmp_path / "out", **kwargs)


def test_raw_audio_folder_is_not_a_dataset(tmp_path):
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "a.wav").write_bytes(b"RIFF")
    with pytest.raises(InputError, match="holds audio") as err:
        _checked(tmp_path / "audio", tmp_path / "out")
    assert "--prepare-to" in str(err.value)


def test_output_that_is_a_file_is_refused(dataset, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InputError, match="is a file"):
        _checked(dataset, f)


def test_bad_bucket_name_is_refused(dataset):
    with pytest.raises(InputError, match="not a valid bucket name"):
        _checked(dataset, "gs://Bad_Bucket!/x")


def test_folders_whose_names_hold_colons_and_commas_are_mounted_by_field(tmp_path):
    """`SRC:DST:MODE` cannot carry a ':' in SRC; the SDK's Mount takes the path as it is, and the
    CLI's --mount value quotes a field holding ',' or '"' (CSV, as docker parses it)."""
    data = tmp_path / 'take 1: "violin", slow'
    data.mkdir()
    (data / "train.tfrecord-00000-of-00001").write_bytes(b"")
    plan = _plan(data, tmp_path / "out:2", "img", host_uid=1000, host_gid=1000)
    [data_mount] = [m for m in plan.sdk_host_config()["mounts"] if m["Target"] == "/data"]
    assert data_mount["Source"] == str(data.resolve()) and data_mount["ReadOnly"]
    argv = plan.argv()
    assert f'"source={data.resolve()}"'.replace('"violin"', '""violin""') in argv[argv.index("--mount") + 1]
    assert f"type=bind,source={(tmp_path / 'out:2').resolve()},target=/output" in argv


def test_a_folder_name_with_a_line_break_is_refused(tmp_path):
    data = tmp_path / "two\nlines"
    data.mkdir()
    (data / "train.tfrecord-00000-of-00001").write_bytes(b"")
    with pytest.raises(InputError, match="line break"):
        _plan(data, tmp_path / "out", "img", host_uid=1000, host_gid=1000)
