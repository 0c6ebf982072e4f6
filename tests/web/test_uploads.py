"""Uploads as the server receives them: names, content sniffing, the size limit, and no
partial file left behind (the streaming function itself, fed chunk by chunk)."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
import soundfile as sf

from ddsp_launch.web.uploads import UploadRefused, looks_like_audio, receive, safe_name


def wav_bytes(seconds: float = 0.5) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, 0.3 * np.sin(np.arange(int(16000 * seconds)) / 10).astype(np.float32), 16000, format="WAV")
    return buf.getvalue()


def chunks(data: bytes, size: int = 1000, seen: list | None = None):
    async def gen():
        for i in range(0, len(data), size):
            if seen is not None:
                seen.append(i)
            yield data[i:i + size]
    return gen()


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize("name", ["../evil.wav", "a/b.wav", "..\\evil.wav", "..", ".", "", ".hidden.wav", "x\x00.wav"])
def test_names_that_leave_the_folder_or_hide_are_refused(name):
    with pytest.raises(UploadRefused) as err:
        safe_name(name)
    assert err.value.status == 400 and "not allowed" in err.value.message and err.value.fix


def test_plain_names_are_kept_and_odd_characters_replaced():
    assert safe_name("Take 1 (final).wav") == "Take 1 (final).wav"
    assert safe_name("ünïcode;rm -rf $HOME.wav") == "_n_code_rm -rf _HOME.wav"


def test_audio_is_recognised_by_its_first_bytes():
    assert looks_like_audio(wav_bytes()[:12])
    flac = io.BytesIO()
    sf.write(flac, np.zeros(100, np.float32), 16000, format="FLAC")
    assert looks_like_audio(flac.getvalue()[:12])
    assert looks_like_audio(b"ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00")
    assert not looks_like_audio(b"my practice notes")
    assert not looks_like_audio(b"RIFF\x00\x00\x00\x00AVI ")


def test_a_recording_arrives_whole_under_its_name(tmp_path):
    data = wav_bytes()
    path = run(receive(chunks(data), tmp_path, "take1.wav", limit_bytes=10**6, declared=len(data)))
    assert path == tmp_path / "take1.wav" and path.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["take1.wav"]


def test_over_the_limit_stops_reading_and_removes_the_partial_file(tmp_path):
    data = wav_bytes(2.0)  # 64 kB
    read = []
    with pytest.raises(UploadRefused) as err:
        run(receive(chunks(data, seen=read), tmp_path, "long.wav", limit_bytes=20_000))  # no Content-Length
    assert err.value.status == 413 and "larger than the 0.02 MB upload limit" in err.value.message
    assert "--max-upload-mb" in err.value.fix
    assert len(read) <= 21  # stopped at the limit, not after the whole body
    assert list(tmp_path.iterdir()) == []


def test_declared_size_over_the_limit_is_refused_before_reading(tmp_path):
    read = []
    with pytest.raises(UploadRefused) as err:
        run(receive(chunks(wav_bytes(), seen=read), tmp_path, "long.wav", limit_bytes=1000, declared=16044))
    assert err.value.status == 413 and read == [] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name,data,status", [
    ("notes.txt", b"RIFF....WAVE", 415),               # not an audio name
    ("fake.wav", b"only named like a recording", 415),  # not audio inside
    ("tiny.wav", b"RIF", 415),                         # too short to be anything
    ("empty.wav", b"", 400),
])
def test_not_audio_is_refused_and_nothing_kept(tmp_path, name, data, status):
    with pytest.raises(UploadRefused) as err:
        run(receive(chunks(data), tmp_path, name, limit_bytes=10**6))
    assert err.value.status == status
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_upload_leaves_no_file(tmp_path):
    async def cut():
        yield wav_bytes()[:2000]
        raise ConnectionResetError("client went away")
    with pytest.raises(ConnectionResetError):
        run(receive(cut(), tmp_path, "take2.wav", limit_bytes=10**6))
    assert list(tmp_path.iterdir()) == []
