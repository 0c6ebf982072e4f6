"""The web interface, served for real (`ddsp-launch web` in a child process) and driven in
Debian's chromium through its driver (selenium)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, need, stop_tensorboards, wait_for_port, wait_until  # noqa: F401 (wait_until: for the web tests)

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # hand the 3xx back as an HTTPError


@dataclass
class Web:
    url: str
    home: Path
    workspace: Path
    process: subprocess.Popen
    env: dict
    token: str

    def get(self, path: str, method: str = "GET", data: bytes | None = None, headers: dict | None = None,
            no_redirect: bool = False, as_page: bool = True, timeout: float = 60):
        """(status, headers, body) of one request (errors included; headers' names in lower case).
        ``as_page``: with the token (Bearer), this server's own Origin and (POST) a JSON content type, as
        its pages send them; ``headers`` add to or (None) remove those. ``timeout``: for a response the
        server computes first (an export), which takes minutes on a busy 2-core machine."""
        sent = {"Authorization": f"Bearer {self.token}", "Origin": self.url} if as_page else {}
        if as_page and method == "POST":
            sent["Content-Type"] = "application/json"
        sent = {k: v for k, v in {**sent, **(headers or {})}.items() if v is not None}
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=sent)
        opener = urllib.request.build_opener(NoRedirect) if no_redirect else urllib.request.build_opener()
        try:
            with opener.open(req, timeout=timeout) as resp:
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def start_web(tmp_path: Path, *args: str, env: dict | None = None) -> Web:
    """`ddsp-launch web --no-browser --allow-root TMP_PATH ARGS` on a free port; its token read from what it printed."""
    port = free_port()
    home = tmp_path / "home"
    # no cloud credentials or local Vertex AI reach the server unless given in env: a cloud launch must say so
    extra = env or {}
    env = {**os.environ, "DDSP_LAUNCH_HOME": str(home), "CLOUDSDK_CONFIG": str(tmp_path / "no-gcloud"),
           "PYTHONUNBUFFERED": "1", **extra}
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "DDSP_LAUNCH_VERTEX_ENDPOINT", "DDSP_LAUNCH_LOGGING_ENDPOINT"):
        if name not in extra:
            env.pop(name, None)
    log = open(tmp_path / "web.log", "wb")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "ddsp-launch"), "web", "--port", str(port), "--no-browser",
                             "--allow-root", str(tmp_path), *args], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    wait_for_port(port)
    [token] = re.findall(r"\?token=([\w.~-]+)", (tmp_path / "web.log").read_text())  # printed before it listens
    return Web(f"http://127.0.0.1:{port}", home, home / "web", proc, env, token)


def open_page(driver, web: Web, path: str) -> None:
    """Open a page as the user does the first time: the printed URL with its token (swapped for a cookie)."""
    driver.get(f"{web.url}{path}?token={web.token}")
    wait_until(lambda: driver.current_url == web.url + path, what=f"{path} without the token in its address")


def stop_web(web: Web) -> None:
    web.process.send_signal(signal.SIGINT)
    try:
        web.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        web.process.kill()
    stop_tensorboards(web.home)  # the TensorBoards the page started


@pytest.fixture
def web(tmp_path):
    w = start_web(tmp_path, "--max-upload-mb", "5")
    yield w
    stop_web(w)


@pytest.fixture
def serve(tmp_path):
    """start_web(tmp_path, *args, env=...) for a test that chooses the flags; stopped at its end."""
    started = []

    def start(*args: str, env: dict | None = None) -> Web:
        started.append(start_web(tmp_path, *args, env=env))
        return started[-1]

    yield start
    for w in started:
        stop_web(w)


@pytest.fixture(scope="session")
def browser():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        need("no chromium / chromium-driver", "apt-get install -y chromium chromium-driver (DDSP_LAUNCH_TEST_PACKAGES=1 bash scripts/install.sh)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1100"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def screenshot(driver, name: str, tmp_path: Path) -> Path:
    """A PNG of the page; also into docs/ when DDSP_LAUNCH_SCREENSHOTS=1 (how docs/web-*.png are made)."""
    path = tmp_path / name
    size = driver.get_window_size()
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size["width"], max(size["height"], height + 140))  # the whole page, not the viewport
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(path))
    driver.set_window_size(size["width"], size["height"])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("DDSP_LAUNCH_SCREENSHOTS") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        (ROOT / "docs" / name).write_bytes(path.read_bytes())
    return path
