"""What the benchmarks share: the example audio and a dataset prepared from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import render_examples  # noqa: E402

EXAMPLE_AUDIO = ROOT / "data" / "examples" / "violin"


def example_audio() -> Path:
    render_examples.render_all(EXAMPLE_AUDIO, "violin")
    return EXAMPLE_AUDIO


def example_dataset(out: Path, files: str = "") -> Path:
    """Prepare the example violin (or one of its files, e.g. 'scales.wav') into ``out``."""
    source = example_audio() / files if files else example_audio()
    subprocess.run([sys.executable, "-m", "ddsp_launch.trainer.prepare", "--quiet", "--no-statistics",
                    str(source), str(out)], check=True)
    return out
