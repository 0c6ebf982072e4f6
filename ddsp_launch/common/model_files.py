"""Which files of a training output make a usable model: the one rule for buckets (download),
local run folders (the web page's zip and step) and the container (transfer, export).

A checkpoint is ``ckpt-N.index`` with all its ``ckpt-N.data-XXXXX-of-YYYYY`` shards; it is
usable with the newest ``operative_config-N.gin`` beside it, and the dataset statistics when
present: ``dataset_statistics.json`` (numbers only; the trainer copies it beside the checkpoints),
else ddsp's own ``dataset_statistics.pkl`` (older datasets and ddsp's colab; read only through a
restricted unpickler). The trainer keeps the best checkpoint by held-out loss in ``best/`` (marked
by ``best.json``); ``choose`` takes it by default, else the newest. ``choose`` is pure, over
"/"-separated names (a bucket listing or a folder's); ``choose_in`` lists a local folder for it.
No TensorFlow.
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
BEST_DIR = "best"  # beside the checkpoints: the best checkpoint by held-out loss, kept through rotation
BEST_MARK = "best.json"  # beside the checkpoints: its step and held-out metrics
MODEL_INFO = "model.json"  # beside the checkpoints: the model preset and frame rate the run trained
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


NEWEST, BEST, DEFAULT = "newest", "best", "default"  # which checkpoint: default is the best when there is one


def parse_choice(text: str) -> str | int:
    """``--checkpoint``: newest, best or a step number."""
    value = str(text).strip().lower()
    if value in (NEWEST, BEST, DEFAULT):
        return value
    if value.isdigit():
        return int(value)
    raise InputError(f"--checkpoint {text!r} is not newest, best or a step number", "e.g. --checkpoint best, or --checkpoint 3000")


def newest(names, base: str = "", label: str | None = None) -> ModelFiles | None:
    """``choose`` the newest complete checkpoint."""
    return choose(names, base, label, NEWEST)


def choose(names, base: str = "", label: str | None = None, which: str | int = DEFAULT) -> ModelFiles | None:
    """Of these file names (under ``base``, which is "" or ends in "/"), a *complete* checkpoint
    in ``base`` or ``base``checkpoints/ (where Vertex AI puts them), with the newest operative
    config beside it and the dataset statistics (beside it or in ``base``).

    ``which``: NEWEST, the newest; BEST, the best by held-out loss (the trainer keeps it in
    ``best/`` beside the checkpoints, marked by ``best.json``, even once older ones rotate out);
    DEFAULT, the best when there is one, else the newest; a step number, that checkpoint.
    None when there is no such checkpoint; one still being written or cut short is passed
    over (for NEWEST: for the one before). A complete checkpoint without an operative config
    is an error (the folder was copied in part), naming the folder as ``label``."""
    names = set(names)
    if which == DEFAULT:
        return choose(names, base, label, BEST) or choose(names, base, label, NEWEST)
    for folder in (base, base + "checkpoints/"):
        def numbered(rx: re.Pattern, where: str) -> list[tuple[int, str]]:
            return sorted(((int(m.group(1)), n) for n in names
                           if n.startswith(where) and (m := rx.fullmatch(n[len(where):]))), reverse=True)

        places = {NEWEST: [folder], BEST: [folder + BEST_DIR + "/"]}.get(which, [folder, folder + BEST_DIR + "/"])
        for where in places:
            for step, index in numbered(_INDEX, where):
                if isinstance(which, int) and step != which:
                    continue
                shards = sorted(n for n in names if n.startswith(f"{where}{PREFIX}-{step}.data-"))
                total = _SHARDS.search(shards[0]) if shards else None
                if not total or len(shards) != int(total.group(1)):
                    continue
                configs = numbered(_CONFIG, folder)
                if not configs:
                    raise InputError(f"{label or folder or 'the folder'} holds no operative_config-*.gin beside checkpoint {PREFIX}-{step}",
                                     "the trainer writes it beside the checkpoints at the start of every run; copy it too")
                stats = next((f + n for n in STATISTICS_NAMES for f in (folder, base) if f + n in names), None)
                return ModelFiles(where, step, index, tuple(shards), configs[0][1], stats)
    return None


def describe_choice(which: str | int) -> str:
    return {NEWEST: "the newest checkpoint", BEST: "the best checkpoint (best/, by held-out loss)",
            DEFAULT: "a checkpoint"}.get(which, f"checkpoint {PREFIX}-{which}")


def newest_in(folder: Path) -> ModelFiles | None:
    """``newest`` over a local folder."""
    return choose_in(folder, NEWEST)


def choose_in(folder: Path, which: str | int = DEFAULT) -> ModelFiles | None:
    """``choose`` over a local folder (names relative to it). Only the folder, its checkpoints/
    and their best/ are listed, not summaries or transfers: the web pages ask every few seconds."""
    names = [p.relative_to(folder).as_posix()
             for where in (folder, folder / BEST_DIR, folder / "checkpoints", folder / "checkpoints" / BEST_DIR) if where.is_dir()
             for p in where.iterdir() if p.is_file()]
    return choose(names, label=str(folder), which=which)


def statistics_in(folder: Path) -> Path | None:
    """The dataset statistics file in a local folder (a dataset's or a model's), the safe format first."""
    return next((folder / n for n in STATISTICS_NAMES if (folder / n).is_file()), None)
