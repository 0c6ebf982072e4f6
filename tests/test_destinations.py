"""Outputs never overlap inputs, and only our own output is replaced (common/destinations).

The property test builds random trees of folders, files and symbolic links, picks an input
and an output among them, and asserts the rule: either the check refuses, or the output (and
everything under it) shares nothing with the input (and everything under it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as hs

from ddsp_launch.common import destinations as d
from ddsp_launch.common.errors import InputError


def test_relations_after_resolving_links_and_dots(tmp_path):
    takes = tmp_path / "P" / "takes"
    takes.mkdir(parents=True)
    (tmp_path / "link").symlink_to(takes)
    assert d.relation(d.resolved(tmp_path / "P/takes/../takes"), d.resolved(tmp_path / "link")) == "is"
    assert d.relation(d.resolved(tmp_path / "P"), d.resolved(takes)) == "contains"
    assert d.relation(d.resolved(tmp_path / "link" / "sub"), d.resolved(takes)) == "inside"
    assert d.relation(d.resolved(tmp_path / "Q"), d.resolved(takes)) is None


@pytest.mark.parametrize("output, words", [
    ("P/takes", "is the same place as"), ("P", "contains"), ("P/takes/sub", "lies inside"), ("link", "is the same place"),
])
def test_check_apart_names_the_overlap(tmp_path, monkeypatch, output, words):
    monkeypatch.chdir(tmp_path)
    Path("P/takes").mkdir(parents=True)
    Path("link").symlink_to(Path("P/takes").resolve())
    with pytest.raises(InputError) as err:
        d.check_apart(output, {"input": "P/takes"}, "output folder")
    assert words in err.value.message and "choose a different output folder" in err.value.fix
    d.check_apart("P/dataset", {"input": "P/takes"})  # a sibling is fine
    d.check_apart("gs://b/x", {"input": "P/takes"})  # a bucket overlaps no local folder


def test_a_glob_input_is_the_paths_it_matches(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("takes/a").mkdir(parents=True)
    Path("takes/a/x.flac").write_bytes(b"fLaC")
    Path("takes/y.wav").write_bytes(b"RIFF")
    assert d.input_roots("takes/**/*.flac") == [tmp_path / "takes/a/x.flac"]
    assert d.input_roots("gs://bucket/x/*.wav") == []
    with pytest.raises(InputError) as err:
        d.check_apart("takes/a", {"input": "takes/**/*.flac"})
    assert "takes/a/x.flac" in err.value.message
    d.check_apart("takes/dataset", {"input": "takes/*.wav"})  # beside the files a glob reads: fine
    with pytest.raises(InputError):
        d.check_apart("takes", {"input": "takes/*.wav"})


def _dataset(folder: Path, extra: str | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "train.tfrecord-00000-of-00001").write_bytes(b"x")
    (folder / "dataset_statistics.pkl").write_bytes(b"x")
    (folder / "manifest.json").write_text(json.dumps({"tool": "ddsp-launch 0.1.0", "statistics": "dataset_statistics.pkl",
                                                      "shards": {"train": ["train.tfrecord-00000-of-00001"]}}))
    if extra:
        (folder / extra).write_text("mine")
    return folder


def test_only_a_folder_of_ours_holding_nothing_else_is_replaceable(tmp_path):
    ours = _dataset(tmp_path / "ours")
    d.check_replaceable(ours, d.dataset_files(ours), "dataset", "--overwrite")
    d.check_replaceable(tmp_path / "new", d.dataset_files(tmp_path / "new"), "dataset", "--overwrite")
    (tmp_path / "empty").mkdir()
    d.check_replaceable(tmp_path / "empty", d.dataset_files(tmp_path / "empty"), "dataset", "--overwrite")

    mixed = _dataset(tmp_path / "mixed", extra="take1.wav")
    with pytest.raises(InputError) as err:
        d.check_replaceable(mixed, d.dataset_files(mixed), "dataset", "--overwrite")
    assert "take1.wav" in err.value.message and "did not write" in err.value.message

    recordings = tmp_path / "recordings"
    recordings.mkdir()
    (recordings / "take1.wav").write_bytes(b"RIFF")
    with pytest.raises(InputError) as err:
        d.check_replaceable(recordings, d.dataset_files(recordings), "dataset", "--overwrite")
    assert "not a dataset made by ddsp-launch" in err.value.message and "--overwrite will not replace it" in err.value.message

    forged = tmp_path / "forged"  # a manifest that is not ours
    forged.mkdir()
    (forged / "manifest.json").write_text(json.dumps({"tool": "something else"}))
    with pytest.raises(InputError):
        d.check_replaceable(forged, d.dataset_files(forged), "dataset", "--overwrite")


def test_software_mark_of_wav_and_png(tmp_path):
    import soundfile as sf

    with sf.SoundFile(str(tmp_path / "ours.wav"), "w", 16000, 1, "PCM_16") as f:
        f.software = "ddsp-launch transfer"
        f.write(np.zeros(160, np.float32))
    sf.write(str(tmp_path / "theirs.wav"), np.zeros(160, np.float32), 16000)
    with sf.SoundFile(str(tmp_path / "other-tool.wav"), "w", 16000, 1, "PCM_16") as f:
        f.software = "Audacity"
        f.write(np.zeros(160, np.float32))
    assert d.is_marked(tmp_path / "ours.wav")
    assert not d.is_marked(tmp_path / "theirs.wav") and not d.is_marked(tmp_path / "other-tool.wav")
    (tmp_path / "notes.txt").write_text("ISFT ddsp-launch")  # the words alone are no mark
    assert not d.is_marked(tmp_path / "notes.txt")
    with pytest.raises(InputError) as err:
        d.check_file_output(tmp_path / "theirs.wav", {"input": tmp_path / "in.wav"})
    assert "not written by ddsp-launch" in err.value.message
    d.check_file_output(tmp_path / "ours.wav", {"input": tmp_path / "in.wav"})
    with pytest.raises(InputError):
        d.check_file_output(tmp_path / "in.wav", {"input": tmp_path / "in.wav"})


# ---- property: random layouts of folders, files and links ---------------------------------------------------
NAMES = ["a", "b", "c"]
entries = hs.lists(hs.tuples(hs.lists(hs.sampled_from(NAMES), min_size=1, max_size=3),
                             hs.sampled_from(["dir", "file", "link"]), hs.lists(hs.sampled_from(NAMES), max_size=3)),
                   max_size=8)
paths = hs.tuples(hs.lists(hs.sampled_from(NAMES + [".."]), max_size=4), hs.booleans())


def _build(root: Path, layout) -> None:
    for parts, kind, target in layout:
        path = root.joinpath(*parts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if kind == "dir":
                path.mkdir(exist_ok=True)
            elif kind == "file":
                path.write_text("user data")
            elif not path.exists() and not path.is_symlink():
                path.symlink_to(root.joinpath(*target) if target else root)
        except OSError:  # a parent is a file, or a link loop: layouts may be impossible
            continue


def _covered(path: Path) -> set[Path]:
    """The real files and folders at and under a path (links followed, loops cut)."""
    out, todo = set(), [path]
    while todo:
        p = todo.pop()
        try:
            real = p.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if real in out:
            continue
        out.add(real)
        if real.is_dir():
            todo += list(real.iterdir())
    return out


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layout=entries, inp=paths, out=paths)
@example(layout=[(["a"], "dir", []), (["c", "a"], "link", [])], inp=(["a"], False), out=(["c"], False))  # c/a -> the root
@example(layout=[(["a"], "dir", []), (["c"], "dir", []), (["a", "a"], "link", [])], inp=(["a"], False),
         out=(["c"], False))  # a/a -> the root: the input reaches the output through its link
def test_no_layout_lets_an_output_touch_an_input(tmp_path_factory, layout, inp, out):
    root = tmp_path_factory.mktemp("layout")
    _build(root, layout)
    in_path = root.joinpath(*inp[0]) if inp[0] else root
    out_path = root.joinpath(*out[0]) if out[0] else root
    try:
        d.check_apart(out_path, {"input": in_path})
    except InputError:
        return
    # allowed: nothing the output covers may be (or hold) anything the input covers
    assert not (_covered(out_path) & _covered(in_path)), (out_path, in_path)
    real_out, real_in = d.resolved(out_path), d.resolved(in_path)
    assert not real_out.is_relative_to(real_in) and not real_in.is_relative_to(real_out)
