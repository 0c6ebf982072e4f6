"""The DDSP-VST plugin's rules for a model file, as code. Pure: no TensorFlow.

Magenta's DDSP-VST plugin (github.com/magenta/ddsp-vst) loads user models from its models
folder: each ``*.tflite`` file (searched recursively) is built with TFLite's builtin op
resolver and kept only if it has exactly these inputs and outputs, by name and size, in
any order (``src/util/Constants.h``, ``src/audio/tflite/ModelLibrary.cpp``); its
``metadata.json`` is read as an entry of the ``.tflite`` file opened as a zip (JUCE's zip
reader, which takes the zip's offsets from the start of the file), ``export_time`` being the
model's key. It feeds MIDI pitch / 127 and power dB / 80 + 1, one call per 320-sample hop
at 16 kHz (20 ms), and feeds the GRU state back each call.

``check`` applies these rules to a file's bytes (the flatbuffer read with the ``tflite``
package's generated schema) and says, rule by rule, what passes and what fails;
``install`` copies a file that passes into the plugin's folder. The trainer side adds what
needs TensorFlow: building the file with TFLite's builtin resolver and running it
(``trainer/vst_export.py``).
"""

from __future__ import annotations

import io
import json
import math
import os
import platform
import re
import struct
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ddsp_launch.common import destinations
from ddsp_launch.common.errors import InputError

SAMPLE_RATE = 16000  # kModelSampleRate_Hz
FRAME_SIZE = 1024  # kModelFrameSize
HOP = 320  # kModelHopSize: one inference per 20 ms
FRAME_RATE = SAMPLE_RATE // HOP
HOP_MS = 1000 * HOP / SAMPLE_RATE  # the real-time budget of one call
HARMONICS, NOISE_AMPS, STATE_SIZE = 60, 65, 512  # kHarmonicsSize, kNoiseAmpsSize, kGruModelStateSize
F0_INPUT, POWER_INPUT, STATE_INPUT = "call_f0_scaled:0", "call_pw_scaled:0", "call_state:0"
AMPLITUDE, HARMONIC_DISTRIBUTION, NOISE, STATE = (f"StatefulPartitionedCall:{i}" for i in range(4))
INPUTS = {F0_INPUT: 1, POWER_INPUT: 1, STATE_INPUT: STATE_SIZE}
OUTPUTS = {AMPLITUDE: 1, HARMONIC_DISTRIBUTION: HARMONICS, NOISE: NOISE_AMPS, STATE: STATE_SIZE}
ROLES = {F0_INPUT: "f0 (MIDI / 127)", POWER_INPUT: "power (dB / 80 + 1)", STATE_INPUT: "GRU state",
         AMPLITUDE: "amplitude", HARMONIC_DISTRIBUTION: "harmonic distribution", NOISE: "noise magnitudes",
         STATE: "next GRU state"}
METADATA = "metadata.json"
PITCH_RANGE_HZ = (8.18, 12543.84)  # kPitchRangeMin_Hz, kPitchRangeMax_Hz: MIDI 0 to 127
DB_RANGE = 80.0

# metadata.json: the fields ddsp_export writes, and the JSON type each must have
FLOAT_FIELDS = ("mean_min_pitch_note", "mean_max_pitch_note", "mean_min_pitch_note_hz", "mean_max_pitch_note_hz",
                "mean_min_power_note", "mean_max_power_note")
STRING_FIELDS = ("version", "export_time")
# the shape fields, and the value the plugin plays
SHAPE_FIELDS = {"num_harmonics": HARMONICS, "num_noise_amps": NOISE_AMPS, "frame_rate": FRAME_RATE,
                "frame_size": FRAME_SIZE, "sample_rate": SAMPLE_RATE}
MARK = destinations.MARK  # metadata.json's "exported_by" starts with it in the files we write (the plugin ignores it)
PLUGIN_SHAPE = (f"the plugin plays 16 kHz models with {HARMONICS} harmonics and {NOISE_AMPS} noise magnitudes "
                "(ddsp's models/vst/vst.gin); vst_32k.gin / vst_48k.gin shapes (100 and 98) are rejected by it")


def f0_scaled(f0_hz):
    """The plugin's pitch input: MIDI note / 127, the pitch clamped to MIDI 0-127 (normalizedPitch)."""
    import numpy as np  # noqa: PLC0415

    hz = np.clip(np.asarray(f0_hz, np.float64), *PITCH_RANGE_HZ)
    return ((12.0 * (np.log2(hz) - np.log2(440.0)) + 69.0) / 127.0).astype(np.float32)


def pw_scaled(power_db):
    """The plugin's power input: dB / 80 + 1 (normalizedLoudness, ddsp's scale_db)."""
    import numpy as np  # noqa: PLC0415

    return (np.asarray(power_db, np.float32) / DB_RANGE + 1.0).astype(np.float32)


def midi_to_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def model_name(text: str) -> str:
    """A model's name in the plugin (its file name without .tflite): a plain file name."""
    name = text.removesuffix(".tflite").strip()
    if not name or name.startswith(".") or re.search(r'[/\\\x00-\x1f:*?"<>|]', name):
        raise InputError(f"--name {text!r} cannot be a model file name",
                         "use letters, digits, spaces, '-', '_' or '.', not starting with '.'")
    return name


# ---- metadata.json ---------------------------------------------------------------------------
def metadata(stats: dict, version: str, export_time: str, tool: str) -> dict:
    """metadata.json as ddsp_export writes it, from the dataset's statistics; ``export_time`` is
    the plugin's key for the model (ddsp_export: datetime.now().isoformat())."""
    low, high = float(stats["mean_min_pitch_note"]), float(stats["mean_max_pitch_note"])
    return {"mean_min_pitch_note": low, "mean_max_pitch_note": high,
            "mean_min_pitch_note_hz": midi_to_hz(low), "mean_max_pitch_note_hz": midi_to_hz(high),
            "mean_min_power_note": float(stats["mean_min_power_note"]),
            "mean_max_power_note": float(stats["mean_max_power_note"]),
            "version": version, "export_time": export_time, **SHAPE_FIELDS, "exported_by": f"{MARK} {tool}"}


def pack(flatbuffer: bytes, meta: dict) -> bytes:
    """The flatbuffer with a zip holding ``metadata.json`` appended: still a valid .tflite (the
    flatbuffer ignores what follows it) and a zip whose offsets count from the start of the
    file, the way JUCE's zip reader (the plugin's) and tflite_support's metadata populator
    lay it out."""
    buffer = io.BytesIO()
    buffer.write(flatbuffer)
    with zipfile.ZipFile(buffer, "w") as zf:  # written at the end of what the buffer holds: absolute offsets
        zf.writestr(METADATA, json.dumps(meta))
    return buffer.getvalue()


def _central_directory_at(data: bytes) -> int | None:
    """Where the zip's end record says its central directory is (an offset from the start of
    the file, as JUCE reads it), or None when there is no end record."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65557))
    if end < 0 or end + 22 > len(data):
        return None
    return struct.unpack("<I", data[end + 16:end + 20])[0]


def read_metadata(data: bytes) -> tuple[dict | None, str | None]:
    """(metadata.json, None), or (None, why the plugin would not find or read it)."""
    at = _central_directory_at(data)
    if at is None:
        return None, f"holds no {METADATA}: no zip is appended to the flatbuffer"
    if data[at:at + 4] != b"PK\x01\x02":
        return None, (f"its zip's offsets count from the start of the zip, not of the file: the plugin's zip "
                      f"reader would not find {METADATA}")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            text = zf.read(METADATA)
    except KeyError:
        return None, f"its zip holds no {METADATA}"
    except (zipfile.BadZipFile, OSError) as exc:
        return None, f"its zip cannot be read ({exc})"
    try:
        meta = json.loads(text)
    except ValueError as exc:
        return None, f"{METADATA} is not JSON ({exc})"
    if not isinstance(meta, dict):
        return None, f"{METADATA} is not a JSON object"
    return meta, None


def metadata_problems(meta: dict) -> list[str]:
    """Each missing field, field of the wrong JSON type, and shape field the plugin does not play."""
    problems = []
    expected = {**{k: "a number" for k in FLOAT_FIELDS}, **{k: "a string" for k in STRING_FIELDS},
                **{k: "a whole number" for k in SHAPE_FIELDS}}
    for name, kind in expected.items():
        if name not in meta:
            problems.append(f"{METADATA} has no {name!r} ({kind})")
            continue
        value = meta[name]
        good = {"a number": isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
                "a string": isinstance(value, str) and bool(value),
                "a whole number": isinstance(value, int) and not isinstance(value, bool)}[kind]
        if not good:
            problems.append(f"{METADATA}: {name} is {json.dumps(value)}, not {kind}")
        elif name in SHAPE_FIELDS and value != SHAPE_FIELDS[name]:
            problems.append(f"{METADATA}: {name} is {value}, the plugin plays {SHAPE_FIELDS[name]}")
    return problems


# ---- the checker -------------------------------------------------------------------------------
@dataclass
class Report:
    """Rule by rule: (rule, problems); a rule passes when it has none."""

    rules: list[tuple[str, list[str]]] = field(default_factory=list)
    metadata: dict | None = None

    @property
    def ok(self) -> bool:
        return all(not problems for _, problems in self.rules)

    @property
    def problems(self) -> list[str]:
        return [p for _, problems in self.rules for p in problems]

    def lines(self) -> list[str]:
        out = []
        for rule, problems in self.rules:
            out.append(f"  {'ok  ' if not problems else 'FAIL'}  {rule}")
            out += [f"          {p}" for p in problems]
        return out


def _tensors(model, sg, indices, expected: dict[str, int], kind: str) -> list[str]:
    import tflite  # noqa: PLC0415

    problems = []
    found = []
    for i in indices:
        tensor = sg.Tensors(int(i))
        name = (tensor.Name() or b"").decode("utf-8", "replace")
        size = int(math.prod(int(d) for d in tensor.ShapeAsNumpy())) if tensor.ShapeLength() else 1
        found.append(name)
        if name not in expected:
            problems.append(f"{kind} tensor {name!r} is not one the plugin knows ({', '.join(expected)})")
            continue
        if tensor.Type() != tflite.TensorType.FLOAT32:
            problems.append(f"{kind} {name} ({ROLES[name]}) is not float32")
        if size != expected[name]:
            problems.append(f"{kind} {name} ({ROLES[name]}) has {size} values, the plugin needs {expected[name]}"
                            + (f": {PLUGIN_SHAPE}" if name in (HARMONIC_DISTRIBUTION, NOISE) else ""))
    if len(indices) != len(expected):
        problems.insert(0, f"{len(indices)} {kind} tensors, the plugin needs exactly {len(expected)}")
    missing = [n for n in expected if n not in found]
    if missing and len(indices) == len(expected):
        problems.append(f"no {kind} named {', '.join(missing)}")
    return problems


def _operators(model) -> list[str]:
    """Each operator the builtin op resolver lacks: custom ones (Flex delegate ops included)."""
    import tflite  # noqa: PLC0415

    custom = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == tflite.BuiltinOperator.CUSTOM or code.CustomCode():
            custom.append((code.CustomCode() or b"?").decode("utf-8", "replace"))
    if not custom:
        return []
    flex = [c for c in custom if c.startswith("Flex")]
    why = (" (TensorFlow ops through the Flex delegate, which the plugin does not link: the model was converted "
           "with SELECT_TF_OPS)" if flex else "")
    return [f"needs ops the plugin's TFLite builtin op resolver does not have: {', '.join(sorted(set(custom)))}{why}"]


def check(data: bytes) -> Report:
    """The plugin's rules, applied to a model file's bytes."""
    import tflite  # noqa: PLC0415

    report = Report()
    try:
        if len(data) < 8 or not tflite.Model.ModelBufferHasIdentifier(data, 0):
            raise ValueError("no TFL3 file identifier")
        model = tflite.Model.GetRootAsModel(data, 0)
        sg = model.Subgraphs(0) if model.SubgraphsLength() else None
        if sg is None:
            raise ValueError("no subgraph")
        inputs, outputs = list(sg.InputsAsNumpy()), list(sg.OutputsAsNumpy())
    except Exception as exc:  # noqa: BLE001 (a damaged flatbuffer raises anything: struct, index, attribute errors)
        report.rules.append(("a TensorFlow Lite flatbuffer", [f"not a TFLite model ({type(exc).__name__}: {exc})"]))
        return report
    report.rules.append(("a TensorFlow Lite flatbuffer", []))
    report.rules.append(("builtin ops only (TFLite's BuiltinOpResolver, no Flex ops)", _operators(model)))
    report.rules.append((f"inputs {', '.join(f'{n} [{s}]' for n, s in INPUTS.items())}",
                         _tensors(model, sg, inputs, INPUTS, "input")))
    report.rules.append((f"outputs {', '.join(f'{n} [{s}]' for n, s in OUTPUTS.items())}",
                         _tensors(model, sg, outputs, OUTPUTS, "output")))
    meta, why = read_metadata(data)
    report.metadata = meta
    report.rules.append((f"{METADATA} inside, as the plugin reads it (a zip entry; fields and types)",
                         [why] if why else metadata_problems(meta)))
    return report


def read_model(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}", "give the path of a .tflite model file") from None


# ---- where the plugin looks --------------------------------------------------------------------
def _xdg_documents(home: Path, env) -> Path:
    """JUCE's userDocumentsDirectory on Linux: XDG_DOCUMENTS_DIR from user-dirs.dirs, else ~/Documents."""
    config = Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "user-dirs.dirs"
    try:
        text = config.read_text()
    except OSError:
        text = ""
    m = re.search(r'^XDG_DOCUMENTS_DIR="?([^"\n]*)"?', text, re.MULTILINE)
    if m and m.group(1).strip():
        return Path(m.group(1).strip().replace("$HOME", str(home))).expanduser()
    return home / "Documents"


def models_folder(system: str | None = None, home: Path | None = None, env=None) -> Path:
    """The folder the plugin scans: Documents/Magenta/DDSP/Models (macOS: ~/Documents; Windows:
    the Documents folder of %USERPROFILE%; Linux: the XDG documents folder)."""
    system = system or platform.system()
    home = home or Path.home()
    env = os.environ if env is None else env
    if system == "Windows":
        documents = Path(env.get("USERPROFILE") or home) / "Documents"
    elif system == "Darwin":
        documents = home / "Documents"
    else:
        documents = _xdg_documents(home, env)
    return documents / "Magenta" / "DDSP" / "Models"


def check_target(target: Path, replace: bool) -> None:
    """Before anything is written: a file already at ``target`` is replaced only when it is a
    model ddsp-launch exported (its metadata.json says so) and ``replace`` (--force) is given."""
    if not target.exists() and not target.is_symlink():
        return
    if not target.is_file():
        raise InputError(f"{target} exists and is not a file", "choose another --name")
    meta, _ = read_metadata(read_model(target))
    if not str((meta or {}).get("exported_by", "")).startswith(MARK):
        raise InputError(f"{target} already exists and is not a model ddsp-launch exported",
                         "export under another --name, or move that file away yourself if you mean to replace it")
    if not replace:
        raise InputError(f"{target} already exists (a model ddsp-launch exported earlier)",
                         "pass --force to replace it, or export under another --name")


def install(model: Path, folder: Path | None = None, replace: bool = False) -> Path:
    """Copy a model file that passes ``check`` into the plugin's models folder (created if
    missing), under its own name; see ``check_target`` for a file already there. Returns where it went."""
    if model.suffix != ".tflite":
        raise InputError(f"{model} is not named *.tflite: the plugin loads only .tflite files", "rename it to NAME.tflite")
    data = read_model(model)
    report = check(data)
    if not report.ok:
        raise InputError(f"{model} would not load in the DDSP-VST plugin:\n" + "\n".join(report.lines()),
                         "export the model again with `ddsp-launch export MODEL -o DIR --vst`")
    target = (folder or models_folder()) / model.name
    if target.is_file() and target.read_bytes() == data:
        return target
    check_target(target, replace)
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{model.name}.", suffix=".part", dir=target.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write {target}: {exc.strerror or exc}",
                         "check the folder's permissions, or give another folder") from None
    return target
