"""Where a command may write: an output never overlaps an input, and a destructive step
replaces only our own output.

Every command that writes (prepare and --prepare-to, transfer -o, export -o, tune --local,
train's output, the web page's choices) asks here before anything slow starts. Paths are
compared resolved (``~``, ``..`` and symbolic links followed), so no spelling or link can make
an output land on, above or inside an input.

"Our own output" is proved, never assumed: a dataset folder holds our ``manifest.json`` and
nothing the manifest does not name; an export folder holds our ``export.json`` and nothing
else; a file carries the mark we write into it (see ``MARK``). A folder or file that fails the
proof is refused with the reason, whatever ``--overwrite``/``--force`` says.
"""

from __future__ import annotations

import glob
import json
import os
import re
from pathlib import Path
from typing import Iterable, Mapping

from ddsp_launch.common import gcs
from ddsp_launch.common.errors import InputError

MARK = "ddsp-launch"  # the software tag our wav and png outputs carry
_GLOB = re.compile(r"[*?\[]")


def resolved(path: str | os.PathLike) -> Path:
    """The absolute path with ``~``, ``..`` and symbolic links followed (missing parts kept)."""
    try:
        return Path(os.path.expanduser(str(path))).resolve()
    except (RuntimeError, OSError) as exc:  # a symbolic link loop
        raise InputError(f"{path} cannot be resolved ({exc})", "fix the symbolic link, or give another path") from None


def input_roots(spec: str | os.PathLike) -> list[Path]:
    """What a local input names, resolved: the file or folder itself, or for a glob every path it
    matches (the files a glob reads, not the folder they sit in), and wherever the symbolic links
    inside those folders lead (what is reached through them is read too); nothing for gs://,
    which no local output can overlap."""
    text = str(spec)
    if gcs.is_gcs(text):
        return []
    if _GLOB.search(text):
        named = {resolved(p) for p in glob.glob(os.path.expanduser(text), recursive=True)}
    else:
        named = {resolved(text or ".")}
    return sorted(named.union(*(_link_targets(p) for p in named)))


def relation(output: Path, input_: Path) -> str | None:
    """How a resolved output stands to a resolved input: "is", "inside", "contains" or None."""
    if output == input_:
        return "is"
    if output.is_relative_to(input_):
        return "inside"
    if input_.is_relative_to(output):
        return "contains"
    return None


_SAID = {"is": "is the same place as", "inside": "lies inside", "contains": "contains"}


def check_apart(output: str | os.PathLike | None, inputs: Mapping[str, str | os.PathLike | None], label: str = "output",
                allow: tuple[str, ...] = ()) -> None:
    """Refuse an output that is, lies inside, or contains one of ``inputs`` ({label: path}),
    except for the relations in ``allow`` ("inside": export's default MODEL/export, a folder
    the model's reader never lists; "contains": a run folder holding its uploaded dataset)."""
    if output is None or gcs.is_gcs(str(output)):
        return
    out = resolved(output)
    links = _link_targets(out)
    for name, spec in inputs.items():
        if spec is None or str(spec) == "":
            continue
        for root in input_roots(spec):
            how = relation(out, root)
            if how is not None and how not in allow:
                _refuse(output, label, name, spec, root, out, how)
            reached = next((t for t in links if relation(t, root) is not None), None)
            if reached is not None and "contains" not in allow:  # writing through the link would reach the input
                _refuse(output, label, name, spec, root, out, "contains")


def _link_targets(folder: Path, limit: int = 10_000) -> list[Path]:
    """Where the symbolic links inside an existing output folder lead (resolved; at most
    ``limit`` entries looked at: an output is new, empty or one of ours)."""
    try:
        if not folder.is_dir():
            return []
    except OSError:  # a folder we may not look into: its writability is checked where it is written
        return []
    found = []
    for seen, (top, dirs, files) in enumerate(os.walk(folder)):
        if seen > limit:
            break
        for entry in (*dirs, *files):
            path = Path(top, entry)
            if path.is_symlink():
                found.append(resolved(path))
    return found


def _refuse(output, label: str, name: str, spec, root: Path, out: Path, how: str) -> None:
    which = f"{name} {spec}" + (f" ({root})" if _GLOB.search(str(spec)) else "")
    raise InputError(
        f"the {label} {output} {_SAID[how]} the {which}" + (f" (both resolve to {out})" if how == "is" else ""),
        f"choose a different {label}, outside {root}" + ("" if how == "inside" else " and not above it")
        + ": nothing of an input is ever written over")


def listing(folder: Path) -> list[str]:
    try:
        return sorted(p.name for p in folder.iterdir())
    except OSError:
        return []


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def dataset_files(folder: Path) -> set[str] | None:
    """The names a dataset folder of ours may hold (from its manifest), or None when the folder
    holds no manifest written by ddsp-launch."""
    manifest = _read_json(folder / "manifest.json")
    if manifest is None or not str(manifest.get("tool", "")).startswith(MARK):
        return None
    names = {"manifest.json"}
    for shards in (manifest.get("shards") or {}).values():
        names.update(str(s) for s in shards if isinstance(s, str))
    if isinstance(manifest.get("statistics"), str):
        names.add(manifest["statistics"])
    return names


def export_files(folder: Path, metadata: str, extra: Iterable[str] = ()) -> set[str] | None:
    """The names an export folder of ours may hold (its metadata, the files it lists, ``extra``),
    or None when it holds no metadata written by ddsp-launch."""
    data = _read_json(folder / metadata)
    if data is None or not str(data.get("format", "")).startswith(MARK):
        return None
    return {metadata, *extra, *(str(f) for f in data.get("files", []) if isinstance(f, str))}


def check_replaceable(folder: str | os.PathLike, ours: set[str] | None, what: str, flag: str) -> None:
    """Refuse to replace a non-empty ``folder`` unless it is ours (``ours``: the names the proof
    allows, None: no proof) and holds nothing else."""
    path = resolved(folder)
    if path.exists() and not path.is_dir():
        raise InputError(f"{folder} exists and is a file", f"choose a folder path for the {what}")
    present = listing(path)
    if not present:
        return
    if ours is None:
        raise InputError(
            f"{folder} is not empty ({len(present)} entries) and is not a {what} made by ddsp-launch, "
            f"so {flag} will not replace it",
            f"choose a new or empty folder for the {what}; move what is in {folder} first if you meant to reuse it")
    foreign = [n for n in present if n not in ours]
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise InputError(
            f"{folder} holds a {what} made by ddsp-launch, but also files it did not write: {shown}",
            f"move those files out first (replacing the {what} would delete them), or choose another folder")


def software_tag(path: Path) -> str | None:
    """The software tag a wav (RIFF LIST/INFO ISFT) or png (tEXt Software) carries, or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        at = 12
        while at + 8 <= len(head):
            kind, size = head[at:at + 4], int.from_bytes(head[at + 4:at + 8], "little")
            body = head[at + 8:at + 8 + size]
            if kind == b"LIST" and body[:4] == b"INFO":
                sub = 4
                while sub + 8 <= len(body):
                    key, n = body[sub:sub + 4], int.from_bytes(body[sub + 4:sub + 8], "little")
                    if key == b"ISFT":
                        return body[sub + 8:sub + 8 + n].split(b"\0", 1)[0].decode("utf-8", "replace")
                    sub += 8 + n + (n & 1)
            if kind == b"data":
                return None
            at += 8 + size + (size & 1)
    elif head[:8] == b"\x89PNG\r\n\x1a\n":
        at = 8
        while at + 8 <= len(head):
            size, kind = int.from_bytes(head[at:at + 4], "big"), head[at + 4:at + 8]
            body = head[at + 8:at + 8 + size]
            if kind == b"tEXt" and body.startswith(b"Software\0"):
                return body[len(b"Software\0"):].decode("latin-1")
            if kind == b"IDAT":
                return None
            at += 12 + size
    return None


def is_marked(path: Path) -> bool:
    """Whether ddsp-launch wrote this file (its software tag starts with ``MARK``)."""
    return (software_tag(path) or "").startswith(MARK)


def check_file_output(output: str | os.PathLike, inputs: Mapping[str, str | os.PathLike | None],
                      label: str = "output") -> None:
    """A file output: not an input (nor inside or above one), and an existing file only when we
    wrote it (it carries our mark)."""
    check_apart(output, inputs, label)
    path = resolved(output)
    if path.is_dir():
        raise InputError(f"the {label} {output} is a folder", "give a file name, e.g. out.wav")
    if path.exists() and not is_marked(path):
        raise InputError(f"{output} already exists and was not written by ddsp-launch",
                         f"choose another {label} path, or move {output} away yourself")
