"""Where things are: ddsp-launch's own folders on this machine, and the layout of a run's outputs.

Home: $DDSP_LAUNCH_HOME, else ~/.local/share/ddsp-launch (0700, see common/private): run
records (`runs/`), image build records (`images/`), TensorBoard notes and its cache of gs://
logs, the web server's workspace (`web/`), the interactive launcher's last answers. Cache:
$DDSP_LAUNCH_CACHE, else ~/.cache/ddsp-launch (the trainer's copies of gs:// datasets).

A run's output folder (local or gs://) holds checkpoints and operative configs at its top,
TensorBoard summaries in `summaries/train` (the trainer writes them there; TensorBoard is
pointed at `summaries`), and, for Vertex AI, the service's `logs/` and the uploaded
`dataset/`; `train_speed.json` beside the checkpoints says how fast the run trained, `eval.jsonl` holds
the held-out evaluations, `best.json` and `best/` the best checkpoint (common/model_files.py). Every place that needs one of these names takes it from here.
"""

from __future__ import annotations

import os
from pathlib import Path

from ddsp_launch.common import private

SUMMARIES = "summaries"  # TensorBoard's log folder below a run's output
TRAIN_SUMMARIES = ("summaries", "train")  # where the trainer writes them (ddsp's layout)
VERTEX_LOGS = "logs"  # what Vertex AI sets AIP_TENSORBOARD_LOG_DIR to, below baseOutputDirectory
UPLOADED_DATASET = "dataset"  # a Vertex AI run's dataset, uploaded from this machine
TRAIN_SPEED = "train_speed.json"  # beside the checkpoints: the steps/s the trainer measured (launch/probe.py reads it)
EVAL_LOG = "eval.jsonl"  # beside the checkpoints: one line per held-out evaluation (trainer/evaluation.py)
RUN_END = "run_end.json"  # beside the checkpoints: how the trainer's last session ended (step, reason, best step)


def join(base: str, *parts: str) -> str:
    """``base``/``parts`` for a local path or a gs:// URI alike."""
    return "/".join([str(base).rstrip("/"), *parts])


def home() -> Path:
    """ddsp-launch's own folder: $DDSP_LAUNCH_HOME, else ~/.local/share/ddsp-launch (0700)."""
    value = os.environ.get("DDSP_LAUNCH_HOME")
    return private.private_dir(Path(value) if value else Path.home() / ".local" / "share" / "ddsp-launch")


def runs_dir() -> Path:
    return home() / "runs"


def images_dir() -> Path:
    return home() / "images"


def boards_dir() -> Path:
    return home() / "tensorboard"


def boards_cache() -> Path:
    return home() / "tensorboard-cache"


def web_workspace() -> Path:
    return home() / "web"


def last_answers() -> Path:
    return home() / "last-answers.yaml"


def data_cache() -> Path:
    """Where gs:// training data is kept between runs (DDSP_LAUNCH_CACHE, else ~/.cache/ddsp-launch)."""
    root = os.environ.get("DDSP_LAUNCH_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "ddsp-launch")
    return Path(root).expanduser() / "data"
