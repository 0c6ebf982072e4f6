"""The whole preparation run: find -> check -> plan -> features (in parallel) -> write -> commit."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import multiprocessing
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from ddsp_launch import __version__
from ddsp_launch.common import destinations, gcs, health
from ddsp_launch.common.errors import InputError, Interrupted, MissingDependencyError
from ddsp_launch.common.model_files import STATISTICS
from ddsp_launch.trainer import tool_args
from ddsp_launch.trainer.prepare import features, health_stats, records, sources, windows
from ddsp_launch.trainer.prepare import stats as dataset_stats

F0_METHODS = ("auto", "pyin", "crepe")
BAD_FILE_POLICIES = ("fail", "skip")


@dataclasses.dataclass(frozen=True)
class PrepareOptions:
    windows: windows.WindowSpec = windows.WindowSpec()
    eval_fraction: float = 0.0
    f0: str = "auto"
    pyin: features.PyinSettings = features.PyinSettings()
    num_shards: int | None = None
    workers: int = 0  # 0: one per available core
    on_bad_file: str = "fail"
    overwrite: bool = False
    statistics: bool = True
    max_statistics_examples: int = 1000
    limits: health.Limits = health.Limits()
    strict: bool = False  # a health report with a warning (or worse) is an error: nothing is written

    def __post_init__(self):
        if self.f0 not in F0_METHODS:
            raise InputError(f"--f0 must be one of {', '.join(F0_METHODS)}, got {self.f0!r}")
        if self.on_bad_file not in BAD_FILE_POLICIES:
            raise InputError(f"--on-bad-file must be one of {', '.join(BAD_FILE_POLICIES)}, got {self.on_bad_file!r}")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise InputError(f"--eval-fraction must be in [0, 1), got {self.eval_fraction}")
        if self.workers < 0 or (self.num_shards is not None and self.num_shards < 1):
            raise InputError("--workers must be >= 0 and --num-shards >= 1")

    def worker_count(self) -> int:
        return self.workers or len(os.sched_getaffinity(0))

    def f0_method(self) -> str:
        """The pitch tracker to use; --f0 crepe without crepe is refused here, before any work."""
        from ddsp_launch.trainer.ddsp_compat import crepe_available  # noqa: PLC0415

        if self.f0 == "crepe" and not crepe_available():
            raise MissingDependencyError(
                "--f0 crepe: CREPE is not installed here",
                "use --f0 pyin (or auto, which uses pYIN when CREPE is missing), or install CREPE where its "
                "weights can be downloaded during the install: pip install crepe")
        if self.f0 != "auto":
            return self.f0
        return "crepe" if crepe_available() else "pyin"


@dataclasses.dataclass(frozen=True)
class _Task:
    info: sources.AudioInfo
    chunk: windows.Chunk
    spec: windows.WindowSpec
    f0: str
    pyin: features.PyinSettings
    examples: bool = True  # False: measure its health only (check)


def compute_chunk(task: _Task) -> tuple[windows.Chunk, list[dict[str, np.ndarray]], dict]:
    """Read one chunk, compute its features and health counts, cut it into examples (runs in a worker)."""
    chunk, spec = task.chunk, task.spec
    audio = sources.read_16k_mono(task.info, chunk.start, chunk.length)
    loudness = features.loudness_db(audio, preset=spec.preset)
    if task.f0 == "crepe":
        f0_hz, confidence = features.f0_crepe(audio, spec.preset)
    else:
        f0_hz, confidence = features.f0_pyin(audio, task.pyin, spec.preset)
    stats = health_stats.chunk_stats(audio, f0_hz, confidence, loudness, spec.preset.frame_rate)
    n = spec.example_frames
    examples = []
    for start in windows.window_starts(chunk.length, spec) if task.examples else ():
        k = start // spec.preset.hop
        clip = audio[start:start + spec.example_samples]
        examples.append({
            "audio": clip,
            "audio_16k": clip,
            "f0_hz": f0_hz[k:k + n],
            "f0_confidence": confidence[k:k + n],
            "loudness_db": loudness[k:k + n],
        })
    return chunk, examples, stats


def _worker_signals() -> None:
    """Workers leave Ctrl-C to the parent, and die on the SIGTERM that Pool.terminate()
    sends (forked workers would otherwise inherit the parent's SIGTERM handler)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _raise_interrupted(signum, _frame):
    raise Interrupted(f"Stopped by signal {signal.Signals(signum).name}")


class Reporter:
    """Where progress goes. The default prints plain lines to stderr."""

    def message(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def start(self, total_seconds: float) -> None:
        self.message(f"computing features for {total_seconds:.1f} s of audio")

    def advance(self, seconds: float) -> None:
        pass

    def stop(self) -> None:
        pass


def _find(input_spec: str, cache: Path, reporter: Reporter, client_factory) -> list[sources.Source]:
    if gcs.is_gcs(input_spec):
        return sources.find_gcs(input_spec, cache, client_factory, reporter.message)
    return sources.find_local(input_spec)


def _inspect(found: list[sources.Source], options: PrepareOptions):
    good, bad = [], []
    for src in found:
        result = sources.inspect(src, options.windows.example_secs)
        (bad if isinstance(result, sources.BadFile) else good).append(result)
    return good, bad


def _check(found: list[sources.Source], options: PrepareOptions, reporter: Reporter):
    good, bad = _inspect(found, options)
    if bad and options.on_bad_file == "fail":
        lines = "\n".join(f"  {b.source.origin}: {b.reason}" for b in bad)
        raise InputError(
            f"{len(bad)} of {len(found)} input files cannot be used:\n{lines}",
            "fix or remove them, or pass --on-bad-file skip to leave them out (they are listed in the manifest)",
        )
    for b in bad:
        reporter.message(f"skipping {b.source.origin}: {b.reason}")
    if not good:
        raise InputError("None of the input files can be used (all were skipped)", "see the reasons above")
    return good, bad


def prepare(input_spec: str, output: str | Path, options: PrepareOptions = PrepareOptions(),
            reporter: Reporter | None = None, client_factory: Callable = gcs.make_client) -> dict:
    """Build a ddsp dataset in ``output``; returns its manifest."""
    reporter = reporter or Reporter()
    if gcs.is_gcs(str(output)):
        raise InputError(
            f"prepare writes datasets to a local folder, not {output}",
            "prepare locally, then copy the folder to your bucket (gcloud storage cp -r DIR gs://BUCKET/DIR)",
        )
    destinations.check_apart(output, {"input": input_spec}, "output folder")
    staging = records.Staging(Path(output).expanduser().resolve(), options.overwrite)
    staging.check_output()
    found = None if gcs.is_gcs(input_spec) else sources.find_local(input_spec)
    f0_method = options.f0_method()
    previous_term = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        staging.open()
        if staging.stale_removed:
            reporter.message(f"removed the leftovers of an interrupted run ({staging.path})")
        found = found or _find(input_spec, staging.path / ".sources", reporter, client_factory)
        good, bad = _check(found, options, reporter)
        manifest = _build(good, bad, staging, options, f0_method, reporter, input_spec)
        _tell_health(manifest["health"], options, reporter)
        return manifest | {"output": str(staging.commit(manifest))}
    except BaseException:
        staging.discard()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_term)


def _tell_health(report: dict, options: PrepareOptions, reporter: Reporter) -> None:
    for line in health.lines(report):
        reporter.message(line)
    if health.failed(report, options.strict):
        raise InputError(f"--strict: the dataset's health is {report['grade']} (see the report above); nothing was written",
                         "fix what the report names, or prepare without --strict")


def _tracker_range(options: PrepareOptions, f0_method: str) -> tuple[float, float]:
    return (options.pyin.fmin, options.pyin.fmax) if f0_method == "pyin" else (31.7, 2005.5)  # CREPE's 360 bins


def _health(good, bad, per_chunk: list[tuple[windows.Chunk, dict]], options, f0_method) -> dict:
    files = [health.FileStats(i.source.origin, i.sha256, i.seconds, i.frames * i.channels, i.clipped) for i in good]
    for chunk, stats in sorted(per_chunk, key=lambda cs: (cs[0].source, cs[0].index)):
        files[chunk.source].add(stats)
    skipped = [{"origin": b.source.origin, "reason": b.reason} for b in bad]
    return health.report(files, skipped, _tracker_range(options, f0_method), options.limits)


def check(input_spec: str, options: PrepareOptions = PrepareOptions(), reporter: Reporter | None = None,
          client_factory: Callable = gcs.make_client) -> dict:
    """The health report of a folder (glob, gs:// prefix) of audio, without preparing it."""
    import tempfile  # noqa: PLC0415

    reporter = reporter or Reporter()
    f0_method = options.f0_method()
    with tempfile.TemporaryDirectory(prefix="ddsp-launch-check-") as cache:
        found = _find(input_spec, Path(cache), reporter, client_factory)
        good, bad = _inspect(found, options)
        chunks = _plan(good, options)
        tasks = [_Task(good[c.source], c, options.windows, f0_method, options.pyin, examples=False) for c in chunks]
        reporter.start(sum(c.seconds for c in chunks))
        per_chunk = []
        try:
            with _chunk_results(tasks, options.worker_count()) as results:
                for chunk, _, stats in results:
                    per_chunk.append((chunk, stats))
                    reporter.advance(chunk.seconds)
        finally:
            reporter.stop()
    return _health(good, bad, per_chunk, options, f0_method)


def _plan(good, options):
    spec = options.windows
    chunks = []
    for i, info in enumerate(good):
        chunks += windows.plan_chunks(i, windows.samples_at_16k(info.frames, info.sample_rate), spec)
    keys = [f"{good[c.source].sha256}:{c.index}" for c in chunks]
    return windows.assign_eval(chunks, keys, options.eval_fraction)


def _build(good, bad, staging, options, f0_method, reporter, input_spec) -> dict:
    spec = options.windows
    chunks = _plan(good, options)
    splits = {"train": [c for c in chunks if not c.eval], "eval": [c for c in chunks if c.eval]}
    counts = {name: windows.count_examples(cs, spec) for name, cs in splits.items()}
    if options.eval_fraction > 0 and not counts["eval"]:
        reporter.message("note: too little audio for an eval split (needs two chunks or more); all examples go to train")
    tasks = [_Task(good[c.source], c, spec, f0_method, options.pyin) for c in chunks]
    per_source = [{"train": 0, "eval": 0, "chunks": 0} for _ in good]
    per_chunk = []
    with _chunk_results(tasks, options.worker_count()) as results:
        # Records and statistics are written in NumPy (common/tfrecord.py, stats.Collector): no TensorFlow.
        writers = {
            name: records.ShardedWriter(staging.path, name, records.shard_count(n, options.num_shards))
            for name, n in counts.items() if n
        }
        collector = dataset_stats.Collector(spec.preset, options.max_statistics_examples) if options.statistics else None
        reporter.start(sum(c.seconds for c in chunks))
        try:
            for chunk, examples, stats in results:
                per_chunk.append((chunk, stats))
                split = "eval" if chunk.eval else "train"
                for example in examples:
                    writers[split].write(example)
                    if collector and split == "train":
                        collector.add(example)
                per_source[chunk.source][split] += len(examples)
                per_source[chunk.source]["chunks"] += 1
                reporter.advance(chunk.seconds)
        finally:
            reporter.stop()
            for w in writers.values():
                w.close()
    shutil.rmtree(staging.path / ".sources", ignore_errors=True)  # downloaded gs:// inputs
    stats_file = None
    if collector and "train" in writers:
        used = min(counts["train"], options.max_statistics_examples)
        reporter.message(f"computing dataset statistics over {used} of {counts['train']} train examples")
        stats_file = dataset_stats.write(collector.result(), staging.path / STATISTICS).name
    manifest = _manifest(good, bad, per_source, writers, counts, options, f0_method, input_spec, stats_file)
    return manifest | {"health": _health(good, bad, per_chunk, options, f0_method)}


@contextlib.contextmanager
def _chunk_results(tasks: list[_Task], workers: int):
    """Yields an iterator of ``compute_chunk`` results, in task order.

    Workers are forked while this process has not imported TensorFlow (forking a process
    that holds TensorFlow's runtime is unsafe), after loading librosa and its compiled
    pYIN decoder here once, so they start in milliseconds instead of seconds each.
    Should TensorFlow already be loaded, workers are spawned fresh instead.
    """
    if workers <= 1 or len(tasks) <= 1:
        yield map(compute_chunk, tasks)
        return
    if "tensorflow" in sys.modules:
        ctx = multiprocessing.get_context("spawn")
    else:
        features.warm_up()
        ctx = multiprocessing.get_context("fork")
    pool = ctx.Pool(min(workers, len(tasks)), initializer=_worker_signals)
    try:
        yield pool.imap(compute_chunk, tasks)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


def _manifest(good, bad, per_source, writers, counts, options, f0_method, input_spec, stats_file) -> dict:
    spec = options.windows
    return {
        "format": "ddsp-launch/dataset",
        "version": 1,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "tool": f"ddsp-launch {__version__}",
        "input": tool_args.shown(input_spec),
        "parameters": {
            "preset": spec.preset.name,
            "sample_rate": features.SAMPLE_RATE,
            "frame_rate": spec.preset.frame_rate,
            "example_secs": spec.example_secs,
            "example_frames": spec.example_frames,
            "hop_secs": spec.hop_secs,
            "chunk_secs": spec.chunk_secs,
            "eval_fraction": options.eval_fraction,
            "padding": spec.preset.padding,
            "f0_estimator": f0_method,
            "f0_settings": options.pyin.as_dict() if f0_method == "pyin" else {"model": "crepe full", "viterbi": True},
            "loudness": {"n_fft": features.LOUDNESS_FFT, "weighting": "A", "ref_db": 0.0, "range_db": features.DB_RANGE},
        },
        "counts": {
            "train_examples": counts["train"],
            "eval_examples": counts["eval"],
            "sources_used": len(good),
            "sources_skipped": len(bad),
        },
        "seconds": {"input_audio": round(sum(i.seconds for i in good), 3)},
        "file_patterns": {name: f"{name}.tfrecord*" for name in writers},
        "shards": {name: [p.name for p in w.paths] for name, w in writers.items()},
        "statistics": stats_file,
        "sources": [
            {
                "origin": info.source.origin,
                "sha256": info.sha256,
                "bytes": info.size,
                "seconds": round(info.seconds, 3),
                "sample_rate": info.sample_rate,
                "channels": info.channels,
                "format": info.format,
                "peak_dbfs": round(info.peak_dbfs, 2),
                "chunks": n["chunks"],
                "examples": {"train": n["train"], "eval": n["eval"]},
            }
            for info, n in zip(good, per_source)
        ],
        "skipped": [{"origin": b.source.origin, "reason": b.reason} for b in bad],
    }
