"""Train a DDSP model: the container's entry point (also `ddsp-launch-task`).

Flags follow the original DDSP-Docker task.py. On Vertex AI, hyperparameters arrive as
--name=value, AIP_CHECKPOINT_DIR / AIP_TENSORBOARD_LOG_DIR / AIP_MODEL_DIR choose the
output locations, TF_CONFIG or CLUSTER_SPEC selects multi-worker training, and
CLOUD_ML_TRIAL_ID is recorded. Every flag is checked before TensorFlow starts.

Examples:
  python -m ddsp_launch.trainer.task --save_dir runs/violin \\
      --file_pattern 'data/violin-dataset/train.tfrecord*' --batch_size 4 --num_steps 100
  ... --save_dir gs://my-bucket/runs/violin --file_pattern 'gs://my-bucket/violin/train.tfrecord*'
  ... --gin_param 'RnnFcDecoder.rnn_channels = 256' --hypertune

Exit codes: 0 finished (or stopped early), 2 bad flags or inputs, 3 storage error,
130 stopped by SIGINT, 143 stopped by SIGTERM (a checkpoint was saved either way).
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import math
import os
import sys
from pathlib import Path

from ddsp_launch.common import gcs, gin_rules, presets, tfrecord, writable
from ddsp_launch.common.errors import LaunchError
from ddsp_launch.trainer.config import DEFAULT_GIN_FILES, EVAL_METRIC, TaskConfig, default

EXIT_BAD_INPUT = 2


def _seed(text: str) -> int:
    """A random seed: a whole number from 0 to 2**31 - 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value < 2 ** 31:
        raise argparse.ArgumentTypeError(f"must be 0 to {2 ** 31 - 1}, got {value}")
    return value


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "y", "on"):
        return True
    if value in ("0", "false", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _positive(kind):
    """A number > 0. Integers also accept '16.0': tuning services may pass discrete values as doubles."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            as_float = float(text)  # ValueError here reads "invalid _positive value"
            if kind is not int or not as_float.is_integer():
                raise
            value = int(as_float)
        if not value > 0 or not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be > 0{' and finite' if value > 0 else ''}, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _count(text: str) -> int:
    """A whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        try:
            as_float = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not as_float.is_integer():
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        value = int(as_float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=os.environ.get("DDSP_LAUNCH_PROG", "ddsp-launch-task"),
        description=__doc__.split("\n\n", 1)[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    p.add_argument("--save_dir", help="checkpoints, operative config and summaries (local or gs://)")
    p.add_argument("--restore_dir", help="resume from here instead of save_dir (default: save_dir)")
    p.add_argument("--file_pattern", required=True, help="training TFRecords, e.g. 'data/ds/train.tfrecord*' (local or gs://)")
    p.add_argument("--batch_size", type=_positive(int), default=default("batch_size"))
    p.add_argument("--learning_rate", type=_positive(float), default=default("learning_rate"))
    p.add_argument("--num_steps", type=_positive(int), default=default("num_steps"), help="train until this global step")
    p.add_argument("--steps_per_summary", type=_positive(int), default=default("steps_per_summary"))
    p.add_argument("--steps_per_save", type=_positive(int), default=default("steps_per_save"))
    p.add_argument("--checkpoints_to_keep", type=_positive(int), default=default("checkpoints_to_keep"))
    p.add_argument("--early_stop_loss_value", type=float, default=default("early_stop_loss_value"),
                   help="stop when the mean total loss over --early_stop_window steps falls to this (0: never)")
    p.add_argument("--early_stop_window", type=_positive(int), default=default("early_stop_window"))
    p.add_argument("--eval_every", type=_count, default=default("eval_every"),
                   help="evaluate on the dataset's eval split (eval.tfrecord* beside the training records, made by prepare "
                        "--eval-fraction) every N steps (default 0: at each checkpoint); writes eval.jsonl and eval/ summaries")
    p.add_argument("--eval_examples", type=_positive(int), default=default("eval_examples"),
                   help="held-out examples per evaluation, evenly spaced over the eval split (default %(default)s; pitch tracking of the resynthesis costs ~2 s each on a CPU)")
    p.add_argument("--early_stop_patience", type=_count, default=default("early_stop_patience"),
                   help="stop when the held-out spectral loss has not improved for N evaluations (0: never; needs an eval split)")
    p.add_argument("--hypertune", type=_bool, nargs="?", const=True, default=default("hypertune"),
                   help="report the windowed mean loss with cloudml-hypertune")
    p.add_argument("--hypertune_metric", default=default("hypertune_metric"), help="metric tag; must equal the study's metricId (default: Loss, the windowed training loss; "
                        f"{EVAL_METRIC}: the held-out spectral loss at each evaluation, which needs an eval split)")
    p.add_argument("--model", choices=presets.NAMES, default=default("model"),
                   help=f"the model preset: {presets.DEFAULT} (default) or vst (the DDSP-VST plugin's model, "
                        f"{' + '.join(presets.VST.gin_files)}); the data must be prepared for it (prepare --model)")
    p.add_argument("--gin_file", action="append", default=None,
                   help=f"gin config, repeatable (default: the --model's, {' + '.join(DEFAULT_GIN_FILES)} for {presets.DEFAULT})")
    p.add_argument("--gin_param", action="append", default=[], help="gin binding, repeatable, e.g. 'batch_size = 16'")
    p.add_argument("--gin_search_path", action="append", default=[], help="extra folder for gin files, repeatable")
    p.add_argument("--seed", type=_seed, default=default("seed"),
                   help="random seed for the initial weights and the order of the examples (default %(default)s): the same "
                        "seed, data and settings train the same model")
    p.add_argument("--log_every", type=_positive(int), default=default("log_every"), help="print progress every N steps")
    p.add_argument("--audio_summaries", type=_bool, nargs="?", const=True, default=default("audio_summaries"),
                   help="write original and reconstructed audio to TensorBoard at each summary")
    return p


class TaskError(Exception):
    def __init__(self, message: str, fix: str | None = None, exit_code: int = EXIT_BAD_INPUT):
        super().__init__(message if not fix else f"{message}\n  Fix: {fix}")
        self.exit_code = exit_code


def _check_folder(flag: str, value: str | None, must_exist: bool = False) -> None:
    """A folder flag: gs://BUCKET/PATH, or a local folder (existing, or one that can be made)."""
    if value is None:
        return
    if gcs.is_gcs(value):
        try:
            gcs.GcsUri.parse(value)
        except LaunchError as exc:
            raise TaskError(f"{flag}: {exc.message}", exc.fix) from None
        return
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise TaskError(f"{flag} {value} is a file, not a folder", "give a folder for checkpoints and summaries")
    if must_exist and not path.is_dir():
        raise TaskError(f"{flag} {value} does not exist", "give the folder of the run to resume from")
    why = None if must_exist else writable.problem(path)
    if why:
        raise TaskError(f"{flag} {value}: {why}", "choose a folder you can write to")


def _check_records(pattern: str) -> None:
    """--file_pattern: a gs:// pattern well formed; a local one matching TFRecord files."""
    fix = "prepare a dataset first (ddsp-launch prepare AUDIO DIR), then pass 'DIR/train.tfrecord*'"
    if gcs.is_gcs(pattern):
        _check_folder("--file_pattern", pattern)
        return
    matches = [Path(p) for p in sorted(glob.glob(os.path.expanduser(pattern)))] if pattern else []
    if not matches:
        raise TaskError(f"--file_pattern {pattern!r} matches no files", fix)
    folders = [p for p in matches if p.is_dir()]
    if folders:
        raise TaskError(f"--file_pattern {pattern!r} matches the folder {folders[0]}, not TFRecord files",
                        f"name the records in it: --file_pattern '{folders[0]}/train.tfrecord*'")
    try:
        tfrecord.check(matches, f"--file_pattern {pattern!r}", fix, examples=True)
    except LaunchError as exc:
        raise TaskError(exc.message, exc.fix) from None


def _check_preset(pattern: str, model: str) -> None:
    """A local dataset's manifest names the model preset it was prepared for: it must be --model's
    (datasets without one, and gs:// data, are checked by their first record once TensorFlow runs)."""
    if gcs.is_gcs(pattern):
        return
    for folder in sorted({Path(p).parent for p in glob.glob(os.path.expanduser(pattern))}):
        try:
            presets.check_folder(model, folder, f"the dataset {folder}")
        except LaunchError as exc:
            raise TaskError(exc.message, exc.fix) from None


def _check_eval_split(args) -> None:
    """--early_stop_patience and --hypertune_metric EvalLoss need held-out examples: a local
    dataset's eval split is looked for here (a gs:// one when the trainer stages the data)."""
    from ddsp_launch.trainer import evaluation  # noqa: PLC0415  (no TensorFlow at import)

    wants = [f for f, on in (("--early_stop_patience", args.early_stop_patience > 0),
                             (f"--hypertune_metric {EVAL_METRIC}", args.hypertune_metric == EVAL_METRIC)) if on]
    pattern = evaluation.eval_pattern(args.file_pattern)
    if wants and not gcs.is_gcs(pattern) and not evaluation.local_eval_files(pattern):
        raise TaskError(f"{' and '.join(wants)} need{'s' if len(wants) == 1 else ''} a held-out eval split, and there is none beside the training data ({pattern})",
                        "prepare the dataset with one: ddsp-launch prepare AUDIO DATASET --eval-fraction 0.1")


def check_gin(files, params, search_path=()) -> None:
    """The gin flags: each file found (as a path, in ddsp's gin folder or a --gin_search_path;
    ddsp's own names pass unchecked where ddsp is not installed, on a host without the training
    stack), each binding one that gin's parser reads. Also asked by the host before a local run."""
    search = [Path(p) for p in search_path]
    for path in search:
        if not path.is_dir():
            raise TaskError(f"--gin_search_path {path} is not a folder")
    base = gin_rules.ddsp_gin_dir()
    for name in files:
        if name.startswith("gs://") or (base is None and not Path(name).is_absolute() and not search):
            continue
        candidates = [Path(name)] + [d / name for d in ([base] if base else []) + search]
        if not any(c.is_file() for c in candidates):
            raise TaskError(f"--gin_file {name} not found (looked in ., {', '.join(str(d) for d in ([base] if base else []) + search)})",
                            "give a path to a .gin file, one of ddsp's (e.g. models/solo_instrument.gin), or add --gin_search_path")
    for binding in params:
        if "=" not in binding:
            raise TaskError(f"--gin_param {binding!r} is not a binding", "write it as 'Name.parameter = value'")
        try:  # gin's own parser, as gin reads it later (no rule: the command line is the user's own)
            gin_rules.parse_statements(binding, f"--gin_param {binding!r}", "write it as 'Name.parameter = value'")
        except LaunchError as exc:
            raise TaskError(exc.message, exc.fix) from None


def validate(args: argparse.Namespace) -> TaskConfig:
    """Everything that can be checked without TensorFlow."""
    _check_folder("--save_dir", args.save_dir)
    _check_folder("--restore_dir", args.restore_dir, must_exist=True)
    if not math.isfinite(args.early_stop_loss_value) or args.early_stop_loss_value < 0:
        raise TaskError(f"--early_stop_loss_value must be a number >= 0, got {args.early_stop_loss_value}",
                        "0 never stops early; a positive value stops when the windowed loss reaches it")
    gin_files = tuple(args.gin_file) if args.gin_file else presets.get(args.model).gin_files
    check_gin(gin_files, args.gin_param, args.gin_search_path)
    _check_records(args.file_pattern)
    _check_preset(args.file_pattern, args.model)
    if not args.hypertune_metric.strip():
        raise TaskError("--hypertune_metric must not be empty")
    _check_eval_split(args)
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TaskConfig)}  # flag names are field names
    values.update(gin_file=gin_files, gin_param=tuple(args.gin_param), gin_search_path=tuple(args.gin_search_path))
    return TaskConfig(**values)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ddsp_launch.trainer import cluster  # noqa: PLC0415

    try:
        config = validate(args)
        info = cluster.from_environment(os.environ)
        paths = cluster.output_paths(config.save_dir, config.restore_dir, os.environ)
    except (TaskError, cluster.ClusterConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", EXIT_BAD_INPUT)
    from ddsp_launch.trainer import loop  # noqa: PLC0415  (imports TensorFlow)

    return loop.run(config, info, paths, trial_id=os.environ.get("CLOUD_ML_TRIAL_ID"))


if __name__ == "__main__":
    sys.exit(main())
