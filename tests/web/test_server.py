"""`ddsp-launch web` itself: loopback without a token, anywhere else only with one; a taken
port or a weak token refused before anything is served. The real server, over HTTP."""

from __future__ import annotations

import re
import socket

from tests.conftest import ddsp_launch, free_port
from tests.web.conftest import start_web, stop_web

TOKEN = "correct-horse-battery-staple"


def test_loopback_needs_no_token(tmp_path):
    web = start_web(tmp_path)
    try:
        status, _, body = web.get("/new")
        assert status == 200 and b"Train a model of your instrument" in body
        assert "?token=" not in (tmp_path / "web.log").read_text()
    finally:
        stop_web(web)


def test_off_loopback_every_request_needs_the_token(tmp_path):
    web = start_web(tmp_path, "--host", "0.0.0.0", env={"DDSP_LAUNCH_WEB_TOKEN": TOKEN})
    try:
        printed = (tmp_path / "web.log").read_text()
        assert "beyond this machine" in printed and f"?token={TOKEN}" in printed
        for path in ("/new", "/api/runs", "/static/app.js"):
            status, _, body = web.get(path)
            assert status == 401 and b"needs its token" in body, path
        assert web.get("/new", headers={"Authorization": "Bearer wrong-token-wrong-token"})[0] == 401
        assert web.get("/new?token=wrong-token-wrong-token")[0] == 401
        # the printed URL: the token is swapped for a cookie and dropped from the address
        status, headers, _ = web.get(f"/new?token={TOKEN}", no_redirect=True)
        assert status == 303 and headers["location"] == "/new"
        cookie = headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert web.get("/new", headers={"Cookie": cookie.split(";")[0]})[0] == 200
        status, _, body = web.get("/api/runs", headers={"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and body == b"[]"
    finally:
        stop_web(web)


def test_off_loopback_without_a_token_gets_a_random_one(tmp_path):
    web = start_web(tmp_path, "--host", "0.0.0.0")
    try:
        [token] = re.findall(r"\?token=([\w-]+)", (tmp_path / "web.log").read_text())
        assert len(token) >= 24
        assert web.get("/new")[0] == 401
        assert web.get("/new", headers={"Authorization": f"Bearer {token}"})[0] == 200
    finally:
        stop_web(web)


def test_taken_port_and_short_token_are_refused(tmp_path):
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        taken = ddsp_launch("web", "--port", str(port), env={"DDSP_LAUNCH_HOME": str(tmp_path / "home")}, timeout=60)
    assert taken.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in taken.stderr and "--port" in taken.stderr
    short = ddsp_launch("web", "--port", str(free_port()), "--host", "0.0.0.0", "--token", "abc",
                        env={"DDSP_LAUNCH_HOME": str(tmp_path / "home")}, timeout=60)
    assert short.returncode == 2 and "token is too short" in short.stderr
    assert not (tmp_path / "home" / "web").exists()  # nothing set up for a server that never started
