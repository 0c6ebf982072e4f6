"""`ddsp-launch web` itself: a token always (on the loopback too), swapped for a cookie of this
server's own; a taken port or a weak token refused before anything is served. The real
server, over HTTP."""

from __future__ import annotations

import re
import socket

from tests.conftest import ddsp_launch, free_port

TOKEN = "correct-horse-battery-staple"


def test_every_request_needs_the_token_even_on_the_loopback(tmp_path, serve):
    web = serve()
    printed = (tmp_path / "web.log").read_text()
    [token] = re.findall(r"http://127\.0\.0\.1:\d+/\?token=([\w-]+)", printed)
    assert len(token) >= 24 and token == web.token
    for path in ("/new", "/api/runs", "/static/app.js"):
        status, _, body = web.get(path, as_page=False)
        assert status == 401 and b"needs its token" in body, path
    assert web.get("/new", as_page=False, headers={"Authorization": "Bearer wrong-token-wrong-token"})[0] == 401
    assert web.get("/new?token=wrong-token-wrong-token", as_page=False)[0] == 401
    # the printed URL: the token is swapped for a cookie named after this server's port, and dropped from the address
    status, headers, _ = web.get(f"/new?token={token}", as_page=False, no_redirect=True)
    assert status == 303 and headers["location"] == "/new"
    cookie = headers["set-cookie"]
    assert cookie.startswith(f"ddsp_launch_token_{web.url.rsplit(':', 1)[1]}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    status, _, body = web.get("/new", as_page=False, headers={"Cookie": cookie.split(";")[0]})
    assert status == 200 and b"Train a model of your instrument" in body
    status, _, body = web.get("/api/runs", as_page=False, headers={"Authorization": f"Bearer {token}"})
    assert status == 200 and body == b"[]"
    # the token in the address never redirects elsewhere
    status, headers, _ = web.get(f"//evil.example/x?token={token}", as_page=False, no_redirect=True)
    assert status == 303 and headers["location"] == "/evil.example/x"


def test_off_loopback_the_given_token_and_the_hosts_it_answers_to_are_printed(tmp_path, serve):
    web = serve("--host", "0.0.0.0", "--allow-host", "studio.local", env={"DDSP_LAUNCH_WEB_TOKEN": TOKEN})
    printed = (tmp_path / "web.log").read_text()
    assert "beyond this machine" in printed and "studio.local" in printed and f"?token={TOKEN}" in printed
    assert web.get("/new", as_page=False)[0] == 401
    assert web.get("/new", as_page=False, headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
    assert web.get("/new", headers={"Host": "studio.local:8765"})[0] == 200
    assert web.get("/new", headers={"Host": "elsewhere.example"})[0] == 400


def test_taken_port_and_weak_tokens_are_refused(tmp_path):
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        taken = ddsp_launch("web", "--no-browser", "--port", str(port), env={"DDSP_LAUNCH_HOME": str(tmp_path / "home")}, timeout=60)
    assert taken.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in taken.stderr and "--port" in taken.stderr
    for weak in ("abc", "sixteen chars but spaces", "ünïcødé-ünïcødé-ünïcødé"):
        refused = ddsp_launch("web", "--no-browser", "--port", str(free_port()), "--token", weak,
                              env={"DDSP_LAUNCH_HOME": str(tmp_path / "home")}, timeout=60)
        assert refused.returncode == 2 and "token is too short or holds characters" in refused.stderr, weak
    assert not (tmp_path / "home" / "web").exists()  # nothing set up for a server that never started


def test_the_servers_own_settings_come_from_its_config_file(tmp_path, serve):
    config = tmp_path / "server.yaml"
    config.write_text("image: registry.example/ours/trainer:2\nproject: our-project\n")
    web = serve("--config", str(config), "--image", "registry.example/ours/trainer:3")  # a flag beats the file
    page = web.get("/new")[2].decode()
    assert '<output id="server-image">registry.example/ours/trainer:3</output>' in page
    assert '<output id="server-project">our-project</output>' in page
    assert '<output id="server-push_to">not set</output>' in page
    config.write_text("project: our-project\nbatch_size: 8\n")
    refused = ddsp_launch("web", "--no-browser", "--port", str(free_port()), "--config", str(config),
                          env={"DDSP_LAUNCH_HOME": str(tmp_path / "other-home")}, timeout=60)
    assert refused.returncode == 2 and "batch_size is chosen on the page" in refused.stderr
    assert "keep only image, base_image, push_to, project" in refused.stderr


def test_port_zero_serves_on_the_free_port_it_prints(tmp_path):
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    log = tmp_path / "web0.log"
    env = {"DDSP_LAUNCH_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "ddsp-launch"), "web", "--port", "0", "--no-browser",
                             "--token", TOKEN], stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while not (found := re.findall(r"http://127\.0\.0\.1:(\d+)/\?token=", log.read_text())) and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
        port = int(found[0])
        assert port != 0
        while time.monotonic() < deadline:  # the printed port is the one that answers
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/api/runs", headers={"Authorization": f"Bearer {TOKEN}"})
                with urllib.request.urlopen(req, timeout=5) as r:
                    assert r.status == 200 and r.read() == b"[]"
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("the printed port never answered")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
