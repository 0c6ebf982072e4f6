"""Audio uploads from the browser: one file per request, streamed to disk a chunk at a time
(never held whole in memory), size-limited, audio only, under a sanitised name.

A file is written to a private temporary name and linked to its final name when complete,
so a cut-off upload is never taken for a recording, and a second file of the same name is
kept beside the first ("take1 (2).wav"), never written over it. Before a byte is read the
disk must keep ``MIN_FREE_BYTES`` free after the file. A new run's files live in an upload
the server issued (``Box``): at most ``Limits.files`` files and ``Limits.total`` bytes.
Folders are created 0700 and files 0600. Refusals are `UploadRefused` with the HTTP status.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

from ddsp_launch.common import private
from ddsp_launch.common.audio import EXTENSIONS
from ddsp_launch.common.errors import InputError

DEFAULT_LIMIT_MB = 200
DEFAULT_TOTAL_MB = 2000
MAX_FILES = 100
MIN_FREE_BYTES = 512 * 2**20
MAX_AGE_SECONDS = 24 * 3600
UPLOAD_ID = re.compile(r"[0-9a-f]{12}")
_UNSAFE = re.compile(r"[^A-Za-z0-9 ._()+-]")


class UploadRefused(InputError):
    def __init__(self, status: int, message: str, fix: str | None = None):
        super().__init__(message, fix)
        self.status = status


@dataclass(frozen=True)
class Limits:
    per_file: int = DEFAULT_LIMIT_MB * 10**6
    total: int = DEFAULT_TOTAL_MB * 10**6
    files: int = MAX_FILES


@dataclass
class Box:
    """One page's upload for a new run: its folder and what it holds (or has reserved)."""
    folder: Path
    limits: Limits
    files: int = 0
    bytes: int = 0

    def reserve(self, declared: int | None) -> int:
        """Room for one more file of ``declared`` bytes (unknown: the per-file limit); returns what was reserved."""
        if self.files >= self.limits.files:
            raise UploadRefused(413, f"this upload already holds {self.limits.files} files, the most one run takes",
                                "merge your recordings into fewer files")
        need = self.limits.per_file if declared is None else declared
        if self.bytes + need > self.limits.total:
            raise UploadRefused(413, f"this upload would pass the {self.limits.total / 1e6:g} MB total for one run",
                                "upload fewer or shorter recordings, or start the server with --max-upload-total-mb N")
        self.files, self.bytes = self.files + 1, self.bytes + need
        return need

    def settle(self, reserved: int, written: Path | None) -> None:
        """After a file: count what was written instead of what was reserved (nothing if it failed)."""
        self.bytes -= reserved
        if written is None:
            self.files -= 1
        else:
            self.bytes += written.stat().st_size


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


def check_disk(folder: Path, name: str, incoming: int) -> None:
    free = shutil.disk_usage(folder).free
    if free - incoming < MIN_FREE_BYTES:
        raise UploadRefused(507, f"not enough free disk for {name}: {free / 1e6:.0f} MB free in {folder}, "
                                 f"{incoming / 1e6:.0f} MB to receive, {MIN_FREE_BYTES / 1e6:.0f} MB kept free",
                            "free some disk space, or start the server with --workspace on a larger disk")


def looks_like_audio(head: bytes) -> bool:
    """The first bytes of wav, flac, ogg or mp3 (an ID3 tag or a frame sync)."""
    return (head[:4] == b"RIFF" and head[8:12] == b"WAVE") or head[:4] in (b"fLaC", b"OggS") or head[:3] == b"ID3" \
        or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)


def _place(tmp: Path, folder: Path, name: str) -> Path:
    """Link ``tmp`` under ``name``, or ``stem (2).ext``, ... when that is taken (never over a file)."""
    stem, suffix = os.path.splitext(name)
    for n in itertools.count(1):
        final = folder / (name if n == 1 else f"{stem} ({n}){suffix}")
        try:
            os.link(tmp, final)
            return final
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


async def receive(chunks: AsyncIterator[bytes], folder: Path, name: str, limit_bytes: int,
                  declared: int | None = None, box: Box | None = None) -> Path:
    """Stream ``chunks`` into ``folder``/NAME (or NAME (2), ...); returns the file. Refuses (and
    removes what was written) a non-audio file, one over ``limit_bytes``, an empty one, one
    the disk has no room for, or one the ``box`` it joins has no room for."""
    safe = safe_name(name)
    check_suffix(safe)
    too_large = UploadRefused(413, f"{safe} is larger than the {limit_bytes / 1e6:g} MB upload limit",
                              "upload a shorter recording, or start the server with --max-upload-mb N")
    if declared is not None and declared > limit_bytes:
        raise too_large
    private.private_dir(folder)
    check_disk(folder, safe, limit_bytes if declared is None else declared)
    reserved = box.reserve(declared) if box is not None else 0
    final = None
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".", suffix=".part")  # 0600, a name no other upload uses
    tmp = Path(tmp_name)
    size, head = 0, b""
    try:
        with os.fdopen(fd, "wb") as f:
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
        final = _place(tmp, folder, safe)
        return final
    finally:
        tmp.unlink(missing_ok=True)
        if box is not None:
            box.settle(reserved, final)


def clean_old(root: Path, in_use: Iterable[Path], max_age: float = MAX_AGE_SECONDS) -> list[Path]:
    """Remove upload folders under ``root`` untouched for ``max_age`` seconds that no run uses; returns them."""
    keep = {p.resolve() for p in in_use}
    cutoff, removed = time.time() - max_age, []
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        if not (UPLOAD_ID.fullmatch(folder.name) and folder.is_dir()) or folder.resolve() in keep:
            continue
        touched = max(p.stat().st_mtime for p in (folder, *folder.iterdir()))
        if touched < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
