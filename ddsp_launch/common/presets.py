"""Model presets: which ddsp model a run trains, and the dataset that model reads. Pure.

A preset ties together what must agree between `prepare` and the trainer: the model's gin
file, the feature frame rate and padding of the dataset (and so how many frames an example
holds), and the bindings that make ddsp's ``TFRecordProvider`` read such a dataset.

- ``solo_instrument`` (the default): ddsp's ``models/solo_instrument.gin``, 250 frames/s,
  'same' padding (ddsp's default preparation), A-weighted loudness in.
- ``vst``: ddsp's ``models/vst/vst.gin``, the model Magenta's DDSP-VST plugin plays: 50
  frames/s, centred frames (``ddsp_prepare_tfrecord --frame_rate=50 --center`` of the
  Train_VST colab), power computed from the audio on the fly, a GRU decoder whose state the
  plugin carries from one 20 ms hop to the next (common/vst.py holds the plugin's rules).

`prepare --model NAME` records the preset in the dataset's manifest.json; the trainer's
``--model NAME`` refuses a dataset prepared for another one (``check_dataset``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from ddsp_launch.common.errors import InputError

SAMPLE_RATE = 16000  # every preset's audio and features (CREPE's rate)
DATASET_GIN = "datasets/tfrecord.gin"
MANIFEST = "manifest.json"  # what `prepare` writes last into a dataset folder


@dataclasses.dataclass(frozen=True)
class ModelPreset:
    name: str
    label: str  # one line for prompts and pages
    model_gin: str
    frame_rate: int
    padding: str  # 'same' (frame k starts at k*hop) or 'center' (frame k centred on k*hop)
    power_frame_size: int  # the statistics' power frames (ddsp_export passes the model's %frame_size)

    @property
    def hop(self) -> int:
        return SAMPLE_RATE // self.frame_rate

    @property
    def frames_text(self) -> str:
        return f"{self.frame_rate}{' centred' if self.padding == 'center' else ''} frames/s"

    @property
    def gin_files(self) -> tuple[str, ...]:
        return (self.model_gin, DATASET_GIN)

    @property
    def provider_bindings(self) -> tuple[str, ...]:
        """What ddsp's TFRecordProvider needs to parse this preset's examples (none by default)."""
        if self.frame_rate == 250 and self.padding == "same":
            return ()
        return (f"TFRecordProvider.frame_rate = {self.frame_rate}",
                f"TFRecordProvider.centered = {self.padding == 'center'}")

    def n_frames(self, n_samples: int) -> int:
        """Feature frames over ``n_samples`` at 16 kHz, as ddsp's get_framed_lengths counts them."""
        if self.padding == "center":
            return n_samples // self.hop + 1
        return math.ceil(n_samples / self.hop)

    def example_frames(self, example_secs: float) -> int:
        return self.n_frames(round(example_secs * SAMPLE_RATE))


SOLO = ModelPreset("solo_instrument", "a timbre-transfer model (ddsp's solo_instrument)",
                   "models/solo_instrument.gin", frame_rate=250, padding="same", power_frame_size=256)
VST = ModelPreset("vst", "for the DDSP-VST plugin (ddsp's models/vst/vst.gin)",
                  "models/vst/vst.gin", frame_rate=50, padding="center", power_frame_size=1024)
PRESETS = {p.name: p for p in (SOLO, VST)}
DEFAULT = SOLO.name
NAMES = tuple(PRESETS)


def get(name: str, flag: str = "--model") -> ModelPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"{flag} {name!r} is not a model preset", f"choose one of: {', '.join(NAMES)}") from None


def of_manifest(manifest: dict) -> str:
    """The preset a dataset was prepared for (manifests written before presets existed: solo_instrument)."""
    return manifest.get("parameters", {}).get("preset", DEFAULT)


def check_dataset(model: str, dataset: str, where: str, fix: str | None = None) -> None:
    """The rule: a model trains (and exports) only from the dataset prepared for it."""
    if model == dataset:
        return
    fix = fix or (f"prepare the recordings again with `ddsp-launch prepare IN OUT --model {model}`"
                  + (f", or train with --model {dataset}" if dataset in PRESETS else ""))
    if dataset not in PRESETS:
        raise InputError(f"{where} was prepared for a model preset this version does not know ({dataset!r})", fix)
    raise InputError(f"{where} was prepared for --model {dataset} ({PRESETS[dataset].frames_text}), "
                     f"not for --model {model} ({PRESETS[model].frames_text})", fix)


def check_folder(model: str, folder: Path, where: str) -> None:
    """A dataset folder whose manifest names another preset is refused (no manifest, or one that
    cannot be read: nothing to go by here; the trainer reads the records themselves)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return
    if isinstance(manifest, dict):
        check_dataset(model, of_manifest(manifest), where)


def fitting(n_samples: int, n_frames: int) -> str | None:
    """The preset whose examples have ``n_frames`` feature frames over ``n_samples`` of audio
    (how a dataset without a manifest tells which model it was prepared for), else None."""
    return next((p.name for p in PRESETS.values() if p.n_frames(n_samples) == n_frames), None)
