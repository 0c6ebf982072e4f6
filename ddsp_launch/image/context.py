"""The build context (an allow-list, as a tar) and the image's content-addressed tag.

Pure except for reading the project's files. The tag is a hash of everything that decides
the image's contents: the rendered Dockerfile, the base image, the lock files and the
project's code. The CA bundle is not part of it: it only lets pip through a proxy.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ddsp_launch.image import dockerfile

LARGE_CONTEXT_BYTES = 20 * 1024 * 1024
CA_NAME = "build-ca.pem"


@dataclass(frozen=True)
class BuildContext:
    files: tuple[tuple[str, Path], ...]  # (path in the context, file on disk), sorted
    dockerfile_text: str
    base_image: str
    variant: str

    @property
    def size(self) -> int:
        return len(self.dockerfile_text.encode()) + sum(p.stat().st_size for _, p in self.files)

    def content_hash(self) -> str:
        h = hashlib.sha256()
        h.update(b"dockerfile\0" + self.dockerfile_text.encode() + b"\0")
        h.update(b"base\0" + self.base_image.encode() + b"\0")
        for arcname, path in self.files:
            h.update(arcname.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
        return h.hexdigest()

    def tag(self) -> str:
        """``cpu-<12 hex>`` / ``gpu-<12 hex>``: equal tags mean equal image contents."""
        return f"{self.variant}-{self.content_hash()[:12]}"

    def tar(self, ca_bundle: Path | None = None) -> io.BytesIO:
        """The context as an uncompressed tar (Dockerfile first), with an optional CA bundle."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, "Dockerfile", self.dockerfile_text.encode())
            for arcname, path in self.files:
                _add_bytes(tar, arcname, path.read_bytes(), mode=0o755 if os.access(path, os.X_OK) else 0o644)
            if ca_bundle is not None:
                _add_bytes(tar, CA_NAME, ca_bundle.read_bytes())
        buf.seek(0)
        return buf


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0  # fixed mtime: same bytes, same tar
    tar.addfile(info, io.BytesIO(data))


def _excluded(rel: str) -> bool:
    """Matches dockerfile.CONTEXT_EXCLUDE_GLOBS (the .dockerignore's exclusions)."""
    return "__pycache__" in rel.split("/") or rel.endswith((".pyc", ".pyo"))


def collect(variant: str, base_image: str = dockerfile.DEFAULT_BASE_IMAGE, root: Path = dockerfile.PROJECT_ROOT) -> BuildContext:
    """The allow-listed files under ``root`` and the Dockerfile for ``variant``."""
    files: list[tuple[str, Path]] = []
    for allowed in ("ddsp_launch", *dockerfile.variant(variant).lock_files):
        path = root / allowed
        if path.is_file():
            files.append((allowed, path))
        elif path.is_dir():
            for f in sorted(path.rglob("*")):
                rel = f.relative_to(root).as_posix()
                if f.is_file() and not _excluded(rel):
                    files.append((rel, f))
        else:
            raise FileNotFoundError(f"{path} is missing: the image needs it (is this a complete ddsp-launch checkout?)")
    return BuildContext(tuple(sorted(files)), dockerfile.render(variant, base_image), base_image, variant)
