"""Which files of a training output make a usable model: the one rule for buckets (download),
local run folders (the web page's zip and step) and the container (transfer, export).

A checkpoint is ``ckpt-N.index`` with all its ``ckpt-N.data-XXXXX-of-YYYYY`` shards; it is
usable with the newest ``operative_config-N.gin`` beside it, and the dataset statistics when
present: ``dataset_statistics.json`` (numbers only), else ddsp's own ``dataset_statistics.pkl``
(older datasets and ddsp's colab; read only through a restricted unpickler). ``newest`` is
pure, over "/"-separated names (a bucket listing or a folder's);
``newest_in`` lists a local folder for it. No TensorFlow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ddsp_launch.common.errors import InputError

PREFIX = "ckpt"
STATISTICS = "dataset_statistics.json"  # what prepare writes and export carries
LEGACY_STATISTICS = "dataset_statistics.pkl"  # ddsp's pickle: still read, never written
STATISTICS_NAMES = (STATISTICS, LEGACY_STATISTICS)  # in order of preference
_INDEX = re.compile(rf"{PREFIX}-(\d+)\.index")
_SHARDS = re.compile(r"-of-(\d+)$")
_CONFIG = re.compile(r"operative_config-(\d+)\.gin")


def step_of(name: str) -> int | None:
    """The step of a checkpoint index file's base name (``ckpt-300.index`` -> 300), else None."""
    m = _INDEX.fullmatch(name)
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class ModelFiles:
    folder: str  # where the checkpoint is: ``base`` or ``base``checkpoints/
    step: int
    index: str
    shards: tuple[str, ...]
    operative_config: str
    statistics: str | None

    @property
    def checkpoint(self) -> str:
        """The checkpoint's prefix, as TensorFlow names it: FOLDER/ckpt-N."""
        return f"{self.folder}{PREFIX}-{self.step}"

    @property
    def names(self) -> list[str]:
        return [self.index, *self.shards, self.operative_config, *([self.statistics] if self.statistics else [])]


def newest(names, base: str = "", label: str | None = None) -> ModelFiles | None:
    """Of these file names (under ``base``, which is "" or ends in "/"), the newest *complete*
    checkpoint in ``base`` or ``base``checkpoints/ (where Vertex AI puts them), with the newest
    operative config beside it and the dataset statistics (beside it or in ``base``).

    None when there is no complete checkpoint; a checkpoint still being written or cut short
    is passed over for the one before. A complete checkpoint without an operative config
    is an error (the folder was copied in part), naming the folder as ``label``."""
    names = set(names)
    for folder in (base, base + "checkpoints/"):
        def numbered(rx: re.Pattern) -> list[tuple[int, str]]:
            return sorted(((int(m.group(1)), n) for n in names
                           if n.startswith(folder) and (m := rx.fullmatch(n[len(folder):]))), reverse=True)

        for step, index in numbered(_INDEX):
            shards = sorted(n for n in names if n.startswith(f"{folder}{PREFIX}-{step}.data-"))
            total = _SHARDS.search(shards[0]) if shards else None
            if not total or len(shards) != int(total.group(1)):
                continue
            configs = numbered(_CONFIG)
            if not configs:
                raise InputError(f"{label or folder or 'the folder'} holds no operative_config-*.gin beside checkpoint {PREFIX}-{step}",
                                 "the trainer writes it beside the checkpoints at the start of every run; copy it too")
            stats = next((f + n for n in STATISTICS_NAMES for f in (folder, base) if f + n in names), None)
            return ModelFiles(folder, step, index, tuple(shards), configs[0][1], stats)
    return None


def newest_in(folder: Path) -> ModelFiles | None:
    """``newest`` over a local folder (names relative to it). Only the folder and its
    checkpoints/ are listed, not summaries or transfers: the web pages ask every few seconds."""
    names = [p.relative_to(folder).as_posix() for where in (folder, folder / "checkpoints") if where.is_dir()
             for p in where.iterdir() if p.is_file()]
    return newest(names, label=str(folder))


def statistics_in(folder: Path) -> Path | None:
    """The dataset statistics file in a local folder (a dataset's or a model's), the safe format first."""
    return next((folder / n for n in STATISTICS_NAMES if (folder / n).is_file()), None)
