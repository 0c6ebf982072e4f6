"""prepare writes its TFRecords without TensorFlow (common/tfrecord.py): TensorFlow's own
parser and reader must find exactly what TensorFlow's writer would have written."""

from __future__ import annotations

import numpy as np
import pytest

from ddsp_launch.common import tfrecord
from ddsp_launch.trainer.prepare.records import ShardedWriter

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def examples() -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    lengths = {"audio": 64000, "audio_16k": 64000, "f0_hz": 1000, "f0_confidence": 1000, "loudness_db": 1000}
    many = [{name: rng.normal(size=n).astype(np.float32) for name, n in lengths.items()} for _ in range(3)]
    # edge cases of the encoding: an empty list, one value, a 1-byte and a 2-byte varint length, non-finite and extreme floats
    many.append({"empty": np.zeros(0, np.float32), "one": np.array([1.5], np.float32), "x" * 200: np.arange(31, dtype=np.float32),
                 "odd": np.array([np.inf, -np.inf, -0.0, 3.4e38, 1e-45], np.float32)})
    return many


def test_tensorflow_parses_the_same_example_it_would_have_written():
    import tensorflow as tf

    for ex in examples():
        ours = tf.train.Example.FromString(tfrecord.float_example(ex))
        theirs = tf.train.Example(features=tf.train.Features(feature={
            k: tf.train.Feature(float_list=tf.train.FloatList(value=v)) for k, v in ex.items()}))
        assert ours == theirs and ours.ByteSize() == theirs.ByteSize()
        assert {k: list(v.float_list.value) for k, v in ours.features.feature.items()} == {k: list(v) for k, v in ex.items()}


def test_tensorflow_reads_the_written_shards_round_robin(tmp_path):
    import tensorflow as tf

    written = examples()[:3] * 2
    writer = ShardedWriter(tmp_path, "train", 2)
    for ex in written:
        writer.write(ex)
    writer.close()
    assert [p.name for p in writer.paths] == ["train.tfrecord-00000-of-00002", "train.tfrecord-00001-of-00002"]
    for shard, path in enumerate(writer.paths):
        read = [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(path))]  # checks every CRC
        assert len(read) == 3
        for proto, ex in zip(read, written[shard::2]):
            for name, values in ex.items():
                assert np.array_equal(np.array(proto.features.feature[name].float_list.value, np.float32), values)
        assert tfrecord.problem(path, examples=True) is None


def test_prepare_imports_neither_tensorflow_nor_ddsp(example_audio, tmp_path):
    """The records and the statistics are written in NumPy: a user's prepare pays no TensorFlow start-up."""
    import subprocess
    import sys

    out = tmp_path / "ds"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "ddsp_launch.trainer.prepare", "--quiet",
                           str(example_audio / "scales.wav"), str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "librosa" in imported and "numpy" in imported  # the import log is read
    assert not imported & {"tensorflow", "ddsp", "keras", "tf_keras"}
    assert (out / "dataset_statistics.json").is_file() and list(out.glob("train.tfrecord-*"))
