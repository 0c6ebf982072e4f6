#!/usr/bin/env python3
"""Steps per second of ddsp-launch's training loop vs ddsp's own `ddsp_run`, on the same
data, gin config (models/solo_instrument.gin + datasets/tfrecord.gin) and batch size,
and the peak memory of each. Both run as fresh processes, one after the other.

Steady-state speed is measured between step --skip and the last step, from the time each
step's log line arrives, so start-up and graph tracing are left out (reported apart).

    python bench/train_speed.py [--steps 25] [--batch-size 4] [--dataset DIR]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr, flush=True)\n"
    "sys.exit(code)\n"
)
DDSP_RUN = (
    "import sys\n"
    "from ddsp_launch.trainer.ddsp_compat import import_ddsp\n"
    "import_ddsp()  # ddsp_run imports crepe through ddsp\n"
    "from ddsp.training import ddsp_run\n"
    "sys.argv = ['ddsp_run'] + sys.argv[1:]\n"
    "ddsp_run.console_entry_point()\n"
)


def timed_run(cmd: list[str], step_re: str) -> tuple[dict[int, float], float, int]:
    """Run cmd, timestamping every log line that names a step; returns (step -> time since
    start), total wall time, peak RSS in kB."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", MEASURE, *cmd], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    seen, rss = {}, 0
    pattern = re.compile(step_re)
    for line in proc.stdout:
        m = pattern.search(line)
        if m:
            seen.setdefault(int(m.group(1)), time.perf_counter() - start)
        if line.startswith("MAXRSS_KB"):
            rss = int(line.split()[1])
    if proc.wait() != 0:
        raise SystemExit(f"{cmd[:4]} failed with exit code {proc.returncode}")
    return seen, time.perf_counter() - start, rss


def steady_rate(seen: dict[int, float], skip: int) -> tuple[float, float]:
    last = max(seen)
    return (last - skip) / (seen[last] - seen[skip]), seen[skip]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--skip", type=int, default=5, help="steps left out as warm-up")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--dataset", type=Path, help="prepared dataset folder (default: prepare the example violin)")
    args = parser.parse_args()
    from common import example_dataset

    tmp = Path(tempfile.mkdtemp(prefix="bench-train-"))
    dataset = args.dataset or example_dataset(tmp / "ds")
    pattern = str(dataset / "train.tfrecord*")
    big = str(10 * args.steps)  # no periodic save or summary inside the measured window
    ours = [sys.executable, "-m", "ddsp_launch.trainer.task", "--save_dir", str(tmp / "ours"), "--file_pattern", pattern,
            "--batch_size", str(args.batch_size), "--num_steps", str(args.steps), "--steps_per_save", big,
            "--steps_per_summary", big, "--log_every", "1", "--audio_summaries=false"]
    theirs = [sys.executable, "-c", DDSP_RUN, "--mode=train", "--alsologtostderr", f"--save_dir={tmp / 'ddsp_run'}",
              "--gin_file=models/solo_instrument.gin", "--gin_file=datasets/tfrecord.gin",
              f"--gin_param=TFRecordProvider.file_pattern='{pattern}'", f"--gin_param=batch_size={args.batch_size}",
              f"--gin_param=train_util.train.num_steps={args.steps}",
              f"--gin_param=train_util.train.steps_per_save={big}", f"--gin_param=train_util.train.steps_per_summary={big}"]
    results = {}
    for name, cmd, step_re in (("ddsp_run", theirs, r"\] step: (\d+)\t"), ("ddsp-launch", ours, r"^step (\d+)/")):
        seen, wall, rss = timed_run(cmd, step_re)
        rate, first = steady_rate(seen, args.skip)
        results[name] = rate
        print(f"{name:12s} {rate:.3f} steps/s steady (steps {args.skip}-{max(seen)}), step {args.skip} reached after "
              f"{first:.1f} s, {wall:.1f} s total, peak memory {rss / 1024:.0f} MiB")
    print(f"ddsp-launch / ddsp_run steps per second: {results['ddsp-launch'] / results['ddsp_run']:.2f}x "
          f"(batch {args.batch_size}, same data and gin config)")


if __name__ == "__main__":
    main()
