"""Image references and repositories: their syntax, and which registries they name. Pure.

A reference names an image to run (`ddsp-launch:cpu-0123abcd`, `REGISTRY/NAME:TAG`,
`…@sha256:…`); a repository is where a built image is pushed, without a tag (the tag is
the content hash). Artifact Registry is `REGION-docker.pkg.dev/PROJECT/REPO/IMAGE`;
Container Registry (gcr.io) no longer takes pushes.
"""

from __future__ import annotations

import re

from ddsp_launch.common.errors import InputError

_REFERENCE = re.compile(r"^[a-z0-9]+([._/:-][a-zA-Z0-9_.-]+)*(@sha256:[0-9a-f]{64})?$")
AR_HOST = re.compile(r"^[a-z0-9-]+-docker\.pkg\.dev$")
_GCR_HOST = re.compile(r"^([a-z]+\.)?gcr\.io$")
_HOST = re.compile(r"^([a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+(:[0-9]+)?$")
_PATH_PART = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")


def check_reference(image: str) -> str:
    """An image reference to run, or an InputError."""
    if not _REFERENCE.match(image):
        raise InputError(f"{image!r} is not an image reference", "e.g. ddsp-launch:cpu-0123abcd or REGISTRY/NAME:TAG")
    return image


def split(repository: str) -> tuple[str, str]:
    """``host[:port]/path`` -> (host, path); Docker Hub names get host ``docker.io``."""
    first, _, rest = repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "docker.io", repository


def is_container_registry(host: str) -> bool:
    """gcr.io and its regional hosts: Container Registry, which no longer takes pushes."""
    return bool(_GCR_HOST.match(host))


def is_artifact_registry(repository: str) -> bool:
    return bool(AR_HOST.match(split(repository)[0]))


def validate_repository(repository: str) -> str:
    """A repository to push to, without a tag (the tag is the content hash)."""
    host, path = split(repository)
    if "@" in repository or ":" in path:
        raise InputError(f"{repository!r} has a tag or digest", "give the repository only: ddsp-launch picks the tag")
    if not _HOST.match(host) or not path or not all(_PATH_PART.match(p) for p in path.split("/")):
        raise InputError(
            f"{repository!r} is not a valid image repository",
            "lowercase letters, digits and . _ - separated by /, e.g. us-central1-docker.pkg.dev/PROJECT/REPO/ddsp",
        )
    if is_container_registry(host):
        raise InputError(
            f"{host} (Container Registry) no longer accepts pushes",
            "use Artifact Registry: REGION-docker.pkg.dev/PROJECT/REPO/IMAGE",
        )
    if AR_HOST.match(host) and len(path.split("/")) < 3:
        raise InputError(
            f"{repository!r}: an Artifact Registry image is REGION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE",
            f"e.g. {host}/my-project/ddsp/ddsp-launch",
        )
    return repository
