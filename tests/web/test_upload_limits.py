"""What one page's upload may take, over HTTP against the real server: a second file of the
same name is kept beside the first, files and bytes per upload are capped, a file the disk
has no room for is refused before a byte is read, and old upload folders no run uses are
removed when the server starts."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import stat
import time

WAV = b"RIFF\x00\x00\x00\x00WAVEfmt "


def new_upload(web) -> str:
    status, _, body = web.get("/api/uploads", "POST", data=b"{}", headers={"Content-Type": "application/json"})
    assert status == 200, body
    return json.loads(body)["upload"]


def put(web, upload: str, name: str, data: bytes):
    status, _, body = web.get(f"/api/uploads/{upload}/{name}", "PUT", data=data)
    return status, json.loads(body)


def test_a_second_file_of_the_same_name_is_kept_beside_the_first(serve):
    web = serve()
    upload = new_upload(web)
    first, second = WAV + b"first take", WAV + b"second take"
    assert put(web, upload, "take.wav", first) == (200, {"name": "take.wav", "bytes": len(first)})
    assert put(web, upload, "take.wav", second) == (200, {"name": "take (2).wav", "bytes": len(second)})
    audio = web.workspace / "uploads" / upload / "audio"
    assert (audio / "take.wav").read_bytes() == first and (audio / "take (2).wav").read_bytes() == second
    assert sorted(p.name for p in audio.iterdir()) == ["take (2).wav", "take.wav"]  # no temporary file left
    for folder in (web.workspace / "uploads", audio.parent, audio):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert stat.S_IMODE((audio / "take.wav").stat().st_mode) == 0o600


def test_files_and_bytes_per_upload_are_capped(serve):
    web = serve("--max-upload-mb", "0.01", "--max-upload-total-mb", "0.025")
    upload = new_upload(web)
    for i in range(100):
        assert put(web, upload, f"note{i}.wav", WAV)[0] == 200, i
    status, answer = put(web, upload, "note100.wav", WAV)
    assert status == 413 and "already holds 100 files" in answer["error"] and answer["fix"]

    upload = new_upload(web)
    take = WAV + bytes(9000 - len(WAV))
    assert put(web, upload, "a.wav", take)[0] == 200
    assert put(web, upload, "b.wav", take)[0] == 200
    status, answer = put(web, upload, "c.wav", take)
    assert status == 413 and "0.025 MB total for one run" in answer["error"] and "--max-upload-total-mb" in answer["fix"]
    status, answer = put(web, upload, "d.wav", take + take)  # over the per-file limit: its own message
    assert status == 413 and "larger than the 0.01 MB upload limit" in answer["error"]
    assert sorted(p.name for p in (web.workspace / "uploads" / upload / "audio").iterdir()) == ["a.wav", "b.wav"]


def test_a_file_the_disk_has_no_room_for_is_refused_before_reading(serve):
    web = serve("--max-upload-mb", "1e7", "--max-upload-total-mb", "1e7")  # the largest limits the server takes: 10 TB
    upload = new_upload(web)
    declared = 2 * shutil.disk_usage(web.home.parent).free  # more than the disk holds, within the limits
    assert declared < 10**13
    conn = http.client.HTTPConnection(web.url.removeprefix("http://"), timeout=30)
    conn.putrequest("PUT", f"/api/uploads/{upload}/huge.wav")
    for name, value in (("Authorization", f"Bearer {web.token}"), ("Origin", web.url), ("Content-Length", str(declared))):
        conn.putheader(name, value)
    conn.endheaders(WAV)  # twice the free disk declared, 12 bytes sent: the answer must not wait for the rest
    resp = conn.getresponse()
    answer = json.loads(resp.read())
    conn.close()
    assert resp.status == 507 and answer["error"].startswith("not enough free disk for huge.wav") and answer["fix"]
    assert [p for p in (web.workspace / "uploads" / upload).rglob("*") if p.is_file()] == []


def test_old_upload_folders_no_run_uses_are_removed_at_start(tmp_path, serve):
    root = tmp_path / "home" / "web" / "uploads"
    old, used, fresh, other = (root / n for n in ("0123456789ab", "ba9876543210", "00000000000f", "my-notes"))
    for folder in (old, used, fresh, other):
        (folder / "audio").mkdir(parents=True)
        (folder / "audio" / "take.wav").write_bytes(WAV)
    runs = tmp_path / "home" / "runs"
    runs.mkdir(parents=True)
    (runs / "20261130-000000-process-aaaa.json").write_text(json.dumps(
        {"id": "20261130-000000-process-aaaa", "state": "succeeded", "target": "process", "output": str(tmp_path / "out"),
         "settings": {"data": str(used / "audio"), "prepare_to": str(used / "dataset")}}))
    two_days_ago = time.time() - 2 * 24 * 3600
    for folder in (old, used, other):
        for path in (folder / "audio" / "take.wav", folder / "audio", folder):
            os.utime(path, (two_days_ago, two_days_ago))
    serve()  # cleans up as it starts
    assert sorted(p.name for p in root.iterdir()) == ["00000000000f", "ba9876543210", "my-notes"]
