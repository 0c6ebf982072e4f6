"""A musician's whole path through the pages, in a real browser: upload two recordings,
launch a local run (process runtime), see it in the runs list, watch the step advance,
download the model as a zip, transfer a short recording and play the result; the same run
is what `ddsp-launch runs` shows."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import soundfile as sf
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.conftest import ddsp_launch
from tests.web.conftest import open_page, screenshot, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]  # real browser, real training


def test_upload_launch_watch_download_and_hear(web, browser, example_audio, tmp_path):
    # -- new run: two recordings dropped in, the launcher's settings, the equivalent command
    open_page(browser, web, "/new")  # the printed URL, token and all, as the user opens it
    picks = [example_audio / "scales.wav", example_audio / "frere_jacques.wav"]
    browser.find_element(By.ID, "files").send_keys("\n".join(str(p) for p in picks))
    wait_until(lambda: len(browser.find_elements(By.CSS_SELECTOR, ".upload-row.done")) == 2, what="two uploads")
    progress = [float(e.get_attribute("value")) for e in browser.find_elements(By.CSS_SELECTOR, ".upload-row progress")]
    assert progress == [1.0, 1.0]
    Select(browser.find_element(By.ID, "field-target")).select_by_value("process")
    output = tmp_path / "runs" / "violin"
    for name, value in (("output", str(output)), ("batch_size", "2"), ("num_steps", "20"), ("steps_per_save", "10"),
                        ("steps_per_summary", "10"), ("name", "violin-from-the-browser")):
        field = browser.find_element(By.ID, f"field-{name}")
        field.clear()
        field.send_keys(value)
    browser.find_element(By.ID, "check").click()
    command = browser.find_element(By.ID, "command")
    wait_until(lambda: command.text, what="the equivalent command")
    assert command.text.startswith("ddsp-launch train --yes --target process") and "--num-steps 20" in command.text
    assert "--prepare-to" in command.text  # uploaded audio is prepared first
    screenshot(browser, "web-new-run.png", tmp_path)

    # -- launch: the run's page follows it
    browser.find_element(By.ID, "launch").click()
    wait_until(lambda: "/runs/" in browser.current_url and browser.find_elements(By.ID, "run"), what="the run page")
    run_id = browser.current_url.rsplit("/", 1)[-1]
    browser.execute_script("window.sameDocument = true")  # the page updates itself in place, never reloads
    # the run's own record says when it is over; the page must then show what the record holds
    record = web.home / "runs" / f"{run_id}.json"
    wait_until(lambda: record.is_file() and json.loads(record.read_text())["state"] not in ("starting", "running"),
               timeout=900, every=1, what="the run's record to say it ended")
    wait_until(lambda: browser.find_element(By.ID, "state").text not in ("starting", "running"), timeout=60,
               what="the page to show the run ended")
    assert json.loads(record.read_text())["state"] == "succeeded", browser.find_element(By.ID, "log").text[-3000:]
    assert browser.find_element(By.ID, "state").text == "succeeded"
    assert browser.execute_script("return window.sameDocument") is True  # it got there without a reload
    wait_until(lambda: browser.find_element(By.ID, "step").text == "20", what="the last step on the page")
    assert int(browser.find_element(By.ID, "loss-curve").get_attribute("data-points")) == 2  # steps 10 and 20
    assert "finished at step 20" in browser.find_element(By.ID, "log").text
    assert browser.find_element(By.ID, "output").text == str(output)  # filled in once the record exists
    assert browser.find_element(By.ID, "num-steps").text == "20"
    assert browser.find_element(By.ID, "command-line").text.startswith("ddsp-launch train --yes --target process")
    assert "disabled" not in browser.find_element(By.ID, "model-zip").get_attribute("class")

    # -- TensorBoard on demand
    browser.find_element(By.ID, "tensorboard").click()
    link = wait_until(lambda: browser.find_elements(By.ID, "tensorboard-url"), timeout=120, what="the TensorBoard link")[0]
    assert link.get_attribute("href").startswith("http://127.0.0.1:")

    # -- the model as a zip: newest complete checkpoint, its operative config, the dataset statistics
    status, headers, body = web.get(f"/runs/{run_id}/model.zip")
    assert status == 200 and headers["content-type"] == "application/zip"
    names = sorted(n.split("/", 1)[1] for n in zipfile.ZipFile(io.BytesIO(body)).namelist())
    assert names == ["ckpt-20.data-00000-of-00001", "ckpt-20.index", "dataset_statistics.json", "operative_config-0.gin"]

    # -- hear it: a short recording through the model, played in the page
    melody, sr = sf.read(str(example_audio / "ode_to_joy.wav"), dtype="float32")
    short = tmp_path / "my melody.wav"
    sf.write(str(short), melody[: 6 * sr], sr)
    browser.find_element(By.ID, "transfer-file").send_keys(str(short))
    browser.find_element(By.ID, "transfer-go").click()
    audio = browser.find_element(By.ID, "transfer-audio")
    wait_until(lambda: audio.get_attribute("src") or "failed" in browser.find_element(By.ID, "transfer-status").text,
               timeout=600, what="the transfer")
    assert browser.find_element(By.ID, "transfer-status").text == "done"
    status, headers, body = web.get(audio.get_attribute("src").removeprefix(web.url))
    assert status == 200 and headers["content-type"] == "audio/wav"
    result, result_sr = sf.read(io.BytesIO(body), dtype="float32")
    assert result_sr == 16000 and len(result) == 6 * 16000
    level = lambda x: 10 * np.log10(np.mean(np.square(x, dtype=np.float64)))  # noqa: E731 (dB, RMS)
    assert level(result) > level(melody[: 6 * sr]) - 40  # within 40 dB of the input's level: a 20-step model's varies
    assert browser.execute_script("return arguments[0].duration", audio) == pytest.approx(6.0, abs=0.05)
    assert not list(output.rglob("*.wav"))  # the model folder is only read
    assert len(list((web.workspace / "transfers" / run_id).glob("*.wav"))) == 2  # the recording and its transfer
    screenshot(browser, "web-run.png", tmp_path)

    # -- the runs list, and the command line, show the same run
    browser.get(web.url + "/runs")
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-id="{run_id}"]')
    assert row.find_element(By.CSS_SELECTOR, ".state").text == "succeeded"
    assert row.find_element(By.CSS_SELECTOR, ".step").text == "20 / 20"
    screenshot(browser, "web-runs.png", tmp_path)
    cli = ddsp_launch("runs", env={"DDSP_LAUNCH_HOME": str(web.home)}, check=True)
    [line] = [l for l in cli.stdout.splitlines() if l.startswith(run_id)]
    assert "succeeded" in line and str(output) in line
    record = json.loads(ddsp_launch("runs", "show", run_id, env={"DDSP_LAUNCH_HOME": str(web.home)}, check=True).stdout)
    assert record["settings"]["name"] == "violin-from-the-browser" and record["runtime"] == "process"
