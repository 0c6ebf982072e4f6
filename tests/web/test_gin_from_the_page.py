"""Gin from the new-run page, through the real server: code is refused and named (400, never
started), plain bindings and ddsp's own gin files still pass."""

from __future__ import annotations

import json

import pytest

from ddsp_launch.common import tfrecord

ATTACKS = [
    ("RnnFcDecoder.rnn_channels = 64\nimport os", "gin binding 'import os' refused (imports run code"),
    (["from __gin__ import dynamic_registration", "import os"], "(dynamic registration makes any imported function callable)"),
    ("Autoencoder.decoder = @os.system()", "(os.system is not one of ddsp's configurables)"),
    ("Harmonic.name = 'x' # import os", "without '#'"),
]


def check(web, tmp_path, **gin):
    dataset = tmp_path / "ds"
    dataset.mkdir(exist_ok=True)
    (dataset / "train.tfrecord-00000-of-00001").write_bytes(tfrecord.frame(b"one record"))
    body = {"target": "process", "data": str(dataset), "output": str(tmp_path / "out"), "num_steps": "1", **gin}
    status, _, reply = web.get("/api/check", "POST", json.dumps(body).encode(), {"Content-Type": "application/json"})
    return status, json.loads(reply)


@pytest.mark.parametrize("gin_param, named", ATTACKS)
def test_gin_code_from_the_page_is_refused(web, tmp_path, gin_param, named):
    status, reply = check(web, tmp_path, gin_param=gin_param)
    assert status == 400, reply
    assert reply["error"].startswith("the page: gin binding") and named in reply["error"]
    assert "gin code of your own belongs on your own command line" in reply["fix"]
    assert not (tmp_path / "out").exists()


def test_a_gin_file_with_code_is_refused_and_plain_gin_passes(web, tmp_path):
    evil = tmp_path / "evil.gin"
    evil.write_text("RnnFcDecoder.rnn_channels = 64\nimport os\n")
    status, reply = check(web, tmp_path, gin_file=str(evil))
    assert status == 400 and f"gin file {evil}: gin refused:\n  line 2: import os" in reply["error"], reply
    status, reply = check(web, tmp_path, gin_file="models/solo_instrument.gin", gin_param="RnnFcDecoder.rnn_channels = 64")
    assert status == 200, reply
    assert "--gin-file models/solo_instrument.gin" in reply["command"] and "RnnFcDecoder.rnn_channels = 64" in reply["command"]
