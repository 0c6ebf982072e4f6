"""Audio uploads from the browser: one file per request, streamed to disk a chunk at a time
(never held whole in memory), size-limited, audio only, under a sanitised name.

A file is written as NAME.part and renamed when complete, so a cut-off upload is never
taken for a recording. Refusals are `UploadRefused` with the HTTP status to answer.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

from ddsp_launch.common.errors import InputError
from ddsp_launch.common.audio import EXTENSIONS

DEFAULT_LIMIT_MB = 200
_UNSAFE = re.compile(r"[^A-Za-z0-9 ._()+-]")


class UploadRefused(InputError):
    def __init__(self, status: int, message: str, fix: str | None = None):
        super().__init__(message, fix)
        self.status = status


def safe_name(name: str) -> str:
    """The name a file is stored under: no folders, no hidden files, plain characters."""
    if not name or "/" in name or "\\" in name or name in (".", "..") or "\x00" in name:
        raise UploadRefused(400, f"file name {name!r} is not allowed: it names a folder or leaves this one",
                            "upload the file itself, under a plain name such as take1.wav")
    cleaned = _UNSAFE.sub("_", name).strip(" ")
    if cleaned.startswith(".") or not cleaned or len(cleaned) > 200:
        raise UploadRefused(400, f"file name {name!r} is not allowed (hidden, empty or over 200 characters)",
                            "rename the file, e.g. take1.wav")
    return cleaned


def check_suffix(name: str) -> None:
    if Path(name).suffix.lower() not in EXTENSIONS:
        raise UploadRefused(415, f"{name} is not an audio file",
                            "upload recordings: " + ", ".join(s.lstrip(".") for s in EXTENSIONS))


def looks_like_audio(head: bytes) -> bool:
    """The first bytes of wav, flac, ogg or mp3 (an ID3 tag or a frame sync)."""
    return (head[:4] == b"RIFF" and head[8:12] == b"WAVE") or head[:4] in (b"fLaC", b"OggS") or head[:3] == b"ID3" \
        or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)


async def receive(chunks: AsyncIterator[bytes], folder: Path, name: str, limit_bytes: int,
                  declared: int | None = None) -> Path:
    """Stream ``chunks`` into ``folder``/NAME; returns the file. Refuses (and removes what was
    written) a non-audio file, one over ``limit_bytes``, or an empty one."""
    safe = safe_name(name)
    check_suffix(safe)
    limit_mb = limit_bytes / 1e6
    too_large = UploadRefused(413, f"{safe} is larger than the {limit_mb:g} MB upload limit",
                              "upload a shorter recording, or start the server with --max-upload-mb N")
    if declared is not None and declared > limit_bytes:
        raise too_large
    folder.mkdir(parents=True, exist_ok=True)
    final, tmp = folder / safe, folder / f".{safe}.part"
    size, head = 0, b""
    try:
        with open(tmp, "wb") as f:
            async for chunk in chunks:
                if len(head) < 12:
                    head += chunk[: 12 - len(head)]
                    if len(head) >= 12 and not looks_like_audio(head):
                        raise UploadRefused(415, f"{safe} does not hold audio (its content is not wav, flac, ogg or mp3)",
                                            "upload a recording")
                size += len(chunk)
                if size > limit_bytes:
                    raise too_large
                f.write(chunk)
        if size == 0:
            raise UploadRefused(400, f"{safe} is empty", "upload a recording")
        if len(head) < 12 and not looks_like_audio(head):
            raise UploadRefused(415, f"{safe} does not hold audio", "upload a recording")
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final
