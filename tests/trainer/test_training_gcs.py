"""gs:// training data and outputs against a real GCS emulator: upload, resume, round trip."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from ddsp_launch.common import gcs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def task(*args, env=None):
    return subprocess.run([sys.executable, "-m", "ddsp_launch.trainer.task", *map(str, args)],
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=600)


def test_gcs_data_and_outputs_round_trip(gcs_emulator, small_dataset, tmp_path):
    client = gcs.make_client()
    bucket = client.create_bucket("ddsp-runs")
    for shard in small_dataset.glob("train.tfrecord*"):
        bucket.blob(f"datasets/scales/{shard.name}").upload_from_filename(str(shard))
    common = ["--save_dir", "gs://ddsp-runs/runs/one", "--file_pattern", "gs://ddsp-runs/datasets/scales/train.tfrecord*",
              "--batch_size", "2", "--log_every", "1", "--steps_per_save", "2", "--steps_per_summary", "2",
              "--audio_summaries=false", "--checkpoints_to_keep", "2"]
    (tmp_path / "tmp").mkdir()
    env = {"TMPDIR": str(tmp_path / "tmp"), "DDSP_LAUNCH_CACHE": str(tmp_path / "cache")}
    first = task(*common, "--num_steps", "6", env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "uploads finished" in first.stdout
    assert not list((tmp_path / "tmp").iterdir())  # the local copies of the outputs are gone at exit
    assert len(list((tmp_path / "cache" / "data").iterdir())) == 1  # the data stays cached, by content
    names = set(gcs.list_objects(gcs.GcsUri.parse("gs://ddsp-runs/runs/one"), client))
    ckpts = {n for n in names if re.search(r"ckpt-\d+\.", n)}
    # keep 2: ckpt-2 was deleted remotely too; each kept one has its index and data
    assert ckpts == {f"runs/one/ckpt-{s}.{ext}" for s in (4, 6) for ext in ("index", "data-00000-of-00001")}
    assert {"runs/one/checkpoint", "runs/one/operative_config-0.gin"} <= names
    assert any(n.startswith("runs/one/summaries/train/events.out.tfevents") for n in names)

    second = task(*common, "--num_steps", "8", env=env)  # a new process: no outputs staged locally, the data cached
    assert second.returncode == 0, second.stderr[-3000:]
    assert re.search(r"reusing \d+ data files", second.stdout) and not list((tmp_path / "tmp").iterdir())
    assert re.search(r"resumed from .*ckpt-6 at step 6", second.stdout)
    assert "using the restored run's operative config" in second.stdout
    assert "runs/one/ckpt-8.index" in gcs.list_objects(gcs.GcsUri.parse("gs://ddsp-runs/runs/one"), client)


def test_missing_data_bucket_is_a_clear_error(gcs_emulator, tmp_path):
    proc = task("--save_dir", tmp_path / "run", "--file_pattern", "gs://no-such-bucket/ds/train.tfrecord*")
    assert proc.returncode == 3
    assert "Bucket gs://no-such-bucket does not exist" in proc.stderr
