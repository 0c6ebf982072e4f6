#!/usr/bin/env python3
"""Train to quality: the solo-instrument model on the example violin for a CPU time budget,
with held-out evaluation (issue 21). Prints the held-out spectral loss, the f0 error (cents,
voiced frames) and the loudness error (dB) at each evaluation, and the best step.

    python bench/quality.py [--minutes 15] [--batch-size 4] [--eval-every 50] [--eval-examples 8]
                            [--dataset DIR] [--save-dir DIR] [--max-steps N]

The dataset is the rendered example violin (scripts/render_examples.py, about 3 minutes)
prepared with --eval-fraction 0.1, unless --dataset names one with an eval split. The trainer
runs as `ddsp-launch task` does (python -m ddsp_launch.trainer.task) until --minutes of wall
time have passed (then it is stopped with SIGINT, which saves a checkpoint) or --max-steps.
Evaluation time counts against the budget. Run it on an otherwise idle machine: the figures
are this machine's.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, example_audio

sys.path.insert(0, str(ROOT))

from ddsp_launch.common import eval_log  # noqa: E402


EOF = object()  # the end of the trainer's output


def prepare(out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "ddsp_launch.trainer.prepare", "--quiet", "--no-statistics", "--eval-fraction", "0.1",
                    str(example_audio()), str(out)], check=True)
    return out


def train(dataset: Path, save_dir: Path, args) -> tuple[int, float, str]:
    """Run the trainer until the budget or --max-steps; (exit code, seconds, the last line of its log)."""
    cmd = [sys.executable, "-u", "-m", "ddsp_launch.trainer.task", "--save_dir", str(save_dir),
           "--file_pattern", str(dataset / "train.tfrecord*"), "--batch_size", str(args.batch_size),
           "--num_steps", str(args.max_steps), "--steps_per_save", str(args.eval_every), "--steps_per_summary", str(args.eval_every),
           "--checkpoints_to_keep", "2", "--eval_examples", str(args.eval_examples), "--log_every", str(args.eval_every),
           "--audio_summaries=false"]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: queue.Queue = queue.Queue()
    def pump():
        for text in proc.stdout:
            lines.put(text.rstrip("\n"))
        lines.put(EOF)

    threading.Thread(target=pump, daemon=True).start()
    deadline = t0 + 60 * args.minutes
    last, stopping = "", False
    while True:
        try:
            line = lines.get(timeout=1.0)
        except queue.Empty:
            line = ""
        if line is EOF:
            break
        if line:
            last = line
            if line.startswith(("eval at step", "training steps", "step ")):
                print(f"[{time.monotonic() - t0:6.0f} s] {line}", flush=True)
        if not stopping and time.monotonic() > deadline:
            print(f"[{time.monotonic() - t0:6.0f} s] budget of {args.minutes:g} min reached: stopping the trainer (SIGINT)", flush=True)
            proc.send_signal(signal.SIGINT)
            stopping = True
    proc.wait()
    return proc.returncode, time.monotonic() - t0, last


def report(save_dir: Path) -> list[str]:
    """The evaluations and the best step of a run folder, as printed lines."""
    rows = eval_log.entries(save_dir)
    best = eval_log.best(save_dir)
    lines = [f"held-out evaluations of {save_dir} ({len(rows)}):", *("  " + line for line in eval_log.table(save_dir))]
    if best:
        m = best["metrics"]
        lines.append(f"best step: {best['step']} (held-out spectral loss {m['spectral_loss']:.4f}, f0 {m.get('f0_cents', float('nan')):.1f} "
                     f"cents, loudness {m.get('loudness_db', float('nan')):.2f} dB; {best['checkpoint']})")
    else:
        lines.append("best step: none (no evaluation finished)")
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=15.0, help="wall-time budget for training and evaluation (default 15)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--eval-every", type=int, default=50, help="steps between evaluations (and checkpoints)")
    p.add_argument("--eval-examples", type=int, default=8, help="held-out examples per evaluation")
    p.add_argument("--max-steps", type=int, default=100000, help="stop here if the budget lasts that long")
    p.add_argument("--dataset", type=Path, help="a prepared dataset with an eval split [default: the example violin, prepared here]")
    p.add_argument("--save-dir", type=Path, help="where the run goes [default: a temporary folder, removed]")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
        dataset = args.dataset or prepare(Path(tmp) / "violin")
        manifest = json.loads((dataset / "manifest.json").read_text()) if (dataset / "manifest.json").is_file() else {}
        counts = manifest.get("counts", {})
        print(f"dataset {dataset}: {counts.get('train_examples', '?')} train / {counts.get('eval_examples', '?')} eval examples; "
              f"{os.cpu_count()} CPUs; batch {args.batch_size}, evaluation every {args.eval_every} steps on "
              f"{args.eval_examples} examples; budget {args.minutes:g} min", flush=True)
        save_dir = args.save_dir or Path(tmp) / "run"
        code, seconds, last = train(dataset, save_dir, args)
        print(f"trainer exited {code} after {seconds:.0f} s: {last}")
        for line in report(save_dir):
            print(line)
        return 0 if code in (0, 130) and eval_log.entries(save_dir) else 1


if __name__ == "__main__":
    sys.exit(main())
