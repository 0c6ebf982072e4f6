"""The host side as an installable package (issue 23): a wheel built from this checkout holds
the package's code, the image's Dockerfile template and the lock files, so `ddsp-launch build`
works from a pip/pipx install; its build context is the checkout's, byte for byte (same tag)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ddsp_launch.image import context, dockerfile

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_holds_the_code_the_templates_and_the_lock_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = set(subprocess.run(["git", "ls-files", "ddsp_launch"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split())
    assert tracked and tracked <= names  # every file of the package, Python or not (web pages, Dockerfile.in)
    for lock in dockerfile.CONTEXT_ALLOW[1:]:
        packed = f"ddsp_launch/image/requirements/{Path(lock).name}"
        assert zipfile.ZipFile(wheel).read(packed) == (ROOT / lock).read_bytes()
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "ddsp-launch = ddsp_launch.cli:main" in entry_points
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    requires = [l for l in metadata.splitlines() if l.startswith("Requires-Dist:") and "extra ==" not in l]
    assert requires and not any("tensorflow" in l for l in requires)  # the host side only


def test_an_installed_package_builds_the_checkouts_image(wheel, tmp_path):
    """Unpacked as pip installs it, away from any checkout: the context comes from the package's
    data, and it is the same context (tag) as this checkout's, for both variants."""
    site = tmp_path / "site-packages"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("from ddsp_launch.image import context; assert context.source_root() is None, context.source_root(); "
            "print(context.collect('cpu').tag(), context.collect('gpu', 'local/debian:bookworm').tag())")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [context.collect("cpu").tag(), context.collect("gpu", "local/debian:bookworm").tag()]
    (site / "ddsp_launch" / "image" / "requirements" / Path(dockerfile.CPU_LOCK).name).unlink()
    broken = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=120)
    assert broken.returncode != 0 and "lacks its lock files" in broken.stderr and "pip wheel" in broken.stderr
