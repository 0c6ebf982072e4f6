#!/usr/bin/env python3
"""Benchmark `ddsp-launch prepare`: throughput with 1 worker vs all cores, and where pYIN's
time goes, with f0 accuracy beside every speed. Everything is measured in this run.

    python bench/prepare.py [--excerpt-secs 20] [--repeat 3] [--runs 3] [--end-to-end 90 600] [--only-end-to-end]

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


def mixed_formats(audio_dir: Path, folder: Path, seconds: float) -> float:
    """``seconds`` of the example audio as a user's folder holds it: 44.1 kHz stereo flac,
    48 kHz stereo mp3 and 22.05 kHz mono wav in turn, 30 s or less per file. Returns the
    total duration."""
    import soxr

    music = np.concatenate([sf.read(p, dtype="float32")[0] for p in sorted(audio_dir.glob("*.wav"))])
    kinds = [(44100, 2, "flac", {}), (48000, 2, "mp3", {"format": "MP3", "subtype": "MPEG_LAYER_III"}), (22050, 1, "wav", {})]
    folder.mkdir(parents=True)
    done, i = 0.0, 0
    while done < seconds - 1e-6:
        part = min(30.0, seconds - done)
        clip = np.resize(np.roll(music, -int(done * 16000)), int(part * 16000))
        rate, channels, ext, extra = kinds[i % 3]
        audio = soxr.resample(clip, 16000, rate)
        sf.write(str(folder / f"take{i:03d}.{ext}"), np.stack([audio] * channels, axis=1) if channels == 2 else audio, rate, **extra)
        done += part
        i += 1
    return sum(sf.info(str(p)).duration for p in folder.iterdir())


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def bench_end_to_end(audio_dir: Path, lengths: list[float], repeat: int) -> None:
    """The whole command as a user runs it (`python -m ddsp_launch.trainer.prepare`, default
    workers, statistics on), on mixed-format folders, with its fixed start-up measured apart:
    the same command on 5 s of audio, and the imports it pays for, each in a fresh process."""
    prepare = [sys.executable, "-m", "ddsp_launch.trainer.prepare", "--quiet"]
    print(f"\n# start-up, fresh processes, median of {repeat}")
    for label, code in (("python + ddsp_launch.trainer.prepare", "import ddsp_launch.trainer.prepare.pipeline"),
                        ("librosa + pYIN's compiled decoder", "from ddsp_launch.trainer.prepare import features; features.warm_up()"),
                        ("tensorflow", "from ddsp_launch.trainer.ddsp_compat import configure_environment as c; c(); import tensorflow"),
                        ("ddsp (statistics)", "from ddsp_launch.trainer.ddsp_compat import import_ddsp; import_ddsp()")):
        secs = float(np.median([timed([sys.executable, "-c", code]) for _ in range(repeat)]))
        print(f"{label:40s} {secs:6.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "one"
        mixed_formats(audio_dir, one, 5.0)  # one example
        for extra in ([], ["--no-statistics"]):
            walls = [timed([*prepare, *extra, str(one), f"{tmp}/one-{len(extra)}-{r}"]) for r in range(repeat)]
            print(f"{'prepare, 5 s of audio ' + ' '.join(extra):40s} {np.median(walls):6.1f} s (spread {min(walls):.1f}-{max(walls):.1f})")
        print(f"\n# prepare end to end on mixed formats (44.1 kHz flac, 48 kHz mp3, 22 kHz wav), statistics on, median of {repeat}")
        for seconds in lengths:
            folder = Path(tmp) / f"in-{seconds:g}"
            total = mixed_formats(audio_dir, folder, seconds)
            walls = [timed([*prepare, str(folder), f"{tmp}/ds-{seconds:g}-{r}"]) for r in range(repeat)]
            wall = float(np.median(walls))
            goal = 10 if seconds <= 120 else 20
            print(f"{total:6.1f} s of audio: {wall:6.1f} s wall (spread {min(walls):.1f}-{max(walls):.1f}), "
                  f"{total / wall:5.1f}x real time; goal >= {goal}x: {'met' if total / wall >= goal else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio", type=Path, default=EXAMPLE_AUDIO)
    parser.add_argument("--excerpt-secs", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3, help="also time the examples repeated this many times")
    parser.add_argument("--long-minutes", type=float, default=20.0, help="length of the long file for the memory test")
    parser.add_argument("--runs", type=int, default=3, help="fresh runs per end-to-end figure (median and spread)")
    parser.add_argument("--end-to-end", type=float, nargs="*", default=[90.0, 600.0], metavar="SECONDS",
                        help="lengths of the mixed-format folders timed end to end (default: 90 600)")
    parser.add_argument("--only-end-to-end", action="store_true", help="skip the estimator, worker and memory figures")
    args = parser.parse_args()
    if args.audio == EXAMPLE_AUDIO:
        example_audio()
    bench_end_to_end(args.audio, args.end_to_end, args.runs)
    if args.only_end_to_end:
        return
    bench_estimators(args.audio, args.excerpt_secs)
    for repeat in sorted({1, args.repeat}):
        bench_pipeline(args.audio, repeat)
    bench_long_file_memory(args.audio, args.long_minutes)


if __name__ == "__main__":
    main()
