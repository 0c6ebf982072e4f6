"""Bad flags are rejected with a clear message before TensorFlow starts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CHECK = (
    "import sys\n"
    "from ddsp_launch.trainer import task\n"
    "code = 0\n"
    "try:\n"
    "    code = task.main(sys.argv[1:])\n"
    "except SystemExit as e:\n"
    "    code = e.code\n"
    "print('TF_LOADED' if 'tensorflow' in sys.modules else 'TF_NOT_LOADED')\n"
    "sys.exit(code)\n"
)


def run_task(*args, env=None):
    import os

    return subprocess.run([sys.executable, "-c", CHECK, *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)


@pytest.fixture
def records(tmp_path):
    from ddsp_launch.common import tfrecord

    (tmp_path / "train.tfrecord-00000-of-00001").write_bytes(tfrecord.frame(b"\x0a\x00"))  # an empty tf.train.Example, framed as TFRecordWriter does
    return str(tmp_path / "train.tfrecord*")


@pytest.mark.parametrize("args, needle", [
    (["--bogus_flag", "1"], "unrecognized arguments: --bogus_flag"),
    (["--batch_size", "0"], "--batch_size: must be > 0"),
    (["--batch_size", "abc"], "--batch_size: invalid int value"),
    (["--batch_size", "2.5"], "--batch_size: invalid int value"),
    (["--learning_rate=-1e-3"], "--learning_rate: must be > 0"),
    (["--num_steps", "ten"], "--num_steps: invalid int value"),
    (["--hypertune", "maybe"], "expected true or false"),
    pytest.param(["--gin_file", "models/no_such.gin"], "--gin_file models/no_such.gin not found",
                 marks=pytest.mark.slow),  # looked for in ddsp's own gin folder
    (["--gin_param", "batch_size 16"], "is not a binding"),
    (["--gin_search_path", "/no/such/dir"], "is not a folder"),
])
def test_bad_flags(records, tmp_path, args, needle):
    proc = run_task("--save_dir", tmp_path / "run", "--file_pattern", records, *args)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    assert proc.stdout.strip() == "TF_NOT_LOADED"
    assert not (tmp_path / "run").exists()


def test_missing_file_pattern_and_unmatched_pattern(tmp_path):
    proc = run_task("--save_dir", tmp_path / "run")
    assert proc.returncode == 2 and "the following arguments are required: --file_pattern" in proc.stderr
    proc = run_task("--save_dir", tmp_path / "run", "--file_pattern", tmp_path / "nothing*")
    assert proc.returncode == 2 and "matches no files" in proc.stderr and "ddsp-launch prepare" in proc.stderr
    assert proc.stdout.strip() == "TF_NOT_LOADED"


def test_no_save_dir_and_no_vertex_dirs(records):
    proc = run_task("--file_pattern", records)
    assert proc.returncode == 2 and "--save_dir is required" in proc.stderr


def test_bad_tf_config(records, tmp_path):
    proc = run_task("--save_dir", tmp_path, "--file_pattern", records, env={"TF_CONFIG": "{oops"})
    assert proc.returncode == 2 and "TF_CONFIG is not valid JSON" in proc.stderr
    assert proc.stdout.strip() == "TF_NOT_LOADED"


def test_vertex_style_values_are_accepted(records, tmp_path):
    """--name=value, integers given as doubles, booleans as words: parsed, then stopped by a bad pattern."""
    from ddsp_launch.trainer import task

    args = task.build_parser().parse_args([
        f"--file_pattern={records}", "--batch_size=16.0", "--learning_rate=0.001", "--hypertune=True",
        "--gin_param=RnnFcDecoder.rnn_channels = 256", "--gin_param=batch_size = 8",
    ])
    config = task.validate(args)
    assert (config.batch_size, config.learning_rate, config.hypertune) == (16, 0.001, True)
    assert config.gin_param == ("RnnFcDecoder.rnn_channels = 256", "batch_size = 8")
    assert config.gin_file == task.DEFAULT_GIN_FILES
    assert json.dumps(config.gin_file)
