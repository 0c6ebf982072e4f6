"""The pinned training environment: one lock, installed exactly, ddsp importable without crepe."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # the training stack itself
ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "trainer-py311.lock"


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"unpinned line in the lock: {line!r}"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_lock_pins_every_package_and_ddsp():
    pins = lock_pins()
    assert pins["ddsp"] == "3.7.0" and pins["tensorflow"] == "2.19.1" and pins["tf-keras"] == "2.19.0"
    assert len(pins) > 100


def _lock_trainer():
    spec = importlib.util.spec_from_file_location("lock_trainer", ROOT / "scripts" / "lock_trainer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cpu_lock_is_the_main_lock_with_tensorflow_cpu_less_what_the_image_never_imports():
    script = _lock_trainer()
    cpu_lock = ROOT / "requirements" / "trainer-cpu-py311.lock"
    assert cpu_lock.read_text() == script.cpu_lock(LOCK.read_text()), "run `python scripts/lock_trainer.py --images`"
    cpu = {re.sub(r"[-_.]+", "-", l.split("==")[0]).lower(): l.split("==")[1]
           for l in cpu_lock.read_text().splitlines() if l and not l.startswith("#")}
    main = lock_pins()
    assert "tensorflow" not in cpu and cpu["tensorflow-cpu"] == main["tensorflow"]
    left_out = {re.sub(r"[-_.]+", "-", n).lower() for n in script.IMAGE_LEAVES_OUT}
    assert set(main) - set(cpu) == left_out | {"tensorflow"}
    assert all(cpu[n] == v for n, v in main.items() if n in cpu)  # same versions, nothing re-resolved
    for core in ("ddsp", "tf-keras", "tensorflow-probability", "librosa", "numba", "note-seq", "soundfile"):
        assert core in cpu


def test_the_gpu_lock_is_the_main_lock_less_what_the_image_never_imports_plus_the_cuda_wheels():
    script = _lock_trainer()
    gpu_lock = ROOT / "requirements" / "trainer-gpu-py311.lock"
    cuda = script.cuda_pins_of(gpu_lock.read_text())
    assert gpu_lock.read_text() == script.gpu_lock(LOCK.read_text(), cuda), "run `python scripts/lock_trainer.py --images`"
    gpu = {re.sub(r"[-_.]+", "-", l.split("==")[0]).lower(): l.split("==")[1]
           for l in gpu_lock.read_text().splitlines() if l and not l.startswith("#")}
    main = lock_pins()
    left_out = {re.sub(r"[-_.]+", "-", n).lower() for n in script.IMAGE_LEAVES_OUT}
    assert set(main) - set(gpu) == left_out and set(gpu) - set(main) == {c.split("==")[0] for c in cuda}
    assert len(cuda) >= 10 and gpu["tensorflow"] == main["tensorflow"] and "tensorflow-cpu" not in gpu
    assert all(gpu[n] == v for n, v in main.items() if n in gpu)  # same versions, nothing re-resolved
    with pytest.raises(SystemExit, match="does not hold"):  # a stale leave-out list is refused, not ignored
        script.gpu_lock("tensorflow==2.19.1\n", cuda)


def test_trainer_extra_agrees_with_the_lock():
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["trainer"]
    pins = lock_pins()
    for req in extra:
        name, version = req.split("==")
        assert pins[re.sub(r"[-_.]+", "-", name).lower()] == version, req


def test_this_environment_is_the_lock():
    pins = lock_pins()
    wrong = {n: (v, md.version(n)) for n, v in pins.items() if md.version(n) != v}
    assert wrong == {}


def test_import_ddsp_without_crepe_and_a_clear_error_when_crepe_is_used():
    code = (
        "from ddsp_launch.trainer.ddsp_compat import import_ddsp, crepe_available\n"
        "assert not crepe_available()\n"
        "ddsp = import_ddsp()\n"
        "import ddsp.training, tensorflow as tf\n"
        "print('version', ddsp.__version__, tf.__version__, tf.keras.__name__)\n"
        "try:\n"
        "    ddsp.spectral_ops.compute_f0([0.0] * 16000, 250)\n"
        "except ImportError as e:\n"
        "    print('error', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "version 3.7.0 2.19.1 tf_keras" in out
    assert "error CREPE is not installed" in out and "--f0 pyin" in out


@pytest.mark.parametrize("dist", ["ddsp", "tensorflow-probability"])
def test_installed_packages_are_not_edited(dist):
    """Every installed file of these packages still matches the hash in its RECORD."""
    files = [f for f in md.distribution(dist).files if f.hash and f.suffix == ".py"]
    assert files
    for f in files:
        digest = base64.urlsafe_b64encode(hashlib.new(f.hash.mode, f.locate().read_bytes()).digest()).rstrip(b"=").decode()
        assert digest == f.hash.value, f"{f} was modified"
