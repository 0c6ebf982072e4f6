"""A run's held-out evaluations as the host reads them (``runs show``, the web run page): the
trainer's ``eval.jsonl`` (one JSON object per evaluation: step, spectral_loss, f0_cents,
loudness_db, train_loss, ...) and ``best.json`` beside the checkpoints. JSON only, no TensorFlow;
the trainer writes them (trainer/evaluation.py, trainer/checkpoints.Best)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ddsp_launch.common.model_files import BEST_MARK
from ddsp_launch.common.paths import EVAL_LOG, RUN_END


def entries(folder: Path) -> list[dict]:
    """eval.jsonl's entries in a local run folder (or its checkpoints/), in order; a line cut
    short by a crash is skipped."""
    for where in (folder, folder / "checkpoints"):
        path = where / EVAL_LOG
        if path.is_file():
            out = []
            for line in path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(entry, dict) and isinstance(entry.get("step"), int):
                    out.append(entry)
            return out
    return []


def best(folder: Path) -> dict | None:
    """best.json ({step, checkpoint, metrics}) of a local run folder, or None."""
    for where in (folder, folder / "checkpoints"):
        try:
            entry = json.loads((where / BEST_MARK).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(entry, dict) and isinstance(entry.get("step"), int):
            return entry
    return None


def run_end(folder: Path) -> dict | None:
    """run_end.json of a local run folder ({step, reason, exit_code, best_step}), or None."""
    try:
        entry = json.loads((folder / RUN_END).read_text())
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) else None


def _num(value, spec: str) -> str:
    if isinstance(value, (int, float)) and math.isfinite(value):
        return format(value, spec)
    width = spec.split(".")[0]
    return "–".rjust(int(width) if width.isdigit() else 0)


def table(folder: Path) -> list[str]:
    """The evaluations as lines of text (step, training loss, held-out losses and errors), the best marked."""
    rows = entries(folder)
    if not rows:
        return []
    mark = (best(folder) or {}).get("step")
    lines = [f"{'step':>8}  {'train loss':>10}  {'eval loss':>10}  {'f0 cents':>8}  {'loudness dB':>11}"]
    for e in rows:
        lines.append(f"{e['step']:>8}  {_num(e.get('train_loss'), '10.3f')}  {_num(e.get('spectral_loss'), '10.4f')}  "
                     f"{_num(e.get('f0_cents'), '8.1f')}  {_num(e.get('loudness_db'), '11.2f')}" + ("  <- best" if e["step"] == mark else ""))
    return lines
