"""What a page may choose for a run, and what only the server decides.

A request that passed the gates (same origin, token) may still come from a page that was
tricked, so it is bounded: it names only the settings of the new-run form (any other key is
refused, not ignored), with values of their type; its local paths (data, output,
prepare_to) lie under an allowed root (the workspace, the user's home, or a folder named
with ``ddsp-launch web --allow-root``; gs:// paths pass to the launcher's own checks). The
image that runs, the base image built from, the registry pushed to and the Google Cloud
project billed are the server's own settings (``ddsp-launch web --image/--base-image/
--push-to/--project``, its ``--config FILE``, or the environment), never a request's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ddsp_launch.common import gcs
from ddsp_launch.common.destinations import resolved
from ddsp_launch.common.errors import InputError
from ddsp_launch.launch import settings as st

SERVER_OWNED = ("image", "base_image", "push_to", "project")
HIDDEN_FIELDS = ("tensorboard",)  # the page starts TensorBoard on demand
PATH_FIELDS = ("data", "output", "prepare_to")
PAGE_FIELDS = tuple(f.name for f in st.FIELDS if f.page and f.name not in SERVER_OWNED + HIDDEN_FIELDS)
SERVER_FIX = "start `ddsp-launch web` with {flag} VALUE (or {name}: VALUE in its --config FILE)"


def server_settings(given: dict, config: Path | None) -> dict:
    """The server's own settings: flags of `ddsp-launch web` over its --config FILE."""
    from_file = st.read_config(config) if config else {}
    others = [k for k in from_file if k not in SERVER_OWNED]
    if others:
        raise InputError(f"{config}: {', '.join(others)} {'is' if len(others) == 1 else 'are'} chosen on the page, "
                         "not in the server's --config FILE", "keep only " + ", ".join(SERVER_OWNED) + " in it")
    return {**from_file, **{k: st.convert(st.BY_NAME[k], v, st.BY_NAME[k].flag) for k, v in given.items() if v}}


def allowed_roots(workspace: Path, extra: list[Path]) -> tuple[Path, ...]:
    for root in extra:
        if not root.is_dir():
            raise InputError(f"--allow-root {root} is not a folder", "name an existing folder the pages may read and write under")
    return tuple(dict.fromkeys(resolved(p) for p in (workspace, Path.home(), *extra)))


def _fits(f: st.Field, value) -> bool:
    if isinstance(value, str):
        return True
    if f.kind in (int, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if f.kind is list:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return f.kind is bool and isinstance(value, bool)


@dataclass(frozen=True)
class Policy:
    roots: tuple[Path, ...]
    server: dict = field(default_factory=dict)

    def page_settings(self, form: dict) -> dict:
        """The page's answers as flags (empty ones dropped), or an InputError naming the first refused key."""
        for key, value in form.items():
            if key in SERVER_OWNED:
                raise InputError(f"{key} is set by the server, not by a page (an image runs code; a project is billed)",
                                 SERVER_FIX.format(flag=st.BY_NAME[key].flag, name=key))
            if key not in PAGE_FIELDS:
                raise InputError(f"unknown setting {key!r}", "a page may send: " + ", ".join(PAGE_FIELDS) + ", upload")
            if value is not None and not _fits(st.BY_NAME[key], value):
                raise InputError(f"{key} = {value!r} is not {st.BY_NAME[key].kind.__name__}", f"{st.BY_NAME[key].flag}: {st.BY_NAME[key].hint}")
        flags = {k: v for k, v in form.items() if v not in (None, "", [])}
        for name in PATH_FIELDS:
            if name in flags:
                self.check_path(name, flags[name])
        return flags

    def check_path(self, name: str, value: str) -> None:
        if gcs.is_gcs(value):
            return
        path = resolved(value)
        if not any(path.is_relative_to(root) for root in self.roots):
            raise InputError(f"{name} {value} is outside the folders this server may use ({', '.join(map(str, self.roots))})",
                             f"choose a path under one of them, or restart the server with "
                             f"--allow-root {path if path.is_dir() else path.parent}")

    def shown(self) -> dict:
        """The server's own settings as a run would get them (for the page to show, read-only)."""
        try:
            values = st.resolve({}, self.server, os.environ).values
        except InputError:
            values = self.server
        return {name: values.get(name) for name in SERVER_OWNED}
