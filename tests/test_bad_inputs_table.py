"""Bad and awkward input, typed as a user types it: one table, every command.

Each row runs the real `ddsp-launch` (the virtualenv's script, in a fresh copy of a small
fixture tree, with its own HOME and DDSP_LAUNCH_HOME, no Google credentials; Cloud Storage
is a real gcp-storage-emulator and Vertex AI the local stand-in in tests/cloud/fake_gcp.py)
and asserts:

* the documented exit code (README: 0 done, 2 bad input, 3 an error Cloud Storage returned,
  4 missing dependency, 6 Vertex AI refused);
* the words the message must contain, and no traceback;
* every file of the row's tree byte-identical afterwards (inputs, HOME and the run records:
  no partial files, no record of a run that never started), except the paths a row lists;
* "choose one of" suggestion lists without duplicates;
* for refusals that must come before TensorFlow: TensorFlow was never imported by any of
  the processes (Python's own import trace, PYTHONPROFILEIMPORTTIME, lists every module
  each process imports), within REFUSAL_SECONDS (generous: CI machines have two cores).

The rows that need TensorFlow are marked slow and run one by one; the others run in
parallel once per session, and each test reads its row's outcome. Rows whose check comes
after the training stack is asked for (the trainer's tools: prepare, task, transfer, export;
a process run) are marked slow too: on a host install without the stack they stop earlier,
at exit 4, which the not-slow run on such an install shows (scripts/test.sh).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ddsp_launch.common import tfrecord

ROOT = Path(__file__).resolve().parent.parent
EXE = Path(sys.executable).parent / "ddsp-launch"
REFUSAL_SECONDS = 30.0
TIMEOUT = 60.0
BUCKET = "ddsp-table"
RUN_ID = "20260101-000000-process-abcd"
WORKERS = int(os.environ.get("DDSP_LAUNCH_TABLE_WORKERS", "4"))
HAS_GPU = shutil.which("nvidia-smi") is not None  # the GPU refusals are for machines without one
STACK_GROUPS = ("prepare", "task", "transfer", "export")  # without the stack: exit 4, or the image for transfer/export


@dataclass(frozen=True)
class Row:
    group: str
    argv: tuple[str, ...]
    code: int
    words: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()  # paths (relative to the row's folder) that may change
    before_tf: bool = True  # must not import TensorFlow
    env: tuple[tuple[str, str | None], ...] = ()  # None: removed from the environment
    slow: bool = False
    stack: bool = False  # reaches its check only with the training stack installed (so do all of STACK_GROUPS)

    @property
    def needs_stack(self) -> bool:
        return self.stack or self.group in STACK_GROUPS

    @property
    def id(self) -> str:
        env = "".join(f" [{k}={v}]" for k, v in self.env)
        return f"{self.group}: {shlex.join(self.argv)}{env}"


def row(group: str, cmdline: str, code: int, *words: str, **kw) -> Row:
    env = tuple(sorted((kw.pop("env", None) or {}).items()))
    return Row(group, tuple(shlex.split(cmdline)), code, tuple(words), env=env, **kw)


GS = f"gs://{BUCKET}"
PROJECT = "ddsp-proj"
IMAGE = "us-central1-docker.pkg.dev/ddsp-proj/r/ddsp:1"
VERTEX = f"--project {PROJECT} --image {IMAGE} {GS}/ds {GS}/out"
TRAIN = "train --yes --no-tensorboard --target process"
T_OK = "--file_pattern 'ds/train.tfrecord*'"
MODEL_OUT = "model in.wav -o out.wav"
HYPER = "--local --study cfg/hypertune.yaml"
NO_CREDS = {"STORAGE_EMULATOR_HOST": None, "DDSP_LAUNCH_VERTEX_ENDPOINT": None, "DDSP_LAUNCH_LOGGING_ENDPOINT": None}

ROWS: list[Row] = [
    # ---- prepare ------------------------------------------------------------------------
    row("prepare", "prepare", 2, "INPUT"),
    row("prepare", "prepare REC", 2, "OUTPUT_DIR"),
    row("prepare", "prepare nope out", 2, "nope", "does not exist"),
    row("prepare", "prepare empty out", 2, "empty"),
    row("prepare", "prepare notes.txt out", 2, "notes.txt"),
    row("prepare", "prepare 'REC/*.flac' out", 2, "No files match"),
    row("prepare", "prepare REC REC --overwrite", 2, "same place", "nothing of an input is ever written over"),
    row("prepare", "prepare REC REC", 2, "same place"),
    row("prepare", "prepare REC ./REC/../REC --overwrite", 2, "same place"),
    row("prepare", "prepare REC link-to-REC --overwrite", 2, "same place"),
    row("prepare", "prepare P/takes P --overwrite", 2, "contains"),
    row("prepare", "prepare P/takes P", 2, "contains"),
    row("prepare", "prepare REC REC/dataset", 2, "inside"),
    row("prepare", "prepare 'REC/*.wav' REC --overwrite", 2, "contains"),
    row("prepare", "prepare REC P --overwrite", 2, "not empty", "P"),
    row("prepare", "prepare REC notes.txt", 2, "notes.txt"),
    row("prepare", "prepare REC notes.txt --overwrite", 2, "notes.txt"),
    row("prepare", "prepare REC out --example-secs 0", 2, "example-secs"),
    row("prepare", "prepare REC out --example-secs 2.5", 2, "whole number"),
    row("prepare", "prepare REC out --example-secs abc", 2, "example-secs"),
    row("prepare", "prepare REC out --hop-secs -1", 2, "hop-secs"),
    row("prepare", "prepare REC out --chunk-secs 1", 2, "chunk-secs"),
    row("prepare", "prepare REC out --eval-fraction 1.5", 2, "eval-fraction"),
    row("prepare", "prepare REC out --eval-fraction nan", 2, "eval-fraction"),
    row("prepare", "prepare REC out --f0 crepe", 4, "crepe", "--f0 pyin"),
    row("prepare", "prepare REC out --f0 yin", 2, "--f0"),
    row("prepare", "prepare REC out --f0-min-hz 3000 --f0-max-hz 100", 2, "--f0-min-hz"),
    row("prepare", "prepare REC out --f0-max-hz 9000", 2, "--f0-max-hz"),
    row("prepare", "prepare REC out --workers -1", 2, "--workers"),
    row("prepare", "prepare REC out --num-shards 0", 2, "--num-shards"),
    row("prepare", "prepare REC out --on-bad-file ignore", 2, "--on-bad-file"),
    row("prepare", "prepare REC out --bogus", 2, "--bogus"),
    row("prepare", "prepare fake.wav out", 2, "fake.wav", "--on-bad-file skip"),
    row("prepare", "prepare silent.wav out", 2, "silent.wav"),
    row("prepare", "prepare short.wav out", 2, "short.wav"),
    row("prepare", "prepare REC gs://bucket/ds", 2, "local folder", "gcloud storage cp"),
    # ---- prices (the launch preview's table) and --max-cost ----------------------------------
    row("prices", "prices --write cfg/hypertune.yaml", 2, "exists", "nothing is written over"),
    row("prices", "prices --write nope/prices.json", 2, "does not exist"),
    row("prices", "prices", 2, "DDSP_LAUNCH_PRICE_TABLE", "cannot be read", env={"DDSP_LAUNCH_PRICE_TABLE": "cfg/hypertune.yaml"}),
    row("submit", f"submit {VERTEX} --max-cost 0", 2, "--max-cost", "positive"),
    row("submit", f"submit {VERTEX} --regions us-east1,nowhere-1", 2, "nowhere-1", "not a Vertex AI region"),
    row("submit", f"submit {VERTEX} --fallback on-demand", 2, "--fallback on-demand is for spot runs", "--spot"),
    row("submit", f"submit {VERTEX} --spot --fallback sometimes", 2, "--fallback", "on-demand"),
    row("submit", f"submit {VERTEX} --max-cost 0.01 --accelerator none --num-steps 30000", 2, "the estimate is", "--num-steps"),
    row("submit", f"submit {VERTEX} --max-cost 5 --region europe-west4", 2, "no price", "DDSP_LAUNCH_PRICE_TABLE"),
    # ---- check (a dataset's stored report is read on the host; audio needs the trainer's stack) ----
    row("check", "check", 2, "DATA"),
    row("check", "check ds --bogus", 2, "--bogus"),
    row("check", "check ds", 2, "without a health report", "check its audio instead"),
    row("check", "check nope", 2, "nope", "does not exist", stack=True),
    row("check", "check empty", 2, "empty", stack=True),
    row("check", "check REC --min-minutes 0", 2, "--min-minutes", stack=True),
    row("check", "check REC --example-secs 2.5", 2, "whole number", stack=True),
    row("prepare", "prepare gs://Bad_Bucket!/x out", 2, "not a valid bucket name"),
    row("prepare", f"prepare {GS}/nothing-here out", 2, "gs://ddsp-table/nothing-here is empty"),
    row("prepare", "prepare gs://no-such-bucket/audio out", 3, "gs://no-such-bucket does not exist"),
    row("prepare", "prepare REC /proc/ds", 2, "/proc"),
    row("prepare", "prepare REC notes.txt/ds", 2, "notes.txt"),
    # ---- task (the trainer: every flag checked before TensorFlow) ----------------------
    row("task", "task", 2, "--file_pattern"),
    row("task", f"task --save_dir notes.txt {T_OK}", 2, "--save_dir", "notes.txt", "file"),
    row("task", f"task --save_dir ds/manifest.json {T_OK}", 2, "--save_dir", "file"),
    row("task", f"task --save_dir /proc/run {T_OK}", 2, "--save_dir", "/proc"),
    row("task", f"task --save_dir gs://Bad_Bucket/run {T_OK}", 2, "not a valid bucket name"),
    row("task", f"task --save_dir out --restore_dir notes.txt {T_OK}", 2, "--restore_dir", "notes.txt"),
    row("task", f"task --save_dir out --restore_dir nope {T_OK}", 2, "--restore_dir", "nope"),
    row("task", "task --save_dir out --file_pattern 'nothing*'", 2, "matches no files"),
    row("task", "task --save_dir out --file_pattern ''", 2, "--file_pattern"),
    row("task", "task --save_dir out --file_pattern 'bad-ds/*'", 2, "not a TFRecord"),
    row("task", "task --save_dir out --file_pattern notes.txt", 2, "notes.txt", "not a TFRecord"),
    row("task", "task --save_dir out --file_pattern in.wav", 2, "in.wav", "not a TFRecord"),
    row("task", "task --save_dir out --file_pattern 'ds/*'", 2, "manifest.json", "not a TFRecord"),
    row("task", "task --save_dir out --file_pattern ds", 2, "folder", "train.tfrecord*"),
    row("task", "task --save_dir out --file_pattern 'empty-ds/*'", 2, "no records"),
    row("task", "task --save_dir out --file_pattern 'junk-ds/*'", 2, "junk-ds", "tf.train.Example"),
    row("task", "task --save_dir out --file_pattern 'gs://Bad_Bucket/x*'", 2, "not a valid bucket name"),
    row("task", f"task --save_dir out {T_OK} --learning_rate nan", 2, "--learning_rate", "nan"),
    row("task", f"task --save_dir out {T_OK} --learning_rate inf", 2, "--learning_rate", "inf"),
    row("task", f"task --save_dir out {T_OK} --learning_rate -1", 2, "--learning_rate"),
    row("task", f"task --save_dir out {T_OK} --learning_rate 0", 2, "--learning_rate"),
    row("task", f"task --save_dir out {T_OK} --learning_rate fast", 2, "--learning_rate"),
    row("task", f"task --save_dir out {T_OK} --batch_size 0", 2, "--batch_size"),
    row("task", f"task --save_dir out {T_OK} --batch_size 2.5", 2, "--batch_size"),
    row("task", f"task --save_dir out {T_OK} --num_steps -5", 2, "--num_steps"),
    row("task", f"task --save_dir out {T_OK} --steps_per_save 0", 2, "--steps_per_save"),
    row("task", f"task --save_dir out {T_OK} --early_stop_loss_value nan", 2, "--early_stop_loss_value"),
    row("task", f"task --save_dir out {T_OK} --early_stop_loss_value -1", 2, "--early_stop_loss_value"),
    row("task", f"task --save_dir out {T_OK} --early_stop_patience -1", 2, "--early_stop_patience"),
    row("task", f"task --save_dir out {T_OK} --early_stop_patience 3", 2, "--early_stop_patience needs a held-out eval split",
        "--eval-fraction 0.1"),
    row("task", f"task --save_dir out {T_OK} --hypertune --hypertune_metric EvalLoss", 2, "EvalLoss needs a held-out eval split"),
    row("task", f"task --save_dir out {T_OK} --eval_every 2.5", 2, "--eval_every"),
    row("task", f"task --save_dir out {T_OK} --gin_file nope.gin", 2, "nope.gin", "not found"),
    row("task", f"task --save_dir out {T_OK} --gin_file models/nope.gin", 2, "models/nope.gin", "not found"),
    row("task", f"task --save_dir out {T_OK} --gin_search_path notes.txt", 2, "--gin_search_path", "not a folder"),
    row("task", f"task --save_dir out {T_OK} --gin_param nonsense", 2, "--gin_param", "nonsense"),
    row("task", f"task --save_dir out {T_OK} --gin_param 'learning_rate = nan'", 2, "--gin_param"),
    row("task", f"task --save_dir out {T_OK} --gin_param 'Foo.bar = ]'", 2, "--gin_param"),
    row("task", f"task --save_dir out {T_OK} --hypertune maybe", 2, "--hypertune"),
    row("task", f"task --save_dir out {T_OK} --hypertune_metric ''", 2, "--hypertune_metric"),
    row("task", f"task --save_dir out {T_OK} --bogus_flag 1", 2, "--bogus_flag"),
    row("task", f"task --save_dir out {T_OK}", 2, "TF_CONFIG", env={"TF_CONFIG": "{not json"}),
    # ---- train (the launcher) ---------------------------------------------------------------
    row("train", "train --yes --no-tensorboard", 2, "missing", "--data"),
    row("train", f"{TRAIN} --data ds", 2, "missing", "--output"),
    row("train", f"{TRAIN} --data notes.txt --output out", 2, "notes.txt", "not a TFRecord"),
    row("train", f"{TRAIN} --data in.wav --output out", 2, "in.wav", "not a TFRecord"),
    row("train", f"{TRAIN} --data bad-ds --output out", 2, "not a TFRecord"),
    row("train", f"{TRAIN} --data nope --output out", 2, "nope"),
    row("train", f"{TRAIN} --data empty --output out", 2, "no TFRecords"),
    row("train", f"{TRAIN} --data REC --output out", 2, "--prepare-to"),
    row("train", f"{TRAIN} --data REC --output out --prepare-to REC", 2, "same place"),
    row("train", f"{TRAIN} --data REC --output out --prepare-to REC/dataset", 2, "inside"),
    row("train", f"{TRAIN} --data P/takes --output out --prepare-to P", 2, "contains"),
    row("train", f"{TRAIN} --data ds --output ds", 2, "same place"),
    row("train", f"{TRAIN} --data REC --output REC --prepare-to REC-ds", 2, "same place"),
    row("train", f"{TRAIN} --data ds --output notes.txt", 2, "notes.txt", "file"),
    row("train", f"{TRAIN} --data ds --output out --batch-size 0", 2, "batch-size"),
    row("train", f"{TRAIN} --data ds --output out --learning-rate nan", 2, "learning-rate"),
    row("train", f"{TRAIN} --data ds --output out --learning-rate 5", 2, "learning-rate"),
    row("train", f"{TRAIN} --data ds --output out --num-steps abc", 2, "num-steps"),
    row("train", f"{TRAIN} --data ds --output out --steps-per-save 0", 2, "steps-per-save"),
    row("train", "train --yes --target moon --data ds --output out", 2, "moon"),
    row("train", f"{TRAIN} --device tpu --data ds --output out", 2, "tpu"),
    row("train", f"{TRAIN} --device gpu --data ds --output out", 4, "NVIDIA", "--device cpu"),
    row("train", "train --yes --no-tensorboard --target docker --device gpu --data ds --output out", 4, "NVIDIA"),
    row("train", "train --yes --no-tensorboard --target auto --device gpu --data ds --output out", 4, "NVIDIA"),
    row("train", f"{TRAIN} --data ds --output out --save-config empty", 2, "empty", "folder"),
    row("train", f"{TRAIN} --data ds --output out --save-config /proc/run.yaml", 2, "/proc/run.yaml"),
    row("train", f"{TRAIN} --data ds --output out --save-config notes.txt/run.yaml", 2, "notes.txt"),
    row("train", f"{TRAIN} --data ds --output out --save-config run.yaml", 0, "saved", changes=("run.yaml",)),
    row("train", "train --config nope.yaml", 2, "nope.yaml"),
    row("train", "train --config cfg/broken.yaml", 2, "broken.yaml"),
    row("train", "train --config cfg/list.yaml", 2, "list.yaml"),
    row("train", "train --config empty", 2, "empty"),
    row("train", "train --config cfg/unknown-key.yaml", 2, "colour"),
    row("train", f"{TRAIN} --data ds --output out --gin-file nope.gin", 2, "nope.gin", stack=True),
    row("train", f"{TRAIN} --data ds --output out --gin-param nonsense", 2, "nonsense"),
    row("train", f"{TRAIN} --data ds --output out --image 'Bad Image'", 2, "image"),
    row("train", f"{TRAIN} --data ds --output out --dry-run", 0, "dry run"),
    row("train", f"train --yes --no-tensorboard --target vertex --data ds --output out --project {PROJECT} --image {IMAGE}", 2, "gs://"),
    row("train", f"train --yes --target vertex --region us --data {GS}/ds --output {GS}/out --project {PROJECT} --image {IMAGE}", 2,
        "multi-region", "us-central1"),
    row("train", f"train --yes --target vertex --accelerator NVIDIA_TESLA_Z:1 --data {GS}/ds --output {GS}/out --project {PROJECT} "
        f"--image {IMAGE}", 2, "NVIDIA_TESLA_Z"),
    row("train", f"train --yes --target vertex --data {GS}/ds --output {GS}/out --image {IMAGE}", 2, "project"),
    row("train", f"train --yes --target vertex --data gs://Bad_Bucket/ds --output {GS}/out --project {PROJECT} --image {IMAGE}", 2,
        "not a valid bucket name"),
    # ---- run (train on this machine) ------------------------------------------------------
    row("run", "run", 2, "DATA"),
    row("run", "run ds out --runtime moon", 2, "moon"),
    row("run", "run notes.txt out --runtime process", 2, "notes.txt", "not a TFRecord"),
    row("run", "run bad-ds out --runtime process", 2, "not a TFRecord"),
    row("run", "run nope out --runtime process", 2, "nope"),
    row("run", "run REC out --runtime process", 2, "holds audio", "--prepare-to"),
    row("run", "run ds notes.txt --runtime process", 2, "notes.txt", "file"),
    row("run", "run ds out --gpu --runtime process", 4, "NVIDIA", "--cpu"),
    row("run", "run ds out --gpu --runtime docker", 4, "NVIDIA"),
    row("run", "run ds out --gpu", 4, "NVIDIA"),
    row("run", "run ds out --batch-size 0 --runtime process", 2, "batch-size"),
    row("run", "run ds out --learning-rate 2 --runtime process", 2, "learning-rate"),
    row("run", "run ds out --image 'UPPER/Case' --runtime process", 2, "image"),
    row("run", "run ds out --ca-bundle notes.txt --runtime process", 2, "PEM"),
    row("run", "run ds out --ca-bundle nope.pem --runtime process", 2, "nope.pem"),
    row("run", "run gs://Bad_Bucket/ds out --runtime process", 2, "not a valid bucket name"),
    row("run", "run ds gs://Bad_Bucket/out --runtime process", 2, "not a valid bucket name"),
    row("run", "run ds out --runtime process --dry-run", 0, "ddsp_launch.trainer.task"),
    row("run", "run ds out --runtime process --dry-run -- --log_every 0", 2, "--log_every"),
    row("run", "run ds out --runtime vertex", 2, "this machine", "submit"),
    row("run", "run ds out --runtime process --config cfg/single-gpu.yaml", 2, "--job-config"),
    row("run", "run ds out --runtime process --num-steps 1 -- --bogus_flag", 2, "--bogus_flag", stack=True),
    # ---- transfer -------------------------------------------------------------------------
    row("transfer", "transfer", 2, "model"),
    row("transfer", "transfer model in.wav", 2, "--output"),
    row("transfer", "transfer model in.wav -o in.wav", 2, "same place"),
    row("transfer", "transfer model in.wav -o ./sub/../in.wav", 2, "same place"),
    row("transfer", "transfer model REC/a.wav -o REC/a.wav --stems", 2, "same place"),
    row("transfer", "transfer model in.wav -o REC", 2, "folder"),
    row("transfer", "transfer model in.wav -o model/ckpt-10.index", 2, "inside"),
    row("transfer", "transfer model in.wav -o notes.txt", 2, "notes.txt", "not written by ddsp-launch"),
    row("transfer", "transfer model in.wav -o model", 2, "model"),
    row("transfer", f"transfer {MODEL_OUT} --plot in.wav", 2, "same place"),
    row("transfer", f"transfer {MODEL_OUT} --octave-shift 9", 2, "--octave-shift", "-4"),
    row("transfer", f"transfer {MODEL_OUT} --octave-shift -12", 2, "--octave-shift", "-4"),
    row("transfer", f"transfer {MODEL_OUT} --octave-shift 1.5", 2, "--octave-shift"),
    row("transfer", f"transfer {MODEL_OUT} --octave-shift up", 2, "--octave-shift"),
    row("transfer", f"transfer {MODEL_OUT} --quiet-db abc", 2, "--quiet-db"),
    row("transfer", f"transfer {MODEL_OUT} --runtime moon", 2, "moon"),
    row("transfer", "transfer nope in.wav -o out.wav", 2, "nope", "does not exist"),
    row("transfer", "transfer empty in.wav -o out.wav", 2, "no complete checkpoint"),
    row("transfer", "transfer model nope.wav -o out.wav", 2, "nope.wav"),
    row("transfer", "transfer model notes.txt -o out.wav", 2, "notes.txt"),
    row("transfer", "transfer model silent.wav -o out.wav", 2, "silent.wav"),
    row("transfer", f"transfer {MODEL_OUT} --statistics notes.txt", 2, "notes.txt", "statistics"),
    row("transfer", f"transfer {MODEL_OUT} --statistics nope.json", 2, "nope.json"),
    row("transfer", "transfer model in.wav -o nodir/out.wav", 2, "nodir"),
    row("transfer", "transfer model in.wav -o /proc/out.wav", 2, "/proc"),
    row("transfer", "transfer bad-model in.wav -o out.wav", 2, "refused"),
    # ---- export ---------------------------------------------------------------------------
    row("install-plugin-model", "install-plugin-model nope.tflite --to plugin-models", 2, "nope.tflite", ".tflite"),
    row("install-plugin-model", "install-plugin-model notes.txt --to plugin-models", 2, "notes.txt", "*.tflite"),
    row("export", "export", 2, "model"),
    row("export", "export nope", 2, "nope"),
    row("export", "export model -o model", 2, "same place"),
    row("export", "export model -o notes.txt", 2, "notes.txt", "already exists"),
    row("export", "export model -o notes.txt --force", 2, "notes.txt", "file"),
    row("export", "export model -o P --force", 2, "not a model export made by ddsp-launch"),
    row("export", "export model -o ds --force", 2, "ds"),
    row("export", "export model -o REC", 2, "already exists"),
    row("export", "export empty", 2, "no complete checkpoint"),
    row("export", "export model --statistics notes.txt", 2, "notes.txt"),
    row("export", "export model --runtime moon", 2, "moon"),
    # ---- download -------------------------------------------------------------------------
    row("download", "download", 2, "SRC"),
    row("download", "download gs://Bad_Bucket/x dl", 2, "not a valid bucket name"),
    row("download", "download gs:// dl", 2, "bucket"),
    row("download", "download gs://no-such-bucket/runs dl", 3, "does not exist"),
    row("download", f"download {GS}/none dl", 2, "nothing under"),
    row("download", f"download {RUN_ID} dl", 2, "on this machine"),
    row("download", "download no-such-run dl", 2, "no run record"),
    row("download", "download ../etc dl", 2, "not a run id"),
    row("download", f"download {GS}/model notes.txt", 2, "notes.txt"),
    row("download", "download 123 dl", 2, "project"),
    row("download", f"download {GS}/model dl --statistics gs://Bad_Bucket/x", 2, "not a valid bucket name"),
    row("download", f"download {GS}/model dl", 4, "credentials", env=NO_CREDS),
    row("download", f"download {GS}/model dl", 0, "downloaded", changes=("dl",)),
    # ---- upload ---------------------------------------------------------------------------
    row("upload", "upload", 2, "SRC"),
    row("upload", f"upload nope {GS}/x", 2, "nope"),
    row("upload", f"upload empty {GS}/x", 2, "holds no files"),
    row("upload", "upload ds notgs", 2, "gs://"),
    row("upload", "upload ds gs://Bad_Bucket/x", 2, "not a valid bucket name"),
    row("upload", "upload ds gs://no-such-bucket/x", 3, "does not exist"),
    row("upload", f"upload ds {GS}/x --region moon", 2, "moon"),
    row("upload", f"upload ds {GS}/x --region us", 2, "multi-region"),
    row("upload", f"upload ds {GS}/x", 4, "credentials", env=NO_CREDS),
    # ---- submit ---------------------------------------------------------------------------
    row("submit", "submit", 2, "DATA"),
    row("submit", f"submit {VERTEX} --region us --dry-run", 2, "multi-region", "us-central1"),
    row("submit", f"submit {VERTEX} --region eu --dry-run", 2, "multi-region", "europe-west4"),
    row("submit", f"submit {VERTEX} --region asia --dry-run", 2, "multi-region", "asia-east1"),
    row("submit", f"submit {VERTEX} --region us-central --dry-run", 2, "us-central1"),
    row("submit", f"submit {VERTEX} --region US --dry-run", 2, "us-central1"),
    row("submit", f"submit {VERTEX} --region moon-base1 --dry-run", 2, "moon-base1"),
    row("submit", f"submit --project {PROJECT} --image {IMAGE} ds {GS}/out --dry-run", 0, "would upload", f"{GS}/out/dataset"),
    row("submit", f"submit --project {PROJECT} --image {IMAGE} notes.txt {GS}/out --dry-run", 2, "a cloud run uploads a dataset folder"),
    row("submit", f"submit --project {PROJECT} --image {IMAGE} REC {GS}/out --dry-run", 2, "--prepare-to"),
    row("submit", f"submit --project {PROJECT} --image {IMAGE} {GS}/ds out --dry-run", 2, "gs://"),
    row("submit", f"submit --project {PROJECT} --image {IMAGE} gs://Bad_Bucket/ds {GS}/out --dry-run", 2, "not a valid bucket name"),
    row("submit", f"submit {VERTEX} --accelerator NVIDIA_TESLA_Q:1 --dry-run", 2, "NVIDIA_TESLA_Q"),
    row("submit", f"submit {VERTEX} --accelerator NVIDIA_TESLA_T4:3 --dry-run", 2, "NVIDIA_TESLA_T4"),
    row("submit", f"submit {VERTEX} --machine-type a2-highgpu-1g --accelerator NVIDIA_TESLA_T4:1 --dry-run", 2, "a2-highgpu-1g"),
    row("submit", f"submit {VERTEX} --config nope.yaml --dry-run", 2, "nope.yaml"),
    row("submit", f"submit {VERTEX} --config cfg/broken.yaml --dry-run", 2, "broken.yaml"),
    row("submit", f"submit {VERTEX} --tune cfg/single-gpu.yaml --dry-run", 2, "studySpec"),
    row("submit", f"submit {VERTEX} --label novalue --dry-run", 2, "KEY=VALUE"),
    row("submit", f"submit {VERTEX} --timeout-hours 0 --dry-run", 2, "timeout-hours"),
    row("submit", f"submit {VERTEX} --workers -1 --dry-run", 2, "workers"),
    row("submit", f"submit {VERTEX} --batch-size 0 --dry-run", 2, "batch-size"),
    row("submit", f"submit {VERTEX} --learning-rate inf --dry-run", 2, "learning-rate"),
    row("submit", f"submit --image {IMAGE} {GS}/ds {GS}/out --dry-run", 2, "project"),
    row("submit", f"submit --project {PROJECT} {GS}/ds {GS}/out --dry-run", 2, "image"),
    row("submit", f"submit {VERTEX} --dry-run", 0, "gcloud ai custom-jobs create"),
    # ---- jobs -----------------------------------------------------------------------------
    row("jobs", "jobs list", 2, "project"),
    row("jobs", f"jobs list --project {PROJECT} --region us", 2, "multi-region"),
    row("jobs", f"jobs list --project {PROJECT} --region moon", 2, "moon"),
    row("jobs", f"jobs list --project {PROJECT} --limit 0", 2, "limit"),
    row("jobs", f"jobs list --project {PROJECT}", 0, "no jobs"),
    row("jobs", f"jobs status 999 --project {PROJECT}", 6, "999"),
    row("jobs", f"jobs status 'abc/../x' --project {PROJECT}", 2, "abc/../x"),
    row("jobs", f"jobs logs '' --project {PROJECT}", 2, "job"),
    row("jobs", f"jobs cancel 1 2 --project {PROJECT}", 2, "unexpected extra argument"),
    row("jobs", "jobs bogus", 2, "bogus"),
    # ---- tune -----------------------------------------------------------------------------
    row("tune", "tune ds out --config cfg/hypertune.yaml", 2, "--local"),
    row("tune", "tune ds out --local --study cfg/single-gpu.yaml", 2, "studySpec"),
    row("tune", "tune ds out --local --config cfg/single-gpu.yaml", 2, "--job-config", "--study"),
    row("tune", "tune ds out --local", 2, "--study"),
    row("tune", f"tune ds ds {HYPER}", 2, "same place"),
    row("tune", f"tune ds ds/trials {HYPER}", 2, "inside"),
    row("tune", f"tune notes.txt out {HYPER}", 2, "notes.txt", "not a TFRecord"),
    row("tune", f"tune nope out {HYPER}", 2, "nope"),
    row("tune", f"tune ds out {HYPER} --algorithm magic", 2, "magic"),
    row("tune", "tune ds out --local --study nope.yaml", 2, "nope.yaml"),
    row("tune", f"tune ds out {HYPER} --trials 0", 2, "trials"),
    row("tune", f"tune ds out {HYPER} --learning-rate nan", 2, "learning-rate"),
    row("tune", f"tune ds out {HYPER} --parallel 0", 2, "parallel"),
    # ---- runs, rerun ------------------------------------------------------------------------
    row("runs", "runs", 0, RUN_ID),
    row("runs", "runs show", 2, "RUN_ID"),
    row("runs", "runs show ''", 2, "not a run id"),
    row("runs", "runs show '*'", 2, "not a run id"),
    row("runs", "runs show ../../etc/passwd", 2, "not a run id"),
    row("runs", "runs show nope", 2, "no run record"),
    row("runs", "runs show 2026", 2, "no run record"),
    row("runs", "runs show broken", 2, "broken"),
    row("runs", f"runs show {RUN_ID}", 0, RUN_ID),
    row("runs", "runs bogus", 2, "bogus"),
    row("rerun", "rerun nope", 2, "no run record"),
    row("rerun", "rerun '*'", 2, "not a run id"),
    row("rerun", "rerun broken", 2, "broken"),
    row("rerun", f"rerun {RUN_ID} --dry-run", 0, "dry run"),
    # ---- tensorboard ----------------------------------------------------------------------
    row("tensorboard", "tensorboard notes.txt", 2, "notes.txt", "file"),
    row("tensorboard", "tensorboard in.wav", 2, "in.wav", "file"),
    row("tensorboard", "tensorboard ''", 2, "run"),
    row("tensorboard", "tensorboard nope", 2, "no run record"),
    row("tensorboard", "tensorboard gs://Bad_Bucket/x", 2, "not a valid bucket name"),
    row("tensorboard", "tensorboard '*'", 2, "run id"),
    row("tensorboard", "tensorboard broken", 2, "broken"),
    # ---- doctor, build, web, the command itself -----------------------------------------------
    row("doctor", "doctor --gpu", 4, "NVIDIA"),
    row("doctor", "doctor --bucket notgs", 2, "gs://"),
    row("doctor", "doctor --bucket gs://Bad_Bucket", 2, "not a valid bucket name"),
    row("doctor", "doctor --region us --cloud", 2, "multi-region"),
    row("doctor", "doctor --bogus", 2, "--bogus"),
    row("build", "build --ca-bundle nope.pem --dry-run", 2, "nope.pem"),
    row("build", "build --ca-bundle notes.txt --dry-run", 2, "PEM"),
    row("build", "build --push gcr.io/p/x --dry-run", 2, "gcr.io"),
    row("build", "build --push 'Bad Repo' --dry-run", 2, "Bad Repo"),
    row("build", "build --cpu --dry-run", 0, "FROM"),
    row("web", "web --no-browser --port 70000", 2, "port", "65535"),
    row("web", "web --no-browser --port -1", 2, "port", "65535"),
    row("web", "web --no-browser --port 0 --max-upload-mb 0", 2, "max-upload-mb", "above 0"),
    row("web", "web --no-browser --port 0 --max-upload-mb -5", 2, "max-upload-mb", "above 0"),
    row("web", "web --no-browser --port 0 --max-upload-total-mb nan", 2, "max-upload-total-mb", "above 0"),
    row("web", "web --no-browser --port 0 --token short", 2, "token"),
    row("web", "web --no-browser --port 0 --config nope.yaml", 2, "nope.yaml"),
    row("cli", "bogus-command", 2, "bogus-command"),
    row("cli", "--bogus", 2, "--bogus"),
    row("cli", "version", 0, "ddsp-launch"),
    # ---- after TensorFlow: a model or a dataset whose bytes are wrong ---------------------
    row("slow", f"transfer {MODEL_OUT}", 2, "checkpoint", before_tf=False, slow=True),
    row("slow", "export model -o exp", 2, "checkpoint", before_tf=False, slow=True),
]


# ---- the fixture tree ------------------------------------------------------------------------
def _tone(path: Path, seconds: float, amplitude: float = 0.3) -> None:
    t = np.arange(int(seconds * 16000)) / 16000
    sf.write(path, (amplitude * np.sin(2 * np.pi * 330 * t * (1 + 0.1 * t))).astype(np.float32), 16000, subtype="PCM_16")


def _statistics() -> dict:
    return {"format": "ddsp-launch/dataset-statistics", "version": 1, "mean_pitch": 64.0, "mean_loudness": -40.0,
            "quantile_transform": {"output_distribution": "uniform", "references": [0.0, 0.5, 1.0],
                                   "quantiles": [[-80.0], [-40.0], [0.0]]}}


def _record(run_id: str, target: str, data: str, output: str) -> dict:
    settings = {"target": target, "device": "cpu", "data": data, "output": output, "num_steps": 10, "tensorboard": False}
    return {"id": run_id, "created": "2026-01-01T00:00:00+00:00", "state": "succeeded", "target": target,
            "settings": settings, "data": data, "output": output}


def build_tree(root: Path) -> Path:
    """What a user has lying around: recordings, a dataset, a model, configs, run records."""
    for folder in ("REC", "P/takes", "ds", "bad-ds", "empty-ds", "junk-ds", "empty", "model", "bad-model", "cfg",
                   "runs/old", "home/.local/share/ddsp-launch/runs"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    _tone(root / "REC" / "a.wav", 4.5)
    _tone(root / "REC" / "b.wav", 4.5)
    _tone(root / "P" / "takes" / "t1.wav", 4.5)
    (root / "P" / "notes.txt").write_text("my notes about the takes\n")
    _tone(root / "in.wav", 4.5)
    _tone(root / "silent.wav", 4.5, amplitude=0.0)
    _tone(root / "short.wav", 0.5)
    (root / "fake.wav").write_text("this is not audio\n")
    (root / "notes.txt").write_text("not audio, not a dataset\n")
    (root / "link-to-REC").symlink_to("REC")
    shard = "train.tfrecord-00000-of-00001"
    (root / "ds" / shard).write_bytes(tfrecord.frame(b"\x0a\x00") * 3)
    (root / "ds" / "manifest.json").write_text(json.dumps({"format": "ddsp-launch/dataset", "tool": "ddsp-launch 0",
                                                           "shards": {"train": [shard]}, "statistics": None}))
    (root / "bad-ds" / shard).write_text("not a record\n" * 10)
    (root / "empty-ds" / shard).write_bytes(b"")
    (root / "junk-ds" / shard).write_bytes(tfrecord.frame(b"these bytes are no tf.train.Example") * 2)
    operative = (ROOT / "tests" / "data" / "operative_config-ddsp-3.7.0.gin").read_text()  # what ddsp 3.7.0 writes
    for model, config in (("model", operative), ("bad-model", "import os\n")):
        (root / model / "ckpt-10.index").write_bytes(b"not a checkpoint index")
        (root / model / "ckpt-10.data-00000-of-00001").write_bytes(b"not checkpoint data")
        (root / model / "operative_config-10.gin").write_text(config)
        (root / model / "dataset_statistics.json").write_text(json.dumps(_statistics()))
    shutil.copy(ROOT / "configs" / "hypertune.yaml", root / "cfg" / "hypertune.yaml")
    shutil.copy(ROOT / "configs" / "single-gpu.yaml", root / "cfg" / "single-gpu.yaml")
    (root / "cfg" / "broken.yaml").write_text("batch_size: [1\n")
    (root / "cfg" / "list.yaml").write_text("- 1\n- 2\n")
    (root / "cfg" / "unknown-key.yaml").write_text("batch_size: 8\ncolour: blue\n")
    runs = root / "home" / ".local" / "share" / "ddsp-launch" / "runs"
    (runs / f"{RUN_ID}.json").write_text(json.dumps(_record(RUN_ID, "process", "ds", "runs/old"), indent=2))
    (runs / "broken.json").write_text("{not json")
    for folder in (runs, runs.parent):
        folder.chmod(0o700)
    return root


def fill_bucket(url: str) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="test", credentials=AnonymousCredentials())  # STORAGE_EMULATOR_HOST is ``url``
    bucket = client.create_bucket(BUCKET)
    for name, data in (("ds/train.tfrecord-00000-of-00001", tfrecord.frame(b"\x0a\x00")),
                       ("model/ckpt-10.index", b"index"), ("model/ckpt-10.data-00000-of-00001", b"data"),
                       ("model/operative_config-10.gin", b"import ddsp\n")):
        bucket.blob(name).upload_from_string(data)


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` (not following links) -> a digest of what it is."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "link:" + os.readlink(path)
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def changed(before: dict, after: dict, allowed: tuple[str, ...]) -> list[str]:
    def ok(rel: str) -> bool:
        return any(rel == a or rel.startswith(a.rstrip("/") + "/") for a in allowed)

    return sorted(rel for rel in set(before) | set(after) if before.get(rel) != after.get(rel) and not ok(rel))


# ---- running a row -------------------------------------------------------------------------
@dataclass
class Outcome:
    code: int | None
    output: str  # stdout + stderr, without the import trace
    seconds: float
    tensorflow: bool
    changed: list[str] = field(default_factory=list)


_IMPORT_LINE = re.compile(r"^import time:\s+(?:\d+|self \[us\])\s*\|\s*(?:\d+|cumulative)\s*\|\s*(\S.*)$")


def run_row(r: Row, template: Path, workdir: Path, services: dict) -> Outcome:
    shutil.copytree(template, workdir, symlinks=True)
    home = workdir / "home"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GOOGLE_", "CLOUDSDK_", "DDSP_LAUNCH_", "TF_CONFIG", "CLUSTER_SPEC", "AIP_"))}
    env.update(HOME=str(home), DDSP_LAUNCH_HOME=str(home / ".local" / "share" / "ddsp-launch"), CI="true",
               CLOUDSDK_CONFIG=str(home / ".config" / "gcloud"), NO_GCE_CHECK="True", PYTHONPROFILEIMPORTTIME="1",
               MPLCONFIGDIR=str(services["scratch"] / "mpl"), XDG_CACHE_HOME=str(services["scratch"] / "cache"),
               KERAS_HOME=str(services["scratch"] / "keras"),  # the libraries' own caches and settings: not the user's files
               STORAGE_EMULATOR_HOST=services["gcs"], DDSP_LAUNCH_VERTEX_ENDPOINT=services["vertex"],
               DDSP_LAUNCH_LOGGING_ENDPOINT=services["vertex"], COLUMNS="200", PYTHONWARNINGS="ignore")
    for key, value in r.env:
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    before = snapshot(workdir)
    start = time.monotonic()
    proc = subprocess.Popen([str(EXE), *r.argv], cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        code, err = None, err + f"\n(killed after {TIMEOUT:.0f} s)"
    seconds = time.monotonic() - start
    modules, lines = [], []
    for line in err.splitlines():
        m = _IMPORT_LINE.match(line)
        if m:
            modules.append(m.group(1).strip())
        else:
            lines.append(line)
    tf = any(m == "tensorflow" or m.startswith("tensorflow.") for m in modules)
    return Outcome(code, out + "\n".join(lines), seconds, tf, changed(before, snapshot(workdir), r.changes))


@pytest.fixture(scope="session")
def services(gcs_emulator, tmp_path_factory):
    from tests.cloud.fake_gcp import FakeGcp

    fill_bucket(gcs_emulator)
    with FakeGcp() as fake:
        yield {"gcs": gcs_emulator, "vertex": fake.url, "scratch": tmp_path_factory.mktemp("table-scratch")}


@pytest.fixture(scope="session")
def template(tmp_path_factory) -> Path:
    return build_tree(tmp_path_factory.mktemp("table") / "template")


@pytest.fixture(scope="session")
def rows_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rows")


@pytest.fixture(scope="session")
def fast_outcomes(request, template, rows_root, services) -> dict[str, Outcome]:
    """The outcomes of every selected fast row, run in parallel once."""
    wanted = {item.callspec.params["r"].id for item in request.session.items
              if hasattr(item, "callspec") and isinstance(item.callspec.params.get("r"), Row)}
    rows = [r for r in ROWS if not r.slow and r.id in wanted and not _skipped(r)]
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = {r.id: pool.submit(run_row, r, template, rows_root / f"fast-{i}", services) for i, r in enumerate(rows)}
        outcomes = {key: f.result() for key, f in futures.items()}
    report = os.environ.get("DDSP_LAUNCH_TABLE_REPORT")  # a JSON summary: how many rows pass, how long each took
    if report:
        Path(report).write_text(json.dumps({r.id: {"passed": _passes(r, outcomes[r.id]), "code": outcomes[r.id].code,
                                                   "seconds": round(outcomes[r.id].seconds, 2),
                                                   "tensorflow": outcomes[r.id].tensorflow} for r in rows}, indent=1))
    return outcomes


def check(r: Row, o: Outcome) -> None:
    shown = f"ddsp-launch {shlex.join(r.argv)} -> exit {o.code} in {o.seconds:.1f} s\n{o.output[-3000:]}"
    assert "Traceback (most recent call last)" not in o.output, shown
    assert o.code == r.code, shown
    text = o.output.lower()
    missing = [w for w in r.words if w.lower() not in text]
    assert not missing, f"missing {missing}\n{shown}"
    for listed in re.findall(r"choose one of: ([^\n]+)", o.output):
        items = [s.strip() for s in listed.split(",")]
        assert len(items) == len(set(items)), f"duplicates in the suggestions\n{shown}"
    assert not o.changed, f"files changed: {o.changed}\n{shown}"
    if r.before_tf:
        assert not o.tensorflow, f"TensorFlow was imported before the refusal\n{shown}"
        assert o.seconds < REFUSAL_SECONDS, shown


def _passes(r: Row, o: Outcome) -> bool:
    try:
        check(r, o)
    except AssertionError:
        return False
    return True


def _skipped(r: Row) -> bool:
    return HAS_GPU and "NVIDIA" in r.words


def _param(r: Row):
    marks = [pytest.mark.slow] if r.slow or r.needs_stack else []
    if _skipped(r):
        marks.append(pytest.mark.skip(reason="this machine has an NVIDIA GPU: nothing to refuse"))
    return pytest.param(r, id=r.id, marks=marks)


@pytest.mark.timeout(900)  # the first row of a run waits for all of them (fast_outcomes)
@pytest.mark.parametrize("r", [_param(r) for r in ROWS])
def test_row(r: Row, request, template, rows_root, services):
    if r.slow:
        outcome = run_row(r, template, rows_root / f"slow-{ROWS.index(r)}", services)
    else:
        outcome = request.getfixturevalue("fast_outcomes")[r.id]
    check(r, outcome)


def test_the_table_covers_every_command():
    from ddsp_launch.cli import app
    import typer.main

    commands = set(typer.main.get_command(app).commands)
    assert commands <= {r.argv[0] for r in ROWS}, commands - {r.argv[0] for r in ROWS}
    assert len(ROWS) >= 150 and len({r.id for r in ROWS}) == len(ROWS)
