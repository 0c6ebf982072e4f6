"""The build context (an allow-list, as a tar) and the image's content-addressed tag.

Pure except for reading the project's files. The tag is a hash of everything that decides
the image's contents: the rendered Dockerfile, the base image, the lock files and the
project's code. The CA bundle is not part of it: it only lets pip through a proxy.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ddsp_launch.image import dockerfile

LARGE_CONTEXT_BYTES = 20 * 1024 * 1024
CA_NAME = "build-ca.pem"


@dataclass(frozen=True)
class ContextFile:
    arcname: str  # path in the context
    data: bytes
    executable: bool = False


@dataclass(frozen=True)
class BuildContext:
    """A snapshot: the bytes hashed into the tag are the bytes sent to the engine."""

    files: tuple[ContextFile, ...]  # sorted by arcname
    dockerfile_text: str
    base_image: str
    variant: str

    @property
    def size(self) -> int:
        return len(self.dockerfile_text.encode()) + sum(len(f.data) for f in self.files)

    def content_hash(self) -> str:
        h = hashlib.sha256()
        h.update(b"dockerfile\0" + self.dockerfile_text.encode() + b"\0")
        h.update(b"base\0" + self.base_image.encode() + b"\0")
        for f in self.files:
            h.update(f.arcname.encode() + b"\0" + hashlib.sha256(f.data).digest())
        return h.hexdigest()

    def tag(self) -> str:
        """``cpu-<12 hex>`` / ``gpu-<12 hex>``: equal tags mean equal image contents."""
        return f"{self.variant}-{self.content_hash()[:12]}"

    def tar(self, ca_bundle: Path | None = None) -> io.BytesIO:
        """The context as an uncompressed tar (Dockerfile first), with an optional CA bundle."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, "Dockerfile", self.dockerfile_text.encode())
            for f in self.files:
                _add_bytes(tar, f.arcname, f.data, mode=0o755 if f.executable else 0o644)
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


def copy_sources(dest: Path, root: Path = dockerfile.PROJECT_ROOT) -> Path:
    """Copy what an image is built from (the allow-list) to ``dest``: a project root that
    `collect` accepts, for building variants of this checkout (tests, benchmarks)."""
    for allowed in dockerfile.CONTEXT_ALLOW:
        src, dst = root / allowed, dest / allowed
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo"))
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)
    return dest


PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the ddsp_launch package, checked out or installed
PACKAGED_LOCKS = PACKAGE_DIR / "image" / "requirements"  # a wheel's copy of the lock files (setup.py)


def source_root() -> Path | None:
    """The checkout this package runs from, or None when it is an installed package (a wheel,
    pipx): then the build context comes from the package itself and its packaged lock files."""
    root = dockerfile.PROJECT_ROOT
    return root if (root / "ddsp_launch").resolve() == PACKAGE_DIR and (root / dockerfile.CPU_LOCK).is_file() else None


def _locate(allowed: str, root: Path | None) -> Path:
    """Where an allow-listed path of the context is on this machine."""
    if root is not None:
        return root / allowed
    if allowed == "ddsp_launch":
        return PACKAGE_DIR
    return PACKAGED_LOCKS / Path(allowed).name


def _package_files(folder: Path, root: Path | None) -> list[tuple[str, Path]]:
    files = []
    for f in folder.rglob("*"):
        rel = f"ddsp_launch/{f.relative_to(folder).as_posix()}"
        if f.is_file() and not _excluded(rel) and not (root is None and f.parent == PACKAGED_LOCKS):
            files.append((rel, f))  # an installed package's lock copies are context files of their own, not code
    return files


def collect(variant: str, base_image: str = dockerfile.DEFAULT_BASE_IMAGE, root: Path | None = None) -> BuildContext:
    """The allow-listed files and the Dockerfile for ``variant``: from ``root`` (a project
    root), by default this checkout, or this installed package and its packaged lock files.
    The same files give the same tag, wherever they were read from."""
    root = root if root is not None else source_root()
    pairs: list[tuple[str, Path]] = []
    for allowed in ("ddsp_launch", *dockerfile.variant(variant).lock_files):
        path = _locate(allowed, root)
        if path.is_file():
            pairs.append((allowed, path))
        elif path.is_dir():
            pairs += _package_files(path, root)
        else:
            where = "is this a complete ddsp-launch checkout?" if root is not None else \
                "this installed package lacks its lock files: install ddsp-launch from a wheel built with `pip wheel .` or `python -m build`"
            raise FileNotFoundError(f"{path} is missing: the image needs it ({where})")
    files = sorted((ContextFile(arc, p.read_bytes(), os.access(p, os.X_OK)) for arc, p in pairs), key=lambda f: f.arcname)
    return BuildContext(tuple(files), dockerfile.render(variant, base_image), base_image, variant)
