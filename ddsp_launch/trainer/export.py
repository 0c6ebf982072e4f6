"""Export a trained model to run with TensorFlow alone: a SavedModel (and, with --tflite,
a TensorFlow Lite file, ddsp's own on-device format).

Container side (TensorFlow + ddsp to build it; nothing but TensorFlow to run it). The
exported function takes one training example's worth of controls and returns audio:

    serving_default(f0_hz: float32[1, FRAMES], loudness_db: float32[1, FRAMES])
        -> {audio, harmonic, noise: float32[1, SAMPLES]}

FRAMES, SAMPLES, the rates and the dataset's mean pitch and loudness are written to
``ddsp-model.json`` beside it, with a check value: the RMS of the harmonic part for a
fixed input, computed by the live ddsp model (the harmonic part is deterministic), so
whoever loads the export can tell the weights came with it. The export is written to
a fresh hidden ``.OUT.*.part`` folder and renamed when complete and verified.

ddsp's own ``ddsp_export`` cannot run on the pinned stack: it imports tensorflowjs (which
pulls jax, flax and tensorflow-decision-forests) and tflite_support (protobuf < 4).

    python -m ddsp_launch.trainer.export MODEL [-o OUT] [--tflite] [--force]
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from ddsp_launch.common import vst
from ddsp_launch.common.errors import InputError, LaunchError
from ddsp_launch.trainer.prepare import features
from ddsp_launch.trainer import tool_args, vst_export
from ddsp_launch.trainer.tool_args import STATISTICS, default_output, export_parser
from ddsp_launch.trainer.prepare import stats as dataset_stats
from ddsp_launch.trainer.model_folder import ModelFolder
from ddsp_launch.trainer.transfer import load_model

METADATA = tool_args.EXPORT_METADATA
FORMAT = "ddsp-launch export 1"
SAVED_MODEL = "saved_model"
TFLITE = "model.tflite"
CHECK_F0_HZ, CHECK_LOUDNESS_DB = 440.0, -20.0  # the check input: a steady A4


def check_input(frames: int) -> dict[str, np.ndarray]:
    return {"f0_hz": np.full([1, frames], CHECK_F0_HZ, np.float32),
            "loudness_db": np.full([1, frames], CHECK_LOUDNESS_DB, np.float32)}


def rms(x) -> float:
    return float(np.sqrt(np.mean(np.square(np.asarray(x, np.float64)))))


def build_module(model, n_samples: int, time_steps: int):
    """A tf.Module whose only tracked state is the model's variables.

    Keras layers are deliberately not tracked: tf.saved_model.save would re-trace every
    layer's call with an unknown batch size, which ddsp's FilteredNoise cannot take
    (``int(magnitudes.shape[0])``). The traced function below has a fixed [1, FRAMES]
    signature, so every shape inside it is static.
    """
    import tensorflow as tf  # noqa: PLC0415

    spec = tf.TensorSpec([1, time_steps], tf.float32)

    class Synthesiser(tf.Module):
        def __init__(self):
            super().__init__(name="ddsp_synthesiser")
            self.weights = list(model.variables)

        @tf.function(input_signature=[spec, spec])
        def __call__(self, f0_hz, loudness_db):
            outputs = model({"f0_hz": f0_hz, "loudness_db": loudness_db, "audio": tf.zeros([1, n_samples])}, training=False)
            return {"audio": model.get_audio_from_outputs(outputs),
                    "harmonic": outputs["harmonic"]["signal"],
                    "noise": outputs["filtered_noise"]["signal"]}

    return Synthesiser()


def export(folder: ModelFolder, stats: dict | None, out: Path, tmp: Path, tflite: bool, ddsp) -> dict:
    import tensorflow as tf  # noqa: PLC0415

    model, n_samples, time_steps = load_model(folder, ddsp)
    module = build_module(model, n_samples, time_steps)
    live = module(**{k: tf.constant(v) for k, v in check_input(time_steps).items()})
    expected = rms(live["harmonic"])

    tf.saved_model.save(module, str(tmp / SAVED_MODEL), signatures={"serving_default": module.__call__})
    loaded = tf.saved_model.load(str(tmp / SAVED_MODEL)).signatures["serving_default"]
    got = rms(loaded(**{k: tf.constant(v) for k, v in check_input(time_steps).items()})["harmonic"])
    if not np.isclose(got, expected, rtol=1e-4, atol=1e-7):
        raise LaunchError(f"the exported model does not reproduce the trained one (harmonic RMS {got:.6g} vs {expected:.6g})",
                          "report this with the model folder; nothing was exported")
    files = [SAVED_MODEL]
    if tflite:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp / SAVED_MODEL))
        # the noise synthesiser's FFT filter (IRFFT) has no builtin TFLite kernel: select TF ops
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
        (tmp / TFLITE).write_bytes(converter.convert())
        files.append(TFLITE)

    metadata = {
        "format": FORMAT,
        "signature": "serving_default(f0_hz: float32[1, frames], loudness_db: float32[1, frames]) -> {audio, harmonic, noise: float32[1, samples]}",
        "files": files,
        "sample_rate": features.SAMPLE_RATE,
        "frame_rate": features.SAMPLE_RATE // features.HOP,
        "frames": time_steps,
        "samples": n_samples,
        "checkpoint": Path(folder.checkpoint).name,
        "operative_config": folder.operative_config.name,
        "dataset_mean_pitch_midi": None if stats is None else float(stats["mean_pitch"]),
        "check": {"f0_hz": CHECK_F0_HZ, "loudness_db": CHECK_LOUDNESS_DB, "harmonic_rms": expected},
    }
    return commit(metadata, stats, out, tmp)


def commit(metadata: dict, stats: dict | None, out: Path, tmp: Path) -> dict:
    """Write our metadata and the statistics into the finished export, then rename it into place."""
    (tmp / METADATA).write_text(json.dumps(metadata, indent=2) + "\n")
    if stats is not None:  # for `ddsp-launch transfer` from the export's folder, always the safe format
        dataset_stats.write(stats, tmp / STATISTICS)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return metadata


def export_vst(folder: ModelFolder, stats: dict, out: Path, tmp: Path, model_file: Path, ddsp) -> dict:
    """``--vst``: NAME.tflite for the DDSP-VST plugin (trainer/vst_export.py), checked, with
    metadata.json and the statistics beside it."""
    done = vst_export.export(folder, stats, model_file.stem, tmp, "export", ddsp)
    metadata = {
        "format": FORMAT,
        "kind": "DDSP-VST plugin model",
        "files": [model_file.name, vst.METADATA],
        "checkpoint": Path(folder.checkpoint).name,
        "operative_config": folder.operative_config.name,
        "plugin_checks": done["report"].lines(),
        "streaming_vs_batch": {"frames": done["frames_compared"], "largest_relative_difference": done["differences"],
                               "allowed": vst_export.TOLERANCE},
        "metadata": done["metadata"],
    }
    return commit(metadata, stats, out, tmp)


def main(argv: list[str] | None = None) -> int:
    args = export_parser().parse_args(argv)
    out = args.output or default_output("export", args)
    scratch = None  # a fresh hidden folder beside OUT, renamed into place when complete and verified
    try:
        tool_args.check_destinations("export", args)
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        model_file = tool_args.plugin_model(args) if args.vst else None
        folder = ModelFolder.find(args.model, args.statistics, require_statistics=False, which=args.checkpoint)
        if args.vst:
            stats = vst_export.statistics(folder)
        else:  # a pickle that would run code is refused
            stats = dataset_stats.read(folder.statistics) if folder.statistics else None
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create {out.parent}: {exc.strerror}", "choose another -o") from None
        if not os.access(out.parent, os.W_OK):
            raise InputError(f"cannot write {out}: {out.parent} is not writable", "choose another -o")
        from ddsp_launch.trainer.ddsp_compat import import_ddsp  # noqa: PLC0415 (TensorFlow from here on)

        scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
        umask = os.umask(0)
        os.umask(umask)
        scratch.chmod(0o777 & ~umask)  # mkdtemp's 0700 would make the export private once renamed
        if args.vst:
            metadata = export_vst(folder, stats, out, scratch, model_file, import_ddsp())
            installed = vst.install(model_file, replace=args.force) if args.install else None
        else:
            metadata = export(folder, stats, out, scratch, args.tflite, import_ddsp())
    except LaunchError as exc:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BaseException:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    written = [*metadata["files"], *([STATISTICS] if stats is not None else []), METADATA]
    print(f"exported {folder.checkpoint} to {out}: {', '.join(written)}")
    if args.vst:
        checked = metadata["streaming_vs_batch"]
        print(f"{model_file.name}: the DDSP-VST plugin's rules", *metadata["plugin_checks"], sep="\n")
        print(f"  ok    streamed hop by hop = the trained model over {checked['frames']} frames (largest relative "
              f"difference {max(checked['largest_relative_difference'].values()):.1e}, allowed {checked['allowed']:g})")
        print(f"installed {installed}" if installed else
              f"for the plugin: copy {model_file} into {vst.models_folder()} (or: ddsp-launch install-plugin-model {model_file})")
        return 0
    print(f"  {metadata['frames']} frames ({metadata['frame_rate']}/s) of f0_hz and loudness_db in, "
          f"{metadata['samples']} samples at {metadata['sample_rate']} Hz out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
