#!/usr/bin/env python3
"""Write the small monophonic MIDI melodies in examples/midi/ (run once; the files are committed).

Public-domain tunes plus scale and arpeggio studies that cover a violin's range. Each file
is a single monophonic track (no chords), so every moment has at most one known pitch:
tests compare estimated f0 against it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import mido

# (midi pitch or None for a rest, length in beats)
ODE_TO_JOY = [
    (64, 1), (64, 1), (65, 1), (67, 1), (67, 1), (65, 1), (64, 1), (62, 1),
    (60, 1), (60, 1), (62, 1), (64, 1), (64, 1.5), (62, 0.5), (62, 2),
    (64, 1), (64, 1), (65, 1), (67, 1), (67, 1), (65, 1), (64, 1), (62, 1),
    (60, 1), (60, 1), (62, 1), (64, 1), (62, 1.5), (60, 0.5), (60, 2),
]
FRERE_JACQUES = [
    (67, 1), (69, 1), (71, 1), (67, 1), (67, 1), (69, 1), (71, 1), (67, 1),
    (71, 1), (72, 1), (74, 2), (71, 1), (72, 1), (74, 2),
    (74, 0.5), (76, 0.5), (74, 0.5), (72, 0.5), (71, 1), (67, 1),
    (74, 0.5), (76, 0.5), (74, 0.5), (72, 0.5), (71, 1), (67, 1),
    (67, 1), (62, 1), (67, 2), (67, 1), (62, 1), (67, 2),
]
GREENSLEEVES = [
    (69, 1), (72, 2), (74, 1), (76, 1.5), (77, 0.5), (76, 1), (74, 2), (71, 1),
    (67, 1.5), (69, 0.5), (71, 1), (72, 2), (69, 1), (69, 1.5), (68, 0.5), (69, 1),
    (71, 2), (68, 1), (64, 2), (None, 1), (69, 1), (72, 2), (74, 1), (76, 1.5),
    (77, 0.5), (76, 1), (74, 2), (71, 1), (67, 1.5), (69, 0.5), (71, 1), (72, 1.5),
    (71, 0.5), (69, 1), (68, 1.5), (66, 0.5), (68, 1), (69, 3),
]


def scale_study() -> list[tuple[int | None, float]]:
    """G major over two octaves up and down, then arpeggios: G3 to G5."""
    major = [0, 2, 4, 5, 7, 9, 11]
    up = [55 + 12 * o + s for o in range(2) for s in major] + [79]
    notes = [(p, 0.5) for p in up + up[-2::-1]]
    for root in (55, 60, 62, 67):
        arp = [root, root + 4, root + 7, root + 12, root + 7, root + 4]
        notes += [(p, 0.5) for p in arp] + [(root, 1.5), (None, 0.5)]
    return notes


TUNES = {
    "ode_to_joy": (ODE_TO_JOY, 96),
    "frere_jacques": (FRERE_JACQUES, 108),
    "greensleeves": (GREENSLEEVES, 84),
    "scales": (scale_study(), 100),
}


def write_tune(notes, bpm: int, repeats: int, path: Path, transpose: int = 0) -> None:
    ticks = 480
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    rest = 0
    for r in range(repeats):
        shift = transpose if r % 2 else 0  # second pass an octave up, for range
        for pitch, beats in notes:
            length = int(beats * ticks)
            if pitch is None:
                rest += length
                continue
            track.append(mido.Message("note_on", note=pitch + shift, velocity=88, time=rest))
            track.append(mido.Message("note_off", note=pitch + shift, velocity=0, time=length))
            rest = 0
        rest += ticks  # a beat's breath between repeats
    track.append(mido.MetaMessage("end_of_track", time=rest))
    midi = mido.MidiFile(ticks_per_beat=ticks)
    midi.tracks.append(track)
    midi.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "examples" / "midi")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (notes, bpm) in TUNES.items():
        transpose = 12 if name in ("ode_to_joy", "frere_jacques") else 0
        write_tune(notes, bpm, repeats=2, path=args.out / f"{name}.mid", transpose=transpose)
        print(args.out / f"{name}.mid")


if __name__ == "__main__":
    main()
