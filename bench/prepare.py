#!/usr/bin/env python3
"""Benchmark `ddsp-launch prepare`: throughput with 1 worker vs all cores, and where pYIN's
time goes, with f0 accuracy beside every speed. Everything is measured in this run.

    python bench/prepare.py [--excerpt-secs 20] [--repeat 3]

Audio: the rendered example violin (scripts/render_examples.py, about 3 minutes).
Accuracy: fraction of confidently voiced frames within a semitone of the MIDI score, and
the median error in cents, over all example files.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from common import ROOT, EXAMPLE_AUDIO, example_audio, render_examples

from ddsp_launch.trainer.prepare import features


def pyin_with(settings: features.PyinSettings, audio: np.ndarray):
    """pYIN at arbitrary settings, returned at the 250 Hz frame grid (as the pipeline does)."""
    return features.f0_pyin(audio, settings)


def accuracy(f0, conf, midi_path: Path) -> tuple[float, float]:
    times = (np.arange(len(f0)) * features.HOP + features.CREPE_FRAME / 2) / features.SAMPLE_RATE
    truth = render_examples.expected_pitch(midi_path, times)
    voiced = ~np.isnan(truth) & (conf > 0.5)
    err = np.abs(12 * np.log2(f0[voiced] / 440.0) + 69 - truth[voiced])
    return float(np.mean(err < 1.0)), float(100 * np.median(err))


def bench_estimators(audio_dir: Path, excerpt_secs: float) -> None:
    print(f"\n# pYIN settings on a {excerpt_secs:g} s excerpt of each example file (1 core)")
    print(f"{'settings':58s} {'x real time':>11s} {'within 1 st':>11s} {'median cents':>12s}")
    variants = [
        ("librosa defaults at 250 fps (hop 64, 0.1 st, 50-2000 Hz)", features.PyinSettings(50, 2000, 0.1, 64)),
        ("hop 256, 0.1 st, 50-2000 Hz", features.PyinSettings(50, 2000, 0.1, 256)),
        ("hop 256, 0.25 st, 50-2000 Hz (512 states)", features.PyinSettings(50, 2000, 0.25, 256)),
        ("ddsp-launch default: hop 256, 0.25 st, 40-2100 Hz", features.PyinSettings()),
    ]
    files = sorted(audio_dir.glob("*.wav"))
    features.f0_pyin(np.zeros(16000, np.float32))  # numba compiles once, outside the timing
    results = {}
    for label, settings in variants:
        secs = elapsed = 0.0
        hits = []
        cents = []
        for wav in files:
            audio, _ = sf.read(wav, dtype="float32", frames=int(excerpt_secs * 16000))
            t0 = time.perf_counter()
            f0, conf = pyin_with(settings, audio)
            elapsed += time.perf_counter() - t0
            secs += len(audio) / 16000
            a, c = accuracy(f0, conf, ROOT / "examples" / "midi" / f"{wav.stem}.mid")
            hits.append(a)
            cents.append(c)
        results[label] = secs / elapsed
        print(f"{label:58s} {secs / elapsed:10.1f}x {np.mean(hits):11.3f} {np.median(cents):12.1f}")
    base, ours = results[variants[0][0]], results[variants[-1][0]]
    print(f"speed-up of the default over librosa's defaults: {ours / base:.1f}x")


def bench_pipeline(audio_dir: Path, repeat: int) -> None:
    """Time `python -m ddsp_launch.trainer.prepare` end to end, as a user runs it: a fresh
    process each time (TensorFlow import and dataset statistics included)."""
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        inp = Path(tmp) / "in"
        inp.mkdir()
        for r in range(repeat):  # the same takes under other names: more audio, same music
            for wav in sorted(audio_dir.glob("*.wav")):
                (inp / f"{wav.stem}-{r}.wav").symlink_to(wav)
        total = sum(sf.info(str(p)).duration for p in inp.glob("*.wav"))
        print(f"\n# ddsp-launch prepare on {total:.1f} s of audio ({repeat}x the examples), fresh process per run")
        rates = {}
        for workers in sorted({1, cores}):
            out = Path(tmp) / f"ds{workers}"
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "ddsp_launch.trainer.prepare", "--quiet", "--workers", str(workers),
                            "--eval-fraction", "0.1", str(inp), str(out)], check=True, capture_output=True)
            wall = time.perf_counter() - t0
            rates[workers] = total / wall
            print(f"workers={workers}: {wall:6.1f} s wall, {rates[workers]:6.1f} audio-seconds per wall-second")
    if cores > 1:
        print(f"ratio {cores} workers / 1 worker: {rates[cores] / rates[1]:.2f}x")
    print(f"goal >= 10x real time on 2 cores: {'met' if rates[cores] >= 10 else 'NOT met'} ({rates[cores]:.1f}x)")


MAXRSS = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)\n"
)


def bench_long_file_memory(audio_dir: Path, minutes: float) -> None:
    """Peak memory of prepare on one short and one long 44.1 kHz stereo file: bounded
    memory means the long file costs no more than the short one."""
    import soxr

    clips = [sf.read(p, dtype="float32")[0] for p in sorted(audio_dir.glob("*.wav"))]
    music = soxr.resample(np.concatenate(clips), 16000, 44100)
    print("\n# peak memory (largest process: the parent holds TensorFlow) vs file length, 44.1 kHz stereo")
    peaks = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, seconds in (("short", 60.0), ("long", minutes * 60)):
            path = Path(tmp) / f"{label}.flac"
            with sf.SoundFile(path, "w", 44100, 2, subtype="PCM_16") as f:
                written = 0
                while written < seconds * 44100:
                    block = music[: int(min(len(music), seconds * 44100 - written))]
                    f.write(np.stack([block, block], axis=1))
                    written += len(block)
            decoded_mb = written * 2 * 4 / 1e6
            out = subprocess.run([sys.executable, "-c", MAXRSS, sys.executable, "-m", "ddsp_launch.trainer.prepare",
                                  "--quiet", "--no-statistics", str(path), f"{tmp}/{label}-ds"],
                                 check=True, capture_output=True, text=True).stdout
            peaks[label] = int(out.split()[-1]) / 1024
            print(f"{label:5s} {seconds / 60:5.1f} min (decoded whole: {decoded_mb:6.0f} MB): peak {peaks[label]:6.0f} MiB")
    print(f"long / short peak memory: {peaks['long'] / peaks['short']:.2f}x for {minutes:.0f}x the audio")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio", type=Path, default=EXAMPLE_AUDIO)
    parser.add_argument("--excerpt-secs", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3, help="also time the examples repeated this many times")
    parser.add_argument("--long-minutes", type=float, default=20.0, help="length of the long file for the memory test")
    args = parser.parse_args()
    if args.audio == EXAMPLE_AUDIO:
        example_audio()
    bench_estimators(args.audio, args.excerpt_secs)
    for repeat in sorted({1, args.repeat}):
        bench_pipeline(args.audio, repeat)
    bench_long_file_memory(args.audio, args.long_minutes)


if __name__ == "__main__":
    main()
