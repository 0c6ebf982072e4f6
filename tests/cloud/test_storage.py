"""Upload, download and bucket checks against a real GCS emulator."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ddsp_launch.adapters import storage
from ddsp_launch.common import gcs
from ddsp_launch.common.errors import InputError, NothingThere, StorageError


@pytest.fixture
def client(gcs_emulator):
    c = gcs.make_client()
    if not c.bucket("ddsp-data").exists():
        c.create_bucket("ddsp-data")  # the emulator puts every bucket in the US multi-region
    return c


def make_tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a.wav").write_bytes(os.urandom(300_000))
    (root / "sub" / "b.flac").write_bytes(os.urandom(1000))
    (root / ".hidden").write_text("not sent")
    return root


def test_upload_skips_what_is_there_and_download_round_trips(client, tmp_path):
    src = make_tree(tmp_path / "audio")
    dest = gcs.GcsUri.parse("gs://ddsp-data/users/me/audio")
    moved = []
    first = storage.upload(src, dest, client, moved.append)
    assert sorted(first.sent) == ["gs://ddsp-data/users/me/audio/a.wav", "gs://ddsp-data/users/me/audio/sub/b.flac"]
    assert first.bytes_sent == 301_000 and sum(moved) == 301_000
    again = storage.upload(src, dest, client)
    assert again.sent == [] and len(again.skipped) == 2
    (src / "sub" / "b.flac").write_bytes(os.urandom(1000))
    changed = storage.upload(src, dest, client)
    assert changed.sent == ["gs://ddsp-data/users/me/audio/sub/b.flac"] and len(changed.skipped) == 1

    out = tmp_path / "back"
    got = storage.download(dest, out, client)
    assert len(got.sent) == 2
    for name in ("a.wav", "sub/b.flac"):
        assert (out / name).read_bytes() == (src / name).read_bytes()
    assert not list(out.rglob("*.part"))
    assert storage.download(dest, out, client).sent == []  # same checksums: nothing fetched


def test_upload_errors(client, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        storage.plan_upload(tmp_path / "nope", gcs.GcsUri("ddsp-data", "x"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no files"):
        storage.plan_upload(tmp_path / "empty", gcs.GcsUri("ddsp-data", "x"))
    (tmp_path / "f.wav").write_bytes(b"x")
    with pytest.raises(StorageError, match="Bucket gs://no-such-bucket does not exist"):
        storage.upload(tmp_path / "f.wav", gcs.GcsUri("no-such-bucket", "x"), client)


def test_download_of_nothing(client, tmp_path):
    with pytest.raises(NothingThere, match="nothing under gs://ddsp-data/runs/none"):
        storage.download(gcs.GcsUri("ddsp-data", "runs/none"), tmp_path, client)


def test_bucket_checks(client):
    uri = gcs.GcsUri("ddsp-data", "x")
    assert storage.check_bucket(uri, "us-central1", client) == "US"
    with pytest.raises(InputError) as err:
        storage.check_bucket(uri, "europe-west4", client)
    assert "is in US, but the job would run in europe-west4" in err.value.message
    assert "--location=europe-west4" in err.value.fix and "--allow-cross-region" in err.value.fix
    assert storage.check_bucket(uri, "europe-west4", client, allow_cross_region=True) == "US"
    with pytest.raises(StorageError, match="does not exist"):
        storage.check_bucket(gcs.GcsUri("no-such-bucket"), "us-central1", client)


@pytest.mark.parametrize("location, region, ok", [
    ("US-CENTRAL1", "us-central1", True), ("EU", "europe-west4", True), ("EU", "us-central1", False),
    ("NAM4", "us-east1", True), ("NAM4", "us-west1", False), ("ASIA", "asia-east1", True), ("europe-west1", "europe-west4", False),
])
def test_region_matching(location, region, ok):
    assert storage.region_matches(location, region) is ok


def test_download_never_replaces_a_file_with_other_content(client, tmp_path):
    """`ddsp-launch download gs://… DEST` replaced files already in DEST (issue 16); a cache of
    ours (TensorBoard's copy of the logs) may refresh its files."""
    src = make_tree(tmp_path / "audio")
    dest = gcs.GcsUri.parse("gs://ddsp-data/users/clash/audio")
    storage.upload(src, dest, client)
    out = tmp_path / "mine"
    (out / "sub").mkdir(parents=True)
    (out / "sub" / "b.flac").write_bytes(b"the user's own take")
    (out / "a.wav").mkdir()  # a folder where the object's file would go
    with pytest.raises(InputError) as err:
        storage.download(dest, out, client)
    assert "would replace files already here" in err.value.message and "b.flac" in err.value.message
    assert "a.wav" in err.value.message
    assert (out / "sub" / "b.flac").read_bytes() == b"the user's own take"
    (out / "a.wav").rmdir()
    refreshed = storage.download(dest, out, client, replace=True)
    assert (out / "sub" / "b.flac").read_bytes() == (src / "sub" / "b.flac").read_bytes() and len(refreshed.sent) == 2
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        storage.download(dest, tmp_path / "afile", client)


def test_no_answer_from_cloud_storage_is_a_clear_error():
    """A client that gets no answer retries until its deadline, then raises RetryError: named, not a traceback."""
    from google.api_core import exceptions as gexc

    err = gcs.explain(gexc.RetryError("Deadline of 120.0s exceeded", ConnectionRefusedError("refused")),
                      gcs.GcsUri("b", "x"), "listing")
    assert isinstance(err, StorageError) and "did not answer while listing gs://b/x" in err.message and "refused" in err.message
