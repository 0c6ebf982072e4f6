"""The dataset statistics that timbre transfer needs, in a file that cannot run code.

What ddsp's own ``postprocessing.compute_dataset_statistics`` computes (what ddsp's
train_autoencoder colab runs): loudness, power and pitch means/ranges, the same over detected
notes, and the loudness quantile transform, over at most ``max_examples`` examples. prepare
gathers them in NumPy as it writes the examples (``Collector``: no TensorFlow or ddsp to
start); ``compute_statistics`` runs ddsp's function over written records (the reference
the tests compare with).

Written as ``dataset_statistics.json``: the numbers, and the quantile transform as its arrays
(``references``, ``quantiles``, ``output_distribution``), from which ``quantile_transform``
rebuilds ddsp's own transformer. ddsp's colab pickles the same dictionary as
``dataset_statistics.pkl``; such a file is still read, through an unpickler that admits
numpy arrays and scalars and the state of ddsp's or scikit-learn's QuantileTransformer (its
random state is discarded unread), and nothing else: a pickle naming any other function or
class is refused before anything in it runs.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import numpy as np

from ddsp_launch.common.errors import InputError
from ddsp_launch.common.model_files import LEGACY_STATISTICS, STATISTICS
from ddsp_launch.common.presets import SOLO, ModelPreset
from ddsp_launch.trainer.prepare import features
from ddsp_launch.trainer.prepare.features import DB_RANGE

FORMAT = "ddsp-launch/dataset-statistics"
TRANSFORM = "quantile_transform"
FIX = f"use the {STATISTICS} that `ddsp-launch prepare` writes (prepare the dataset again if you have only a .pkl)"


def compute_statistics(folder: Path, example_secs: float, max_examples: int = 1000, preset: ModelPreset = SOLO) -> dict:
    from ddsp_launch.trainer.ddsp_compat import import_ddsp  # noqa: PLC0415

    ddsp = import_ddsp()
    data = ddsp.training.data
    # compute_dataset_statistics frames audio with 'center' padding (n/hop + 1 frames). With
    # ddsp's default 'same' padding (n/hop frames, the solo_instrument preset) one hop less
    # audio makes the power frames line up with the loudness frames; centred datasets line up.
    trim = preset.hop if preset.padding == "same" else 0

    class CappedProvider(data.TFRecordProvider):
        def get_dataset(self, shuffle=True):
            def trimmed(ex):
                return {**ex, "audio_16k": ex["audio_16k"][:-trim]} if trim else ex

            return super().get_dataset(shuffle=False).take(max_examples).map(trimmed)

        def get_batch(self, batch_size, shuffle=True, repeats=-1, drop_remainder=True):
            # Keep the last, smaller batch: small datasets have fewer than batch_size examples.
            return super().get_batch(batch_size, shuffle=False, repeats=repeats, drop_remainder=False)

    provider = CappedProvider(str(folder / "train.tfrecord*"), example_secs=int(example_secs),
                              frame_rate=preset.frame_rate, centered=preset.padding == "center")
    # The colab's save_dataset_statistics passes power_frame_size=256 but leaves
    # power_frame_rate at 50, which fails in 3.7.0 for 250 frames/s (the note mask has
    # 250 frames/s); ddsp_export passes the model's frame size and rate, as here.
    return ddsp.training.postprocessing.compute_dataset_statistics(
        provider, batch_size=16, power_frame_size=preset.power_frame_size, power_frame_rate=preset.frame_rate)


class Collector:
    """The same statistics as ``compute_statistics``, gathered from the train examples as
    prepare writes them, in NumPy: no TensorFlow or ddsp to import (their start-up cost more
    than the statistics). Every step is ddsp's own (postprocessing.compute_dataset_statistics
    and the functions it calls), on the first ``max_examples`` examples; ddsp's quantile fit
    draws a random subsample above 100000 note frames, here a seeded one."""

    TRIM_END, SMOOTHING, CONFIDENCE, SUBSAMPLE, QUANTILES = 20, 40, 0.7, 100_000, 1000

    def __init__(self, preset: ModelPreset = SOLO, max_examples: int = 1000):
        self.preset, self.max_examples = preset, max_examples
        self.rows: dict[str, list[np.ndarray]] = {"pitch": [], "power": [], "loudness": [], "confidence": []}

    def add(self, example: dict[str, np.ndarray]) -> None:
        if len(self.rows["pitch"]) >= self.max_examples:
            return
        f0 = np.asarray(example["f0_hz"], np.float32)
        with np.errstate(divide="ignore"):
            pitch = np.where(f0 <= 0, 0.0, 12 * (np.log2(f0) - np.log2(440.0)) + 69).astype(np.float32)
        for key, row in (("pitch", pitch), ("power", self._power_db(example["audio_16k"])),
                         ("loudness", example["loudness_db"]), ("confidence", example["f0_confidence"])):
            self.rows[key].append(np.asarray(row, np.float32)[: -self.TRIM_END])

    def _power_db(self, audio: np.ndarray) -> np.ndarray:
        """ddsp's compute_power (centred frames) of the audio lined up as compute_statistics does."""
        audio = np.asarray(audio, np.float32)
        audio = audio[: -self.preset.hop] if self.preset.padding == "same" else audio
        return features.power_db(audio, dataclasses.replace(self.preset, padding="center"), self.preset.power_frame_size)

    def result(self) -> dict:
        """``safe`` statistics: the 36 numbers and the loudness quantile transform's arrays."""
        pitch, power, loudness, confidence = (np.stack(self.rows[k]) for k in ("pitch", "power", "loudness", "confidence"))
        # ddsp's detect_notes: smoothed confidence squared times loudness above the floor, against
        # the mean loudness's level; its box filter is TensorFlow's 'SAME' conv1d (19 zeros before, 20 after)
        kernel = np.ones(self.SMOOTHING, np.float32) / self.SMOOTHING
        before = (self.SMOOTHING - 1) // 2
        smoothed = np.stack([np.convolve(row ** 2, kernel, "full")[self.SMOOTHING - 1 - before:][: len(row)] for row in confidence])
        mask = smoothed * (loudness + DB_RANGE) >= (np.mean(loudness) + DB_RANGE) * self.CONFIDENCE ** 2
        mask |= ~mask.any(axis=1, keepdims=True)  # no note in an example: all of it
        out = {}
        for name, x in (("pitch", pitch), ("power", power), ("loudness", loudness)):
            out |= _numbers(x, name)
        for name, x in (("pitch_note", pitch), ("power_note", power), ("loudness_note", loudness)):
            out |= _numbers(x, name, mask)
        return {**out, TRANSFORM: self._quantiles(loudness[mask])}

    def _quantiles(self, values: np.ndarray) -> dict:
        """ddsp's QuantileTransformer fit (uniform output), as its arrays."""
        n = max(1, min(self.QUANTILES, len(values)))
        if len(values) > self.SUBSAMPLE:
            values = values[np.random.default_rng(0).choice(len(values), self.SUBSAMPLE, replace=False)]
        references = np.linspace(0, 1, n, endpoint=True)
        quantiles = np.maximum.accumulate(np.nanpercentile(values, references * 100)[:, None])
        return {"output_distribution": "uniform", "references": references, "quantiles": quantiles.astype(np.float64)}


def _numbers(x: np.ndarray, prefix: str, mask: np.ndarray | None = None) -> dict[str, float]:
    """compute_dataset_statistics' get_stats: mean, max, min, the mean of each example's max
    and min, std (over the note frames, and examples holding notes, with ``mask``)."""
    rows = [r[m] for r, m in zip(x, mask) if m.any()] if mask is not None else list(x)
    values = x[mask] if mask is not None else x
    numbers = {"mean": np.mean(values), "max": np.max(values), "min": np.min(values),
               "mean_max": np.mean([np.max(r) for r in rows]), "mean_min": np.mean([np.min(r) for r in rows]), "std": np.std(values)}
    return {f"{k}_{prefix}": float(v) for k, v in numbers.items()}


def write(stats: dict, path: Path) -> Path:
    """Write ``safe`` statistics as JSON (into a staging folder: prepare's, export's)."""
    doc = {"format": FORMAT, "version": 1, **{k: v for k, v in stats.items() if k != TRANSFORM},
           TRANSFORM: {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in stats[TRANSFORM].items()}}
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


def read(path: Path) -> dict:
    """The statistics in ``path`` (JSON, or ddsp's pickle read the restricted way), checked:
    numbers by name, and ``quantile_transform`` as a dict of its arrays."""
    try:
        with open(path, "rb") as fh:
            if path.name.endswith(".pkl"):
                loaded = _Restricted(fh, path).load()
            else:
                loaded = json.load(fh)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 (whatever a malformed file makes the reader raise)
        raise InputError(f"{path} is not a dataset statistics file ({type(exc).__name__}: {str(exc)[:200]})", FIX) from None
    return safe(loaded, str(path))


def safe(stats, label: str) -> dict:
    """ddsp's statistics (a dict of numbers and a quantile transformer, or its state as loaded
    here) as plain floats and float arrays; refuses anything else, naming ``label``."""
    def bad(what: str) -> InputError:
        return InputError(f"{label} is not a dataset statistics file: {what}", FIX)

    if not isinstance(stats, dict) or "mean_pitch" not in stats or TRANSFORM not in stats:
        raise bad("no mean_pitch or quantile_transform")
    qt = stats[TRANSFORM]
    state = qt if isinstance(qt, dict) else getattr(qt, "__dict__", {})
    try:
        refs = np.asarray(state.get("references_", state.get("references")), dtype=np.float64)
        quantiles = np.asarray(state.get("quantiles_", state.get("quantiles")), dtype=np.float64)
    except (TypeError, ValueError):
        raise bad("the quantile transform's arrays are not numbers") from None
    dist = state.get("output_distribution")
    if refs.ndim != 1 or quantiles.ndim != 2 or len(refs) != len(quantiles) or not len(refs) or dist not in ("uniform", "normal"):
        raise bad("the quantile transform is not a fitted one (references, quantiles, output distribution)")
    out = {}
    for key, value in stats.items():
        if key in (TRANSFORM, "format", "version"):
            continue
        if isinstance(value, (bool, str)) or not isinstance(value, (int, float, np.number)):
            raise bad(f"{key} is not a number")
        out[key] = float(value)
    return {**out, TRANSFORM: {"output_distribution": dist, "references": refs, "quantiles": quantiles}}


def quantile_transform(stats: dict, ddsp):
    """ddsp's own QuantileTransformer, fitted state restored from ``safe`` statistics' arrays."""
    state = stats[TRANSFORM]
    qt = ddsp.training.postprocessing.QuantileTransformer(n_quantiles=len(state["references"]),
                                                          output_distribution=state["output_distribution"])
    qt.n_quantiles_, qt.references_, qt.quantiles_ = len(state["references"]), state["references"], state["quantiles"]
    return qt


# ---- ddsp's pickle, read without running it ------------------------------------------------
class _State:
    """Stands in for a pickled QuantileTransformer: keeps its state, runs none of its code."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise pickle.UnpicklingError("a QuantileTransformer's state is not a dict")
        self.__dict__.update(state)


class _Discarded:
    """Stands in for the transformer's numpy random state (never used by transfer): ignored."""

    def __init__(self, *args):
        pass

    def __setstate__(self, state):
        pass


def _numpy_globals() -> dict:
    try:
        from numpy._core import multiarray, numeric  # noqa: PLC0415
    except ImportError:  # numpy < 2
        from numpy.core import multiarray, numeric  # noqa: PLC0415
    found = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for module in ("numpy.core", "numpy._core"):  # pickles name numpy 1's module or numpy 2's
        found[(f"{module}.multiarray", "_reconstruct")] = multiarray._reconstruct
        found[(f"{module}.multiarray", "scalar")] = multiarray.scalar
        found[(f"{module}.numeric", "_frombuffer")] = numeric._frombuffer
    return found


_TRANSFORMERS = {("ddsp.training.postprocessing", "QuantileTransformer"),
                 ("sklearn.preprocessing._data", "QuantileTransformer"),
                 ("sklearn.preprocessing.data", "QuantileTransformer")}
_RANDOM_STATE = {("numpy.random._pickle", "__randomstate_ctor"), ("numpy.random._pickle", "__bit_generator_ctor"),
                 ("numpy.random._mt19937", "MT19937"), ("numpy.random.bit_generator", "SeedSequence"),
                 ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"), ("numpy.random", "__RandomState_ctor"),
                 ("numpy.random.mtrand", "RandomState")}


class _Restricted(pickle.Unpickler):
    def __init__(self, fh, path: Path):
        super().__init__(fh)
        self.path = path
        self.allowed = _numpy_globals()

    def find_class(self, module: str, name: str):
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        if (module, name) in _TRANSFORMERS:
            return _State
        if (module, name) in _RANDOM_STATE:
            return _Discarded
        raise InputError(
            f"{self.path} asks to run {module}.{name} when loaded: refused, nothing in it was run "
            f"(a {LEGACY_STATISTICS} may hold only numbers, numpy arrays and a QuantileTransformer)",
            f"{FIX}; a model folder is data: use only statistics files from people you trust")

    def persistent_load(self, pid):
        raise InputError(f"{self.path} refers to outside objects", FIX)
