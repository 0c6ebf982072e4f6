#!/usr/bin/env python3
"""Image build times: cold (no layer cache) vs a code-only change vs no-op, and the
image's size: its largest layers (docker history) and the largest installed packages (du of
site-packages inside the image), so the next size regression is visible. All three builds use
the same project copy in one session, through the same code path as `ddsp-launch build`
(docker SDK, generated context, content tag).

Needs a Docker engine and a base image (scripts/docker_up.sh makes local/debian:bookworm).

    python bench/build.py [--base-image local/debian:bookworm] [--variant cpu]
    python bench/build.py --report IMAGE      # the size report of an existing image, no build
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ddsp_launch.adapters import docker_engine  # noqa: E402
from ddsp_launch.image import build as image_build  # noqa: E402
from ddsp_launch.image import context, dockerfile  # noqa: E402


def timed_build(engine, spec, root: Path, no_cache: bool = False) -> tuple[float, image_build.BuildResult, int]:
    ctx = context.collect(spec.variant, spec.base_image, root=root)
    plan = image_build.BuildPlan(spec, ctx, ctx.tag())
    cached = []
    t0 = time.perf_counter()
    result = image_build.build(plan, engine, lambda line: cached.append("Using cache" in line), warn=print,
                               no_cache=no_cache)
    return time.perf_counter() - t0, result, sum(cached)


SITE_PACKAGES = dockerfile.SITE_PACKAGES
LARGEST = 10


def size_report(engine, image: str, layers: int = LARGEST, packages: int = LARGEST) -> str:
    """Size, largest layers and largest site-packages entries of ``image``, as text."""
    size = engine.api.inspect_image(image)["Size"]
    lines = [f"image {image}: {size / 1e9:.2f} GB ({size / 2**30:.2f} GiB)", f"largest layers (of {image}):"]
    history = sorted(engine.api.history(image), key=lambda h: h["Size"], reverse=True)
    for h in history[:layers]:
        if h["Size"]:
            step = " ".join(h["CreatedBy"].replace("/bin/sh -c #(nop) ", "").split()) or "(base image)"
            lines.append(f"  {h['Size'] / 1e6:8.1f} MB  {step[:100]}")
    out = engine.client.containers.run(
        image, ["sh", "-c", f"du -sk /opt/venv && du -sk {SITE_PACKAGES}/* | sort -rn"], entrypoint=[], remove=True,
    ).decode()
    rows = [line.split("\t", 1) for line in out.splitlines() if line.strip()]
    total = int(rows[0][0])  # /opt/venv as a whole (du counts each file once per call)
    lines.append(f"largest installed packages (du of {SITE_PACKAGES}/*; /opt/venv {total * 1024 / 1e6:.0f} MB):")
    for kb, path in rows[1 : packages + 1]:
        lines.append(f"  {int(kb) * 1024 / 1e6:8.1f} MB  {path.rsplit('/', 1)[1]}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-image", default="local/debian:bookworm")
    parser.add_argument("--variant", default="cpu", choices=sorted(dockerfile.VARIANTS))
    parser.add_argument("--keep", action="store_true", help="keep the images built here")
    parser.add_argument("--report", metavar="IMAGE", help="print IMAGE's size report and build nothing")
    args = parser.parse_args()
    engine = docker_engine.connect(timeout=1800)
    if args.report:
        print(size_report(engine, args.report))
        return
    spec = image_build.BuildSpec(args.variant, args.base_image, ca_bundle=image_build.ca_bundle_from_env())
    tmp = Path(tempfile.mkdtemp(prefix="bench-build-"))
    root = context.copy_sources(tmp / "proj")
    marker = root / "ddsp_launch" / "trainer" / "task.py"
    marker.write_text(marker.read_text() + f"\n# bench {time.time()}\n")  # a tag no earlier run made
    built = []
    try:
        cold, r, _ = timed_build(engine, spec, root, no_cache=True)
        built.append(r.image)
        size = engine.api.inspect_image(r.image)["Size"]
        print(f"cold build        {cold:7.1f} s   (no layer cache; pip downloads the locked stack)")
        print(size_report(engine, r.image))
        marker.write_text(marker.read_text() + "# a code-only change\n")
        code, r, hits = timed_build(engine, spec, root)
        built.append(r.image)
        print(f"code-only rebuild {code:7.1f} s   ({hits} steps from cache)")
        noop, r, _ = timed_build(engine, spec, root)
        assert not r.built
        print(f"no-op             {noop:7.2f} s   (tag exists: nothing built)")
        print(f"{args.variant} image size    {size / 1e9:7.2f} GB")
        print(f"ratios: cold / code-only {cold / code:.1f}x, cold / no-op {cold / noop:.0f}x")
    finally:
        if not args.keep:
            for image in built:
                engine.api.remove_image(image, force=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
