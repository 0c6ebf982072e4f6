#!/usr/bin/env python3
"""A DDSP-VST plugin model on one core: inference time per 20 ms hop against the plugin's budget,
and the time `ddsp-launch export --vst` takes.

The plugin calls the model once per 320-sample hop at 16 kHz (20 ms, kModelInferenceTimerCallbackInterval_ms)
with one TFLite thread (kNumPredictControlsThreads); a call that takes longer than the hop cannot
keep up. Measured here: the exported file run through TFLite's builtin op resolver, one thread,
this process pinned to one core, state carried as the plugin carries it; ``invoke`` alone and a
whole call from Python (inputs set, outputs read), and our numpy port of the plugin's
synthesisers per hop (what `transfer --engine plugin` adds; the plugin's own are C++).

    python bench/vst.py [--steps 4] [--hops 3000]

Model: the example violin (scales.wav) prepared with --model vst and trained for --steps steps
(the weights' values do not change the work a call does).
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

from common import example_audio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return time.perf_counter() - t


def per_call_ms(fn, n: int) -> np.ndarray:
    times = np.empty(n)
    for i in range(n):
        t = time.perf_counter_ns()
        fn(i)
        times[i] = (time.perf_counter_ns() - t) / 1e6
    return times


def describe(name: str, ms: np.ndarray, budget: float) -> str:
    return (f"  {name:<34} median {np.median(ms):7.3f} ms   p99 {np.percentile(ms, 99):7.3f} ms   max {ms.max():7.3f} ms"
            f"   real-time factor {budget / np.mean(ms):7.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--hops", type=int, default=3000, help="calls timed (3000 hops: 60 s of audio)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-vst-"))
    ds, run, out = tmp / "ds", tmp / "run", tmp / "plugin"
    py = [sys.executable, "-m"]
    take = example_audio() / "scales.wav"
    prepare_s = timed([*py, "ddsp_launch.trainer.prepare", "--quiet", "--model", "vst", str(take), str(ds)])
    train_s = timed([*py, "ddsp_launch.trainer.task", "--model", "vst", "--save_dir", str(run), "--file_pattern",
                     str(ds / "train.tfrecord*"), "--batch_size", "2", "--num_steps", str(args.steps),
                     "--steps_per_save", str(args.steps), "--audio_summaries=false"])
    export_s = timed([*py, "ddsp_launch.trainer.export", str(run), "-o", str(out), "--vst", "--name", "Violin",
                      "--statistics", str(ds / "dataset_statistics.json")])
    model = out / "Violin.tflite"

    # the measurements below: one core, as the plugin's one inference thread
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    from ddsp_launch.common import vst  # noqa: PLC0415
    from ddsp_launch.trainer import ddsp_compat  # noqa: PLC0415

    ddsp_compat.configure_environment()
    from ddsp_launch.trainer import plugin_transfer, vst_export  # noqa: PLC0415

    import tensorflow  # noqa: F401, PLC0415 (started before the model is built: its load time is the model's)

    rng = np.random.default_rng(0)
    f0 = vst.f0_scaled(rng.uniform(200, 800, args.hops))
    pw = vst.pw_scaled(rng.uniform(-60, -10, args.hops))
    t = time.perf_counter()
    calls = vst_export.Stream(model.read_bytes())
    load_ms = (time.perf_counter() - t) * 1000
    for i in range(50):  # warm-up
        calls(f0[i % len(f0)], pw[i % len(pw)])
    whole = per_call_ms(lambda i: calls(f0[i], pw[i]), args.hops)
    invoke = per_call_ms(lambda i: calls.interp.invoke(), args.hops)
    out_controls = calls(f0[0], pw[0])
    harmonic, noise = plugin_transfer.HarmonicSynth(), plugin_transfer.NoiseSynth()
    synth = per_call_ms(lambda i: (harmonic(out_controls[vst.HARMONIC_DISTRIBUTION], float(out_controls[vst.AMPLITUDE][0]), 440.0),
                                   noise(out_controls[vst.NOISE])), args.hops)

    print(f"DDSP-VST model: {model.stat().st_size / 1e6:.1f} MB, {args.hops} hops on core {core} "
          f"(TFLite builtin op resolver, 1 thread); budget {vst.HOP_MS:g} ms per hop; load average {os.getloadavg()[0]:.1f}")
    print(describe("invoke()", invoke, vst.HOP_MS))
    print(describe("one call (inputs set, outputs read)", whole, vst.HOP_MS))
    print(describe("numpy synthesis of a hop (ours)", synth, vst.HOP_MS))
    print(f"  model load (build + allocate)      {load_ms:.1f} ms")
    print(f"export --vst (whole command: TensorFlow start, SavedModel, conversion, checks, streaming comparison): {export_s:.1f} s")
    print(f"for reference: prepare --model vst on {take.name} ({take.stat().st_size / 32000:.0f} s) {prepare_s:.1f} s; "
          f"{args.steps} training steps (batch 2, with start-up) {train_s:.1f} s")


if __name__ == "__main__":
    main()
