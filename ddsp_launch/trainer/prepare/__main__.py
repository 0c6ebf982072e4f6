"""python -m ddsp_launch.trainer.prepare INPUT OUTPUT_DIR [options]

Turn a folder (or glob, or gs:// prefix) of wav / flac / ogg / mp3 recordings into a ddsp
training dataset: 4-second 16 kHz mono examples with f0, f0 confidence and A-weighted
loudness at 250 frames/s (--model vst: 50 centred frames/s, the dataset of the DDSP-VST
plugin's model), in sharded TFRecords that ddsp's TFRecordProvider reads, plus
dataset_statistics.json (for timbre transfer and plugin exports) and manifest.json.

Examples:
  prepare data/examples/violin data/violin-dataset
  prepare data/examples/violin data/violin-vst --model vst
  prepare 'recordings/**/*.flac' out/cello --hop-secs 2 --eval-fraction 0.1
  prepare gs://my-bucket/violin out/violin --on-bad-file skip
"""

from __future__ import annotations

import argparse
import os
import sys

from ddsp_launch.common import presets
from ddsp_launch.trainer import tool_args
from ddsp_launch.trainer.prepare.check import add_analysis_arguments, new_parser, options_from

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    p = new_parser("ddsp-launch prepare", __doc__)
    p.add_argument("input", metavar="INPUT", help="folder, file, glob, or gs://BUCKET/PREFIX of audio files")
    p.add_argument("output", metavar="OUTPUT_DIR", help="new (or empty) local folder for the dataset")
    add_analysis_arguments(p)
    p.add_argument("--eval-fraction", type=float, default=0.0, help="fraction of chunks held out as eval.tfrecord* (default: 0)")
    p.add_argument("--num-shards", type=int, default=None, help="TFRecord shards per split (default: ~200 examples each)")
    p.add_argument("--on-bad-file", choices=("fail", "skip"), default="fail",
                   help="unreadable, silent or too-short files: stop before any work (fail) or leave them out (skip)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty OUTPUT_DIR once the new dataset is complete")
    p.add_argument("--no-statistics", action="store_true", help="skip dataset_statistics.json")
    return tool_args.where(p)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Heavy imports only after the arguments parsed, so --help works anywhere.
    from ddsp_launch.common.errors import LaunchError  # noqa: PLC0415

    try:
        from ddsp_launch.trainer.prepare import pipeline  # noqa: PLC0415
        from ddsp_launch.trainer.prepare.progress import RichReporter  # noqa: PLC0415

        try:
            options = options_from(args, eval_fraction=args.eval_fraction, num_shards=args.num_shards,
                                   on_bad_file=args.on_bad_file, overwrite=args.overwrite,
                                   statistics=not args.no_statistics)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        reporter = pipeline.Reporter() if args.quiet else RichReporter()
        manifest = pipeline.prepare(args.input, args.output, options, reporter)
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: no dataset was written; rerun the same command to start again", file=sys.stderr)
        return 130
    counts = manifest["counts"]
    output = tool_args.shown(manifest["output"])  # the user's path, also when this ran in the image
    print(
        f"dataset ready: {output}\n"
        f"  {counts['train_examples']} train / {counts['eval_examples']} eval examples from "
        f"{counts['sources_used']} files ({manifest['seconds']['input_audio']:.1f} s of audio; "
        f"{counts['sources_skipped']} skipped), f0 by {manifest['parameters']['f0_estimator']}\n"
        f"  train with: --file_pattern '{os.path.join(output, 'train.tfrecord*')}'"
        + ("" if args.model == presets.DEFAULT else f" --model {args.model}")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
