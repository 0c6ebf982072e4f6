"""Export a model trained with ``--model vst`` for Magenta's DDSP-VST plugin, and prove it loads.

Container side (TensorFlow + ddsp). ddsp's own ``VSTStatelessPredictControls`` (what the
Train_VST colab's ``ddsp_export --inference_model=vst_stateless_predict_controls`` exports)
is saved as a SavedModel and converted by TensorFlow's TFLiteConverter with TFLite's builtin
ops only (the plugin links no Flex delegate); ``metadata.json`` is appended as a zip
(``common/vst.pack``: no tflite_support). Before the file is renamed into place:

- the plugin's rules are checked on its bytes (``common/vst.check``: builtin ops, tensor
  names and sizes, metadata fields and types);
- it is built with TFLite's builtin op resolver and run as the plugin runs it: one call per
  20 ms hop, the GRU state fed back (``stream``);
- those streamed controls are compared with the trained (batch) model's on the same input,
  a phrase across the dataset's pitch and power range: within ``TOLERANCE``.

A model whose shape the plugin cannot play (solo_instrument; vst_32k / vst_48k) is refused
before anything is converted (``plugin_shape``).
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ddsp_launch.common import gin_rules, presets, vst
from ddsp_launch.common.errors import InputError, LaunchError
from ddsp_launch.common.model_files import STATISTICS
from ddsp_launch.trainer.prepare import stats as dataset_stats

# streamed (TFLite, hop by hop) vs batch (the trained model over the whole phrase): the largest
# difference allowed, relative to each control's largest value in the phrase
TOLERANCE = 1e-4
CHECK_SECONDS = 6.0  # the comparison phrase
NOTE_RANGE = ("mean_min_pitch_note", "mean_max_pitch_note", "mean_min_power_note", "mean_max_power_note")
ROLES = {vst.AMPLITUDE: "amplitudes", vst.HARMONIC_DISTRIBUTION: "harmonic_distribution", vst.NOISE: "magnitudes"}


def plugin_shape(label: str) -> None:
    """Refuse, before any conversion, a model whose (parsed) gin says the plugin cannot play it."""
    import gin  # noqa: PLC0415

    def query(name: str):
        try:
            return gin.query_parameter(name)
        except ValueError:  # not bound
            return None

    def configurable(ref) -> str:
        return ref.config_key[-1].split(".")[-1] if hasattr(ref, "config_key") else str(ref)

    fix = ("train a model for the plugin: `ddsp-launch prepare IN DATA --model vst`, then train with "
           "--model vst (ddsp's models/vst/vst.gin)")
    if (configurable(query("Autoencoder.preprocessor")), configurable(query("Autoencoder.decoder"))) != \
            ("OnlineF0PowerPreprocessor", "RnnFcDecoder"):
        raise InputError(f"{label} is not a DDSP-VST model (it was not trained with models/vst/vst.gin: the plugin "
                         "feeds pitch and power to a GRU decoder, one 20 ms hop at a time)", fix)
    splits = dict(query("RnnFcDecoder.output_splits") or ())
    found = {"sample rate": query("%sample_rate"), "frame rate": query("%frame_rate"), "frame size": query("%frame_size"),
             "harmonics": splits.get("harmonic_distribution"), "noise magnitudes": splits.get("noise_magnitudes"),
             "GRU size": query("RnnFcDecoder.rnn_channels"), "RNN": query("RnnFcDecoder.rnn_type")}
    wanted = {"sample rate": vst.SAMPLE_RATE, "frame rate": vst.FRAME_RATE, "frame size": vst.FRAME_SIZE,
              "harmonics": vst.HARMONICS, "noise magnitudes": vst.NOISE_AMPS, "GRU size": vst.STATE_SIZE, "RNN": "gru"}
    wrong = [f"{k} {found[k]} (the plugin's: {v})" for k, v in wanted.items() if found[k] != v]
    if wrong:
        raise InputError(f"{label} has a shape the DDSP-VST plugin rejects: {'; '.join(wrong)}. {vst.PLUGIN_SHAPE}", fix)


def _staged(folder, checked_config: str, where: Path) -> str:
    """The checkpoint beside exactly the checked operative config (ddsp's inference modules read
    the newest operative_config-N.gin beside the checkpoint they are given)."""
    where.mkdir()
    prefix = Path(folder.checkpoint)
    for part in prefix.parent.glob(prefix.name + ".*"):
        (where / part.name).symlink_to(part.resolve())
    (where / "operative_config-0.gin").write_text(checked_config)
    return str(where / prefix.name)


def _restore_failed(folder, exc) -> InputError:
    return InputError(f"{folder.checkpoint} does not fit the model its operative config describes: "
                      f"{str(exc).splitlines()[0][:300]}", "use the operative_config-*.gin written beside these checkpoints")


def batch_controls(ckpt: str, folder, f0_scaled, pw_scaled, ddsp) -> dict[str, np.ndarray]:
    """The trained model as gin describes it (its GRU over the whole phrase at once) -> the
    plugin's three controls."""
    import tensorflow as tf  # noqa: PLC0415

    model = ddsp.training.models.get_model()
    f0 = tf.constant(np.asarray(f0_scaled, np.float32)[None, :, None])
    pw = tf.constant(np.asarray(pw_scaled, np.float32)[None, :, None])
    model.decoder({"f0_scaled": f0, "pw_scaled": pw})  # creates the variables the checkpoint fills
    try:
        tf.train.Checkpoint(model=tf.train.Checkpoint(decoder=model.decoder)).restore(ckpt).expect_partial() \
            .assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as exc:
        raise _restore_failed(folder, exc) from None
    out = model.decoder({"f0_scaled": f0, "pw_scaled": pw}, training=False)
    group = model.processor_group
    harm = group.harmonic.get_controls(out["amps"], out["harmonic_distribution"], ddsp.training.preprocessing.inv_scale_f0_hz(f0))
    noise = group.filtered_noise.get_controls(out["noise_magnitudes"])
    return {vst.AMPLITUDE: harm["amplitudes"].numpy()[0], vst.HARMONIC_DISTRIBUTION: harm["harmonic_distribution"].numpy()[0],
            vst.NOISE: noise["magnitudes"].numpy()[0]}


def convert(ckpt: str, folder, work: Path, ddsp) -> bytes:
    """ddsp's VSTStatelessPredictControls -> SavedModel -> TFLite flatbuffer, builtin ops only."""
    import tensorflow as tf  # noqa: PLC0415

    tf.get_logger().setLevel("ERROR")  # ddsp restores the decoder alone: TF lists every optimizer slot it leaves
    with contextlib.redirect_stdout(io.StringIO()):  # ddsp prints the config it parses and the shapes it builds
        try:
            module = ddsp.training.inference.VSTStatelessPredictControls(ckpt, verbose=False)
        except (AssertionError, ValueError, tf.errors.OpError) as exc:
            raise _restore_failed(folder, exc) from None
        module.save_model(str(work / "saved_model"))
    converter = tf.lite.TFLiteConverter.from_saved_model(str(work / "saved_model"), signature_keys=["call"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # the plugin has no Flex delegate
    try:
        return converter.convert()
    except Exception as exc:  # noqa: BLE001 (ConverterError and friends: the converter's own message says which op)
        raise LaunchError(f"TensorFlow Lite cannot convert this model with builtin ops only: {str(exc)[:500]}",
                          "the DDSP-VST plugin runs builtin ops only; train with --model vst, unchanged") from None


def interpreter(data: bytes):
    """The model built as the plugin builds it: TFLite's builtin op resolver, one thread."""
    import tensorflow as tf  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's notice that LiteRT replaces it in TF 2.20
        interp = tf.lite.Interpreter(model_content=data, num_threads=1,
                                     experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN)
    interp.allocate_tensors()
    return interp


class Stream:
    """One call per hop, by tensor name (any order), the state carried: the plugin's PredictControlsModel."""

    def __init__(self, data: bytes):
        self.interp = interpreter(data)
        self.inputs = {d["name"]: d["index"] for d in self.interp.get_input_details()}
        self.outputs = {d["name"]: d["index"] for d in self.interp.get_output_details()}
        self.state = np.zeros(vst.STATE_SIZE, np.float32)

    def __call__(self, f0_scaled: float, pw_scaled: float) -> dict[str, np.ndarray]:
        interp = self.interp
        interp.set_tensor(self.inputs[vst.F0_INPUT], np.array([f0_scaled], np.float32))
        interp.set_tensor(self.inputs[vst.POWER_INPUT], np.array([pw_scaled], np.float32))
        interp.set_tensor(self.inputs[vst.STATE_INPUT], self.state)
        interp.invoke()
        out = {name: interp.get_tensor(index).copy() for name, index in self.outputs.items()}
        self.state = out[vst.STATE]
        return out


def stream(data: bytes, f0_scaled, pw_scaled) -> dict[str, np.ndarray]:
    """The controls of a whole phrase, hop by hop."""
    calls = Stream(data)
    frames = [calls(f, p) for f, p in zip(f0_scaled, pw_scaled)]
    return {name: np.stack([f[name] for f in frames]) for name in ROLES}


def check_phrase(stats: dict) -> tuple[np.ndarray, np.ndarray]:
    """(f0_scaled, pw_scaled) of a phrase over the dataset's range: the pitch gliding a few
    semitones past its notes' range and back, the power rising and falling through its notes'
    range with silences between."""
    n = int(CHECK_SECONDS * vst.FRAME_RATE)
    t = np.arange(n) / vst.FRAME_RATE
    low, high = float(stats["mean_min_pitch_note"]) - 3, float(stats["mean_max_pitch_note"]) + 3
    midi = low + (high - low) * 0.5 * (1 - np.cos(2 * np.pi * t / CHECK_SECONDS))
    quiet, loud = float(stats["mean_min_power_note"]) - 10, float(stats["mean_max_power_note"])
    power = quiet + (loud - quiet) * np.abs(np.sin(np.pi * t * 1.5))
    power[(t % 2.0) > 1.8] = -vst.DB_RANGE  # a breath every two seconds
    return vst.f0_scaled(vst.midi_to_hz(midi)), vst.pw_scaled(power)


def compare(streamed: dict, batch: dict) -> dict[str, float]:
    """Per control, the largest difference relative to the control's largest value."""
    return {ROLES[k]: float(np.max(np.abs(streamed[k] - batch[k])) / max(float(np.max(np.abs(batch[k]))), 1e-12))
            for k in ROLES}


def export(folder, stats: dict, name: str, tmp: Path, tool: str, ddsp) -> dict:
    """Write ``tmp/NAME.tflite`` (metadata.json inside) and ``tmp/metadata.json``, checked; returns
    what was checked: the checker's report and the streaming comparison."""
    import gin  # noqa: PLC0415

    checked = gin_rules.check_file(folder.operative_config, registry=True, fix=gin_rules.FIX_MODEL)
    with gin.unlock_config():
        gin.parse_config(checked, skip_unknown=True)
    plugin_shape(str(folder.operative_config.parent))
    with tempfile.TemporaryDirectory(prefix="ddsp-launch-vst-") as work:
        ckpt = _staged(folder, checked, Path(work) / "model")
        f0, pw = check_phrase(stats)
        batch = batch_controls(ckpt, folder, f0, pw, ddsp)
        flatbuffer = convert(ckpt, folder, Path(work), ddsp)
    meta = vst.metadata(stats, ddsp.__version__, datetime.datetime.now().isoformat(), tool)
    data = vst.pack(flatbuffer, meta)
    report = check(data)
    if not report.ok:
        raise LaunchError("the exported model breaks the DDSP-VST plugin's rules:\n" + "\n".join(report.lines()),
                          "report this with the model folder; nothing was exported")
    differences = compare(stream(data, f0, pw), batch)
    if max(differences.values()) > TOLERANCE:
        raise LaunchError(f"the exported model, run hop by hop as the plugin runs it, differs from the trained one: "
                          f"{differences} (relative; at most {TOLERANCE} allowed)",
                          "report this with the model folder; nothing was exported")
    (tmp / f"{name}.tflite").write_bytes(data)
    (tmp / vst.METADATA).write_text(json.dumps(meta, indent=2) + "\n")
    return {"report": report, "differences": differences, "metadata": meta, "bytes": len(data),
            "frames_compared": len(f0)}


def statistics(folder) -> dict:
    """The dataset statistics of a plugin model (its pitch and power range go into metadata.json),
    from a dataset prepared for --model vst when the manifest beside them says so."""
    if folder.statistics is None:
        raise InputError(f"--vst needs the dataset's {STATISTICS}: the plugin shows the model's pitch and power range",
                         f"pass --statistics DATASET/{STATISTICS} (the dataset prepared with --model vst)")
    try:
        presets.check_folder(presets.VST.name, folder.statistics.parent, f"the dataset of {folder.statistics}")
    except InputError as exc:
        raise InputError(exc.message, "pass --statistics of the dataset this model was trained on (prepared with --model vst)") from None
    stats = dataset_stats.read(folder.statistics)
    missing = [k for k in NOTE_RANGE if k not in stats]
    if missing:
        raise InputError(f"{folder.statistics} has no {', '.join(missing)}",
                         "prepare the dataset again with `ddsp-launch prepare IN OUT --model vst`")
    return stats


def check(data: bytes) -> vst.Report:
    """The plugin's rules on a file's bytes, then its build and one call with TFLite's builtin op resolver."""
    report = vst.check(data)
    if report.ok:
        try:
            Stream(data)(0.5, 0.5)
            problems = []
        except (RuntimeError, ValueError) as exc:
            problems = [str(exc).splitlines()[0]]
        report.rules.append(("builds and runs with TFLite's builtin op resolver, one thread", problems))
    return report


def check_file(path: Path) -> vst.Report:
    return check(vst.read_model(path))
