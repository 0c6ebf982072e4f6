"""Image registries: credentials for a push or pull (reference syntax: common/image_refs).

Artifact Registry (REGION-docker.pkg.dev/PROJECT/REPO/IMAGE) gets a short-lived token
from Application Default Credentials (google-auth), so gcloud is not needed. Any other
registry takes a user name plus DDSP_LAUNCH_REGISTRY_PASSWORD, or whatever `docker login`
stored for it.
"""

from __future__ import annotations

import os

from ddsp_launch.adapters.docker_engine import RegistryAuth
from ddsp_launch.common import image_refs
from ddsp_launch.common.errors import ImageError, InputError

PASSWORD_ENV = "DDSP_LAUNCH_REGISTRY_PASSWORD"
ADC_FIX = ("run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service "
           "account key with roles/artifactregistry.writer")


def credentials_for(repository: str, username: str | None = None) -> RegistryAuth | None:
    """Credentials for ``repository``, or None to let the engine use `docker login`'s."""
    host = image_refs.split(repository)[0]
    if username:
        password = os.environ.get(PASSWORD_ENV)
        if not password:
            raise InputError(f"--registry-user {username} needs a password", f"set it in the environment: {PASSWORD_ENV}")
        return RegistryAuth(username, password, host)
    if image_refs.AR_HOST.match(host):
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
