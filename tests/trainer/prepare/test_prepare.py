"""Real audio -> ddsp-launch prepare -> records that ddsp's own TFRecordProvider reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import render_examples

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

FEATURE_SHAPES = {"audio": (64000,), "audio_16k": (64000,), "f0_hz": (1000,), "f0_confidence": (1000,), "loudness_db": (1000,)}


def run_prepare(*args, check=True, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "ddsp_launch.trainer.prepare", "--quiet", *map(str, args)],
        capture_output=True, text=True, **kwargs,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"prepare failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def load_examples(pattern: str) -> list[dict]:
    from ddsp_launch.trainer.ddsp_compat import import_ddsp

    ddsp = import_ddsp()
    provider = ddsp.training.data.TFRecordProvider(pattern)
    return [{k: v.numpy() for k, v in ex.items()} for ex in provider.get_dataset(shuffle=False)]


def pitch_accuracy(examples, offsets, midi_paths):
    """Fraction of confidently voiced frames within a semitone of the MIDI pitch; each example
    starts ``offsets[i]`` seconds into the rendering of ``midi_paths[i]`` (or of ``midi_paths`` itself)."""
    hits = total = 0
    if isinstance(midi_paths, Path):
        midi_paths = [midi_paths] * len(examples)
    for ex, offset, midi_path in zip(examples, offsets, midi_paths):
        times = offset + (np.arange(1000) * 64 + 512) / 16000  # CREPE-style frame centres
        truth = render_examples.expected_pitch(midi_path, times)
        voiced = ~np.isnan(truth) & (ex["f0_confidence"] > 0.5)
        midi = 69 + 12 * np.log2(ex["f0_hz"][voiced] / 440.0)
        hits += int(np.sum(np.abs(midi - truth[voiced]) < 1.0))
        total += int(voiced.sum())
    return hits / max(total, 1), total


@pytest.fixture(scope="module")
def violin_dataset(example_audio, tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "violin"
    proc = run_prepare(example_audio, out, "--eval-fraction", "0.1", "--workers", "2")
    assert "dataset ready" in proc.stdout
    return out


def test_records_load_through_ddsp_provider_with_the_right_shapes(violin_dataset):
    manifest = json.loads((violin_dataset / "manifest.json").read_text())
    train = load_examples(str(violin_dataset / "train.tfrecord*"))
    evals = load_examples(str(violin_dataset / "eval.tfrecord*"))
    assert len(train) == manifest["counts"]["train_examples"] > 100
    assert len(evals) == manifest["counts"]["eval_examples"] > 0
    for ex in train[:20] + evals[:5]:
        assert {k: v.shape for k, v in ex.items()} == FEATURE_SHAPES
        assert np.all(np.isfinite(ex["loudness_db"])) and ex["loudness_db"].min() >= -80
        assert np.all(ex["f0_hz"] > 0)
        assert np.all((ex["f0_confidence"] >= 0) & (ex["f0_confidence"] <= 1))
        assert np.max(np.abs(ex["audio"])) > 0.05
    assert manifest["parameters"]["f0_estimator"] == "pyin"
    assert sorted(s["origin"] for s in manifest["sources"]) == sorted(str(p) for p in Path(manifest["input"]).glob("*.wav"))
    assert all(len(s["sha256"]) == 64 for s in manifest["sources"])


def where_in_the_sources(examples, example_audio) -> list[tuple[str, float]]:
    """(source name, start in seconds) of each example, found by its samples: a 16 kHz source is
    stored as it is read, and examples start on a 64-sample frame boundary of their source."""
    index = {}
    for wav in sorted(example_audio.glob("*.wav")):
        audio, sr = sf.read(str(wav), dtype="float32")
        assert sr == 16000
        for start in range(0, len(audio) - 64, 64):
            index.setdefault(audio[start:start + 64].tobytes(), (wav.stem, start / sr))
    found = [index.get(ex["audio"][:64].astype(np.float32).tobytes()) for ex in examples]
    assert None not in found, "an example whose samples are in no source"
    return found


def test_f0_is_within_a_semitone_of_the_score_on_the_default_path(violin_dataset, example_audio, midi_dir):
    """The default preparation (20-second chunks, computed by two workers in parallel, one-second
    hops, a train/eval split): every example's pitch against the MIDI score it was rendered from,
    wherever in which source it comes from. Tolerance: a semitone, on 95% of the frames where the
    score has a note and pYIN is confident."""
    examples = load_examples(str(violin_dataset / "train.tfrecord*")) + load_examples(str(violin_dataset / "eval.tfrecord*"))
    where = where_in_the_sources(examples, example_audio)
    assert len({name for name, _ in where}) == 4 and max(start for _, start in where) > 20  # all files, past one chunk
    accuracy, voiced = pitch_accuracy(examples, [start for _, start in where], [midi_dir / f"{name}.mid" for name, _ in where])
    assert voiced > 50000
    assert accuracy > 0.95, accuracy


def test_statistics_file_is_what_timbre_transfer_reads(violin_dataset):
    """dataset_statistics.json (no pickle): the numbers, and the quantile transform as arrays
    from which ddsp's own transformer is rebuilt."""
    from ddsp_launch.trainer.ddsp_compat import import_ddsp
    from ddsp_launch.trainer.prepare import stats as dataset_stats

    assert json.loads((violin_dataset / "manifest.json").read_text())["statistics"] == "dataset_statistics.json"
    assert not list(violin_dataset.glob("*.pkl"))
    stats = dataset_stats.read(violin_dataset / "dataset_statistics.json")
    for key in ("mean_loudness", "mean_pitch", "mean_max_pitch_note", "mean_min_pitch_note", "quantile_transform"):
        assert key in stats
    # A violin melody between G3 and E6: the mean note pitch is in that range.
    assert 55 <= stats["mean_pitch_note"] <= 88
    assert stats["mean_loudness_note"] > stats["mean_loudness"]  # notes are louder than rests
    transform = dataset_stats.quantile_transform(stats, import_ddsp())
    quantiles = transform.transform(np.array([[stats["min_loudness_note"]], [stats["max_loudness_note"]]]))
    assert quantiles[0, 0] < quantiles[1, 0]


def test_mixed_formats_rates_and_channels_in_one_folder(example_audio, midi_dir, tmp_path):
    src = tmp_path / "mixed"
    (src / "nested").mkdir(parents=True)
    audio, sr = sf.read(example_audio / "ode_to_joy.wav", dtype="float32")
    stereo = np.stack([audio, 0.5 * audio], axis=1)
    import soxr

    sf.write(src / "a.flac", soxr.resample(stereo, sr, 44100), 44100, subtype="PCM_24")
    sf.write(src / "nested" / "b.ogg", soxr.resample(audio, sr, 22050), 22050)
    sf.write(src / "c.mp3", soxr.resample(stereo, sr, 48000), 48000)
    sf.write(src / "d.wav", (audio * 32767).astype(np.int16), sr)
    (src / "notes.txt").write_text("not audio")
    out = tmp_path / "ds"
    run_prepare(src, out, "--hop-secs", "4", "--chunk-secs", "1000", "--no-statistics")
    manifest = json.loads((out / "manifest.json").read_text())
    by_name = {Path(s["origin"]).name: s for s in manifest["sources"]}
    assert set(by_name) == {"a.flac", "b.ogg", "c.mp3", "d.wav"}
    assert (by_name["a.flac"]["sample_rate"], by_name["a.flac"]["channels"]) == (44100, 2)
    assert (by_name["b.ogg"]["sample_rate"], by_name["c.mp3"]["sample_rate"]) == (22050, 48000)
    per_file = by_name["d.wav"]["examples"]["train"]
    assert all(s["examples"]["train"] == per_file for s in by_name.values())
    # Same music in every format (files are written in sorted order, each one whole):
    # after decoding and resampling, every copy follows the score.
    examples = load_examples(str(out / "train.tfrecord*"))
    assert len(examples) == 4 * per_file
    accuracy, _ = pitch_accuracy(examples, [4.0 * (i % per_file) for i in range(len(examples))], midi_dir / "ode_to_joy.mid")
    assert accuracy > 0.95
