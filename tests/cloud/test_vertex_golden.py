"""Golden Vertex AI requests (tests/cloud/golden/*.json: bodies as Google's documentation
writes them, and the same broken on purpose, each naming where the service refuses it) run
through two checkers written apart: ddsp-launch's own (the discovery document's "Required."
fields plus its table of service rules) and the local Vertex AI's (tests/cloud/vertex_rules.py,
from the documentation). Both must accept what is valid and refuse what is not."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ddsp_launch.cloud import discovery
from ddsp_launch.common.errors import InputError
from tests.cloud.fake_gcp import FakeGcp
from tests.conftest import ddsp_launch

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.json"))
PARENT = "projects/my-proj/locations/us-central1"
COLLECTION = {"CustomJob": "customJobs", "HyperparameterTuningJob": "hyperparameterTuningJobs"}


@pytest.fixture(scope="module")
def fake():
    with FakeGcp() as server:
        yield server


def post(fake: FakeGcp, kind: str, body) -> tuple[int, dict]:
    """A create request as the service receives it: JSON over HTTP, no client-side checks."""
    req = urllib.request.Request(f"{fake.url}/v1/{PARENT}/{COLLECTION[kind]}", data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_there_are_valid_and_broken_golden_requests_of_both_kinds():
    cases = [json.loads(p.read_text()) for p in GOLDEN]
    for kind in COLLECTION:
        assert any(c["kind"] == kind and c["refused_at"] is None for c in cases)
        assert any(c["kind"] == kind and c["refused_at"] for c in cases)


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_the_local_vertex_ai_accepts_or_refuses_each_golden_request(fake, path):
    case = json.loads(path.read_text())
    status, answer = post(fake, case["kind"], case["body"])
    if case["refused_at"] is None:
        assert status == 200, answer
        assert answer["name"].startswith(f"{PARENT}/{COLLECTION[case['kind']]}/")
    else:
        assert status == 400 and answer["error"]["status"] == "INVALID_ARGUMENT", answer
        assert f"{case['refused_at']}:" in answer["error"]["message"], answer


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_ddsp_launchs_checker_accepts_or_refuses_each_golden_request(path):
    """The product names the field, or the object a service rule is about (a prefix of the path)."""
    case = json.loads(path.read_text())
    problems = discovery.request_schema().errors(case["kind"], case["body"])
    if case["refused_at"] is None:
        assert problems == []
    else:
        named = [p.split(": ", 1)[0] for p in problems]
        assert any(case["refused_at"] == n or case["refused_at"].startswith(n + ".") or case["refused_at"].startswith(n + "[")
                   for n in named), problems


def test_a_product_body_without_image_uri_is_refused_by_both_for_their_own_reasons(fake):
    """ddsp-launch's own request (its --dry-run's), broken on purpose: the product
    refuses it from the discovery document's "Required." (nothing is sent), the local Vertex AI
    from its own rule written from the REST reference."""
    image = "us-central1-docker.pkg.dev/my-proj/ddsp/trainer@sha256:" + "e" * 64
    dry = ddsp_launch("submit", "gs://ddsp-data/violin", "gs://ddsp-data/runs/v1", "--image", image, "--project", "my-proj",
                      "--dry-run", check=True)
    body, _ = json.JSONDecoder().raw_decode(dry.stdout[dry.stdout.index("\n{") + 1:])  # the request it would send
    assert discovery.request_schema().errors("CustomJob", body) == []
    assert post(fake, "CustomJob", body)[0] == 200  # whole, both accept it
    del body["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["imageUri"]

    with pytest.raises(InputError) as refused:
        discovery.request_schema().check("CustomJob", body)
    product = refused.value.message
    assert 'jobSpec.workerPoolSpecs[0].containerSpec.imageUri: required (the discovery document marks it "Required."), missing' in product
    status, answer = post(fake, "CustomJob", body)
    server = answer["error"]["message"]
    assert status == 400 and "jobSpec.workerPoolSpecs[0].containerSpec.imageUri: Required: the container image to run (REST)" in server
    print(f"\nproduct: {product}\nlocal Vertex AI: {status} {server}")


def test_the_local_vertex_ai_does_not_use_the_products_checker():
    code = ("import sys; import tests.cloud.fake_gcp; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'ddsp_launch'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[]"
