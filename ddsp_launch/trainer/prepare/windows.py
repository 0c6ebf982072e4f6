"""Cut audio into chunks and chunks into fixed-length examples. Pure functions.

As in ddsp's own preparation, features are computed per chunk (bounded memory, parallel
work, and a train/eval split that never shares audio between examples), and each chunk
is split into overlapping windows. Unlike ddsp, the last chunk absorbs the remainder of
the file instead of being zero-padded, so no example is mostly silence.
"""

from __future__ import annotations

import dataclasses
import hashlib

from ddsp_launch.common.presets import SAMPLE_RATE, SOLO, ModelPreset


@dataclasses.dataclass(frozen=True)
class WindowSpec:
    example_secs: float = 4.0
    hop_secs: float = 1.0
    chunk_secs: float = 20.0
    preset: ModelPreset = SOLO  # its frame rate and padding

    def __post_init__(self):
        rate = self.preset.frame_rate
        for name in ("example_secs", "hop_secs", "chunk_secs"):
            value = getattr(self, name)
            if value <= 0 or abs(value * rate - round(value * rate)) > 1e-9:
                raise ValueError(
                    f"--{name.replace('_', '-')} must be a positive multiple of 1/{rate} s "
                    f"(one feature frame of --model {self.preset.name}), got {value}"
                )
        if self.example_secs != int(self.example_secs):
            raise ValueError(
                f"--example-secs must be a whole number of seconds (ddsp's TFRecordProvider "
                f"reads example_secs * sample_rate samples), got {self.example_secs}"
            )
        if self.chunk_secs < self.example_secs:
            raise ValueError(f"--chunk-secs ({self.chunk_secs}) must be at least --example-secs ({self.example_secs})")

    def _samples(self, secs: float) -> int:
        return round(secs * self.preset.frame_rate) * self.preset.hop

    @property
    def example_samples(self) -> int:
        return self._samples(self.example_secs)

    @property
    def hop_samples(self) -> int:
        return self._samples(self.hop_secs)

    @property
    def chunk_samples(self) -> int:
        return self._samples(self.chunk_secs)

    @property
    def example_frames(self) -> int:
        """Feature frames per example: one per hop, and one more with centred frames (ddsp's
        ``--center``: frames at both ends of the example)."""
        return self.preset.n_frames(self.example_samples)


@dataclasses.dataclass(frozen=True)
class Chunk:
    source: int  # index into the list of usable sources
    index: int  # chunk number within the source
    start: int  # first sample, at 16 kHz
    length: int  # samples, at 16 kHz
    eval: bool = False

    @property
    def seconds(self) -> float:
        return self.length / SAMPLE_RATE


def samples_at_16k(frames: int, sample_rate: int) -> int:
    return (frames * SAMPLE_RATE) // sample_rate


def plan_chunks(source: int, total: int, spec: WindowSpec) -> list[Chunk]:
    """Chunks of ``chunk_samples`` covering ``total`` 16 kHz samples; the last one takes
    the remainder. Empty when the file is shorter than one example."""
    if total < spec.example_samples:
        return []
    count = max(1, total // spec.chunk_samples)
    chunks = []
    for i in range(count):
        start = i * spec.chunk_samples
        end = total if i == count - 1 else start + spec.chunk_samples
        chunks.append(Chunk(source, i, start, end - start))
    return chunks


def window_starts(length: int, spec: WindowSpec) -> range:
    """Start samples of the examples inside a chunk of ``length`` samples."""
    if length < spec.example_samples:
        return range(0)
    return range(0, length - spec.example_samples + 1, spec.hop_samples)


def count_examples(chunks: list[Chunk], spec: WindowSpec) -> int:
    return sum(len(window_starts(c.length, spec)) for c in chunks)


def assign_eval(chunks: list[Chunk], keys: list[str], fraction: float) -> list[Chunk]:
    """Mark ``round(fraction * len(chunks))`` chunks (at least one, when asked for and
    there are two or more) as eval, chosen by a stable hash of ``keys`` (e.g. source
    checksum + chunk number), so reruns on the same audio give the same split."""
    if fraction <= 0 or len(chunks) < 2:
        return list(chunks)
    n_eval = min(len(chunks) - 1, max(1, round(fraction * len(chunks))))
    order = sorted(range(len(chunks)), key=lambda i: hashlib.sha256(keys[i].encode()).hexdigest())
    chosen = set(order[:n_eval])
    return [dataclasses.replace(c, eval=i in chosen) for i, c in enumerate(chunks)]
