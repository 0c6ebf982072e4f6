"""The health report's grading (common/health.py) on hand-made counts, and `ddsp-launch check`
reading a dataset's stored report on the host, without the training stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ddsp_launch.common import health

TRACKER = (40.0, 2100.0)


def clean(origin: str, seconds: float = 120.0, sha: str | None = None, level: int = 0, **over) -> health.FileStats:
    """A file of ``seconds`` at 250 frames/s: 5% silence, 90% of the rest pitched around A4,
    loudness spread over 20 dB, nothing clipped or polyphonic; ``over`` changes counts."""
    frames = int(seconds * 250)
    loud = frames - frames // 20
    stats = health.FileStats(origin, sha or origin, seconds, samples=int(seconds * 16000))
    stats.add({"frames": frames, "silent": frames // 20, "voiced": int(loud * 0.9), "poly_frames": loud // 8,
               "poly": 0, "notes": {60: loud * 0.3, 69: loud * 0.3, 76: loud * 0.3},
               "loudness": {level - 10 + i: loud // 20 for i in range(20)},
               "fingerprint": [float((i * 7 + level) % 13) for i in range(int(seconds * 10))]})
    for key, value in over.items():
        setattr(stats, key, value)
    return stats


def grades(report: dict) -> dict:
    return {f["check"]: f["grade"] for f in report["findings"]}


def test_a_clean_ten_minute_set_is_ok_and_every_check_is_reported():
    report = health.report([clean(f"f{i}.wav", 130.0, level=i) for i in range(5)], [], TRACKER)
    assert set(grades(report).values()) == {"ok"} and report["grade"] == "ok"
    assert set(grades(report)) == {"minutes", "voiced", "silence", "clipping", "polyphony", "pitch", "loudness",
                                   "unusable files", "duplicates"}
    # usable minutes: 5 files x 130 s x 95% non-silent = 617.5 s
    assert report["overall"]["usable_seconds"] == pytest.approx(617.5, abs=0.1)
    assert not health.failed(report, strict=True)


@pytest.mark.parametrize(("seconds", "grade"), [(600, "ok"), (400, "warn"), (180, "bad")])
def test_minutes_against_the_recommendation(seconds, grade):
    # 95% of the audio is non-silent: 600 s -> 9.5 min (warn), so 632 s is the first ok
    report = health.report([clean("a.wav", seconds / 0.95)], [], TRACKER)
    assert grades(report)["minutes"] == grade
    lowered = health.report([clean("a.wav", seconds / 0.95)], [], TRACKER, health.Limits(min_minutes=2))
    assert grades(lowered)["minutes"] == "ok"


def test_one_bad_file_is_named_even_when_the_whole_is_fine():
    files = [clean(f"f{i}.wav", 130.0, level=i) for i in range(5)]
    files[2].clipped = files[2].samples // 50  # 2% of one file; 0.4% overall
    files[3].poly = files[3].poly_frames  # one file all chords
    report = health.report(files, [], TRACKER)
    by = {f["check"]: f for f in report["findings"]}
    assert by["clipping"]["grade"] == "warn" and by["clipping"]["files"] == ["f2.wav"]
    assert by["polyphony"]["grade"] == "warn" and by["polyphony"]["files"] == ["f3.wav"]
    assert by["clipping"]["fix"] and by["polyphony"]["fix"]
    assert health.failed(report, strict=True) and not health.failed(report, strict=False)


def test_duplicates_by_checksum_and_by_audio():
    a, same_sum, same_audio, other = (clean("a.wav", 130, sha="x"), clean("b.wav", 130, sha="x"),
                                      clean("c.flac", 130, sha="y"), clean("d.wav", 130, sha="z", level=5))
    by = {f["check"]: f for f in health.report([a, same_sum, same_audio, other], [], TRACKER)["findings"]}
    assert by["duplicates"]["grade"] == "warn"
    assert by["duplicates"]["files"] == ["b.wav", "c.flac"]


def test_short_files_pitch_edges_and_flat_loudness():
    pinned = clean("low.wav", 700.0)
    pinned.notes = {28: 1000, 60: 9000}  # E1: at the 40 Hz edge of the tracker
    pinned.loudness = {5: 100, 6: 100}
    report = health.report([pinned], [{"origin": "s.wav", "reason": "is 2.00 s long, shorter than one 4 s example"}], TRACKER)
    g = grades(report)
    assert g["unusable files"] == "warn" and g["pitch"] == "warn" and g["loudness"] == "warn"
    assert "--f0-min-hz" in next(f["fix"] for f in report["findings"] if f["check"] == "pitch")
    text = "\n".join(health.lines(report))
    assert "[warn] unusable files" in text and "s.wav" in text and "fix:" in text


def test_check_prints_a_datasets_stored_report_on_the_host(tmp_path):
    report = health.report([clean("a.wav", 60.0)], [], TRACKER)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "ddsp-launch/dataset", "health": report}))
    run = [sys.executable, "-c", "from ddsp_launch.cli import app; app()", "check"]
    out = subprocess.run([*run, str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Dataset health: BAD" in out.stdout and "[ bad] minutes" in out.stdout
    strict = subprocess.run([*run, str(tmp_path), "--strict"], capture_output=True, text=True)
    assert strict.returncode == 2 and "--strict" in strict.stderr
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "ddsp-launch/dataset"}))
    old = subprocess.run([*run, str(tmp_path)], capture_output=True, text=True)
    assert old.returncode == 2 and "without a health report" in old.stderr


def test_the_web_run_page_shows_the_datasets_report(tmp_path):
    from jinja2 import Environment, FileSystemLoader

    from ddsp_launch.web import service

    report = health.report([clean("a.wav", 60.0)], [], TRACKER)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "ddsp-launch/dataset", "health": report}))
    shown = service.health_for({"settings": {"data": str(tmp_path)}})
    assert shown == health.lines(report)
    assert service.health_for({"settings": {"data": "gs://bucket/ds"}}) is None
    templates = Environment(loader=FileSystemLoader(str(Path(service.__file__).parent / "templates")))
    page = templates.get_template("run.html").render(run={
        "id": "x", "state": "running", "health": shown, "step": None, "loss": None, "num_steps": 10, "output": None,
        "console": None, "can_cancel": False, "has_checkpoint": False, "local": True, "model": "solo_instrument",
        "command_line": None, "losses": []})
    assert '<section id="health">' in page and "[ bad] minutes" in page
