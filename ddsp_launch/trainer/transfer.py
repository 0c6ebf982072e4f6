"""Timbre transfer: play a recording's melody with a trained model's instrument.

Container side (TensorFlow + ddsp). The input's f0 and loudness are extracted with the
same code as `prepare` (pYIN, ddsp's loudness), then adjusted the way ddsp's
timbre-transfer colab does: an octave shift toward the dataset's mean pitch, and the
loudness of detected notes mapped through the dataset's quantile transform (quiet parts
turned down). The model resynthesises the audio a training example's length at a time,
so a long input needs only one chunk of audio in memory; the output is 16 kHz mono wav,
written under a temporary name and renamed when complete.

    python -m ddsp_launch.trainer.transfer MODEL INPUT -o OUTPUT.wav [--statistics FILE]
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ddsp_launch.common import destinations, gin_rules, model_files, writable
from ddsp_launch.common.errors import InputError, LaunchError
from ddsp_launch.trainer.prepare import features, sources
from ddsp_launch.trainer.prepare import stats as dataset_stats
from ddsp_launch.trainer import tool_args
from ddsp_launch.trainer.tool_args import STATISTICS, stem_paths, transfer_parser


@dataclass
class ModelFolder:
    checkpoint: str  # the prefix, e.g. MODEL/ckpt-300
    operative_config: Path
    statistics: Path | None  # None only when not required and not found

    @classmethod
    def find(cls, folder: Path, statistics: Path | None = None, require_statistics: bool = True) -> "ModelFolder":
        if not folder.is_dir():
            raise InputError(f"model folder {folder} does not exist", "give a training output folder, or `ddsp-launch download RUN` first")
        model = model_files.newest_in(folder)
        if model is None:
            raise InputError(f"{folder} holds no complete checkpoint (ckpt-N.index with its data files)",
                             "train first, or point at the folder the checkpoints were written to")
        stats = statistics or folder / (model.statistics or STATISTICS)
        if not stats.is_file():
            if statistics is not None or require_statistics:
                raise InputError(f"no dataset statistics at {stats}",
                                 f"pass --statistics DATASET/{STATISTICS} (written by `ddsp-launch prepare`)")
            stats = None
        gin_rules.check_file(folder / model.operative_config, fix=gin_rules.FIX_MODEL)  # before anything runs: data, not code
        return cls(str(folder / model.checkpoint), folder / model.operative_config, stats)


def read_input(path: Path) -> sources.AudioInfo:
    info = sources.inspect(sources.Source(str(path), path), min_seconds=features.HOP / features.SAMPLE_RATE)
    if isinstance(info, sources.BadFile):
        raise InputError(f"{path} {info.reason}", "give a recording of a melody (wav, flac, ogg or mp3)")
    return info


def input_features(info: sources.AudioInfo, chunk: int) -> dict[str, np.ndarray]:
    """f0, confidence and loudness of the whole input, computed a chunk at a time."""
    n = math.ceil(info.frames * features.SAMPLE_RATE / info.sample_rate)
    parts: dict[str, list] = {"f0_hz": [], "f0_confidence": [], "loudness_db": []}
    for start in range(0, n, chunk):
        audio = sources.read_16k_mono(info, start, min(chunk, n - start))
        f0, conf = features.f0_pyin(audio)
        parts["f0_hz"].append(f0)
        parts["f0_confidence"].append(conf)
        parts["loudness_db"].append(features.loudness_db(audio))
    out = {k: np.concatenate(v).astype(np.float32) for k, v in parts.items()}
    out["n_samples"] = n
    return out


def adjust(feats: dict, stats: dict, octave_shift: str, match_loudness: bool, quiet_db: float, threshold: float, ddsp) -> tuple[dict, list[str]]:
    """The colab's automatic adjustments; returns the new features and what was done."""
    post = ddsp.training.postprocessing
    f0, loud, conf = feats["f0_hz"].copy(), feats["loudness_db"].copy(), feats["f0_confidence"]
    mask_on, _ = post.detect_notes(loud, conf, threshold)
    if not mask_on.any():
        raise InputError("no notes found in the input (too quiet, or no clear pitch)",
                         "give a monophonic melody recording, or lower --note-threshold")
    said = [f"{int(mask_on.sum())} of {len(mask_on)} frames hold notes"]
    if octave_shift == "auto":
        midi = ddsp.core.hz_to_midi(f0[mask_on]).numpy()
        octaves = int(round((stats["mean_pitch"] - float(np.mean(midi))) / 12.0))
    else:
        octaves = int(octave_shift)
    if octaves:
        f0 = np.clip(ddsp.core.midi_to_hz(ddsp.core.hz_to_midi(f0).numpy() + 12 * octaves).numpy(), 0, 8000).astype(np.float32)
    said.append(f"octave shift {octaves:+d}" + (" (toward the dataset's mean pitch)" if octave_shift == "auto" else ""))
    if match_loudness:
        _, normed = post.fit_quantile_transform(loud, mask_on, inv_quantile=dataset_stats.quantile_transform(stats, ddsp))
        loud = np.reshape(normed, loud.shape).astype(np.float32)
        loud[~mask_on] -= quiet_db
        said.append(f"note loudness matched to the dataset's (quantiles), {quiet_db:g} dB off between notes")
    return {**feats, "f0_hz": f0, "loudness_db": loud}, said


def load_model(folder: ModelFolder, ddsp):
    import gin  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    checked = gin_rules.check_file(folder.operative_config, registry=True, fix=gin_rules.FIX_MODEL)  # ddsp is imported now
    with gin.unlock_config():
        gin.parse_config(checked, skip_unknown=True)
    n_samples = gin.query_parameter("Harmonic.n_samples")
    time_steps = gin.query_parameter("F0LoudnessPreprocessor.time_steps")
    model = ddsp.training.models.get_model()
    zeros = tf.zeros([1, time_steps])
    model({"f0_hz": zeros, "loudness_db": zeros, "audio": tf.zeros([1, n_samples])}, training=False)
    try:
        status = tf.train.Checkpoint(model=model).restore(folder.checkpoint)
        status.expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as exc:
        raise InputError(f"{folder.checkpoint} does not fit the model its operative config describes: {str(exc).splitlines()[0][:300]}",
                         "use the operative_config-*.gin written beside these checkpoints") from None
    return model, n_samples, time_steps


def synthesise(model, feats: dict, n_samples: int, time_steps: int, outs: dict[str, Path]) -> int:
    """Resynthesise a chunk at a time; ``outs`` maps "audio" (and with --stems "harmonic",
    "noise") to the 16-bit wav files to write. Returns the samples written to each."""
    import soundfile as sf  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    total = feats["n_samples"]
    frames = len(feats["f0_hz"])
    written = 0
    files = {k: sf.SoundFile(str(p), "w", samplerate=features.SAMPLE_RATE, channels=1, subtype="PCM_16", format="WAV")
             for k, p in outs.items()}
    for f in files.values():
        f.software = f"{destinations.MARK} transfer"  # our mark: a later run may replace this file
    try:
        for first in range(0, frames, time_steps):
            f0 = np.zeros(time_steps, np.float32)
            loud = np.full(time_steps, -features.DB_RANGE, np.float32)
            part = slice(first, min(first + time_steps, frames))
            f0[: part.stop - part.start] = feats["f0_hz"][part]
            loud[: part.stop - part.start] = feats["loudness_db"][part]
            outputs = model({"f0_hz": tf.constant(f0[np.newaxis]), "loudness_db": tf.constant(loud[np.newaxis]),
                             "audio": tf.zeros([1, n_samples])}, training=False)
            signals = {"audio": model.get_audio_from_outputs(outputs), "harmonic": outputs["harmonic"]["signal"],
                       "noise": outputs["filtered_noise"]["signal"]}
            keep = min(n_samples, total - written)
            for k, f in files.items():
                f.write(np.clip(signals[k].numpy()[0][:keep], -1.0, 1.0))
            written += keep
    finally:
        for f in files.values():
            f.close()
    return written


def plot(info: sources.AudioInfo, output: Path, png: Path) -> None:
    from ddsp_launch.trainer import plots  # noqa: PLC0415

    n = min(int(plots.PLOT_SECONDS * features.SAMPLE_RATE), math.ceil(info.frames * features.SAMPLE_RATE / info.sample_rate))
    result = read_input(output)
    suffix = f" (first {plots.PLOT_SECONDS:g} s)" if n < result.frames else ""
    plots.draw(plots.analyse(sources.read_16k_mono(info, 0, n)), plots.analyse(sources.read_16k_mono(result, 0, n)), png,
               (f"input: {info.source.path.name}{suffix}", f"output: {output.name}{suffix}"))


def check_outputs(args) -> None:
    tool_args.check_destinations("transfer", args)
    for out in (args.output, args.plot):
        parent = out.parent if out is not None and str(out.parent) else Path(".")
        why = None if out is None else "no such folder" if not parent.is_dir() else writable.problem(parent)
        if why:
            raise InputError(f"cannot write {out}: {parent} is not a writable folder ({why})", "choose another output path")


def main(argv: list[str] | None = None) -> int:
    args = transfer_parser().parse_args(argv)
    temps = {}  # the .part files, removed on failure: only once they are known to be ours
    try:
        check_outputs(args)
        temps = {"audio": args.output.with_name(args.output.name + ".part")}
        folder = ModelFolder.find(args.model, args.statistics)
        stats = dataset_stats.read(folder.statistics)  # numbers only: a pickle that would run code is refused
        info = read_input(args.input)
        from ddsp_launch.trainer.ddsp_compat import import_ddsp  # noqa: PLC0415 (TensorFlow from here on)

        ddsp = import_ddsp()
        model, n_samples, time_steps = load_model(folder, ddsp)
        feats = input_features(info, n_samples)
        feats, said = adjust(feats, stats, args.octave_shift, args.match_loudness, args.quiet_db, args.note_threshold, ddsp)
        print("transfer: " + "; ".join(said), file=sys.stderr)
        finals = {"audio": args.output, **(stem_paths(args.output) if args.stems else {})}
        temps = {k: p.with_name(p.name + ".part") for k, p in finals.items()}
        written = synthesise(model, feats, n_samples, time_steps, temps)
        for k in ("harmonic", "noise", "audio"):  # the mix last: its presence means all are complete
            if k in temps:
                os.replace(temps[k], finals[k])
        if args.plot:
            plot(info, args.output, args.plot)
    except LaunchError as exc:
        for t in temps.values():
            t.unlink(missing_ok=True)
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BaseException:
        for t in temps.values():
            t.unlink(missing_ok=True)
        raise
    print(f"wrote {args.output} ({written / features.SAMPLE_RATE:.1f} s, model {folder.checkpoint})"
          + (f"; plot {args.plot}" if args.plot else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
