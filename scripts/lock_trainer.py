#!/usr/bin/env python3
"""Regenerate requirements/trainer-py311.lock from requirements/trainer.in.

Resolves everything but ddsp in a throw-away Python 3.11 virtualenv, adds ddsp with
--no-deps (its own pins cannot be satisfied), and writes the exact set, including
setuptools. Review the diff, then run the full test suite.

    python3.11 scripts/lock_trainer.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IN, LOCK = ROOT / "requirements" / "trainer.in", ROOT / "requirements" / "trainer-py311.lock"
HEADER = """# Pinned training environment for Python 3.11 (linux x86_64 / aarch64).
# Generated from requirements/trainer.in by scripts/lock_trainer.py; do not edit by hand.
# Install exactly this set, nothing resolved:  pip install --no-deps -r requirements/trainer-py311.lock
"""


def main() -> None:
    if sys.version_info[:2] != (3, 11):
        sys.exit("run this with Python 3.11: the lock is for 3.11")
    reqs = [line.strip() for line in IN.read_text().splitlines() if line.strip() and not line.startswith("#")]
    ddsp = [r for r in reqs if r.startswith("ddsp==")]
    rest = [r for r in reqs if not r.startswith("ddsp==")]
    with tempfile.TemporaryDirectory() as tmp:
        venv.create(tmp, with_pip=True)
        pip = [f"{tmp}/bin/python", "-m", "pip"]
        subprocess.run([*pip, "install", "-q", *rest], check=True)
        subprocess.run([*pip, "install", "-q", "--no-deps", *ddsp], check=True)
        frozen = subprocess.run([*pip, "freeze", "--all"], check=True, capture_output=True, text=True).stdout
    lines = sorted((l for l in frozen.splitlines() if l and not l.startswith(("pip==", "ddsp=="))), key=str.lower)
    LOCK.write_text(HEADER + "\n".join(lines + ddsp) + "\n")
    print(f"wrote {LOCK} ({len(lines) + len(ddsp)} packages)")


if __name__ == "__main__":
    main()
