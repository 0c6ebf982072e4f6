"""What one training run is told: the trainer's settings and their defaults, stated once.

`task.py` parses its flags into a `TaskConfig` (its argparse defaults are these), `loop.py`
trains from one, and the host side takes its hyperparameter defaults from here too
(`spec.TrainingParams`). Plain Python: importing this starts no TensorFlow.
"""

from __future__ import annotations

import dataclasses

from ddsp_launch.common import presets

DEFAULT_GIN_FILES = presets.SOLO.gin_files  # ("models/solo_instrument.gin", "datasets/tfrecord.gin")
EVAL_METRIC = "EvalLoss"  # --hypertune_metric that reports the held-out spectral loss at each evaluation


@dataclasses.dataclass(frozen=True)
class TaskConfig:
    save_dir: str | None
    restore_dir: str | None
    file_pattern: str
    batch_size: int = 32
    learning_rate: float = 3e-4
    num_steps: int = 30000
    steps_per_summary: int = 300
    steps_per_save: int = 300
    checkpoints_to_keep: int = 5
    early_stop_loss_value: float = 0.0
    early_stop_window: int = 100
    eval_every: int = 0  # held-out evaluation every N steps (0: at each checkpoint); needs the dataset's eval split
    eval_examples: int = 8  # held-out examples per evaluation (evenly spaced over the eval split, always the same)
    early_stop_patience: int = 0  # stop after N evaluations without a better held-out loss (0: never)
    hypertune: bool = False
    hypertune_metric: str = "Loss"
    gin_file: tuple[str, ...] = DEFAULT_GIN_FILES
    gin_param: tuple[str, ...] = ()
    gin_search_path: tuple[str, ...] = ()
    log_every: int = 10
    audio_summaries: bool = True
    model: str = presets.DEFAULT  # the model preset (common/presets.py): its gin files and dataset
    seed: int = 0  # the random seed (initial weights, the examples' order): the same seed, data and settings train alike


def default(name: str):
    """The default of one setting (for the trainer's flags and the host's parameters)."""
    return next(f.default for f in dataclasses.fields(TaskConfig) if f.name == name)
