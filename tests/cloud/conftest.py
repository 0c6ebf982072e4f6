from __future__ import annotations

import pytest

from tests.cloud.fake_gcp import FakeGcp


@pytest.fixture
def fake_gcp(monkeypatch):
    """The local Vertex AI + Cloud Logging server, with the client pointed at it."""
    with FakeGcp() as fake:
        monkeypatch.setenv("DDSP_LAUNCH_VERTEX_ENDPOINT", fake.url)
        monkeypatch.setenv("DDSP_LAUNCH_LOGGING_ENDPOINT", fake.url)
        yield fake
