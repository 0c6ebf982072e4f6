"""A dataset's health report: can this audio make a good DDSP model? Pure (no numpy).

DDSP learns one monophonic instrument from 10-20 minutes of solo playing. What most often
spoils a model is in the audio, not in the training: too little of it, chords, clipping,
long silences, files shorter than one example, the same take twice. The container side
measures each chunk (``trainer/prepare/health_stats.py``) into counts that add up; this
module adds them up per file and overall, grades each check ok / warn / bad with its fix,
and prints the report. ``prepare`` writes the report into the dataset's manifest.json
(``health``), and ``ddsp-launch check`` prints it again (from the manifest, without the
training stack) or measures a folder of audio without preparing it.
"""

from __future__ import annotations

import dataclasses
import math

VERSION = 1
SILENT_DB = -55.0  # A-weighted loudness (ddsp's, 0 dB = full scale) below which a frame is silence
VOICED_CONFIDENCE = 0.5  # f0 confidence from which a loud frame counts as pitched
POLY_RATIO = 0.6  # second pitch's salience / the first's from which a frame counts as polyphonic
CLIP_LEVEL = 0.999  # |sample| at or above this, in runs of two or more, is clipped
DUPLICATE_DB = 1.0  # mean loudness difference (dB, 10 Hz envelope) under which two files are the same audio
GRADES = ("ok", "warn", "bad")
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclasses.dataclass(frozen=True)
class Limits:
    """The thresholds, recorded in every report. ``min_minutes`` is the low end of the
    10-20 minute recommendation (a parameter, so tests and small experiments can lower it)."""

    min_minutes: float = 10.0
    voiced_warn: float = 0.7
    voiced_bad: float = 0.4
    silence_warn: float = 0.3
    silence_bad: float = 0.6
    clipping_warn: float = 0.0005
    clipping_bad: float = 0.005
    polyphony_warn: float = 0.15
    polyphony_bad: float = 0.4
    edge_warn: float = 0.02  # fraction of pitched frames within a semitone of the tracker's range
    loudness_span_warn: float = 6.0  # dB between the 5th and 95th percentile of loud frames


def note_name(midi: float) -> str:
    m = int(round(midi))
    return f"{NOTE_NAMES[m % 12]}{m // 12 - 1}"


def hz_to_midi(hz: float) -> float:
    return 12 * math.log2(hz / 440.0) + 69


def _add_hist(into: dict, hist: dict) -> None:
    for k, v in hist.items():
        into[int(k)] = into.get(int(k), 0) + int(v)


def _percentile(hist: dict, q: float) -> float | None:
    total = sum(hist.values())
    if not total:
        return None
    seen = 0
    for k in sorted(hist):
        seen += hist[k]
        if seen >= q * total:
            return float(k)
    return float(max(hist))


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


@dataclasses.dataclass
class FileStats:
    """One file's measurements: its chunks' counts added up, plus what reading it found."""

    origin: str
    sha256: str
    seconds: float
    samples: int = 0  # all channels, at the file's own rate
    clipped: int = 0
    frames: int = 0
    silent: int = 0
    voiced: int = 0
    poly_frames: int = 0
    poly: int = 0
    notes: dict = dataclasses.field(default_factory=dict)
    loudness: dict = dataclasses.field(default_factory=dict)
    fingerprint: list = dataclasses.field(default_factory=list)

    def add(self, chunk: dict) -> None:
        for key in ("frames", "silent", "voiced", "poly_frames", "poly"):
            setattr(self, key, getattr(self, key) + chunk[key])
        _add_hist(self.notes, chunk["notes"])
        _add_hist(self.loudness, chunk["loudness"])
        self.fingerprint += chunk["fingerprint"]

    def measures(self) -> dict:
        loud = self.frames - self.silent
        lo, hi = _percentile(self.notes, 0.05), _percentile(self.notes, 0.95)
        return {
            "origin": self.origin,
            "seconds": round(self.seconds, 2),
            "usable_seconds": round(self.seconds * _ratio(loud, self.frames), 2),
            "voiced": round(_ratio(self.voiced, loud), 3),
            "silence": round(_ratio(self.silent, self.frames), 3),
            "clipping": round(_ratio(self.clipped, self.samples), 5),
            "polyphony": round(_ratio(self.poly, self.poly_frames), 3),
            "pitch": [note_name(lo), note_name(hi)] if lo is not None else None,
            "loudness_db": [_percentile(self.loudness, 0.05), _percentile(self.loudness, 0.95)],
        }


def _same_audio(a: FileStats, b: FileStats) -> bool:
    if a.sha256 == b.sha256:
        return True
    fa, fb = a.fingerprint, b.fingerprint
    if abs(a.seconds - b.seconds) > 0.5 or not fa or abs(len(fa) - len(fb)) > 5:
        return False
    n = min(len(fa), len(fb))
    return sum(abs(x - y) for x, y in zip(fa[:n], fb[:n])) / n < DUPLICATE_DB


def _grade(value: float, warn: float, bad: float, higher_is_worse: bool = True) -> str:
    if higher_is_worse:
        return "bad" if value > bad else "warn" if value > warn else "ok"
    return "bad" if value < bad else "warn" if value < warn else "ok"


def _finding(check: str, grade: str, message: str, fix: str = "", files: list | None = None) -> dict:
    return {"check": check, "grade": grade, "message": message, "fix": fix if grade != "ok" else "", "files": files or []}


def _fraction_check(check, files, overall, key, warn, bad, higher_is_worse, text, fix) -> dict:
    grade = _grade(overall[key], warn, bad, higher_is_worse)
    worse = [f["origin"] for f in files if _grade(f[key], warn, bad, higher_is_worse) != "ok"]
    if grade == "ok" and worse:
        grade = "warn"
    return _finding(check, grade, text.format(overall[key] * 100, len(worse), len(files)), fix, worse)


_FRACTIONS = (  # check (its Limits are CHECK_warn and CHECK_bad), worse when higher, what was found, the fix
    ("voiced", False, "{:.0f}% of the non-silent audio has a clear pitch",
     "leave out noise, talking, percussion and room sound; the model learns from pitched frames"),
    ("silence", True, "{:.0f}% of the audio is silence",
     "trim long silences (e.g. sox in.wav out.wav silence 1 0.1 1% -1 0.5 1%); they make empty examples"),
    ("clipping", True, "{:.2f}% of the samples are clipped at full scale",
     "record or export again at a lower level; clipping adds harmonics the model will learn"),
    ("polyphony", True, "{:.0f}% of the loud frames hold a second pitch",
     "DDSP models one monophonic instrument: leave out chords, double stops, accompaniment and other instruments"),
)


def _checks(files: list[dict], overall: dict, limits: Limits) -> list[dict]:
    minutes = overall["usable_seconds"] / 60
    found = [_finding(
        "minutes", _grade(minutes, limits.min_minutes, limits.min_minutes / 2, higher_is_worse=False),
        f"{minutes:.1f} minutes of usable (non-silent) audio, against a minimum of {limits.min_minutes:g} "
        "(DDSP trains well from 10-20 minutes of solo playing)",
        f"record more: at least {limits.min_minutes:g} minutes of the instrument, alone")]
    for check, higher_is_worse, text, fix in _FRACTIONS:
        warn, bad = getattr(limits, f"{check}_warn"), getattr(limits, f"{check}_bad")
        found.append(_fraction_check(check, files, overall, check, warn, bad, higher_is_worse,
                                     text + f" ({{}} of {{}} files {'above' if higher_is_worse else 'below'} {warn * 100:g}%)", fix))
    return found


def _pitch_check(stats: list[FileStats], tracker_hz: tuple[float, float], limits: Limits) -> dict:
    notes: dict = {}
    for s in stats:
        _add_hist(notes, s.notes)
    total = sum(notes.values())
    lo_edge, hi_edge = hz_to_midi(tracker_hz[0]), hz_to_midi(tracker_hz[1])
    if not total:
        return _finding("pitch", "bad", "no pitched frames at all", "this audio has no pitch DDSP can follow")
    at_edges = sum(v for k, v in notes.items() if k <= lo_edge + 1 or k >= hi_edge - 1) / total
    lo, hi = _percentile(notes, 0.05), _percentile(notes, 0.95)
    text = (f"pitch range {note_name(lo)}-{note_name(hi)} (5th-95th percentile) within the pitch tracker's and "
            f"model's range {note_name(lo_edge)}-{note_name(hi_edge)}; the model plays well only where it was trained")
    if at_edges > limits.edge_warn:
        return _finding("pitch", "warn", f"{at_edges:.0%} of the pitched frames sit at the edge of the tracker's range "
                        f"{note_name(lo_edge)}-{note_name(hi_edge)}: their pitch is likely wrong",
                        "set --f0-min-hz / --f0-max-hz around the instrument's range")
    return _finding("pitch", "ok", text)


def _loudness_check(overall: dict, limits: Limits) -> dict:
    lo, hi = overall["loudness_db"]
    if lo is None:
        return _finding("loudness", "bad", "no loud frames", "check the recordings' level")
    text = f"loudness from {lo:.0f} to {hi:.0f} dB (5th-95th percentile of the non-silent frames)"
    if hi - lo < limits.loudness_span_warn:
        return _finding("loudness", "warn", text + f": under {limits.loudness_span_warn:g} dB of dynamics",
                        "include soft and loud playing: the model learns how the timbre changes with loudness")
    return _finding("loudness", "ok", text)


def _unusable_check(skipped: list[dict]) -> dict:
    if not skipped:
        return _finding("unusable files", "ok", "every file yields examples")
    short = [s for s in skipped if "shorter than one" in s["reason"]]
    text = f"{len(skipped)} files yield no examples ({len(short)} shorter than one example): " + "; ".join(
        f"{s['origin']} {s['reason']}" for s in skipped[:5]) + (" ..." if len(skipped) > 5 else "")
    return _finding("unusable files", "warn", text,
                    "join short takes into longer files, or lower --example-secs; fix or remove the others",
                    [s["origin"] for s in skipped])


def _duplicates_check(stats: list[FileStats]) -> dict:
    pairs = [(a.origin, b.origin) for i, a in enumerate(stats) for b in stats[i + 1:] if _same_audio(a, b)]
    if not pairs:
        return _finding("duplicates", "ok", "no two files hold the same audio")
    text = f"{len(pairs)} pairs of files hold the same audio: " + "; ".join(f"{a} = {b}" for a, b in pairs[:5])
    return _finding("duplicates", "warn", text,
                    "keep one copy: duplicates weigh one take twice and leak it between train and eval",
                    sorted({b for _, b in pairs}))


def report(stats: list[FileStats], skipped: list[dict], tracker_hz: tuple[float, float],
           limits: Limits = Limits()) -> dict:
    """The report for the usable files' ``stats`` and the ``skipped`` ones ({origin, reason})."""
    files = [s.measures() for s in stats]
    total = FileStats("all", "", sum(s.seconds for s in stats))
    for s in stats:
        total.add({k: getattr(s, k) for k in ("frames", "silent", "voiced", "poly_frames", "poly", "notes", "loudness")}
                  | {"fingerprint": []})
        total.samples += s.samples
        total.clipped += s.clipped
    overall = total.measures()
    overall["usable_seconds"] = round(sum(f["usable_seconds"] for f in files), 2)
    findings = _checks(files, overall, limits)
    findings += [_pitch_check(stats, tracker_hz, limits), _loudness_check(overall, limits),
                 _unusable_check(skipped), _duplicates_check(stats)]
    worst = max((f["grade"] for f in findings), key=GRADES.index)
    return {"version": VERSION, "grade": worst, "limits": dataclasses.asdict(limits),
            "overall": {k: v for k, v in overall.items() if k != "origin"}, "files": files, "findings": findings}


def failed(health: dict, strict: bool) -> bool:
    """--strict: any warning (or worse) is a failure."""
    return strict and health["grade"] != "ok"


def lines(health: dict) -> list[str]:
    """The report as printed by prepare and check."""
    o = health["overall"]
    out = [f"Dataset health: {health['grade'].upper()}  ({len(health['files'])} files, "
           f"{o['seconds'] / 60:.1f} min, {o['usable_seconds'] / 60:.1f} min usable)"]
    for f in health["findings"]:
        out.append(f"  [{f['grade']:>4}] {f['check']}: {f['message']}")
        if f["fix"]:
            out.append(f"         fix: {f['fix']}")
        for origin in f["files"][:8]:
            out.append(f"         - {origin}")
    out.append("  per file: voiced / silence / clipping / polyphony / pitch / loudness dB")
    for f in health["files"]:
        pitch = "-".join(f["pitch"]) if f["pitch"] else "none"
        lo, hi = f["loudness_db"]
        loud = f"{lo:.0f}..{hi:.0f}" if lo is not None else "none"
        out.append(f"    {f['origin']}: {f['voiced']:.0%} / {f['silence']:.0%} / {f['clipping']:.2%} / "
                   f"{f['polyphony']:.0%} / {pitch} / {loud}")
    return out
