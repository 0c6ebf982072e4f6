"""The one thing pyproject.toml cannot say: a wheel carries the lock files the training image
is built from (requirements/*.lock, outside the package) as package data, so `ddsp-launch
build` works from a pip/pipx install, not only from a checkout (ddsp_launch/image/context.py
reads them from ddsp_launch/image/requirements/ there). Everything else is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
LOCKS = ("trainer-gpu-py311.lock", "trainer-cpu-py311.lock")  # image/dockerfile.py's GPU_LOCK, CPU_LOCK


class BuildWithLocks(build_py):
    def run(self):
        super().run()
        if self.editable_mode:  # an editable install reads them from the checkout
            return
        target = Path(self.build_lib) / "ddsp_launch" / "image" / "requirements"
        target.mkdir(parents=True, exist_ok=True)
        for name in LOCKS:
            shutil.copyfile(ROOT / "requirements" / name, target / name)


setup(cmdclass={"build_py": BuildWithLocks})
