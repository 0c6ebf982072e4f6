"""Features match ddsp's conventions and values."""

import numpy as np
import pytest
import soundfile as sf

from ddsp_launch.trainer.prepare import features

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # librosa's pYIN and its numba code


def _tone(freq, seconds=2.0, sr=16000):
    t = np.arange(int(seconds * sr)) / sr
    harmonics = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, 6))
    return (0.3 * harmonics * np.minimum(1, t * 20)).astype(np.float32)


@pytest.mark.slow
def test_loudness_matches_ddsp_compute_loudness_on_real_audio(example_audio):
    from ddsp_launch.trainer.ddsp_compat import import_ddsp

    ddsp = import_ddsp()
    audio, sr = sf.read(example_audio / "greensleeves.wav", dtype="float32", frames=6 * 16000)
    assert sr == 16000
    ours = features.loudness_db(audio)
    theirs = ddsp.spectral_ops.compute_loudness(audio, 16000, 250, 512, padding="same").numpy()
    assert ours.shape == theirs.shape == (features.n_frames(len(audio)),)
    assert np.max(np.abs(ours - theirs)) < 0.05  # dB; float32 FFTs differ in the last bits
    assert ours.min() >= -80.0 and ours.max() > -30.0


@pytest.mark.parametrize("n", [64000, 64001, 320000])
def test_feature_frame_counts_follow_same_padding(n):
    audio = np.zeros(n, np.float32)
    audio[:: 97] = 0.1
    assert len(features.loudness_db(audio)) == -(-n // 64)


@pytest.mark.parametrize("freq", [98.0, 440.0, 1318.5])
def test_pyin_finds_the_pitch_of_a_harmonic_tone(freq):
    audio = _tone(freq)
    f0, conf = features.f0_pyin(audio)
    assert f0.shape == conf.shape == (features.n_frames(len(audio)),)
    steady = slice(25, -40)
    cents = 1200 * np.abs(np.log2(f0[steady] / freq))
    assert np.median(cents) < 15
    assert np.mean(conf[steady] > 0.5) > 0.9


def test_pyin_confidence_is_low_on_noise():
    rng = np.random.default_rng(0)
    _, conf = features.f0_pyin((0.1 * rng.standard_normal(32000)).astype(np.float32))
    assert np.mean(conf) < 0.3


# ---- the vst preset: 50 frames/s, centred frames (ddsp_prepare_tfrecord --frame_rate=50 --center) ----
from ddsp_launch.common.presets import VST  # noqa: E402


@pytest.mark.slow
def test_vst_loudness_and_power_match_ddsp_on_real_audio(example_audio):
    from ddsp_launch.trainer.ddsp_compat import import_ddsp

    ddsp = import_ddsp()
    audio, _ = sf.read(example_audio / "greensleeves.wav", dtype="float32", frames=6 * 16000)
    loudness = features.loudness_db(audio, preset=VST)
    theirs = ddsp.spectral_ops.compute_loudness(audio, 16000, 50, 512, padding="center").numpy()
    assert loudness.shape == theirs.shape == (6 * 50 + 1,)
    assert np.max(np.abs(loudness - theirs)) < 0.05
    power = features.power_db(audio, VST)
    theirs = ddsp.spectral_ops.compute_power(audio, 16000, 50, 1024, padding="center").numpy()
    assert power.shape == theirs.shape == (6 * 50 + 1,)
    assert np.max(np.abs(power - theirs)) < 0.01 and power.max() > -30.0


@pytest.mark.parametrize("n", [64000, 64001, 320000])
def test_vst_frame_counts_follow_center_padding(n):
    audio = np.zeros(n, np.float32)
    audio[:: 97] = 0.1
    assert len(features.loudness_db(audio, preset=VST)) == len(features.power_db(audio, VST)) == n // 320 + 1


def test_vst_pitch_frames_are_centred_on_their_hop():
    """A tone that changes pitch at 1 s: with centred frames, frame 50 is centred on the change,
    frames 46 and 54 (their 1024-sample windows clear of it) hear one tone each."""
    f0, conf = features.f0_pyin(np.concatenate([_tone(220.0, 1.0), _tone(330.0, 1.0)]), preset=VST)
    assert f0.shape == conf.shape == (2 * 50 + 1,)
    assert abs(1200 * np.log2(f0[46] / 220.0)) < 30 and abs(1200 * np.log2(f0[54] / 330.0)) < 30
