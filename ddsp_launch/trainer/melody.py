"""The melody a transfer plays: where its notes are, and the octave shift toward the model's range
(the timbre-transfer colab's adjustments, shared by both engines of `transfer`)."""

from __future__ import annotations

import numpy as np

from ddsp_launch.common.errors import InputError


def notes_found(mask_on: np.ndarray) -> str:
    if not mask_on.any():
        raise InputError("no notes found in the input (too quiet, or no clear pitch)",
                         "give a monophonic melody recording, or lower --note-threshold")
    return f"{int(mask_on.sum())} of {len(mask_on)} frames hold notes"


def shift_octaves(f0: np.ndarray, mask_on: np.ndarray, octave_shift: str, target_midi: float, ddsp) -> tuple[np.ndarray, str]:
    """--octave-shift: a fixed number of octaves, or (auto) the whole octaves that bring the mean
    pitch of the notes (``mask_on``) nearest ``target_midi``. Returns the f0 and what was done."""
    if octave_shift == "auto":
        midi = ddsp.core.hz_to_midi(f0[mask_on]).numpy()
        octaves = int(round((target_midi - float(np.mean(midi))) / 12.0))
    else:
        octaves = int(octave_shift)
    if octaves:
        f0 = np.clip(ddsp.core.midi_to_hz(ddsp.core.hz_to_midi(f0).numpy() + 12 * octaves).numpy(), 0, 8000).astype(np.float32)
    return f0, f"octave shift {octaves:+d}"
