"""Import Magenta's ddsp 3.7.0 on the pinned modern stack.

ddsp 3.7.0 imports ``crepe`` at module level (ddsp/spectral_ops.py, ddsp/losses.py) but
uses it only in ``compute_f0`` and the CREPE embedding loss. crepe cannot be installed
everywhere (it downloads its weights during ``pip install``), so when it is missing a
placeholder module is registered that fails with a clear message on first use. Installed
files are never edited.

ddsp is written against Keras 2: TensorFlow 2.16+ ships Keras 3, so ``tf-keras`` is used
through ``TF_USE_LEGACY_KERAS=1``, which must be set before TensorFlow is imported.

note-seq (imported by ddsp.training) imports its notebook helpers at module level, which
need bokeh and IPython (with pandas, jedi and more: ~100 MB). The CPU image leaves those
out (requirements/trainer-cpu-py311.lock); where bokeh or IPython is missing,
``note_seq.notebook_utils`` is replaced by a placeholder whose functions fail clearly.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import types

CREPE_MISSING = (
    "CREPE is not installed in this environment, so CREPE pitch tracking and the CREPE "
    "embedding loss are unavailable. Use `--f0 pyin` for dataset preparation, or install "
    "crepe where its model weights can be downloaded."
)


def crepe_available() -> bool:
    """True when the real crepe package is importable (never imports TensorFlow)."""
    module = sys.modules.get("crepe")
    if module is not None:
        return not getattr(module, "IS_PLACEHOLDER", False)
    return importlib.util.find_spec("crepe") is not None


class _MissingCrepe(types.ModuleType):
    IS_PLACEHOLDER = True

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise ImportError(CREPE_MISSING)


def _register_crepe_placeholder() -> None:
    placeholder = _MissingCrepe("crepe", CREPE_MISSING)
    core = _MissingCrepe("crepe.core", CREPE_MISSING)
    placeholder.core = core  # ddsp refers to crepe.core.* only inside functions.
    sys.modules["crepe"] = placeholder
    sys.modules["crepe.core"] = core


NOTEBOOK_MISSING = (
    "note-seq's notebook helpers (play_sequence, plot_sequence) need bokeh and IPython, "
    "which this environment does not install."
)


def _notebook_helpers_available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("bokeh", "IPython"))


def _register_notebook_utils_placeholder() -> None:
    """note_seq/__init__.py does ``from note_seq.notebook_utils import play_sequence`` (and
    plot_sequence): a module already in sys.modules under that name is used as is."""
    if "note_seq.notebook_utils" in sys.modules or _notebook_helpers_available():
        return
    module = types.ModuleType("note_seq.notebook_utils", NOTEBOOK_MISSING)
    module.IS_PLACEHOLDER = True

    def _missing(*args, **kwargs):
        raise ImportError(NOTEBOOK_MISSING)

    module.play_sequence = module.plot_sequence = _missing
    sys.modules["note_seq.notebook_utils"] = module


class _GinPackageProbes(logging.Filter):
    """gin asks each of its file readers in turn whether a gin file exists; the reader for
    files inside Python packages logs every miss as an error (``ERROR Path not found:
    models/solo_instrument.gin``) although the next reader then opens the file. Those lines,
    and that reader's other chatter, are dropped; gin's own errors still raise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.pathname.endswith(os.path.join("gin", "resource_reader.py"))


_GIN_PROBES = _GinPackageProbes()


def configure_environment() -> None:
    """Environment TensorFlow must see before it is first imported."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def import_ddsp():
    """Import and return ``ddsp`` (with ``ddsp.training`` loaded), crepe or not."""
    configure_environment()
    logging.getLogger().addFilter(_GIN_PROBES)  # gin logs through the root logger; adding twice is a no-op
    if not crepe_available():
        _register_crepe_placeholder()
    _register_notebook_utils_placeholder()
    import ddsp  # noqa: PLC0415
    import ddsp.training  # noqa: F401, PLC0415

    return ddsp
