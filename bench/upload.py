#!/usr/bin/env python3
"""`ddsp-launch upload` against a local gcp-storage-emulator: first upload, then a rerun.

A rerun after an interruption should cost checksums, not bytes: the second pass compares
each file's CRC32C with the object's and sends nothing. Baseline, in the same session: the
plain google-cloud-storage loop (upload every file, every time).

    python bench/upload.py [--files 200] [--kib 512]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import with_emulator  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--kib", type=int, default=512)
    with_emulator(run, parser.parse_args())


def run(args) -> None:
    from ddsp_launch.adapters import storage
    from ddsp_launch.common import gcs

    client = gcs.make_client()
    client.create_bucket("bench")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp)
        for i in range(args.files):
            (src / f"train.tfrecord-{i:05d}").write_bytes(os.urandom(args.kib * 1024))
        mib = args.files * args.kib / 1024

        t = time.perf_counter()
        for path in sorted(src.iterdir()):
            client.bucket("bench").blob(f"plain/{path.name}").upload_from_filename(str(path))
        plain = time.perf_counter() - t

        dest = gcs.GcsUri("bench", "ours")
        t = time.perf_counter()
        first = storage.upload(src, dest, client)
        ours_first = time.perf_counter() - t
        t = time.perf_counter()
        second = storage.upload(src, dest, client)
        ours_second = time.perf_counter() - t
    assert len(first.sent) == args.files and not second.sent
    print(f"{args.files} files, {mib:.0f} MiB to the emulator")
    print(f"plain google-cloud-storage loop:   {plain:6.2f} s  ({mib / plain:5.1f} MiB/s)")
    print(f"ddsp-launch upload, first pass:    {ours_first:6.2f} s  ({mib / ours_first:5.1f} MiB/s, {ours_first / plain:.2f}x the plain loop: CRC32C per file)")
    print(f"ddsp-launch upload, rerun:         {ours_second:6.2f} s  (all {len(second.skipped)} skipped; {plain / ours_second:.1f}x faster than re-sending)")


if __name__ == "__main__":
    main()
