"""Files only their owner can read (0600) in folders only their owner can open (0700): run
records, run logs, settings files, ddsp-launch's state folder. They hold paths, project
names, command lines and training logs, which other users of the machine have no need to see.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO

FILE_MODE, DIR_MODE = 0o600, 0o700


def private_dir(folder: Path) -> Path:
    """``folder``, created if missing (missing parents with the usual mode), and set to 0700
    when it is this user's: only for folders that are ddsp-launch's own."""
    folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if folder.stat().st_uid == os.getuid():
        os.chmod(folder, DIR_MODE)
    return folder


def write_text(path: Path, text: str) -> Path:
    """Write ``path`` atomically (a temporary file renamed into place), 0600 from the start."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)  # created 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def open_file(path: Path, mode: str = "ab") -> IO:
    """Open ``path`` for writing ("wb" or "ab"), created 0600 (an older, more open file is set to 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return os.fdopen(fd, mode)
