"""Per-chunk features at ddsp's conventions: 16 kHz audio, a model preset's frames.

ddsp's own preparation (prepare_tfrecord_lib) computes features with ``padding='same'``
by default (the solo_instrument preset: 250 frames/s): frame k starts at sample k*hop,
there are ceil(n/hop) frames, and the signal is zero padded at the end only. CREPE's frame
is 1024 samples, so its frame k is centred at k*64 + 512; loudness uses a 512-sample FFT
centred at k*64 + 256. Both are kept here. With ``--center`` (the vst preset: 50 frames/s,
``common/presets.py``) frame k is centred on sample k*hop, the signal is zero padded by half
a frame at both ends, and there are n//hop + 1 frames.

This module imports numpy/librosa only (no TensorFlow) so pool workers start fast;
``tests/trainer/prepare/test_features.py`` checks ``loudness_db`` against ddsp's own
``spectral_ops.compute_loudness``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ddsp_launch.common.presets import SAMPLE_RATE, SOLO, ModelPreset

FRAME_RATE = SOLO.frame_rate  # the default preset's: 250 frames/s
HOP = SOLO.hop  # 64 samples
CREPE_FRAME = 1024
LOUDNESS_FFT = 512
DB_RANGE = 80.0  # ddsp.core.DB_RANGE


def n_frames(n_samples: int, preset: ModelPreset = SOLO) -> int:
    return preset.n_frames(n_samples)


def _pad_same(audio: np.ndarray, frame_size: int, hop: int) -> np.ndarray:
    frames = math.ceil(len(audio) / hop)
    padded = (frames - 1) * hop + frame_size
    return np.pad(audio, (0, padded - len(audio)))


def _pad(audio: np.ndarray, frame_size: int, preset: ModelPreset) -> np.ndarray:
    """ddsp's spectral_ops.pad: 'same' at the end, 'center' half a frame at both ends."""
    if preset.padding == "center":
        return np.pad(audio, (frame_size // 2, frame_size // 2))
    return _pad_same(audio, frame_size, preset.hop)


_A_WEIGHT_CACHE: dict[int, np.ndarray] = {}


def loudness_db(audio: np.ndarray, n_fft: int = LOUDNESS_FFT, preset: ModelPreset = SOLO) -> np.ndarray:
    """A-weighted loudness in dB, identical to ``ddsp.spectral_ops.compute_loudness``
    (sample_rate 16000, ref_db 0, range_db 80, the preset's frame rate and padding)."""
    import librosa  # noqa: PLC0415

    padded = _pad(audio.astype(np.float32), n_fft, preset)
    spec = librosa.stft(padded, n_fft=n_fft, hop_length=preset.hop, center=False)  # periodic Hann
    power = np.abs(spec.T) ** 2
    if n_fft not in _A_WEIGHT_CACHE:
        freqs = librosa.fft_frequencies(sr=SAMPLE_RATE, n_fft=n_fft)
        _A_WEIGHT_CACHE[n_fft] = 10 ** (librosa.A_weighting(freqs) / 10)
    avg = np.mean(power * _A_WEIGHT_CACHE[n_fft], axis=-1)
    db = 10.0 * np.log10(np.maximum(avg, 10 ** (-DB_RANGE / 10)))
    return np.maximum(db, -DB_RANGE).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class PyinSettings:
    """pYIN tuned for speed without losing accuracy (bench/prepare.py measures both).

    Viterbi decoding over 2 x pitch-bin states dominates pYIN's cost (O(frames x states^2)).
    So: decode at 62.5 frames/s (hop 256) and interpolate to 250 frames/s in log-frequency;
    0.25-semitone bins; 40-2100 Hz (E1 to C7). 50-2000 Hz gives exactly 512 states, which
    runs 2x slower than its neighbours on the machines measured here.
    """

    fmin: float = 40.0
    fmax: float = 2100.0
    resolution: float = 0.25
    analysis_hop: int = 256

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def power_db(audio: np.ndarray, preset: ModelPreset, frame_size: int = CREPE_FRAME) -> np.ndarray:
    """Power in dB, identical to ``ddsp.spectral_ops.compute_power`` (the vst model's input:
    RMS over ``frame_size`` samples, ref_db 0, range_db 80, the preset's frame rate and padding)."""
    padded = _pad(audio.astype(np.float32), frame_size, preset)
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame_size)[::preset.hop]
    power = np.mean(np.square(frames, dtype=np.float32), axis=-1)  # the RMS squared
    db = 10.0 * np.log10(np.maximum(power, 10 ** (-DB_RANGE / 10)))
    return np.maximum(db, -DB_RANGE).astype(np.float32)


def f0_pyin(audio: np.ndarray, settings: PyinSettings = PyinSettings(), preset: ModelPreset = SOLO) -> tuple[np.ndarray, np.ndarray]:
    """(f0_hz, confidence) per frame of the preset; f0 of unvoiced frames is pYIN's best guess."""
    import librosa  # noqa: PLC0415

    target = n_frames(len(audio), preset)
    step = settings.analysis_hop // HOP if preset == SOLO else settings.analysis_hop / preset.hop  # target frames per analysis hop
    if preset.padding == "center":  # analysis frame j centred on sample j*analysis_hop, as target frame k on k*hop
        audio = np.pad(audio, (CREPE_FRAME // 2, 0))
    # Enough analysis frames to cover every target frame centre (solo: k*64 + 512).
    analysis = int((target - 1) // step) + 2
    padded_len = (analysis - 1) * settings.analysis_hop + CREPE_FRAME
    padded = np.pad(audio.astype(np.float32), (0, max(0, padded_len - len(audio))))[:padded_len]
    f0, _, prob = librosa.pyin(
        padded, fmin=settings.fmin, fmax=settings.fmax, sr=SAMPLE_RATE,
        frame_length=CREPE_FRAME, hop_length=settings.analysis_hop, center=False,
        resolution=settings.resolution, fill_na=None,
    )
    src = np.arange(len(f0)) * step
    dst = np.arange(target)
    midi = np.interp(dst, src, librosa.hz_to_midi(f0))
    confidence = np.interp(dst, src, np.nan_to_num(prob))
    return librosa.midi_to_hz(midi).astype(np.float32), confidence.astype(np.float32)


def warm_up() -> None:
    """Import librosa and load pYIN's compiled decoder (numba) in this process."""
    f0_pyin(np.zeros(2048, np.float32))
    loudness_db(np.zeros(2048, np.float32))


def f0_crepe(audio: np.ndarray, preset: ModelPreset = SOLO) -> tuple[np.ndarray, np.ndarray]:
    """CREPE through ddsp's own ``compute_f0`` (needs crepe and TensorFlow)."""
    from ddsp_launch.trainer.ddsp_compat import import_ddsp  # noqa: PLC0415

    ddsp = import_ddsp()
    f0, conf = ddsp.spectral_ops.compute_f0(audio, preset.frame_rate, viterbi=True, padding=preset.padding)
    return np.asarray(f0, np.float32), np.asarray(conf, np.float32)
