"""Find the input audio files (local folder, glob or gs://) and check each one.

Every check that can fail runs here, before any feature is computed: a missing path, an
empty folder, no audio among other files, a file that cannot be decoded, a silent file,
a file shorter than one example.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import math
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

from ddsp_launch.common import audio, gcs
from ddsp_launch.common.errors import InputError
from ddsp_launch.trainer import tool_args
from ddsp_launch.trainer.prepare import health_stats

AUDIO_EXTENSIONS = audio.EXTENSIONS
SILENCE_DBFS = -60.0  # a file whose peak is below this is treated as silent
_BLOCK = 1 << 18  # frames read at a time: memory stays bounded on hour-long files


@dataclasses.dataclass(frozen=True)
class Source:
    origin: str  # what the user named: a local path or a gs:// URI
    path: Path  # the local file to read


@dataclasses.dataclass(frozen=True)
class AudioInfo:
    source: Source
    sample_rate: int
    channels: int
    frames: int
    format: str
    sha256: str
    size: int
    peak_dbfs: float
    clipped: int = 0  # samples (all channels) at full scale in runs: hard clipping (health_stats)

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


@dataclasses.dataclass(frozen=True)
class BadFile:
    source: Source
    reason: str


def _is_audio(path: str) -> bool:
    return path.lower().endswith(AUDIO_EXTENSIONS)


def _no_audio_error(where: str, names: list[str]) -> InputError:
    if not names:
        return InputError(f"{where} is empty", f"put your {', '.join(AUDIO_EXTENSIONS)} recordings in it")
    suffixes = sorted({Path(n).suffix.lower() or "(no extension)" for n in names})
    return InputError(
        f"No audio files among the {len(names)} files in {where} (found {', '.join(suffixes[:8])})",
        f"supported formats are {', '.join(AUDIO_EXTENSIONS)}; convert your recordings or point to their folder",
    )


def find_local(spec: str) -> list[Source]:
    if any(c in spec for c in "*?["):
        names = sorted(p for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        if not names:
            raise InputError(f"No files match {spec!r}", "check the pattern (quote it so your shell does not expand it)")
    else:
        root = Path(spec).expanduser()
        if not root.exists():
            raise InputError(f"Input path {spec} does not exist", "check the path, or give a folder of audio files")
        if root.is_file():
            names = [str(root)]
        else:
            names = sorted(str(p) for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    audio = [n for n in names if _is_audio(n)]
    if not audio:
        if len(names) == 1 and Path(names[0]) == Path(spec):
            raise InputError(f"{spec} is not an audio file", f"supported formats are {', '.join(AUDIO_EXTENSIONS)}")
        raise _no_audio_error(spec, names)
    return [Source(origin=tool_args.shown(n), path=Path(n)) for n in audio]  # the user's path, also in the image


def find_gcs(spec: str, cache_dir: Path, client_factory: Callable = gcs.make_client,
             progress: Callable[[str], None] = lambda _: None) -> list[Source]:
    """List audio objects under a gs:// prefix or glob and download them into ``cache_dir``
    (at their names below the prefix's folder, every one checked first by ``gcs.local_paths``)."""
    uri = gcs.GcsUri.parse(spec)
    client = client_factory()
    names = gcs.list_objects(uri, client)
    audio = [n for n in names if _is_audio(n)]
    if not audio:
        raise _no_audio_error(spec, names)
    sources = []
    for name, target in zip(audio, gcs.local_paths(uri.bucket, audio, uri.folder, cache_dir)):
        obj = gcs.GcsUri(uri.bucket, name)
        progress(f"downloading {obj}")
        sources.append(Source(origin=str(obj), path=gcs.download(obj, target, client)))
    return sources


def inspect(source: Source, min_seconds: float) -> AudioInfo | BadFile:
    """Decode the whole file once, a block at a time: checksum, true length, peak level."""
    try:
        digest = hashlib.sha256(source.path.read_bytes()).hexdigest()
        with sf.SoundFile(str(source.path)) as f:
            sample_rate, channels, fmt = f.samplerate, f.channels, f.format
            frames, peak, clipped = 0, 0.0, 0
            for block in f.blocks(blocksize=_BLOCK, dtype="float32", always_2d=True):
                frames += len(block)
                if len(block):
                    peak = max(peak, float(np.max(np.abs(block))))
                    clipped += health_stats.clipped_samples(block)
    except (sf.LibsndfileError, RuntimeError, ValueError, OSError) as exc:
        return BadFile(source, f"cannot be decoded ({exc})")
    if frames == 0:
        return BadFile(source, "holds no audio samples")
    peak_dbfs = 20 * math.log10(peak) if peak > 0 else -math.inf
    if peak_dbfs < SILENCE_DBFS:
        return BadFile(source, f"is silent (peak {peak_dbfs:.0f} dBFS)")
    seconds = frames / sample_rate
    if seconds < min_seconds:
        return BadFile(source, f"is {seconds:.2f} s long, shorter than one {min_seconds:g} s example")
    return AudioInfo(source, sample_rate, channels, frames, fmt, digest, source.path.stat().st_size, peak_dbfs, clipped)


def read_16k_mono(info: AudioInfo, start: int, length: int) -> np.ndarray:
    """Samples [start, start+length) of the file at 16 kHz mono, reading only that span
    (plus a short margin so resampling has context at both ends)."""
    import soxr  # noqa: PLC0415

    sr = info.sample_rate
    if sr == 16000:
        with sf.SoundFile(str(info.source.path)) as f:
            f.seek(start)
            audio = f.read(length, dtype="float32", always_2d=True).mean(axis=1)
    else:
        margin = sr // 20 + 16
        first = max(0, math.floor(start * sr / 16000) - margin)
        last = min(info.frames, math.ceil((start + length) * sr / 16000) + margin)
        with sf.SoundFile(str(info.source.path)) as f:
            f.seek(first)
            native = f.read(last - first, dtype="float32", always_2d=True).mean(axis=1)
        resampled = soxr.resample(native, sr, 16000)
        offset = round(start - first * 16000 / sr)
        audio = resampled[offset:offset + length]
    if len(audio) < length:
        audio = np.pad(audio, (0, length - len(audio)))
    return np.ascontiguousarray(audio, dtype=np.float32)
