#!/usr/bin/env python3
"""Render the example melodies (examples/midi/*.mid) to real-instrument solo audio, offline.

Uses FluidSynth with the FluidR3 mono General MIDI soundfont, whose violin, flute and
trumpet are recorded samples, then sox for mono and normalisation. Output is cached: a
file is re-rendered only when its MIDI, the instrument or these settings change.

    python scripts/render_examples.py                       # -> data/examples/violin/*.wav
    python scripts/render_examples.py --instrument flute --out /tmp/flute

Needs: apt-get install -y --no-install-recommends fluidsynth fluidr3mono-gm-soundfont sox
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import mido

ROOT = Path(__file__).resolve().parent.parent
SOUNDFONT = Path("/usr/share/sounds/sf3/FluidR3Mono_GM.sf3")
PROGRAMS = {"violin": 40, "cello": 42, "trumpet": 56, "flute": 73}
RENDER_VERSION = "1"  # bump when the rendering recipe below changes


def _need(tool: str) -> str:
    found = shutil.which(tool)
    if not found:
        sys.exit(
            f"error: `{tool}` is not installed.\n  Fix: apt-get install -y --no-install-recommends "
            "fluidsynth fluidr3mono-gm-soundfont sox"
        )
    return found


def _with_program(midi_path: Path, program: int, out: Path) -> None:
    midi = mido.MidiFile(midi_path)
    for track in midi.tracks:
        track.insert(0, mido.Message("program_change", program=program, channel=0, time=0))
    midi.save(out)


def render_one(midi_path: Path, wav_path: Path, program: int, sample_rate: int) -> None:
    fluidsynth, sox = _need("fluidsynth"), _need("sox")
    if not SOUNDFONT.exists():
        sys.exit(f"error: soundfont {SOUNDFONT} is missing.\n  Fix: apt-get install -y fluidr3mono-gm-soundfont")
    with tempfile.TemporaryDirectory() as tmp:
        mid, raw = Path(tmp) / "tune.mid", Path(tmp) / "raw.wav"
        _with_program(midi_path, program, mid)
        subprocess.run(
            [fluidsynth, "-ni", "-q", "-g", "0.6", "-r", str(sample_rate),
             "-o", "synth.reverb.active=0", "-o", "synth.chorus.active=0",
             "-F", str(raw), "-T", "wav", "-O", "s16", str(SOUNDFONT), str(mid)],
            check=True, stdin=subprocess.DEVNULL,
        )
        part = wav_path.with_name(wav_path.name + ".part.wav")
        subprocess.run([sox, str(raw), "-c", "1", str(part), "remix", "1,2", "norm", "-1"], check=True)
        os.replace(part, wav_path)


def render_key(midi_path: Path, program: int, sample_rate: int) -> str:
    h = hashlib.sha256(midi_path.read_bytes())
    h.update(f"{program}:{sample_rate}:{RENDER_VERSION}:{SOUNDFONT}".encode())
    return h.hexdigest()


def render_all(out: Path, instrument: str = "violin", sample_rate: int = 16000,
               midi_dir: Path = ROOT / "examples" / "midi") -> list[Path]:
    program = PROGRAMS[instrument]
    out.mkdir(parents=True, exist_ok=True)
    wavs = []
    for midi_path in sorted(midi_dir.glob("*.mid")):
        wav = out / f"{midi_path.stem}.wav"
        stamp = out / f".{midi_path.stem}.key"
        key = render_key(midi_path, program, sample_rate)
        if wav.exists() and stamp.exists() and stamp.read_text() == key:
            print(f"cached   {wav}")
        else:
            render_one(midi_path, wav, program, sample_rate)
            stamp.write_text(key)
            print(f"rendered {wav}")
        wavs.append(wav)
    return wavs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instrument", choices=sorted(PROGRAMS), default="violin")
    parser.add_argument("--out", type=Path, help="output folder (default: data/examples/INSTRUMENT)")
    parser.add_argument("--sample-rate", type=int, default=16000)
    args = parser.parse_args()
    render_all(args.out or ROOT / "data" / "examples" / args.instrument, args.instrument, args.sample_rate)



def expected_pitch(midi_path: Path, times, onset_guard: float = 0.06, release_guard: float = 0.03):
    """The MIDI pitch sounding at each time in ``times`` (seconds), NaN in rests and in
    short guards after onsets and before releases, where any pitch tracker is unsure."""
    import numpy as np  # noqa: PLC0415

    times = np.asarray(times, dtype=float)
    out = np.full(times.shape, np.nan)
    now, started = 0.0, {}
    for msg in mido.MidiFile(midi_path):
        now += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            started[msg.note] = now
        elif msg.type in ("note_on", "note_off") and msg.note in started:
            begin = started.pop(msg.note)
            out[(times >= begin + onset_guard) & (times < now - release_guard)] = msg.note
    return out


if __name__ == "__main__":
    main()
