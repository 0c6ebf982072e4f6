"""gs:// input through google-cloud-storage, against a real gcp-storage-emulator."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading

import pytest

from ddsp_launch.common import gcs
from ddsp_launch.common.errors import StorageError

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def bucket_with_audio(gcs_emulator, example_audio):
    client = gcs.make_client()
    bucket = client.create_bucket("violin-takes")
    for name in ("ode_to_joy.wav", "scales.wav"):
        bucket.blob(f"takes/{name}").upload_from_filename(str(example_audio / name))
    bucket.blob("takes/README.txt").upload_from_string("session notes")
    bucket.blob("other/frere_jacques.wav").upload_from_filename(str(example_audio / "frere_jacques.wav"))
    return bucket


def run_prepare(*args):
    return subprocess.run([sys.executable, "-m", "ddsp_launch.trainer.prepare", "--quiet", "--no-statistics", *map(str, args)],
                          capture_output=True, text=True, env=os.environ.copy())


@pytest.mark.parametrize("spec, expected", [
    ("gs://violin-takes/takes", ["takes/ode_to_joy.wav", "takes/scales.wav"]),
    ("gs://violin-takes/takes/s*.wav", ["takes/scales.wav"]),
])
def test_prepare_from_a_bucket(bucket_with_audio, example_audio, tmp_path, spec, expected):
    proc = run_prepare(spec, tmp_path / "ds")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert [s["origin"] for s in manifest["sources"]] == [f"gs://violin-takes/{n}" for n in expected]
    for source, name in zip(manifest["sources"], expected):
        local = example_audio / name.split("/")[-1]
        assert source["sha256"] == hashlib.sha256(local.read_bytes()).hexdigest()
    assert manifest["counts"]["train_examples"] > 0
    assert not (tmp_path / "ds" / ".sources").exists()  # downloads are not part of the dataset


def test_missing_bucket(gcs_emulator, tmp_path):
    proc = run_prepare("gs://no-such-bucket/audio", tmp_path / "ds")
    assert proc.returncode == 3
    assert "Bucket gs://no-such-bucket does not exist" in proc.stderr
    assert "gcloud storage buckets create gs://no-such-bucket" in proc.stderr
    assert not (tmp_path / "ds").exists() and not (tmp_path / ".ds.partial").exists()


def test_prefix_without_audio(bucket_with_audio, tmp_path):
    bucket_with_audio.blob("docs/a.pdf").upload_from_string("%PDF")
    proc = run_prepare("gs://violin-takes/docs", tmp_path / "ds")
    assert proc.returncode == 2 and "No audio files among the 1 files in gs://violin-takes/docs" in proc.stderr


def test_malformed_bucket_name(tmp_path):
    proc = run_prepare("gs://Bad_Bucket!/x", tmp_path / "ds")
    assert proc.returncode == 2 and "not a valid bucket name" in proc.stderr  # a name the user typed: bad input


class _Forbidden(http.server.BaseHTTPRequestHandler):
    """Answers every request the way Cloud Storage answers a caller without permission."""

    def do_GET(self):  # noqa: N802
        body = json.dumps({"error": {"code": 403, "message": "dev@example.com does not have storage.buckets.get access to the Google Cloud Storage bucket.", "errors": [{"reason": "forbidden"}]}}).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_access_denied_is_explained(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Forbidden)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(StorageError) as info:
            gcs.list_objects(gcs.GcsUri.parse("gs://private-bucket/audio"), gcs.make_client())
    finally:
        server.shutdown()
    msg = str(info.value)
    assert "Access denied to gs://private-bucket" in msg and "does not have storage.buckets.get access" in msg
    assert "roles/storage.objectViewer" in msg
