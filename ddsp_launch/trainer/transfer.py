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
from pathlib import Path

import numpy as np

from ddsp_launch.common import destinations, gin_rules, writable
from ddsp_launch.common.errors import InputError, LaunchError
from ddsp_launch.trainer.prepare import features, sources
from ddsp_launch.trainer.prepare import stats as dataset_stats
from ddsp_launch.trainer import tool_args
from ddsp_launch.trainer.melody import notes_found, shift_octaves
from ddsp_launch.trainer.model_folder import ModelFolder
from ddsp_launch.trainer.tool_args import stem_paths, transfer_parser


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
    said = [notes_found(mask_on)]
    f0, shift = shift_octaves(f0, mask_on, octave_shift, stats["mean_pitch"], ddsp)
    said.append(shift + (" (toward the dataset's mean pitch)" if octave_shift == "auto" else ""))
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


def ddsp_chunks(model, feats: dict, n_samples: int, time_steps: int):
    """Resynthesise a training example's length at a time: {"audio", "harmonic", "noise"} per chunk."""
    import tensorflow as tf  # noqa: PLC0415

    frames = len(feats["f0_hz"])
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
        yield {k: v.numpy()[0] for k, v in signals.items()}


def write_wavs(chunks, total: int, outs: dict[str, Path]) -> int:
    """Write the chunks' signals, up to ``total`` samples; ``outs`` maps "audio" (and with --stems
    "harmonic", "noise") to the 16-bit wav files to write. Returns the samples written to each."""
    import soundfile as sf  # noqa: PLC0415

    written = 0
    files = {k: sf.SoundFile(str(p), "w", samplerate=features.SAMPLE_RATE, channels=1, subtype="PCM_16", format="WAV")
             for k, p in outs.items()}
    for f in files.values():
        f.software = f"{destinations.MARK} transfer"  # our mark: a later run may replace this file
    try:
        for signals in chunks:
            keep = min(len(signals["audio"]), total - written)
            if keep <= 0:
                break
            for k, f in files.items():
                f.write(np.clip(signals[k][:keep], -1.0, 1.0))
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
        if args.engine == "plugin":
            from ddsp_launch.trainer import plugin_transfer  # noqa: PLC0415

            source = plugin_transfer.locate(args)
        else:
            folder = ModelFolder.find(args.model, args.statistics, which=args.checkpoint)
            stats = dataset_stats.read(folder.statistics)  # numbers only: a pickle that would run code is refused
        info = read_input(args.input)
        from ddsp_launch.trainer.ddsp_compat import import_ddsp  # noqa: PLC0415 (TensorFlow from here on)

        ddsp = import_ddsp()
        if args.engine == "plugin":
            chunks, total, said, label = plugin_transfer.render(source, info, args, ddsp)
        else:
            model, n_samples, time_steps = load_model(folder, ddsp)
            feats = input_features(info, n_samples)
            feats, said = adjust(feats, stats, args.octave_shift, args.match_loudness, args.quiet_db, args.note_threshold, ddsp)
            chunks, total, label = ddsp_chunks(model, feats, n_samples, time_steps), feats["n_samples"], folder.checkpoint
        print("transfer: " + "; ".join(said), file=sys.stderr)
        finals = {"audio": args.output, **(stem_paths(args.output) if args.stems else {})}
        temps = {k: p.with_name(p.name + ".part") for k, p in finals.items()}
        written = write_wavs(chunks, total, temps)
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
    print(f"wrote {args.output} ({written / features.SAMPLE_RATE:.1f} s, model {label})"
          + (f"; plot {args.plot}" if args.plot else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
