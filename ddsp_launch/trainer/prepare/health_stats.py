"""What a dataset's health report is made of, measured per chunk of audio (numpy only).

``chunk_stats`` turns one chunk's samples and the features prepare computed anyway (f0,
its confidence, loudness) into counts that add up across chunks and files; the report
itself (grades, thresholds, fixes) is pure and lives in ``common/health.py``, so the host
can read and print it from a manifest without this side's libraries.

Polyphony is estimated by the salience of a second pitch: in each loud frame, a harmonic
sum over candidate pitches (1/3 semitone apart, harmonics weighted 0.8^(h-1)) finds the
strongest pitch; its harmonics are removed from the spectrum and the strongest remaining
pitch's salience is divided by the first's, and the ratio is smoothed by a running median
over 9 frames (0.29 s: one note's release under the next one's attack is not a chord). One instrument playing one note leaves little
but noise and leakage behind (a low ratio); a second note leaves a whole harmonic series (a
high one). ``tests/trainer/prepare/test_health.py`` checks it on FluidSynth-rendered chords
against the same melody as single notes.
"""

from __future__ import annotations

import numpy as np

from ddsp_launch.common import health
from ddsp_launch.common.presets import SAMPLE_RATE

N_FFT = 2048
HOP = 512
HARMONICS = 8
SMOOTH = 9  # analysis frames in the running median of the ratio
LOW_MIDI, HIGH_MIDI = 36.0, 96.0  # C2 to C7: candidate pitches of the salience function
_BIN_HZ = SAMPLE_RATE / N_FFT


def _candidates() -> np.ndarray:
    midi = np.arange(LOW_MIDI, HIGH_MIDI, 1 / 3)
    return 440.0 * 2 ** ((midi - 69) / 12)


_F0S = _candidates()
_HARM = np.arange(1, HARMONICS + 1)
_WEIGHTS = 0.8 ** (_HARM - 1)


def _salience(mag: np.ndarray) -> np.ndarray:
    """(frames, candidates): weighted sum of each candidate's harmonics' peak magnitudes."""
    freqs = _F0S[:, None] * _HARM[None, :]
    bins = np.rint(freqs / _BIN_HZ).astype(int)
    valid = bins < mag.shape[1] - 1
    bins = np.minimum(bins, mag.shape[1] - 2)
    peak = np.maximum(np.maximum(mag[:, bins], mag[:, bins - 1]), mag[:, bins + 1]) * valid
    return np.einsum("fch,h->fc", peak, _WEIGHTS)


def second_pitch_ratio(audio: np.ndarray) -> np.ndarray:
    """Per analysis frame (hop 512), salience of the second-strongest pitch / the strongest's
    (running median over ``SMOOTH`` frames)."""
    if len(audio) < N_FFT:
        return np.zeros(0, np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(audio.astype(np.float32), N_FFT)[::HOP]
    mag = np.sqrt(np.abs(np.fft.rfft(frames * np.hanning(N_FFT).astype(np.float32), axis=-1)))  # compressed
    sal = _salience(mag)
    best = np.argmax(sal, axis=1)
    first = sal[np.arange(len(sal)), best]
    residual = mag.copy()
    n_bins = mag.shape[1]
    for h in _HARM:  # remove the best pitch's harmonics (+-2 bins: a Hann window's main lobe)
        centre = np.rint(_F0S[best] * h / _BIN_HZ).astype(int)
        for d in range(-2, 3):
            idx = np.clip(centre + d, 0, n_bins - 1)
            residual[np.arange(len(mag)), idx] = 0.0
    # Candidates within a semitone of the first pitch or its octaves are the same note's partials.
    second_sal = _salience(residual)
    cents = 1200 * np.abs(np.log2(_F0S[None, :] / _F0S[best][:, None]))
    near = np.abs(cents - 1200 * np.rint(cents / 1200)) < 100
    second_sal[near] = 0.0
    ratio = second_sal.max(axis=1) / np.maximum(first, 1e-9)
    padded = np.pad(ratio, (SMOOTH // 2, SMOOTH // 2), mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, SMOOTH), axis=1).astype(np.float32)


def _frame_values(values: np.ndarray, n: int) -> np.ndarray:
    """Resample a per-feature-frame series to ``n`` analysis frames (nearest)."""
    if n == 0 or len(values) == 0:
        return np.zeros(n, values.dtype)
    idx = np.minimum((np.arange(n) * len(values) / n).astype(int), len(values) - 1)
    return values[idx]


def chunk_stats(audio: np.ndarray, f0_hz: np.ndarray, confidence: np.ndarray, loudness: np.ndarray,
                frame_rate: int) -> dict:
    """Counts for one chunk: frames, silent and voiced frames, note and loudness histograms,
    polyphonic frames, and a 10 Hz loudness fingerprint (for near-duplicate files)."""
    loud = loudness >= health.SILENT_DB
    voiced = loud & (confidence >= health.VOICED_CONFIDENCE) & (f0_hz > 0)
    midi = np.rint(12 * np.log2(np.maximum(f0_hz[voiced], 1e-3) / 440.0) + 69).astype(int)
    notes, note_counts = np.unique(midi, return_counts=True)
    levels, level_counts = np.unique(np.floor(loudness[loud]).astype(int), return_counts=True)
    ratio = second_pitch_ratio(audio)
    loud_frames = _frame_values(loud, len(ratio))
    per = max(1, frame_rate // 10)
    usable = len(loudness) // per * per
    fingerprint = loudness[:usable].reshape(-1, per).mean(axis=1) if usable else np.zeros(0)
    return {
        "frames": int(len(loudness)),
        "silent": int(np.count_nonzero(~loud)),
        "voiced": int(np.count_nonzero(voiced)),
        "notes": {int(k): int(v) for k, v in zip(notes, note_counts)},
        "loudness": {int(k): int(v) for k, v in zip(levels, level_counts)},
        "poly_frames": int(np.count_nonzero(loud_frames)),
        "poly": int(np.count_nonzero(loud_frames & (ratio >= health.POLY_RATIO))),
        "fingerprint": [round(float(x), 1) for x in fingerprint],
    }


def clipped_samples(block: np.ndarray) -> int:
    """Samples at digital full scale (|x| >= 0.999) in runs of two or more: hard clipping.
    ``block`` is (frames, channels)."""
    full = np.abs(block) >= health.CLIP_LEVEL
    if not full.any():
        return 0
    run = full.copy()
    run[1:] &= full[:-1] | np.roll(full, -1, axis=0)[1:]
    run[0] &= full[1] if len(full) > 1 else False
    return int(np.count_nonzero(run))
