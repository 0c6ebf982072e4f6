"""The one rule for gin text that does not come from the user's own command line.

Gin can import any module and call what is registered with it, so gin text from a web
page, a config file (``--config``, including the ones the page writes) or a model folder
(the operative config that transfer, export and a resumed run read) is parsed here with
gin's own parser (``gin.config_parser.ConfigParser``, the one ``gin.parse_config`` uses)
and admitted only if every statement is one of:

* a binding ``[scope/]Configurable.param = VALUE``, where VALUE is a literal (number,
  string, boolean, None, or lists / tuples / dicts of them), a ``%macro``, or a reference
  ``@[scope/]Name`` / ``@[scope/]Name()`` to a configurable ddsp registers;
* a macro ``name = LITERAL`` (no references in it);
* ``import ddsp`` or ``import ddsp.training`` (with or without ``as ALIAS``): gin writes
  them at the top of every operative config because ddsp's own gin files import them.

Everything else is refused, and named: other imports, ``from __gin__ import
dynamic_registration`` (it makes any imported function bindable), ``include`` (another
file, unchecked), binding blocks. A configurable's name, in a binding or a reference, is a
plain name (``Harmonic``) or a dotted path through ddsp's own modules (``synths.Harmonic``,
``ddsp.losses.SpectralLoss``, ``tf.keras.layers.Dense``, which ddsp registers): never
``os.system``. Without ddsp (the host) that is all that can be known; where ddsp is
imported (the container, before anything else registers with gin), a reference must also
name a configurable in gin's registry. A single binding (``gin_param``) is one line,
one binding, with no ``#`` in it (a comment there would hide the rest of the line).

Gin files named from those doors (``gin_file``) are one of ddsp's bundled files, by their
relative name (``models/solo_instrument.gin``: ddsp's own, trusted as ddsp is), or local
files whose content passes the rule. Pure: gin-config only, no TensorFlow.
"""

from __future__ import annotations

import importlib.util
import tokenize
from dataclasses import dataclass
from pathlib import Path

from gin import config_parser

from ddsp_launch.common.errors import InputError

ALLOWED_IMPORTS = ("ddsp", "ddsp.training")
# The modules of every configurable ddsp 3.7 registers (tests/trainer/test_gin_model_folder.py
# checks this against gin's registry with ddsp imported): ddsp's own, and Keras' layers,
# which ddsp.training.nn registers as tf.keras.layers.*.
DDSP_PATH_PARTS = frozenset({
    "ddsp", "core", "dags", "effects", "losses", "processors", "spectral_ops", "synths",
    "training", "data", "decoders", "encoders", "eval_util", "evaluators", "heuristics",
    "inference", "models", "nn", "preprocessing", "train_util", "trainers",
    "tf", "keras", "layers",
})
LITERALS = (bool, int, float, str, type(None))
FIX = ("keep to `Configurable.param = value` bindings and @references to ddsp's configurables; "
       "gin code of your own belongs on your own command line (ddsp-launch train --gin-file / --gin-param)")
FIX_MODEL = ("ddsp's trainer writes none of these into a model folder: use the folder as training wrote it, "
             "from someone you trust; nothing was run")


def ddsp_gin_dir() -> Path | None:
    """ddsp's bundled gin folder, found without importing ddsp (or TensorFlow)."""
    spec = importlib.util.find_spec("ddsp")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "training" / "gin"


@dataclass(frozen=True)
class Reference:
    name: str  # scopes included
    evaluate: bool

    @property
    def configurable(self) -> str:
        return self.name.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Macro:
    name: str


class _Delegate(config_parser.ParserDelegate):
    """Records what the parser found instead of resolving it: nothing is looked up or imported."""

    def configurable_reference(self, scoped_configurable_name, evaluate):
        return Reference(scoped_configurable_name, evaluate)

    def macro(self, macro_name):
        return Macro(macro_name)


def parse_statements(text: str, where: str, fix: str = FIX) -> list:
    try:
        return list(config_parser.ConfigParser(text, _Delegate()))
    except (SyntaxError, tokenize.TokenError, ValueError) as exc:
        raise InputError(f"{where} is not valid gin: {str(exc).splitlines()[0]}", fix) from None


def _values(value):
    """The value and everything nested in it."""
    yield value
    items = value.items() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    for item in items:
        yield from _values(item)


def ddsp_path(name: str) -> bool:
    return all(part in DDSP_PATH_PARTS for part in name.split(".")[:-1])


def _in_registry(name: str) -> bool:
    import gin  # noqa: PLC0415

    try:
        gin.get_configurable(name)
    except (ValueError, KeyError):  # unknown, or ambiguous
        return False
    return True


def _refusal(statement, registry: bool) -> str | None:
    """Why ``statement`` is refused, or None."""
    if isinstance(statement, config_parser.ImportStatement):
        if statement.module in ALLOWED_IMPORTS and not statement.is_from:
            return None
        if statement.module == "__gin__.dynamic_registration":
            return "dynamic registration makes any imported function callable"
        return "imports run code (only " + " and ".join(f"`import {m}`" for m in ALLOWED_IMPORTS) + " are admitted)"
    if isinstance(statement, config_parser.IncludeStatement):
        return "include reads another, unchecked file"
    if not isinstance(statement, config_parser.BindingStatement):
        return "binding blocks are not admitted: write one `Configurable.param = value` per line"
    values = list(_values(statement.value))
    refs = [v for v in values if isinstance(v, Reference)]
    if not statement.arg_name and any(not isinstance(v, (*LITERALS, list, tuple, dict)) for v in values):
        return "a macro must be a literal"
    for v in values:
        if not isinstance(v, (*LITERALS, list, tuple, dict, Reference, Macro)):
            return f"{v!r} is not a number, string, boolean or None"
    for name in [*([statement.selector] if statement.arg_name else []), *(r.configurable for r in refs)]:
        if not ddsp_path(name):
            return f"{name} is not one of ddsp's configurables"
    unknown = [r.name for r in refs if registry and not _in_registry(r.configurable)]
    return f"@{unknown[0]} is not a configurable ddsp registers" if unknown else None


def check_text(text: str, where: str, registry: bool = False, fix: str = FIX) -> str:
    """``text`` if every statement in it passes the rule, else an InputError naming each refused one.
    ``registry``: also require references to name configurables in gin's registry (with ddsp imported)."""
    refused = [f"line {s.location.line_num}: {s.location.line_content.strip()}  ({why})"
               for s in parse_statements(text, where, fix) if (why := _refusal(s, registry))]
    if refused:
        more = f"\n  ... and {len(refused) - 5} more" if len(refused) > 5 else ""
        raise InputError(f"{where}: gin refused:\n  " + "\n  ".join(refused[:5]) + more, fix)
    return text


def check_binding(binding: str, where: str) -> str:
    """One gin binding (a gin_param from a page or a config file): one line, one statement, no ``#``."""
    if any(c in binding for c in "\r\n#"):
        raise InputError(f"{where}: gin binding {binding!r} refused (a binding is one line, without '#')", FIX)
    statements = parse_statements(binding, f"{where}: gin binding {binding!r}")
    if len(statements) != 1:
        raise InputError(f"{where}: gin binding {binding!r} refused (write one binding per --gin-param)", FIX)
    why = _refusal(statements[0], registry=False)
    if why:
        raise InputError(f"{where}: gin binding {binding!r} refused ({why})", FIX)
    return binding


def check_file(path: Path, where: str | None = None, registry: bool = False, fix: str = FIX) -> str:
    """The text of a gin file that passes the rule (parse this text, not the file again)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}", "give a readable gin file") from None
    return check_text(text, where or str(path), registry, fix)


def check_gin_file(name: str, where: str) -> str:
    """A gin_file from a page or a config file: a local file passing the rule (what gin would
    read first: an absolute path, or one relative to the working folder), else the relative
    name of one of ddsp's bundled files."""
    local = Path(name)
    if "://" not in name and local.is_file():
        check_file(local, f"{where}: gin file {name}")
        return name
    bundled = ddsp_gin_dir()
    if ("://" in name or local.is_absolute() or ".." in local.parts or local.suffix != ".gin"
            or (bundled is not None and not (bundled / local).is_file())):
        raise InputError(f"{where}: gin file {name} is neither a local file nor one of ddsp's bundled gin files",
                         "name one of ddsp's (e.g. models/solo_instrument.gin) or a gin file on this machine")
    return name
