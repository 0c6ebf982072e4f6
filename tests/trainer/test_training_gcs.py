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


class Interrupting:
    """A proxy in front of the GCS emulator that cuts the connection of any request whose
    bytes hold ``cut`` (as a network failure mid-upload does) and passes everything else on."""

    def __init__(self, upstream: str, cut: bytes):
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlparse

        target = urlparse(upstream)
        self.cut_requests = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _relay(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if cut in self.path.encode() or cut in body:
                    proxy.cut_requests += 1
                    self.close_connection = True
                    return  # no answer: the connection drops
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_checkpoint_whose_upload_was_interrupted_gets_no_index(gcs_emulator, small_dataset, tmp_path):
    """README: the index file is uploaded last, so a remote checkpoint with an index is
    complete. The network drops every request carrying ckpt-4's data file: ckpt-4's index (and
    the checkpoint state naming it) is never sent, the others are whole, the run says so (exit
    3), and a rerun resumes from the newest complete checkpoint."""
    client = gcs.make_client()
    bucket = client.create_bucket("ddsp-cut")
    for shard in small_dataset.glob("train.tfrecord*"):
        bucket.blob(f"ds/{shard.name}").upload_from_filename(str(shard))
    proxy = Interrupting(gcs_emulator, b"ckpt-4.data-")
    common = ["--save_dir", "gs://ddsp-cut/run", "--file_pattern", "gs://ddsp-cut/ds/train.tfrecord*", "--batch_size", "2",
              "--log_every", "1", "--steps_per_save", "2", "--steps_per_summary", "100", "--audio_summaries=false",
              "--checkpoints_to_keep", "5"]
    # the client retries a dropped upload for 120 s by default; 5 s is enough to prove it gives up
    env = {"STORAGE_EMULATOR_HOST": proxy.url, "DDSP_LAUNCH_CACHE": str(tmp_path / "cache"), "DDSP_LAUNCH_GCS_RETRY_SECS": "5"}
    try:
        cut = task(*common, "--num_steps", "6", env=env)
    finally:
        proxy.close()
    assert proxy.cut_requests >= 1
    assert cut.returncode == 3, cut.stdout[-2000:] + cut.stderr[-2000:]
    assert "some uploads failed" in cut.stderr and "not sent, an earlier file of ckpt-4 failed" in cut.stderr
    names = set(gcs.list_objects(gcs.GcsUri.parse("gs://ddsp-cut/run"), client))
    indexed = {int(m.group(1)) for n in names if (m := re.fullmatch(r"run/ckpt-(\d+)\.index", n))}
    assert indexed == {2, 6}
    for step in indexed:  # an index means the whole checkpoint is there
        assert f"run/ckpt-{step}.data-00000-of-00001" in names
    again = task(*common, "--num_steps", "7", env={"DDSP_LAUNCH_CACHE": str(tmp_path / "cache")})
    assert again.returncode == 0, again.stderr[-2000:]
    assert re.search(r"resumed from .*ckpt-6 at step 6", again.stdout)


def test_a_bad_retry_setting_stops_the_trainer_before_it_starts(gcs_emulator, tmp_path):
    proc = task("--save_dir", "gs://ddsp-cut/run", "--file_pattern", "gs://ddsp-cut/ds/train.tfrecord*",
                env={"DDSP_LAUNCH_GCS_RETRY_SECS": "soon"})
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "DDSP_LAUNCH_GCS_RETRY_SECS='soon' is not a positive number of seconds" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_data_bucket_is_a_clear_error(gcs_emulator, tmp_path):
    proc = task("--save_dir", tmp_path / "run", "--file_pattern", "gs://no-such-bucket/ds/train.tfrecord*")
    assert proc.returncode == 3
    assert "Bucket gs://no-such-bucket does not exist" in proc.stderr
