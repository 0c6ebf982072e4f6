"""A training output folder as the tools (transfer, export) read it: its best checkpoint by
held-out loss when it has one, else its newest complete one (``--checkpoint`` to choose), the operative config beside it (checked: data, not code) and the dataset statistics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ddsp_launch.common import gin_rules, model_files
from ddsp_launch.common.errors import InputError
from ddsp_launch.common.model_files import STATISTICS


@dataclass
class ModelFolder:
    checkpoint: str  # the prefix, e.g. MODEL/ckpt-300
    operative_config: Path
    statistics: Path | None  # None only when not required and not found

    @classmethod
    def find(cls, folder: Path, statistics: Path | None = None, require_statistics: bool = True,
             which: str | int = model_files.DEFAULT) -> "ModelFolder":
        if not folder.is_dir():
            raise InputError(f"model folder {folder} does not exist", "give a training output folder, or `ddsp-launch download RUN` first")
        model = model_files.choose_in(folder, which)
        if model is None and which in (model_files.DEFAULT, model_files.NEWEST):
            raise InputError(f"{folder} holds no complete checkpoint (ckpt-N.index with its data files)",
                             "train first, or point at the folder the checkpoints were written to")
        if model is None:
            raise InputError(f"{folder} holds no complete {model_files.describe_choice(which)}",
                             "--checkpoint newest, or the step of a checkpoint in it (best needs a run with an eval split)")
        stats = statistics or folder / (model.statistics or STATISTICS)
        if not stats.is_file():
            if statistics is not None or require_statistics:
                raise InputError(f"no dataset statistics at {stats}",
                                 f"pass --statistics DATASET/{STATISTICS} (written by `ddsp-launch prepare`)")
            stats = None
        gin_rules.check_file(folder / model.operative_config, fix=gin_rules.FIX_MODEL)  # before anything runs: data, not code
        return cls(str(folder / model.checkpoint), folder / model.operative_config, stats)
