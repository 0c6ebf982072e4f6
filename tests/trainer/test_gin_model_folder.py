"""A model folder is data, not code: an operative config with gin code in it is refused by
transfer, export and a resumed training run (exit 2, the refused lines named) before gin reads
it. The module it imports would leave a marker file behind if anything imported it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ddsp_launch

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

OPERATIVE = Path(__file__).parents[1] / "data" / "operative_config-ddsp-3.7.0.gin"
IMPORT = "import ddsp_launch_marker\n"
DYNAMIC = "from __gin__ import dynamic_registration\nimport ddsp_launch_marker\nget_model.model = @ddsp_launch_marker.touch()\n"
CALL = "Autoencoder.decoder = @os.system()\n"


@pytest.fixture(scope="module")
def dataset(example_audio, tmp_path_factory) -> Path:
    """A prepared dataset with its statistics (a resumed run needs records; transfer, statistics)."""
    out = tmp_path_factory.mktemp("gin-door") / "ds"
    subprocess.run([sys.executable, "-m", "ddsp_launch.trainer.prepare", "--quiet", str(example_audio / "scales.wav"), str(out)],
                   check=True, capture_output=True)
    return out


@pytest.fixture
def planted(tmp_path) -> tuple[dict, Path]:
    """An importable module that writes a marker file when imported, on the tools' PYTHONPATH."""
    mods, marker = tmp_path / "mods", tmp_path / "code-ran"
    mods.mkdir()
    (mods / "ddsp_launch_marker.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\ndef touch():\n    return None\n")
    path = os.pathsep.join(p for p in (str(mods), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path}, marker


def model_folder(tmp_path: Path, gin: str, checkpoint: bool = True) -> Path:
    """A model folder as shared: a checkpoint's files and an operative config that starts with ``gin``."""
    folder = tmp_path / "model"
    folder.mkdir()
    if checkpoint:
        (folder / "ckpt-3.index").write_bytes(b"")
        (folder / "ckpt-3.data-00000-of-00001").write_bytes(b"")
    (folder / "operative_config-3.gin").write_text(gin + OPERATIVE.read_text())
    return folder


def refused(proc: subprocess.CompletedProcess, folder: Path, first_line: str) -> None:
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert f"{folder}/operative_config-3.gin: gin refused:" in proc.stderr
    assert f"line 1: {first_line}  (" in proc.stderr and "nothing was run" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("gin", [IMPORT, DYNAMIC, CALL], ids=["import", "dynamic-registration", "call"])
def test_transfer_refuses_a_model_folder_with_gin_code(dataset, planted, tmp_path, gin):
    import soundfile as sf

    env, marker = planted
    folder = model_folder(tmp_path, gin)
    melody = tmp_path / "in.wav"
    sf.write(str(melody), 0.3 * np.sin(2 * np.pi * 440 * np.arange(32000) / 16000).astype(np.float32), 16000)
    out = tmp_path / "out.wav"
    stats = next(p for p in dataset.iterdir() if p.name.startswith("dataset_statistics"))
    proc = ddsp_launch("transfer", str(folder), str(melody), "-o", str(out), "--statistics", str(stats), env=env, timeout=600)
    refused(proc, folder, gin.splitlines()[0])
    assert not marker.exists() and not out.exists() and not list(tmp_path.glob("out*.part"))


def test_export_refuses_a_model_folder_with_gin_code(planted, tmp_path):
    env, marker = planted
    folder = model_folder(tmp_path, DYNAMIC)
    out = tmp_path / "export"
    proc = ddsp_launch("export", str(folder), "-o", str(out), env=env, timeout=600)
    refused(proc, folder, DYNAMIC.splitlines()[0])
    assert "line 2: import ddsp_launch_marker  (imports run code" in proc.stderr
    assert not marker.exists() and not out.exists() and not (tmp_path / "export.part").exists()


def test_a_resumed_run_refuses_an_operative_config_with_gin_code(dataset, planted, tmp_path):
    env, marker = planted
    folder = model_folder(tmp_path, IMPORT, checkpoint=False)
    proc = subprocess.run([sys.executable, "-m", "ddsp_launch.trainer.task", "--save_dir", str(folder), "--file_pattern",
                           str(dataset / "train.tfrecord*"), "--batch_size", "2", "--num_steps", "1", "--audio_summaries=false"],
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=600)
    refused(proc, folder, IMPORT.strip())
    assert not marker.exists() and not list(folder.glob("ckpt-*"))


CHECK_REGISTRY = """
from ddsp_launch.trainer.ddsp_compat import import_ddsp
import_ddsp()
import gin
from pathlib import Path
from ddsp_launch.common import gin_rules
from ddsp_launch.common.errors import InputError
outside = [s for s, _ in gin.config._REGISTRY.items() if not s.startswith('gin.') and not gin_rules.ddsp_path(s)]
print('outside:', outside)
gin_rules.check_file(Path(%r), registry=True)
try:
    gin_rules.check_text('Autoencoder.decoder = @NoSuchDecoder()', 'x', registry=True)
except InputError as exc:
    print(exc.message)
"""


def test_the_rule_knows_what_ddsp_registers():
    """Every configurable ddsp registers has a path the host-side rule admits (DDSP_PATH_PARTS is
    complete), the real operative config's references all resolve in gin's registry, and one that
    does not resolve is refused where ddsp is imported."""
    proc = subprocess.run([sys.executable, "-c", CHECK_REGISTRY % str(OPERATIVE)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "outside: []" in proc.stdout
    assert "@NoSuchDecoder is not a configurable ddsp registers" in proc.stdout
