"""python -m ddsp_launch.trainer.prepare.check DATA [options]

Print the health report of a dataset or a folder of audio: usable minutes against the
10-20 minute recommendation, voiced, silence, clipping and polyphony fractions, the pitch
and loudness ranges, files too short for one example, duplicate files; each ok / warn /
bad with its fix. A dataset prepared by `ddsp-launch prepare` holds its report in
manifest.json (printed as it is, no analysis); audio (a folder, file, glob or
gs://BUCKET/PREFIX) is measured as prepare would, without writing anything.

Exit codes: 0 (a report was printed), 2 (bad input, or --strict and a warning).

Examples:
  check data/violin-dataset
  check data/examples/violin --strict
  check 'recordings/**/*.flac' --min-minutes 5 --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ddsp_launch.common import presets

EXIT_USAGE = 2


def add_analysis_arguments(p: argparse.ArgumentParser) -> None:
    """The options prepare and check share: how audio is cut and measured, and the health limits."""
    p.add_argument("--model", choices=presets.NAMES, default=presets.DEFAULT,
                   help="the model the dataset is for: solo_instrument (250 frames/s) or vst (the DDSP-VST plugin's: "
                        f"50 centred frames/s) (default: {presets.DEFAULT})")
    p.add_argument("--example-secs", type=float, default=4.0, help="length of each example (default: 4)")
    p.add_argument("--hop-secs", type=float, default=1.0, help="step between examples; < example-secs overlaps (default: 1)")
    p.add_argument("--chunk-secs", type=float, default=20.0,
                   help="audio analysed at once; the eval split never shares a chunk with train (default: 20)")
    p.add_argument("--f0", choices=("auto", "pyin", "crepe"), default="auto",
                   help="pitch tracker: auto = CREPE when installed, else pYIN (default: auto)")
    p.add_argument("--f0-min-hz", type=float, default=40.0, help="pYIN lowest pitch (default: 40)")
    p.add_argument("--f0-max-hz", type=float, default=2100.0, help="pYIN highest pitch (default: 2100)")
    p.add_argument("--workers", type=int, default=0, help="parallel processes (default: one per core)")
    p.add_argument("--min-minutes", type=float, default=10.0,
                   help="the health report's recommended minimum of usable audio (default: 10; DDSP trains well from 10-20)")
    p.add_argument("--strict", action="store_true",
                   help="a health warning is an error (exit 2, nothing written): for CI")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def options_from(args: argparse.Namespace, **more):
    """PrepareOptions from the shared arguments (``more``: prepare's own); ValueError on bad values."""
    from ddsp_launch.common import health  # noqa: PLC0415
    from ddsp_launch.trainer.prepare import features, pipeline, windows  # noqa: PLC0415

    spec = windows.WindowSpec(args.example_secs, args.hop_secs, args.chunk_secs, presets.get(args.model))
    if not 0 < args.f0_min_hz < args.f0_max_hz <= 8000:
        raise ValueError("need 0 < --f0-min-hz < --f0-max-hz <= 8000")
    if not args.min_minutes > 0:
        raise ValueError(f"--min-minutes must be > 0, got {args.min_minutes}")
    return pipeline.PrepareOptions(
        windows=spec, f0=args.f0, pyin=features.PyinSettings(fmin=args.f0_min_hz, fmax=args.f0_max_hz),
        workers=args.workers, limits=health.Limits(min_minutes=args.min_minutes), strict=args.strict, **more)


def new_parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """A parser named as the command that runs it (DDSP_LAUNCH_PROG), described by ``doc``'s body."""
    return argparse.ArgumentParser(prog=os.environ.get("DDSP_LAUNCH_PROG", prog), description=doc.split("\n\n", 1)[1],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    p = new_parser("ddsp-launch check", __doc__)
    p.add_argument("data", metavar="DATA", help="a prepared dataset folder, or a folder, file, glob or gs:// prefix of audio")
    add_analysis_arguments(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    from ddsp_launch.trainer import tool_args  # noqa: PLC0415 (argparse only; imports this module's parser lazily)

    return tool_args.where(p)


def stored_report(data: str) -> dict | None:
    """The report a prepared dataset's manifest holds; None when ``data`` is no dataset.
    A dataset without one (prepared before reports existed) is an InputError."""
    from ddsp_launch.common.errors import InputError  # noqa: PLC0415

    manifest = Path(data).expanduser() / presets.MANIFEST
    if not manifest.is_file():
        return None
    try:
        health = json.loads(manifest.read_text()).get("health")
    except (OSError, ValueError, AttributeError) as exc:
        raise InputError(f"{manifest} cannot be read ({exc})", "prepare the dataset again") from exc
    if not isinstance(health, dict) or "findings" not in health:
        raise InputError(f"{data} was prepared without a health report",
                         "check its audio instead (ddsp-launch check AUDIO_FOLDER), or prepare it again")
    return health


def _show(report: dict, args: argparse.Namespace) -> int:
    from ddsp_launch.common import health  # noqa: PLC0415

    print(json.dumps(report, indent=2) if args.json else "\n".join(health.lines(report)))
    if health.failed(report, args.strict):
        print(f"error: --strict: the dataset's health is {report['grade']}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ddsp_launch.common.errors import LaunchError  # noqa: PLC0415

    try:
        report = stored_report(args.data)
        if report is None:
            try:
                options = options_from(args)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return EXIT_USAGE
            from ddsp_launch.trainer.prepare import pipeline  # noqa: PLC0415
            from ddsp_launch.trainer.prepare.progress import RichReporter  # noqa: PLC0415

            report = pipeline.check(args.data, options, pipeline.Reporter() if args.quiet else RichReporter())
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return _show(report, args)


if __name__ == "__main__":
    sys.exit(main())
