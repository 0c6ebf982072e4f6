"""`transfer --engine plugin`: a recording played the way the DDSP-VST plugin plays it.

The exported model runs through TFLite's builtin op resolver one 20 ms hop at a time, its
GRU state carried (``vst_export.Stream``), fed the plugin's inputs (MIDI pitch / 127, power
dB / 80 + 1: ``common/vst``); each hop's controls drive a numpy port of the plugin's own
synthesisers at 16 kHz:

- harmonic (the plugin's HarmonicSynthesizer): harmonics at or above Nyquist removed and the
  distribution renormalised, then scaled by the amplitude; pitch and harmonic amplitudes
  interpolated "midway" (linear over the first half of the hop, then held), the phase
  accumulated across hops;
- filtered noise (its NoiseSynthesizer): the 65 magnitudes as a zero-phase 128-tap FIR (inverse
  FFT, Hann window, rotated to causal form), applied to uniform white noise by a 512-point FFT,
  the filter's delay cropped off.

Pitch comes from the same pYIN as ``prepare`` and power from ddsp's ``compute_power``
(1024-sample frames centred on each hop): the plugin extracts both with its own small CREPE
model, so the pitch track can differ slightly. The plugin's reverb, gain and ADSR controls
are its own effects, left out here: this is the dry model output.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ddsp_launch.common import vst
from ddsp_launch.common.errors import InputError
from ddsp_launch.common.presets import VST as PRESET
from ddsp_launch.trainer.prepare import features, sources
from ddsp_launch.trainer.melody import notes_found, shift_octaves
from ddsp_launch.trainer.model_folder import ModelFolder

CONTEXT = 2 * vst.HOP  # audio read either side of a chunk: covers half a 1024-sample frame, keeps the hop grid
CHUNK = 20 * vst.SAMPLE_RATE  # features computed 20 s at a time
NOTE_SMOOTHING = 8  # ddsp's detect_notes smooths over 40 frames at 250/s: the same 160 ms at 50/s


@dataclass
class Source:
    """The model to play: a .tflite file (checked) or a training folder (exported first)."""

    file: Path | None = None
    data: bytes | None = None
    folder: ModelFolder | None = None
    stats: dict | None = None


def locate(args) -> Source:
    """Before TensorFlow: MODEL is a model file that passes the plugin's rules, or a training
    folder of a --model vst model with its dataset statistics."""
    if args.model.is_file():
        data = vst.read_model(args.model)
        report = vst.check(data)
        if not report.ok:
            raise InputError(f"{args.model} would not load in the DDSP-VST plugin:\n" + "\n".join(report.lines()),
                             "export the model with `ddsp-launch export MODEL -o DIR --vst`, then give DIR/NAME.tflite")
        return Source(file=args.model, data=data)
    from ddsp_launch.trainer import vst_export  # noqa: PLC0415 (light until used)

    folder = ModelFolder.find(args.model, args.statistics, which=args.checkpoint)
    return Source(folder=folder, stats=vst_export.statistics(folder))


def _model(source: Source, ddsp) -> tuple[bytes, dict, str]:
    """(the .tflite bytes, its metadata.json, what it is)."""
    from ddsp_launch.trainer import vst_export  # noqa: PLC0415

    if source.file is not None:
        report = vst_export.check(source.data)  # and its build with the builtin op resolver
        if not report.ok:
            raise InputError(f"{source.file} does not run with TFLite's builtin op resolver:\n" + "\n".join(report.lines()),
                             "export the model again with `ddsp-launch export MODEL -o DIR --vst`")
        return source.data, report.metadata, str(source.file)
    with tempfile.TemporaryDirectory(prefix="ddsp-launch-plugin-") as tmp:
        done = vst_export.export(source.folder, source.stats, "model", Path(tmp), "transfer", ddsp)
        return (Path(tmp) / "model.tflite").read_bytes(), done["metadata"], f"{source.folder.checkpoint}, exported for the plugin"


def render(source: Source, info: sources.AudioInfo, args, ddsp):
    """(chunks of {"audio", "harmonic", "noise"}, total samples, what was done, the model's name)."""
    data, meta, label = _model(source, ddsp)
    feats = plugin_features(info, CHUNK)
    mask_on, _ = ddsp.training.postprocessing.detect_notes(feats["power_db"], feats["f0_confidence"], args.note_threshold,
                                                             smoothing=NOTE_SMOOTHING)
    said = [notes_found(mask_on).replace("frames", "hops")]
    middle = (meta["mean_min_pitch_note"] + meta["mean_max_pitch_note"]) / 2
    f0, shift = shift_octaves(feats["f0_hz"], mask_on, args.octave_shift, middle, ddsp)
    said.append(shift + (" (toward the middle of the model's pitch range)" if args.octave_shift == "auto" else ""))
    said.append("played as the DDSP-VST plugin plays it (TFLite, one call per 20 ms hop; its synthesisers, dry)")
    return play(data, f0, feats["power_db"]), feats["n_samples"], said, label


def plugin_features(info: sources.AudioInfo, chunk: int) -> dict[str, np.ndarray]:
    """f0, confidence and power in dB on the plugin's hop grid (frame k centred on sample k*320),
    computed a chunk at a time with enough audio either side that chunk edges change nothing."""
    n = math.ceil(info.frames * features.SAMPLE_RATE / info.sample_rate)
    chunk -= chunk % vst.HOP
    parts: dict[str, list] = {"f0_hz": [], "f0_confidence": [], "power_db": []}
    for start in range(0, n, chunk):
        length = min(chunk, n - start)
        first, last = max(0, start - CONTEXT), min(n, start + length + CONTEXT)
        audio = np.pad(sources.read_16k_mono(info, first, last - first),
                       (first - (start - CONTEXT), (start + length + CONTEXT) - last))
        keep = slice(CONTEXT // vst.HOP, CONTEXT // vst.HOP + math.ceil(length / vst.HOP))
        f0, confidence = features.f0_pyin(audio, preset=PRESET)
        parts["f0_hz"].append(f0[keep])
        parts["f0_confidence"].append(confidence[keep])
        parts["power_db"].append(features.power_db(audio, PRESET)[keep])
    out = {k: np.concatenate(v).astype(np.float32) for k, v in parts.items()}
    out["n_samples"] = n
    return out


def _midway(first, last, n: int) -> np.ndarray:
    """The plugin's interpolation over one hop: linear from ``first`` over the first half
    (``last`` not reached), then ``last`` held. ``first``/``last`` are scalars or columns."""
    first, last = np.asarray(first, np.float64), np.asarray(last, np.float64)
    half = n // 2
    ramp = np.arange(half) / half
    shape = np.broadcast(first, last).shape
    return np.concatenate([first[..., None] + (last - first)[..., None] * ramp,
                           np.broadcast_to(last[..., None], shape + (n - half,))], axis=-1)


class HarmonicSynth:
    def __init__(self, harmonics: int = vst.HARMONICS, hop: int = vst.HOP, sample_rate: int = vst.SAMPLE_RATE):
        self.orders = np.arange(1, harmonics + 1, dtype=np.float64)
        self.hop, self.sample_rate = hop, sample_rate
        self.phase, self.f0 = 0.0, None
        self.distribution = np.zeros(harmonics)

    def __call__(self, distribution, amplitude: float, f0_hz: float) -> np.ndarray:
        dist = np.array(distribution, np.float64)
        dist[self.orders * f0_hz >= self.sample_rate / 2] = 0.0  # above Nyquist, as in training
        total = dist.sum()
        if total != 0:
            dist /= total
        dist *= amplitude
        pitch = _midway(f0_hz if self.f0 is None else self.f0, f0_hz, self.hop)
        amps = _midway(self.distribution, dist, self.hop)  # [harmonics, hop]
        self.f0, self.distribution = f0_hz, dist
        phases = self.phase + np.cumsum(2 * np.pi * pitch / self.sample_rate)
        self.phase = float(np.fmod(phases[-1], 2 * np.pi))
        return np.sum(np.sin(np.outer(self.orders, phases)) * amps, axis=0)


class NoiseSynth:
    def __init__(self, magnitudes: int = vst.NOISE_AMPS, hop: int = vst.HOP, fft_size: int = 512, seed: int = 42):
        self.taps = (magnitudes - 1) * 2  # 128
        self.hop, self.fft_size = hop, fft_size
        window = 0.5 * (1 - np.cos(2 * np.pi * np.arange(self.taps) / self.taps))
        self.window = np.roll(window, -self.taps // 2)  # zero-phase form
        self.rng = np.random.default_rng(seed)

    def __call__(self, magnitudes) -> np.ndarray:
        impulse = np.fft.irfft(np.asarray(magnitudes, np.float64), n=self.taps) * self.window
        impulse = np.roll(impulse, self.taps // 2)  # causal, delayed by half the filter
        noise = self.rng.uniform(-1.0, 1.0, self.fft_size)
        filtered = np.fft.irfft(np.fft.rfft(noise) * np.fft.rfft(impulse, n=self.fft_size), n=self.fft_size)
        start = (self.taps - 1) // 2 - 1  # the filter's group delay
        return filtered[start:start + self.hop]


def play(model: bytes, f0_hz: np.ndarray, power_db: np.ndarray):
    """Yield, hop by hop, {"harmonic", "noise", "audio"}: 320 samples each."""
    from ddsp_launch.trainer.vst_export import Stream  # noqa: PLC0415 (TensorFlow)

    calls, harmonic, noise = Stream(model), HarmonicSynth(), NoiseSynth()
    for f0, f0s, pws in zip(f0_hz, vst.f0_scaled(f0_hz), vst.pw_scaled(power_db)):
        out = calls(float(f0s), float(pws))
        h = harmonic(out[vst.HARMONIC_DISTRIBUTION], float(out[vst.AMPLITUDE][0]), float(f0))
        z = noise(out[vst.NOISE])
        yield {"harmonic": h, "noise": z, "audio": h + z}
