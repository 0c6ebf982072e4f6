#!/usr/bin/env python3
"""`ddsp-launch transfer` on CPU: seconds of audio synthesised per wall-second, and peak
memory for a 5-minute input against a 1-minute one (the baseline, same session).

Memory should not grow with the input's length: audio is read, analysed and resynthesised
one training-example length (4 s) at a time; only the features (250 frames/s) are kept.

    python bench/transfer.py [--minutes 5] [--steps 6]

It also checks (and exits 1 when not met) what the test suite used to check at CI's cost:
the long output holds exactly as many samples as its input, and its peak memory stays
below 1.15x the short input's.

Model: the example violin (scales.wav) prepared with statistics and trained for --steps
steps (the quality does not matter for speed). Input: the rendered flute melodies,
repeated to the lengths measured.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from common import example_audio, render_examples

MEMORY_BOUND = 1.15  # a long input's peak memory over a short one's


def run_child(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    # a fresh parent per measurement: RUSAGE_CHILDREN's peak covers only this child
    meter = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)")
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", meter, *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    peak_kib = int(proc.stderr.strip().splitlines()[-1])
    return wall, peak_kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-transfer-"))
    ds, run = tmp / "ds", tmp / "run"
    subprocess.run([sys.executable, "-m", "ddsp_launch.trainer.prepare", "--quiet", str(example_audio() / "scales.wav"), str(ds)], check=True)
    subprocess.run([sys.executable, "-m", "ddsp_launch.trainer.task", "--save_dir", str(run), "--file_pattern", str(ds / "train.tfrecord*"),
                    "--batch_size", "2", "--num_steps", str(args.steps), "--steps_per_save", str(args.steps),
                    "--audio_summaries=false"], check=True, capture_output=True)
    flute = tmp / "flute"
    render_examples.render_all(flute, "flute")
    melody = np.concatenate([sf.read(str(p), dtype="float32")[0] for p in sorted(flute.glob("*.wav"))])
    results = {}
    for minutes in (1.0, args.minutes):
        n = int(minutes * 60 * 16000)
        audio = np.resize(melody, n)
        path = tmp / f"input-{minutes:g}min.wav"
        sf.write(str(path), audio, 16000)
        wall, peak = run_child([sys.executable, "-m", "ddsp_launch.trainer.transfer", str(run), str(path), "-o", str(tmp / "out.wav"),
                                "--statistics", str(ds / "dataset_statistics.json")])
        results[minutes] = (wall, peak)
        frames = sf.info(str(tmp / "out.wav")).frames
        if frames != n:
            raise SystemExit(f"the {minutes:g}-minute output holds {frames} samples, its input {n}")
        print(f"{minutes:g}-minute input: {wall:6.1f} s wall ({minutes * 60 / wall:4.1f} s of audio per wall-second, "
              f"including ~10 s of TensorFlow start-up), peak memory {peak:6.0f} MiB")
    (w1, p1), (w5, p5) = results[1.0], results[args.minutes]
    print(f"{args.minutes:g} min vs 1 min: {w5 / w1:.2f}x the time for {args.minutes:g}x the audio; peak memory {p5 / p1:.2f}x")
    verdict = "met" if p5 < MEMORY_BOUND * p1 else "NOT met"
    print(f"memory bound (peak < {MEMORY_BOUND}x the 1-minute input's): {verdict}")
    print(f"steady rate (difference of the two runs): {(args.minutes - 1) * 60 / max(w5 - w1, 1e-9):.1f} s of audio per wall-second")
    if verdict != "met":
        raise SystemExit(1)


if __name__ == "__main__":
    main()
