"""Can something be written here? Asked of the file system, not of permission bits.

``os.access`` answers from the mode bits, and for root it always says yes; the file system
knows better (read-only mounts, /proc, a file where a folder should be). So a temporary
folder is made, and removed, in the nearest existing folder: what a command will write
there is refused before anything slow starts, and nothing is left behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def problem(path: str | os.PathLike) -> str | None:
    """Why nothing can be written at ``path`` (a file or folder to be made), or None."""
    target = Path(os.path.expanduser(str(path))).absolute()
    parent = next((p for p in [target, *target.parents] if p.exists()), Path("/"))
    if not parent.is_dir():
        return f"{parent} is a file, not a folder"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".ddsp-launch-check-", dir=parent))
    except OSError as exc:
        return f"cannot write in {parent} ({exc.strerror or exc})"
    return None
