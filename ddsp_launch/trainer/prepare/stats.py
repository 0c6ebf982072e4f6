"""The dataset statistics that timbre transfer needs, in a file that cannot run code.

Computed with ddsp's own ``postprocessing.compute_dataset_statistics`` (what ddsp's
train_autoencoder colab runs): loudness and pitch means/ranges, mean loudness and pitch of
detected notes, and the loudness quantile transform. It holds every example in memory, so
it reads at most ``max_examples``.

Written as ``dataset_statistics.json``: the numbers, and the quantile transform as its arrays
(``references``, ``quantiles``, ``output_distribution``), from which ``quantile_transform``
rebuilds ddsp's own transformer. ddsp's colab pickles the same dictionary as
``dataset_statistics.pkl``; such a file is still read, through an unpickler that admits
numpy arrays and scalars and the state of ddsp's or scikit-learn's QuantileTransformer (its
random state is discarded unread), and nothing else: a pickle naming any other function or
class is refused before anything in it runs.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np

from ddsp_launch.common.errors import InputError
from ddsp_launch.common.model_files import LEGACY_STATISTICS, STATISTICS
from ddsp_launch.common.presets import SOLO, ModelPreset

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


def write_statistics(folder: Path, example_secs: float, max_examples: int = 1000, preset: ModelPreset = SOLO) -> Path:
    return write(safe(compute_statistics(folder, example_secs, max_examples, preset), "the computed statistics"), folder / STATISTICS)


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
