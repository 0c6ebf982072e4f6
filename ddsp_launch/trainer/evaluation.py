"""Held-out evaluation: the model's losses and the resynthesis' f0 and loudness errors on the
dataset's eval split (``prepare --eval-fraction``), every --eval_every steps.

Metrics, computed as ddsp 3.7.0 computes them (its own functions, reused):
- ``spectral_loss`` (and ``total_loss``): the model's own loss objects (``model.loss_objs``,
  e.g. ddsp.losses.SpectralLoss) on the held-out audio and its resynthesis, averaged over the
  examples. (ddsp's eval_util calls the model with ``training=False``, which computes no
  losses in 3.7.0; the losses are asked for explicitly here.)
- ``loudness_db``: ddsp.training.metrics.LoudnessMetrics (the mean L1 distance between the
  example's loudness and ddsp.spectral_ops.compute_loudness of the resynthesis), per example.
- ``f0_cents`` and ``f0_outlier_ratio``: F0CrepeMetrics' rule (ddsp's F0LdEvaluator without an f0
  encoder): examples whose own pitch is unreliable (``is_outlier``) are left out; on the rest
  ``f0_dist_conf_thresh`` (mean |MIDI difference| on frames with confidence >= 0.85, i.e.
  voiced frames) is taken; an example above 12 semitones, or untrackable, counts as an outlier.
  f0 of the resynthesis comes from CREPE through ddsp where crepe is installed, else from the
  pYIN estimator `prepare` uses (trainer/prepare/features.py). Reported in cents (x100).

Results go to TensorBoard (``eval/...``), the log, and ``eval.jsonl`` beside the checkpoints
(one JSON object per evaluation). No eval split: evaluation is off, with a message saying how
to turn it on.
"""

from __future__ import annotations

import glob
import json
import logging
import math
import os
import time
import warnings
from pathlib import Path

from ddsp_launch.common import eval_log, gcs, presets
from ddsp_launch.common.paths import EVAL_LOG

SAMPLE_RATE = 16000
EVAL_SPLIT = "eval.tfrecord*"  # what prepare writes beside train.tfrecord*
NO_EVAL_SPLIT = ("evaluation is off: no eval split beside the training data ({where}); to hold out examples, prepare "
                 "the dataset with one: ddsp-launch prepare AUDIO DATASET --eval-fraction 0.1")
METRICS = ("spectral_loss", "total_loss", "f0_cents", "f0_outlier_ratio", "loudness_db")


def eval_pattern(train_pattern: str) -> str:
    """Where a dataset's eval split is: ``eval.tfrecord*`` in the training records' folder."""
    head = train_pattern.rsplit("/", 1)[0] if "/" in train_pattern else "."
    return f"{head}/{EVAL_SPLIT}"


def local_eval_files(pattern: str) -> list[str]:
    return sorted(glob.glob(os.path.expanduser(pattern))) if not gcs.is_gcs(pattern) else []


def f0_estimator():
    """f0 of generated audio: (name, fn(audio 1-D, preset) -> (f0_hz, confidence))."""
    from ddsp_launch.trainer.ddsp_compat import crepe_available  # noqa: PLC0415
    from ddsp_launch.trainer.prepare import features  # noqa: PLC0415

    if crepe_available():
        return "crepe", features.f0_crepe
    return "pyin", lambda audio, preset: features.f0_pyin(audio, preset=preset)


def f0_error(batch_f0_hz, batch_conf, audio_gen, preset, estimate) -> tuple[list[float], int]:
    """ddsp's F0CrepeMetrics.update_state, with ``estimate`` for the resynthesis' pitch: the
    f0 distances (MIDI) of the trackable examples, and how many examples were outliers."""
    import numpy as np  # noqa: PLC0415
    from ddsp.training import metrics  # noqa: PLC0415

    dists, outliers = [], 0
    for i in range(int(audio_gen.shape[0])):
        f0_gt, conf_gt = np.asarray(batch_f0_hz[i]), np.asarray(batch_conf[i])
        if metrics.is_outlier(conf_gt):
            continue  # the example's own pitch is unreliable: left out, as ddsp does (no pitch tracking spent on it)
        f0_gen, _ = estimate(np.asarray(audio_gen[i], np.float32), preset)
        dist = metrics.f0_dist_conf_thresh(f0_gt, f0_gen, conf_gt)
        if dist is None or dist > metrics.OUTLIER_MIDI_THRESH:
            outliers += 1
        else:
            dists.append(float(dist))
    return dists, outliers


class Evaluator:
    """Evaluates a model on up to ``max_examples`` held-out examples, evenly spaced over the eval
    split (always the same ones), eagerly after reseeding TensorFlow's random numbers: a model that has not changed
    scores the same (what --early_stop_patience compares)."""

    def __init__(self, model, pattern: str, batch_size: int, max_examples: int, preset_name: str, seed: int = 0):
        import ddsp.training  # noqa: PLC0415

        self.model = model
        self.pattern = pattern
        self.preset = presets.get(preset_name)
        import tensorflow as tf  # noqa: PLC0415

        provider = ddsp.training.data.TFRecordProvider(file_pattern=pattern)  # gin supplies the preset's frame rate
        self.total = sum(1 for _ in tf.data.TFRecordDataset(sorted(tf.io.gfile.glob(pattern))))
        stride = max(1, self.total // max_examples)  # spread over the split (its chunks), not the first few seconds
        picked = provider.get_dataset(shuffle=False).enumerate().filter(lambda i, _: i % stride == 0).map(lambda _, ex: ex)
        self.dataset = picked.take(max_examples).batch(batch_size).cache()
        self.estimator_name, self.estimate = f0_estimator()
        self.seed = seed

    def _forward(self, batch):
        return self.model.get_audio_from_outputs(self.model(dict(batch), training=False))

    def losses(self, batch, audio_gen) -> dict[str, float]:
        """The model's own loss objects on the held-out audio and its resynthesis."""
        out = {}
        for loss_obj in self.model.loss_objs:
            if hasattr(loss_obj, "get_losses_dict"):
                out.update({k: float(v) for k, v in loss_obj.get_losses_dict(batch["audio"], audio_gen).items()})
        out["total_loss"] = sum(out.values())
        return out

    def run(self) -> dict:
        # ddsp's metrics log every example at INFO, and compute_loudness' A-weighting warns at 0 Hz
        absl = logging.getLogger("absl")
        level = absl.level
        absl.setLevel(logging.WARNING)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "divide by zero", RuntimeWarning)
                return self._run()
        finally:
            absl.setLevel(level)

    def _run(self) -> dict:
        import tensorflow as tf  # noqa: PLC0415
        from ddsp.training import metrics  # noqa: PLC0415

        t0 = time.perf_counter()
        # the same noise (ddsp's noise synthesiser draws it each call) at every evaluation: equal weights, equal loss
        tf.random.set_seed(self.seed)
        loudness = metrics.LoudnessMetrics(sample_rate=SAMPLE_RATE, frame_rate=self.preset.frame_rate)
        sums: dict[str, float] = {}
        n, dists, outliers, trackable = 0, [], 0, 0
        for batch in self.dataset:
            audio_gen = self._forward(batch)
            size = int(audio_gen.shape[0])
            for k, v in self.losses(batch, audio_gen).items():
                sums[k] = sums.get(k, 0.0) + v * size
            loudness.update_state(batch, audio_gen)
            d, o = f0_error(batch["f0_hz"], batch["f0_confidence"], audio_gen.numpy(), self.preset, self.estimate)
            dists += d
            outliers += o
            trackable += len(d) + o
            n += size
        if not n:
            raise ValueError(f"the eval split {self.pattern} holds no examples")
        result = {k: v / n for k, v in sums.items()}
        result["loudness_db"] = float(loudness.metrics["loudness_db"].result())
        result["f0_cents"] = 100.0 * sum(dists) / len(dists) if dists else float("nan")
        result["f0_outlier_ratio"] = outliers / trackable if trackable else float("nan")
        result["examples"] = n
        result["f0_estimator"] = self.estimator_name
        result["seconds"] = round(time.perf_counter() - t0, 3)
        return result


def write_summaries(writer, step: int, result: dict) -> None:
    import tensorflow as tf  # noqa: PLC0415

    with writer.as_default(step=step):
        for name in METRICS:
            value = result.get(name)
            if value is not None and math.isfinite(value):
                tf.summary.scalar(f"eval/{name}", value)
    writer.flush()


def append_log(folder: Path, step: int, result: dict) -> Path:
    path = folder / EVAL_LOG
    with path.open("a") as f:
        f.write(json.dumps({"step": step, **{k: _round(v) for k, v in result.items()}}) + "\n")
    return path


def read_log(folder: Path) -> list[dict]:
    """eval.jsonl's entries (common/eval_log.py: one reader for the trainer and the host)."""
    return eval_log.entries(folder)


def describe(result: dict) -> str:
    def fmt(v, spec):
        return format(v, spec) if isinstance(v, (int, float)) and math.isfinite(v) else "n/a"

    return (f"spectral_loss {fmt(result.get('spectral_loss'), '.4f')}  f0 {fmt(result.get('f0_cents'), '.1f')} cents "
            f"(outliers {fmt(result.get('f0_outlier_ratio'), '.0%')})  loudness {fmt(result.get('loudness_db'), '.2f')} dB  "
            f"[{result.get('examples')} held-out examples, {fmt(result.get('seconds'), '.1f')} s]")


def _round(v):
    if isinstance(v, float):
        return round(v, 6) if math.isfinite(v) else None
    return v
