"""The two sides stay apart: the host never imports TensorFlow, the trainer never the host."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import ddsp_launch

PKG = Path(ddsp_launch.__file__).parent
TRAINER = PKG / "trainer"


def host_modules() -> list[str]:
    mods = []
    for path in PKG.rglob("*.py"):
        if TRAINER in path.parents:
            continue
        rel = path.relative_to(PKG.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        if not name.endswith("__main__"):
            mods.append(name)
    return sorted(mods)


def test_host_side_imports_no_tensorflow():
    mods = host_modules()
    assert "ddsp_launch.cli" in mods and "ddsp_launch.common.gcs" in mods
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'ddsp', 'tf_keras', 'librosa'))\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_cli_help_imports_no_tensorflow():
    code = "import sys\nfrom ddsp_launch.cli import app\ntry:\n    app(['--help'])\nexcept SystemExit:\n    pass\nprint('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")


def test_trainer_imports_only_itself_and_common():
    offenders = []
    for path in TRAINER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("ddsp_launch") and not name.startswith(("ddsp_launch.trainer", "ddsp_launch.common")) and name != "ddsp_launch":
                    offenders.append(f"{path.relative_to(PKG)}: {name}")
    assert offenders == []
