#!/usr/bin/env python3
"""The first steps, in the image and on the host, one after the other in this session.

prepare: `ddsp-launch prepare` of the example violin audio (about 3 minutes of it, all four
files) in the CPU training image (--runtime docker, what a host without TensorFlow runs) vs
as a local process (--runtime process, the training stack installed here): wall time from
starting the command to its exit, outputs into fresh folders each time.

train: command to first training step: `ddsp-launch run` in the CPU container vs bare
`ddsp_run` in this virtualenv (and ddsp-launch's process runtime), same data, same gin
config and batch size. The clock runs from starting the command to the moment its first
step's log line arrives.

Needs a Docker engine and the CPU image (built first if missing, not timed).

    python bench/first_step.py [--base-image local/debian:bookworm] [--repeat 2] [--only prepare|train]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, example_audio, example_dataset  # noqa: E402
from train_speed import DDSP_RUN  # noqa: E402

LAUNCH = str(Path(sys.executable).parent / "ddsp-launch")


def to_first_step(cmd: list[str], step_re: str) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    pattern, first = re.compile(step_re), None
    for line in proc.stdout:
        if first is None and pattern.search(line):
            first = time.perf_counter() - start
    if proc.wait() != 0 or first is None:
        raise SystemExit(f"{cmd[:3]} failed (exit {proc.returncode}) or printed no step")
    return first


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def bench_prepare(image: str, tmp: Path, repeat: int) -> None:
    """The example violin prepared in the image vs on the host, alternating, fresh outputs each time."""
    audio = example_audio()
    runs = {"prepare in the image (docker)": ["--runtime", "docker", "--image", image],
            "prepare on the host (process)": ["--runtime", "process"]}
    results = {name: [] for name in runs}
    for i in range(repeat):
        for name, where in runs.items():
            results[name].append(wall([LAUNCH, "prepare", str(audio), str(tmp / f"prep-{where[1]}{i}"), "--quiet", *where]))
    seconds = sum(float(s["seconds"]) for s in json.loads(
        (tmp / "prep-process0" / "manifest.json").read_text())["sources"])
    report(results, "prepare on the host (process)", "s wall", "the host",
           lambda med: f"; {seconds / med:.1f}x real time")
    print(f"image {image}, {seconds:.1f} s of audio in {audio}")


def report(results: dict[str, list[float]], base: str, unit: str, versus: str, more=lambda med: "") -> None:
    """Each benchmark's median and runs, as a ratio to the ``base`` benchmark's median."""
    base_median = statistics.median(results[base])
    width = max(map(len, results))
    for name, times in results.items():
        med = statistics.median(times)
        print(f"{name:{width}s} median {med:6.1f} {unit}  (runs: {', '.join(f'{t:.1f}' for t in times)}; "
              f"{med / base_median:.2f}x {versus}{more(med)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-image", default="local/debian:bookworm")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--only", choices=("prepare", "train"), help="one of the two benchmarks [default: both]")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-first-step-"))
    build = subprocess.run([LAUNCH, "build", "--cpu", "--base-image", args.base_image], capture_output=True, text=True)
    if build.returncode:
        raise SystemExit(build.stderr)
    image = next(l.split()[1] for l in build.stdout.splitlines() if l.startswith("image:"))
    if args.only != "train":
        bench_prepare(image, tmp, args.repeat)
    if args.only == "prepare":
        return
    dataset = example_dataset(tmp / "ds", "scales.wav")
    common = ["--batch-size", str(args.batch_size), "--num-steps", "2", "--steps-per-save", "1000",
              "--steps-per-summary", "1000", "--", "--log_every", "1"]
    runs = {
        "ddsp-launch run (docker)": lambda i: ([LAUNCH, "run", str(dataset), str(tmp / f"docker{i}"), "--runtime",
                                                 "docker", "--image", image, *common], r"^step 1/"),
        "ddsp-launch run (process)": lambda i: ([LAUNCH, "run", str(dataset), str(tmp / f"proc{i}"), "--runtime",
                                                  "process", *common], r"^step 1/"),
        "ddsp_run (bare venv)": lambda i: ([sys.executable, "-c", DDSP_RUN, "--mode=train", "--alsologtostderr",
                                            f"--save_dir={tmp / f'ddsp_run{i}'}", "--gin_file=models/solo_instrument.gin",
                                            "--gin_file=datasets/tfrecord.gin",
                                            f"--gin_param=TFRecordProvider.file_pattern='{dataset}/train.tfrecord*'",
                                            f"--gin_param=batch_size={args.batch_size}",
                                            "--gin_param=train_util.train.num_steps=2",
                                            "--gin_param=train_util.train.steps_per_save=1000",
                                            "--gin_param=train_util.train.steps_per_summary=1000"],
                                           r"\] step: (\d+)\t"),
    }
    results = {name: [] for name in runs}
    for i in range(args.repeat):
        for name, make in runs.items():
            results[name].append(to_first_step(*make(i)))
    report(results, "ddsp_run (bare venv)", "s to the first step", "bare ddsp_run")
    print(f"image {image}, batch {args.batch_size}, dataset {dataset} (one example file); root: {ROOT}")


if __name__ == "__main__":
    main()
