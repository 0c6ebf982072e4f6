"""Dataset statistics are data: JSON written, ddsp's pickle read without running anything in it,
and both give timbre transfer exactly the same numbers and loudness mapping."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ddsp_launch.common.errors import InputError
from ddsp_launch.trainer.prepare import stats as dataset_stats


class RunsACommand:
    """What an attacker puts in a pickle: unpickling it calls os.system."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class CallsEval:
    def __reduce__(self):
        return eval, ("__import__('pathlib').Path('MARKER').touch()",)


def evil_pickles(marker: Path) -> dict[str, object]:
    transform = {"references_": np.linspace(0, 1, 3), "quantiles_": np.zeros((3, 1)), "output_distribution": "uniform"}
    return {
        "os.system as the transform": {"mean_pitch": 60.0, "quantile_transform": RunsACommand(f"touch {marker}")},
        "os.system as a number": {"mean_pitch": RunsACommand(f"touch {marker}"), "quantile_transform": transform},
        "inside a numpy object array": {"mean_pitch": 60.0, "quantile_transform": transform,
                                        "extra": np.array([RunsACommand(f"touch {marker}")], dtype=object)},
        "eval": {"mean_pitch": 60.0, "quantile_transform": CallsEval()},
    }


@pytest.mark.parametrize("case", list(evil_pickles(Path("x"))))
def test_a_pickle_that_would_run_code_is_refused_before_anything_runs(tmp_path, case, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where CallsEval would leave its marker
    marker = tmp_path / "MARKER"
    path = tmp_path / "dataset_statistics.pkl"
    path.write_bytes(pickle.dumps(evil_pickles(marker)[case]))
    with pytest.raises(InputError) as err:
        dataset_stats.read(path)
    assert "refused, nothing in it was run" in err.value.message and str(path) in err.value.message
    assert "dataset_statistics.json" in err.value.fix
    assert not marker.exists()


@pytest.mark.parametrize("name, content, message", [
    ("dataset_statistics.pkl", b"", "is not a dataset statistics file"),
    ("dataset_statistics.pkl", b"\x80\x04not a pickle", "is not a dataset statistics file"),
    ("dataset_statistics.pkl", pickle.dumps([1, 2, 3]), "no mean_pitch or quantile_transform"),
    ("dataset_statistics.pkl", pickle.dumps({"mean_pitch": 1.0, "quantile_transform": {
        "references_": [0, 1], "quantiles_": [[0]], "output_distribution": "uniform"}}), "not a fitted one"),
    ("dataset_statistics.pkl", pickle.dumps({"mean_pitch": "sixty", "quantile_transform": {
        "references_": [0.0], "quantiles_": [[1.0]], "output_distribution": "uniform"}}), "mean_pitch is not a number"),
    ("dataset_statistics.json", b'{"mean_pitch": ', "is not a dataset statistics file (JSONDecodeError"),
    ("dataset_statistics.json", b"[1, 2]", "no mean_pitch or quantile_transform"),
    ("dataset_statistics.json", b'{"mean_pitch": 60, "quantile_transform": {"references": [0, 1], "output_distribution": "uniform"}}',
     "not a fitted one"),
    ("dataset_statistics.json", b'{"mean_pitch": 60, "quantile_transform": {"references": [0, 1], "quantiles": [[0], [1]], '
     b'"output_distribution": "exp"}}', "not a fitted one"),
])
def test_a_file_that_is_not_statistics_is_a_clear_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        dataset_stats.read(path)
    assert str(path) in err.value.message and message in err.value.message


def test_the_json_file_holds_numbers_and_arrays_and_reads_back_exactly(tmp_path):
    stats = dataset_stats.safe({"mean_pitch": np.float32(65.93), "std_loudness": np.float64(7.25), "quantile_transform": {
        "output_distribution": "uniform", "references": np.linspace(0, 1, 5), "quantiles": np.sort(np.random.rand(5, 1), axis=0)}}, "test")
    path = dataset_stats.write(stats, tmp_path / "dataset_statistics.json")
    assert path.read_bytes().lstrip().startswith(b"{")
    back = dataset_stats.read(path)
    assert back["mean_pitch"] == float(np.float32(65.93)) and back["std_loudness"] == 7.25
    for key in ("references", "quantiles"):
        assert np.array_equal(back["quantile_transform"][key], stats["quantile_transform"][key])


# ---- with the training stack: the old and new formats give transfer the same mapping ----
@pytest.fixture(scope="module")
def two_formats(example_audio, tmp_path_factory):
    """ddsp's statistics for a prepared violin dataset, saved both ways: the JSON prepare now
    writes, and the pickle ddsp's colab (and ddsp-launch before) writes of the same object.
    (prepare's own statistics, computed without ddsp, are left in ds/ to compare.)"""
    root = tmp_path_factory.mktemp("stats")
    ds = root / "ds"
    subprocess.run([sys.executable, "-m", "ddsp_launch.trainer.prepare", "--quiet",
                    str(example_audio / "scales.wav"), str(ds)], check=True, capture_output=True)
    from ddsp_launch.trainer.ddsp_compat import import_ddsp

    ddsp = import_ddsp()
    original = dataset_stats.compute_statistics(ds, example_secs=4)
    with open(root / "dataset_statistics.pkl", "wb") as fh:
        pickle.dump(original, fh)
    dataset_stats.write(dataset_stats.safe(original, "computed"), root / "dataset_statistics.json")
    return original, root / "dataset_statistics.json", root / "dataset_statistics.pkl", ddsp


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_json_and_ddsps_pickle_give_the_same_numbers_and_loudness_mapping(two_formats, example_audio):
    import soundfile as sf

    from ddsp_launch.trainer.prepare import features

    original, json_path, pkl_path, ddsp = two_formats
    post = ddsp.training.postprocessing
    assert type(original["quantile_transform"]) is post.QuantileTransformer  # a real ddsp pickle was written
    from_json, from_pkl = dataset_stats.read(json_path), dataset_stats.read(pkl_path)
    numbers = [k for k in original if k != "quantile_transform"]
    assert len(numbers) == 36 and "mean_pitch" in numbers
    for key in numbers:
        assert from_json[key] == from_pkl[key] == float(original[key]), key

    # the loudness of a real recording's notes, mapped onto the dataset's as transfer does
    audio, _ = sf.read(str(example_audio / "ode_to_joy.wav"), dtype="float32")
    loudness = features.loudness_db(audio[: 20 * 16000])
    confidence = np.clip(loudness / 80 + 1, 0, 1).astype(np.float32)
    mask, _ = post.detect_notes(loudness, confidence)
    assert 0 < mask.sum() < len(mask)
    mapped = {}
    for name, stats_or_transform in (("pickle loaded by ddsp", original["quantile_transform"]),
                                     ("json", dataset_stats.quantile_transform(from_json, ddsp)),
                                     ("pkl, restricted", dataset_stats.quantile_transform(from_pkl, ddsp))):
        mapped[name] = post.fit_quantile_transform(loudness, mask, inv_quantile=stats_or_transform)[1]
    reference = mapped.pop("pickle loaded by ddsp")
    assert not np.array_equal(reference[mask.ravel()], loudness[mask][:, None])  # the mapping changes the notes
    for name, values in mapped.items():
        assert np.array_equal(values, reference), name


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_reading_ddsps_pickle_imports_nothing_of_ddsp_or_scikit_learn(two_formats):
    """The restricted reader stands in for ddsp's class: no module it names is imported or run."""
    _, _, pkl_path, _ = two_formats
    code = ("import sys; from pathlib import Path; from ddsp_launch.trainer.prepare import stats; "
            f"s = stats.read(Path({str(pkl_path)!r})); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ddsp', 'sklearn', 'tensorflow')), s['mean_pitch'] > 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")[-2]
    assert out == "[] True"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_prepares_statistics_without_ddsp_are_ddsps_own(two_formats):
    """prepare gathers the statistics in NumPy as it writes the examples (stats.Collector, no
    TensorFlow); ddsp's compute_dataset_statistics over the written records is the reference."""
    original, json_path, _, _ = two_formats
    ours = dataset_stats.read(json_path.parent / "ds" / "dataset_statistics.json")
    numbers = [k for k in original if k != "quantile_transform"]
    assert sorted(numbers) == sorted(k for k in ours if k != "quantile_transform")
    for key in numbers:
        assert ours[key] == pytest.approx(float(original[key]), rel=1e-5, abs=1e-4), key
    theirs = original["quantile_transform"]
    assert np.array_equal(ours["quantile_transform"]["references"], theirs.references_)
    assert np.allclose(ours["quantile_transform"]["quantiles"], theirs.quantiles_, rtol=1e-5, atol=1e-4)
    assert len(theirs.references_) == 1000 and np.ptp(theirs.quantiles_) > 10  # a real fit, not a degenerate one
