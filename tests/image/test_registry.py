"""Registry references and credentials (Artifact Registry through a real google-auth flow)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ddsp_launch.adapters import registry
from ddsp_launch.adapters.docker_engine import registry_error
from ddsp_launch.common import image_refs
from ddsp_launch.common.errors import ImageError, InputError


@pytest.mark.parametrize(
    "repo",
    ["127.0.0.1:5000/ddsp-launch", "localhost:5000/team/ddsp", "us-central1-docker.pkg.dev/my-proj/ddsp/trainer",
     "ghcr.io/me/ddsp-launch", "me/ddsp-launch"],
)
def test_valid_repositories(repo):
    assert image_refs.validate_repository(repo) == repo


@pytest.mark.parametrize(
    ("repo", "message"),
    [
        ("127.0.0.1:5000/ddsp:latest", "has a tag"),
        ("127.0.0.1:5000/ddsp@sha256:" + "0" * 64, "has a tag or digest"),
        ("Registry/UPPER", "not a valid image repository"),
        ("gcr.io/my-proj/ddsp", "no longer accepts pushes"),
        ("us-central1-docker.pkg.dev/my-proj/ddsp", "REGION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE"),
    ],
)
def test_invalid_repositories(repo, message):
    with pytest.raises(InputError, match=message):
        image_refs.validate_repository(repo)


class _TokenEndpoint(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        _TokenEndpoint.seen.append(body)
        payload = json.dumps({"access_token": "ya29.test-token", "expires_in": 3600, "token_type": "Bearer"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def test_artifact_registry_gets_a_token_from_application_default_credentials(tmp_path, monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        # A service account key (a fresh RSA key): google-auth signs a JWT and trades it
        # at the key's token_uri, here a local endpoint.
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
        adc = tmp_path / "adc.json"
        adc.write_text(json.dumps({
            "type": "service_account", "project_id": "p", "private_key_id": "k1", "private_key": key,
            "client_email": "trainer@p.iam.gserviceaccount.com", "client_id": "1",
            "token_uri": f"http://127.0.0.1:{server.server_port}/token",
        }))
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
        auth = registry.credentials_for("europe-west4-docker.pkg.dev/p/r/img")
    finally:
        server.shutdown()
    assert auth.username == "oauth2accesstoken" and auth.password == "ya29.test-token"
    assert auth.server == "https://europe-west4-docker.pkg.dev"
    assert "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in _TokenEndpoint.seen[-1]
    assert "ya29" not in repr(auth)  # the secret stays out of logs and tracebacks


def test_missing_application_default_credentials_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(InputError, match="Application Default Credentials") as err:
        registry.credentials_for("us-central1-docker.pkg.dev/p/r/img")
    assert "gcloud auth application-default login" in str(err.value)


def test_a_user_name_needs_the_password_variable(monkeypatch):
    monkeypatch.delenv(registry.PASSWORD_ENV, raising=False)
    with pytest.raises(InputError, match=registry.PASSWORD_ENV):
        registry.credentials_for("127.0.0.1:5000/x", "alice")
    monkeypatch.setenv(registry.PASSWORD_ENV, "s3cret")
    auth = registry.credentials_for("127.0.0.1:5000/x", "alice")
    assert (auth.username, auth.password, auth.server) == ("alice", "s3cret", "127.0.0.1:5000")


def test_artifact_registry_refusals_name_the_fix():
    # Artifact Registry's own wording for a missing repository and a missing permission.
    missing = registry_error('name unknown: Repository "ddsp" not found', "us-docker.pkg.dev/p/ddsp/img:cpu-1", "push")
    assert isinstance(missing, ImageError) and "does not exist" in str(missing)
    assert "gcloud artifacts repositories create" in str(missing)
    denied = registry_error("denied: Permission \"artifactregistry.repositories.uploadArtifacts\" denied",
                            "us-docker.pkg.dev/p/ddsp/img:cpu-1", "push")
    assert "authentication failed" in str(denied) and "roles/artifactregistry.writer" in str(denied)
