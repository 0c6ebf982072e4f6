"""Image registries: reference syntax, and credentials for a push or pull.

Artifact Registry (REGION-docker.pkg.dev/PROJECT/REPO/IMAGE) gets a short-lived token
from Application Default Credentials (google-auth), so gcloud is not needed. Any other
registry takes a user name plus DDSP_LAUNCH_REGISTRY_PASSWORD, or whatever `docker login`
stored for it.
"""

from __future__ import annotations

import os
import re

from ddsp_launch.adapters.docker_engine import RegistryAuth
from ddsp_launch.common.errors import ImageError, InputError

PASSWORD_ENV = "DDSP_LAUNCH_REGISTRY_PASSWORD"
_AR_HOST = re.compile(r"^[a-z0-9-]+-docker\.pkg\.dev$")
_GCR_HOST = re.compile(r"^([a-z]+\.)?gcr\.io$")
_HOST = re.compile(r"^([a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+(:[0-9]+)?$")
_PATH_PART = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
ADC_FIX = ("run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service "
           "account key with roles/artifactregistry.writer")


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
    return bool(_AR_HOST.match(split(repository)[0]))


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
    if _AR_HOST.match(host) and len(path.split("/")) < 3:
        raise InputError(
            f"{repository!r}: an Artifact Registry image is REGION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE",
            f"e.g. {host}/my-project/ddsp/ddsp-launch",
        )
    return repository


def credentials_for(repository: str, username: str | None = None) -> RegistryAuth | None:
    """Credentials for ``repository``, or None to let the engine use `docker login`'s."""
    host = split(repository)[0]
    if username:
        password = os.environ.get(PASSWORD_ENV)
        if not password:
            raise InputError(f"--registry-user {username} needs a password", f"set it in the environment: {PASSWORD_ENV}")
        return RegistryAuth(username, password, host)
    if _AR_HOST.match(host):
        return RegistryAuth("oauth2accesstoken", adc_access_token(), f"https://{host}")
    return None


def adc_access_token() -> str:
    """A short-lived OAuth token from Application Default Credentials."""
    import google.auth
    import google.auth.transport.requests
    from google.auth.exceptions import DefaultCredentialsError, RefreshError, TransportError

    try:
        creds, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        creds.refresh(google.auth.transport.requests.Request())
    except DefaultCredentialsError as exc:
        raise InputError(f"no Application Default Credentials for Artifact Registry ({exc})", ADC_FIX) from None
    except (RefreshError, TransportError) as exc:
        raise ImageError(f"Application Default Credentials could not get a token: {exc}", ADC_FIX) from None
    return creds.token
