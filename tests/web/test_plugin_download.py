"""The page's side of the model preset: the new-run form offers it, and a run trained for the
DDSP-VST plugin gets a "Download for DDSP-VST" button whose route refuses, with the reason, what
cannot be exported (the download itself, of a real model: tests/trainer/test_vst.py)."""

from __future__ import annotations

import json
from pathlib import Path



def record(web, tmp_path: Path, run_id: str, model: str) -> Path:
    output = tmp_path / f"out-{run_id}"
    output.mkdir()
    (web.home / "runs").mkdir(parents=True, exist_ok=True, mode=0o700)
    (web.home / "runs" / f"{run_id}.json").write_text(json.dumps({
        "id": run_id, "state": "running", "target": "process", "output": str(output),
        "settings": {"model": model, "output": str(output), "data": str(tmp_path)}}))
    return output


def test_the_form_offers_the_plugin_model(web):
    status, _, body = web.get("/new")
    page = body.decode()
    assert status == 200 and '<select id="field-model" name="model">' in page
    assert '<option value="vst" >vst: for the DDSP-VST plugin' in page
    assert '<option value="solo_instrument" selected>' in page


def test_the_plugin_download_is_offered_for_a_vst_run_and_refused_with_the_reason(web, tmp_path):
    record(web, tmp_path, "20261201-120000-process-aaaa", "solo_instrument")
    output = record(web, tmp_path, "20261201-120000-process-bbbb", "vst")
    assert 'id="plugin-model"' not in web.get("/runs/20261201-120000-process-aaaa")[2].decode()
    page = web.get("/runs/20261201-120000-process-bbbb")[2].decode()
    assert "Download for DDSP-VST" in page and 'id="plugin-model" class="button disabled"' in page  # no checkpoint yet
    status, _, body = web.get("/runs/20261201-120000-process-aaaa/plugin.tflite")
    assert status == 409 and b"this run trains solo_instrument" in body
    status, _, body = web.get("/runs/20261201-120000-process-bbbb/plugin.tflite")
    assert status == 409 and b"no complete checkpoint yet" in body
    (output / "ckpt-1.index").write_bytes(b"")  # an index without its data: still no complete checkpoint
    assert web.get("/runs/20261201-120000-process-bbbb/plugin.tflite")[0] == 409
