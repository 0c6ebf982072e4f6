"""Chunk and window planning (pure)."""

import pytest

from ddsp_launch.trainer.prepare import windows
from ddsp_launch.trainer.prepare.windows import Chunk, WindowSpec

SR = 16000


def test_chunks_cover_the_file_and_last_takes_the_remainder():
    spec = WindowSpec(example_secs=4, hop_secs=1, chunk_secs=20)
    total = 47 * SR + 123
    chunks = windows.plan_chunks(0, total, spec)
    assert [c.start for c in chunks] == [0, 20 * SR]
    assert chunks[-1].start + chunks[-1].length == total
    assert chunks[0].length == 20 * SR and chunks[1].length == 27 * SR + 123


def test_file_shorter_than_one_example_gives_no_chunk_and_exactly_one_example_gives_one():
    spec = WindowSpec()
    assert windows.plan_chunks(0, 4 * SR - 1, spec) == []
    (only,) = windows.plan_chunks(0, 4 * SR, spec)
    assert list(windows.window_starts(only.length, spec)) == [0]


def test_windows_step_by_hop_and_fit_inside_the_chunk():
    spec = WindowSpec(example_secs=4, hop_secs=1.5, chunk_secs=20)
    starts = list(windows.window_starts(20 * SR, spec))
    assert starts[:3] == [0, 24000, 48000]
    assert all(s + spec.example_samples <= 20 * SR for s in starts)
    assert len(starts) == 11  # floor((20 - 4) / 1.5) + 1


def test_eval_split_is_stable_and_sized_by_fraction():
    chunks = [Chunk(0, i, i * 320000, 320000) for i in range(20)]
    keys = [f"abc:{i}" for i in range(20)]
    first = windows.assign_eval(chunks, keys, 0.1)
    again = windows.assign_eval(chunks, keys, 0.1)
    assert [c.eval for c in first] == [c.eval for c in again]
    assert sum(c.eval for c in first) == 2
    assert not any(c.eval for c in windows.assign_eval(chunks, keys, 0.0))
    assert sum(c.eval for c in windows.assign_eval(chunks[:2], keys[:2], 0.01)) == 1
    assert not any(c.eval for c in windows.assign_eval(chunks[:1], keys[:1], 0.5))


@pytest.mark.parametrize("kwargs, needle", [
    ({"example_secs": 2.5}, "whole number"),
    ({"hop_secs": 0.001}, "multiple of 1/250"),
    ({"hop_secs": -1}, "positive"),
    ({"chunk_secs": 2}, "at least --example-secs"),
])
def test_bad_window_settings_are_rejected_with_the_flag_named(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        WindowSpec(**kwargs)
