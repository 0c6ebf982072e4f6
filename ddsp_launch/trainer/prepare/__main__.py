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

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=os.environ.get("DDSP_LAUNCH_PROG", "ddsp-launch prepare"),
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="INPUT", help="folder, file, glob, or gs://BUCKET/PREFIX of audio files")
    p.add_argument("output", metavar="OUTPUT_DIR", help="new (or empty) local folder for the dataset")
    p.add_argument("--model", choices=presets.NAMES, default=presets.DEFAULT,
                   help="the model the dataset is for: solo_instrument (250 frames/s) or vst (the DDSP-VST plugin's: "
                        f"50 centred frames/s) (default: {presets.DEFAULT})")
    p.add_argument("--example-secs", type=float, default=4.0, help="length of each example (default: 4)")
    p.add_argument("--hop-secs", type=float, default=1.0, help="step between examples; < example-secs overlaps (default: 1)")
    p.add_argument("--chunk-secs", type=float, default=20.0,
                   help="audio analysed at once; the eval split never shares a chunk with train (default: 20)")
    p.add_argument("--eval-fraction", type=float, default=0.0, help="fraction of chunks held out as eval.tfrecord* (default: 0)")
    p.add_argument("--f0", choices=("auto", "pyin", "crepe"), default="auto",
                   help="pitch tracker: auto = CREPE when installed, else pYIN (default: auto)")
    p.add_argument("--f0-min-hz", type=float, default=40.0, help="pYIN lowest pitch (default: 40)")
    p.add_argument("--f0-max-hz", type=float, default=2100.0, help="pYIN highest pitch (default: 2100)")
    p.add_argument("--num-shards", type=int, default=None, help="TFRecord shards per split (default: ~200 examples each)")
    p.add_argument("--workers", type=int, default=0, help="parallel processes (default: one per core)")
    p.add_argument("--on-bad-file", choices=("fail", "skip"), default="fail",
                   help="unreadable, silent or too-short files: stop before any work (fail) or leave them out (skip)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty OUTPUT_DIR once the new dataset is complete")
    p.add_argument("--no-statistics", action="store_true", help="skip dataset_statistics.json")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Heavy imports only after the arguments parsed, so --help works anywhere.
    from ddsp_launch.common.errors import LaunchError  # noqa: PLC0415

    try:
        from ddsp_launch.trainer.prepare import features, pipeline, windows  # noqa: PLC0415
        from ddsp_launch.trainer.prepare.progress import RichReporter  # noqa: PLC0415

        try:
            spec = windows.WindowSpec(args.example_secs, args.hop_secs, args.chunk_secs, presets.get(args.model))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if not 0 < args.f0_min_hz < args.f0_max_hz <= 8000:
            print("error: need 0 < --f0-min-hz < --f0-max-hz <= 8000", file=sys.stderr)
            return EXIT_USAGE
        options = pipeline.PrepareOptions(
            windows=spec,
            eval_fraction=args.eval_fraction,
            f0=args.f0,
            pyin=features.PyinSettings(fmin=args.f0_min_hz, fmax=args.f0_max_hz),
            num_shards=args.num_shards,
            workers=args.workers,
            on_bad_file=args.on_bad_file,
            overwrite=args.overwrite,
            statistics=not args.no_statistics,
        )
        reporter = pipeline.Reporter() if args.quiet else RichReporter()
        manifest = pipeline.prepare(args.input, args.output, options, reporter)
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: no dataset was written; rerun the same command to start again", file=sys.stderr)
        return 130
    counts = manifest["counts"]
    print(
        f"dataset ready: {manifest['output']}\n"
        f"  {counts['train_examples']} train / {counts['eval_examples']} eval examples from "
        f"{counts['sources_used']} files ({manifest['seconds']['input_audio']:.1f} s of audio; "
        f"{counts['sources_skipped']} skipped), f0 by {manifest['parameters']['f0_estimator']}\n"
        f"  train with: --file_pattern '{os.path.join(manifest['output'], 'train.tfrecord*')}'"
        + ("" if args.model == presets.DEFAULT else f" --model {args.model}")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
