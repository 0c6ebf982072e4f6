"""Settings: precedence, config files, the equivalent command line, and never prompting under CI."""

from __future__ import annotations

import pytest

from ddsp_launch.common.errors import InputError
from ddsp_launch.launch import settings as st
from tests.conftest import ddsp_launch


def test_precedence_flags_over_config_over_env_over_defaults():
    flags = {"batch_size": 8}
    config = {"batch_size": 16, "learning_rate": 1e-3}
    env = {"DDSP_LAUNCH_BATCH_SIZE": "64", "DDSP_LAUNCH_LEARNING_RATE": "0.01", "DDSP_LAUNCH_NUM_STEPS": "500"}
    s = st.resolve(flags, config, env)
    assert (s.batch_size, s.origin["batch_size"]) == (8, "flag")
    assert (s.learning_rate, s.origin["learning_rate"]) == (1e-3, "config")
    assert (s.num_steps, s.origin["num_steps"]) == (500, "env")
    assert (s.steps_per_save, s.origin["steps_per_save"]) == (300, "default")


def test_environment_types_and_the_project_fallback():
    s = st.resolve({}, {}, {"DDSP_LAUNCH_SPOT": "yes", "DDSP_LAUNCH_TENSORBOARD": "0", "GOOGLE_CLOUD_PROJECT": "my-proj",
                            "DDSP_LAUNCH_DATA": "/not/read/from/env"})
    assert s.spot is True and s.tensorboard is False and s.project == "my-proj" and s.origin["project"] == "env"
    assert s.data is None  # paths never come from the environment
    with pytest.raises(InputError, match="DDSP_LAUNCH_BATCH_SIZE: batch_size = 'many' is not a number"):
        st.resolve({}, {}, {"DDSP_LAUNCH_BATCH_SIZE": "many"})
    with pytest.raises(InputError, match="unknown target 'cloud'"):
        st.resolve({"target": "cloud"}, {}, {})


def test_config_file_errors(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("batch-size: 16\nlearning_rate: 3e-4\n")
    assert st.read_config(path) == {"batch_size": 16, "learning_rate": 3e-4}
    path.write_text("batch_sise: 16\n")
    with pytest.raises(InputError, match="unknown setting 'batch_sise'"):
        st.read_config(path)
    path.write_text("num_steps: 1.5\n")
    with pytest.raises(InputError, match="num_steps = 1.5 is not a number"):
        st.read_config(path)


def test_the_printed_command_reproduces_the_configuration(tmp_path, small_dataset_or_folder):
    """Settings -> command line -> `ddsp-launch train ... --save-config` -> the same settings."""
    s = st.resolve({"target": "process", "device": "cpu", "data": str(small_dataset_or_folder), "output": str(tmp_path / "run"),
                    "batch_size": 4, "learning_rate": 1e-3, "gin_param": ["RnnFcDecoder.rnn_channels = 64"], "spot": True,
                    "tensorboard": False}, {}, {})
    import shlex

    args = shlex.split(s.command_line())[1:]
    out = tmp_path / "again.yaml"
    ddsp_launch(*args, "--save-config", str(out), check=True)
    assert st.read_config(out) == {k: tuple(v) if isinstance(v, list) else v for k, v in s.to_file().items()}
    assert "spot" not in s.to_file()  # cloud-only settings are not part of a local run


def test_precedence_through_the_command_line(tmp_path, small_dataset_or_folder):
    config = tmp_path / "run.yaml"
    config.write_text(f"data: {small_dataset_or_folder}\noutput: {tmp_path / 'run'}\nbatch_size: 16\nnum_steps: 100\ntarget: process\n")
    out = tmp_path / "resolved.yaml"
    ddsp_launch("train", "--config", str(config), "--num-steps", "7", "--save-config", str(out),
                env={"DDSP_LAUNCH_NUM_STEPS": "5", "DDSP_LAUNCH_LEARNING_RATE": "0.002", "DDSP_LAUNCH_BATCH_SIZE": "3"}, check=True)
    resolved = st.read_config(out)
    assert resolved["num_steps"] == 7 and resolved["batch_size"] == 16 and resolved["learning_rate"] == 0.002


def test_ci_never_prompts(tmp_path):
    """Under CI=true, even in a terminal: `ddsp-launch` shows its help, `train` names the missing flag."""
    from tests.launch.conftest import Terminal

    term = Terminal(env={"CI": "true", "DDSP_LAUNCH_HOME": str(tmp_path)}, timeout=30)
    assert term.finish(timeout=30) == 0
    assert "Usage: ddsp-launch" in term.text and "?" not in term.text.split("Usage")[0]
    term = Terminal("train", env={"CI": "true", "DDSP_LAUNCH_HOME": str(tmp_path)}, timeout=30)
    assert term.finish(timeout=30) == 2
    assert "missing --data, --output" in term.text
    term = Terminal("train", "--yes", "--data", str(tmp_path), env={"DDSP_LAUNCH_HOME": str(tmp_path)}, timeout=30)
    assert term.finish(timeout=30) == 2 and "missing --output" in term.text


def test_cloud_target_needs_a_project_and_gs_paths(tmp_path):
    proc = ddsp_launch("train", "--yes", "--target", "vertex", "--data", "gs://ddsp-x/ds", "--output", "gs://ddsp-x/run",
                       env={"GOOGLE_CLOUD_PROJECT": "", "CLOUDSDK_CORE_PROJECT": "", "DDSP_LAUNCH_HOME": str(tmp_path)})
    assert proc.returncode == 2 and "missing --project" in proc.stderr
    proc = ddsp_launch("train", "--yes", "--target", "vertex", "--data", str(tmp_path), "--output", "gs://ddsp-x/run",
                       "--project", "my-proj", "--image", "us-central1-docker.pkg.dev/my-proj/r/ddsp:1",
                       env={"DDSP_LAUNCH_HOME": str(tmp_path)})
    assert proc.returncode == 2 and "holds no TFRecords" in proc.stderr  # a folder here is uploaded only if it is a dataset
    proc = ddsp_launch("train", "--yes", "--target", "vertex", "--data", "gs://ddsp-x/ds", "--output", str(tmp_path / "out"),
                       "--project", "my-proj", "--image", "us-central1-docker.pkg.dev/my-proj/r/ddsp:1",
                       env={"DDSP_LAUNCH_HOME": str(tmp_path)})
    assert proc.returncode == 2 and "a Vertex AI job reads and writes gs:// only" in proc.stderr
    proc = ddsp_launch("train", "--yes", "--target", "vertex", "--data", "gs://ddsp-x/ds", "--output", "gs://ddsp-x/run",
                       "--project", "my-proj", env={"DDSP_LAUNCH_HOME": str(tmp_path)})
    assert proc.returncode == 2 and "needs a pushed image" in proc.stderr and "--push-to" in proc.stderr


def test_list_settings_flag_list_over_config_list_over_default():
    config = {"gin_param": ("RnnFcDecoder.rnn_channels = 64",), "gin_file": ("models/solo_instrument.gin",)}
    s = st.resolve({"gin_param": [], "gin_file": []}, config, {})  # the flags' own default: not given
    assert (s.gin_param, s.origin["gin_param"]) == (("RnnFcDecoder.rnn_channels = 64",), "config")
    assert (s.gin_file, s.origin["gin_file"]) == (("models/solo_instrument.gin",), "config")
    s = st.resolve({"gin_param": ["RnnFcDecoder.rnn_channels = 32"]}, config, {})
    assert (s.gin_param, s.origin["gin_param"]) == (("RnnFcDecoder.rnn_channels = 32",), "flag")
    assert st.resolve({"gin_param": []}, {}, {}).origin["gin_param"] == "default"


def test_a_config_files_gin_lists_reach_the_run(tmp_path, small_dataset_or_folder):
    config = tmp_path / "run.yaml"
    config.write_text(f"data: {small_dataset_or_folder}\noutput: {tmp_path / 'run'}\ntarget: process\n"
                      "gin_param: ['RnnFcDecoder.rnn_channels = 64', 'batch_size = 4']\ngin_file: [models/solo_instrument.gin]\n")
    out = tmp_path / "resolved.yaml"
    ddsp_launch("train", "--config", str(config), "--save-config", str(out), check=True)
    resolved = st.read_config(out)
    assert resolved["gin_param"] == ("RnnFcDecoder.rnn_channels = 64", "batch_size = 4")
    assert resolved["gin_file"] == ("models/solo_instrument.gin",)
    ddsp_launch("train", "--config", str(config), "--gin-param", "RnnFcDecoder.rnn_channels = 32", "--save-config", str(out), check=True)
    assert st.read_config(out)["gin_param"] == ("RnnFcDecoder.rnn_channels = 32",)


@pytest.mark.parametrize("gin, named", [
    ("gin_param: ['import os']", "gin binding 'import os' refused (imports run code"),
    ("gin_param: ['from __gin__ import dynamic_registration']", "(dynamic registration makes any imported function callable)"),
    ("gin_param: ['Autoencoder.decoder = @os.system()']", "(os.system is not one of ddsp's configurables)"),
    ("gin_file: [EVIL]", "line 2: import os  (imports run code"),
])
def test_gin_code_in_a_config_file_is_refused(tmp_path, small_dataset_or_folder, gin, named):
    evil = tmp_path / "evil.gin"
    evil.write_text("from __gin__ import dynamic_registration\nimport os\nHarmonic.name = @os.system()\n")
    config = tmp_path / "run.yaml"
    config.write_text(f"data: {small_dataset_or_folder}\noutput: {tmp_path / 'run'}\ntarget: process\n{gin.replace('EVIL', str(evil))}\n")
    out = tmp_path / "resolved.yaml"
    proc = ddsp_launch("train", "--config", str(config), "--save-config", str(out), env={"DDSP_LAUNCH_HOME": str(tmp_path / "home")})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{config}: " in proc.stderr and named in proc.stderr and "Fix:" in proc.stderr
    assert not out.exists()
