"""Bad input through the pages: each a clear message in the page, nothing written outside
the upload or run folder, nothing started."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.web.conftest import open_page, start_web, stop_web, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # a real browser


def upload_rows(driver):
    return driver.find_elements(By.CSS_SELECTOR, ".upload-row")


def settled(driver, n):
    rows = upload_rows(driver)
    return rows if len(rows) >= n and all("done" in r.get_attribute("class") or "failed" in r.get_attribute("class")
                                          for r in rows) else None


def status_of(rows, name):
    [row] = [r for r in rows if r.find_element(By.CSS_SELECTOR, ".name").text == name]
    return row.get_attribute("class"), row.find_element(By.CSS_SELECTOR, ".status").text


def test_refused_uploads_say_why_and_leave_nothing(web, browser, tmp_path):
    files = tmp_path / "picked"
    files.mkdir()
    (files / "notes.txt").write_text("my practice notes")
    (files / "fake.wav").write_text("this is not a recording, only named like one")
    sf.write(str(files / "huge.wav"), np.zeros(16000 * 60 * 3, np.float32), 16000, subtype="PCM_16")  # 5.8 MB > 5 MB
    sf.write(str(files / "take1.wav"), 0.3 * np.sin(np.arange(16000) / 10).astype(np.float32), 16000)
    open_page(browser, web, "/new")
    browser.find_element(By.ID, "files").send_keys("\n".join(str(files / n) for n in ("notes.txt", "fake.wav", "huge.wav", "take1.wav")))
    rows = wait_until(lambda: settled(browser, 4), what="four uploads to finish")
    assert status_of(rows, "take1.wav") == ("upload-row done", "uploaded")
    cls, text = status_of(rows, "notes.txt")
    assert "failed" in cls and "notes.txt is not an audio file" in text and "wav, flac, ogg, mp3" in text
    cls, text = status_of(rows, "fake.wav")
    assert "failed" in cls and "fake.wav does not hold audio" in text
    cls, text = status_of(rows, "huge.wav")
    assert "failed" in cls and "larger than the 5 MB upload limit" in text and "--max-upload-mb" in text

    # names that leave the folder, as a page could send them (dropped File objects)
    browser.execute_script("""
        const dt = new DataTransfer();
        for (const name of arguments[0]) dt.items.add(new File([new Uint8Array([82,73,70,70,0,0,0,0,87,65,86,69])], name));
        document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true}));
    """, ["..\\\\..\\\\evil.wav", "../../evil2.wav"])
    rows = wait_until(lambda: settled(browser, 6), what="the dropped files to be refused")
    refused = [r.find_element(By.CSS_SELECTOR, ".status").text for r in rows[4:]]
    assert all("is not allowed" in t for t in refused), refused

    # the same over HTTP with an encoded separator
    uploads = [p for p in (web.workspace / "uploads").iterdir()]
    [upload] = uploads
    status, _, body = web.get(f"/api/uploads/{upload.name}/..%2F..%2Fevil3.wav", "PUT", data=b"RIFF\0\0\0\0WAVEfmt ")
    assert status == 400 and b"is not allowed" in body

    kept = sorted(p.relative_to(web.workspace).as_posix() for p in web.workspace.rglob("*") if p.is_file())
    assert kept == [f"uploads/{upload.name}/audio/take1.wav"]  # no .part, no refused file
    assert not [p for p in tmp_path.rglob("evil*")]


def test_invalid_settings_are_refused_with_the_launchers_messages(web, browser, tmp_path):
    open_page(browser, web, "/new")
    Select(browser.find_element(By.ID, "field-target")).select_by_value("process")
    browser.find_element(By.ID, "field-data").send_keys(str(tmp_path / "nowhere"))
    browser.find_element(By.ID, "field-output").send_keys(str(tmp_path / "run"))
    batch = browser.find_element(By.ID, "field-batch_size")
    batch.clear()
    batch.send_keys("lots")
    browser.find_element(By.ID, "check").click()
    message = browser.find_element(By.ID, "message")
    # each wait is for the page's answer itself (the page clears the message while it asks)
    wait_until(lambda: "not a number" in message.text, what="the batch size message")
    assert "batch_size = 'lots' is not a number" in message.text and "Fix: --batch-size" in message.text

    batch.clear()
    batch.send_keys("0")
    browser.find_element(By.ID, "check").click()
    wait_until(lambda: "must be > 0" in message.text, what="the next message")
    assert "batch-size must be > 0, got 0" in message.text

    batch.clear()
    batch.send_keys("4")
    browser.find_element(By.ID, "launch").click()
    wait_until(lambda: "nowhere" in message.text, what="the data message")
    assert "Fix:" in message.text
    assert browser.current_url.endswith("/new") and not (tmp_path / "run").exists()
    assert not (web.home / "runs").exists() or not list((web.home / "runs").glob("*.json"))


def test_a_cloud_run_without_credentials_is_refused_before_anything_starts(browser, tmp_path):
    image = "us-central1-docker.pkg.dev/my-ddsp-project/ddsp/trainer:1"
    web = start_web(tmp_path, "--project", "my-ddsp-project", "--image", image)  # what only the server chooses
    try:
        open_page(browser, web, "/new")
        Select(browser.find_element(By.ID, "field-target")).select_by_value("vertex")
        assert browser.find_element(By.ID, "field-region").is_displayed()  # the cloud questions appear
        assert not browser.find_elements(By.ID, "field-project") and not browser.find_elements(By.ID, "field-image")
        assert browser.find_element(By.ID, "server-project").text == "my-ddsp-project"  # shown, not editable
        assert browser.find_element(By.ID, "server-image").text == image
        for name, value in (("data", "gs://my-ddsp/violin-dataset"), ("output", "gs://my-ddsp/runs/violin")):
            browser.find_element(By.ID, f"field-{name}").send_keys(value)
        browser.find_element(By.ID, "check").click()
        command = browser.find_element(By.ID, "command")
        wait_until(lambda: command.text, what="the equivalent command")
        assert "ddsp-launch train --yes --target vertex" in command.text and "--project my-ddsp-project" in command.text
        assert f"--image {image}" in command.text
        browser.find_element(By.ID, "launch").click()
        message = browser.find_element(By.ID, "message")
        wait_until(lambda: "Credentials" in message.text, what="the credentials message")
        assert "no Application Default Credentials" in message.text and "gcloud auth application-default login" in message.text
        assert not (web.home / "runs").exists() or not list((web.home / "runs").glob("*.json"))
    finally:
        stop_web(web)
