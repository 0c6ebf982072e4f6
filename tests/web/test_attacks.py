"""Issue 15's attacks on `ddsp-launch web`, replayed against the real server (and a real
TensorBoard it starts): each is refused, with a message, and never a 500; nothing is started
or written by a refused request."""

from __future__ import annotations

import http.client
import json
import os

import pytest

from ddsp_launch.common import tfrecord
from tests.web.conftest import start_web, stop_web

OURS = "registry.example/ours/trainer:1"
EVIL = "http://evil.example"
WAV = b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(64)


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("attacks")
    dataset = tmp / "dataset"
    dataset.mkdir()
    with open(dataset / "train.tfrecord-00000-of-00001", "wb") as f:  # passes the launcher's offline checks
        f.write(tfrecord.frame(b"\x0a\x00"))  # one record: an empty tf.train.Example
    w = start_web(tmp, "--image", OURS, "--project", "our-project")
    w.tmp, w.dataset = tmp, dataset
    yield w
    stop_web(w)


def form(web, **extra) -> bytes:
    return json.dumps({"target": "process", "data": str(web.dataset), "output": str(web.tmp / "out"), "num_steps": "1",
                       **extra}).encode()


def started(web) -> list[str]:
    """Run records and run configs the server wrote (a refused request writes none)."""
    found = [p.name for folder in (web.home / "runs", web.workspace / "configs") if folder.is_dir() for p in folder.iterdir()]
    return sorted(found)


def cookie(web) -> str:
    status, headers, _ = web.get(f"/new?token={web.token}", as_page=False, no_redirect=True)
    assert status == 303
    return headers["set-cookie"].split(";")[0]


def raw(web, method: str, path: str, headers: list[tuple[str, bytes | str]], body: bytes | None = None):
    """One request with exactly these header bytes (urllib would re-encode them)."""
    conn = http.client.HTTPConnection(web.url.removeprefix("http://"), timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_a_cross_site_text_plain_form_post_is_refused_with_and_without_the_cookie(web):
    # what <form enctype="text/plain" method="post" action="http://127.0.0.1:PORT/api/runs"> sends: name=value
    body = form(web)[:-1] + b', "x": "="}'
    for credentials in ({}, {"Cookie": cookie(web)}):
        for site in ({"Origin": EVIL}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
            headers = {"Content-Type": "text/plain", "Origin": None, "Authorization": None, **credentials, **site}
            status, _, text = web.get("/api/runs", "POST", data=body, headers=headers)
            assert status == 403 and b"refused" in text and b"Fix:" in text, (credentials, site, text)
    # even from our own origin, a form's text/plain body is not taken for settings
    status, _, text = web.get("/api/runs", "POST", data=body, headers={"Content-Type": "text/plain"})
    assert status == 403 and b"not JSON" in text
    assert started(web) == []


def test_a_page_on_another_port_of_this_machine_is_refused(web):
    other = web.url.rsplit(":", 1)[0] + ":1"
    jar = cookie(web)  # same site (127.0.0.1): the browser sends the cookie along, so only the origin can tell
    headers = {"Content-Type": "application/json", "Cookie": jar, "Authorization": None, "Origin": other}
    status, _, text = web.get("/api/check", "POST", data=form(web), headers=headers)
    assert status == 403 and other.encode() in text
    status, _, _ = web.get("/api/uploads", "POST", data=b"{}", headers=headers)
    assert status == 403
    # the same requests from the server's own origin are served
    same = {**headers, "Origin": web.url}
    status, _, text = web.get("/api/check", "POST", data=form(web), headers=same)
    assert status == 200 and json.loads(text)["command"].startswith("ddsp-launch train --yes --target process"), text
    upload = json.loads(web.get("/api/uploads", "POST", data=b"{}", headers=same)[2])["upload"]
    status, _, _ = web.get(f"/api/uploads/{upload}/take.wav", "PUT", data=WAV, headers={**headers, "Content-Type": None})
    assert status == 403
    assert not list((web.workspace / "uploads" / upload).rglob("*.wav"))
    assert started(web) == []


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example:{port}", "", "a@127.0.0.1"])
def test_a_rebound_host_is_refused_on_get_and_post(web, host):
    port = web.url.rsplit(":", 1)[1]
    name = host.format(port=port)
    # a DNS-rebinding page: its own origin is the rebound name, so Origin and Host agree
    for method, path, data in (("GET", "/new", None), ("GET", "/api/runs", None), ("POST", "/api/uploads", b"{}")):
        headers = {"Host": name, "Origin": f"http://{name}", "Content-Type": "application/json"}
        status, _, text = web.get(path, method, data=data, headers=headers)
        assert status == 400 and b"answers only to" in text, (method, path, name, text)
    for allowed in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "localhost"):
        assert web.get("/new", headers={"Host": allowed})[0] == 200, allowed


def test_an_upload_id_the_server_did_not_issue_is_404(web):
    for upload in ("aaaaaaaaaaaa", "../../../tmp", "0123456789ab"):
        status, _, text = web.get(f"/api/uploads/{upload}/take.wav", "PUT", data=WAV)
        assert status == 404 and b"did not issue it" in text, (upload, text)
    for upload in ("aaaaaaaaaaaa", 12, ["x"]):
        status, _, text = web.get("/api/runs", "POST", data=json.dumps({"upload": upload, "target": "process"}).encode(),
                                  headers={"Content-Type": "application/json"})
        assert status == 404 and b"did not issue it" in text, (upload, text)
    assert not (web.workspace / "uploads" / "aaaaaaaaaaaa").exists()
    assert started(web) == []


@pytest.mark.parametrize("body", [b"[1, 2]", b"5", b'"settings"', b"null", b"{not json", b"\xff\xfe", b""])
def test_non_object_json_is_400_not_500(web, body):
    for path in ("/api/check", "/api/runs"):
        status, _, text = web.get(path, "POST", data=body, headers={"Content-Type": "application/json"})
        assert status == 400, (path, body, status, text)
        assert json.loads(text)["fix"]
    assert started(web) == []


@pytest.mark.parametrize("key,value", [("image", "attacker.example/miner:latest"), ("base_image", "attacker.example/base"),
                                       ("push_to", "attacker.example/repo"), ("project", "someone-elses-project")])
def test_a_request_choosing_what_the_server_owns_is_refused(web, key, value):
    status, _, text = web.get("/api/runs", "POST", data=form(web, **{key: value}), headers={"Content-Type": "application/json"})
    answer = json.loads(text)
    assert status == 400 and answer["error"].startswith(f"{key} is set by the server") and "--" + key.replace("_", "-") in answer["fix"]
    assert started(web) == []


def test_unknown_keys_are_refused_and_the_servers_own_settings_are_used(web):
    status, _, text = web.get("/api/check", "POST", data=form(web, bogus="1"), headers={"Content-Type": "application/json"})
    assert status == 400 and json.loads(text)["error"] == "unknown setting 'bogus'"
    status, _, text = web.get("/api/check", "POST", data=form(web, data={"path": "/etc"}), headers={"Content-Type": "application/json"})
    assert status == 400 and "is not str" in json.loads(text)["error"]
    status, _, text = web.get("/api/check", "POST", data=form(web), headers={"Content-Type": "application/json"})
    assert status == 200 and f"--image {OURS}" in json.loads(text)["command"]  # the server's image, not a page's
    status, _, page = web.get("/new")
    assert b'id="field-image"' not in page and b'id="field-project"' not in page and b'id="field-push_to"' not in page
    assert f'<output id="server-image">{OURS}</output>'.encode() in page
    assert b'<output id="server-project">our-project</output>' in page


def test_paths_outside_the_allowed_roots_are_refused(web):
    link = web.tmp / "innocent"
    if not link.exists():
        link.symlink_to("/etc")  # inside an allowed root by name, outside by what it resolves to
    for key, value in (("data", "/etc"), ("output", "/var/tmp/ddsp-evil"), ("output", str(web.tmp / ".." / ".." / "evil")),
                       ("prepare_to", str(link / "ds")), ("output", str(link))):
        status, _, text = web.get("/api/runs", "POST", data=form(web, **{key: value}), headers={"Content-Type": "application/json"})
        answer = json.loads(text)
        assert status == 400 and answer["error"].startswith(f"{key} {value} is outside the folders this server may use"), answer
        assert "--allow-root" in answer["fix"]
    assert not os.path.exists("/var/tmp/ddsp-evil") and started(web) == []


def test_odd_token_and_cookie_bytes_get_401_not_500(serve):
    web = serve("--host", "0.0.0.0", "--token", "correct-horse-battery-staple")  # off the loopback: a token before, too
    name = f"ddsp_launch_token_{web.url.rsplit(':', 1)[1]}"
    for path in ("/new?token=%C3%A9t%C3%A9", "/new?token=%FF%FE", "/new?token=" + "a" * 6000, "/new?token=%00",
                 "/new?token=correct-horse-battery-staple%00", "/new?token=&token=x"):
        status, text = raw(web, "GET", path, [])
        assert status == 401, (path[:60], status, text[:200])
    odd = [("Cookie", b"\xff\xfe\xfd"), ("Cookie", f"{name}=".encode() + "été".encode()),
           ("Cookie", f"{name}=\xe9t\xe9".encode("latin-1")), ("Cookie", b'"""; ;;= =; ' + name.encode() + b'="\\377"'),
           ("Cookie", f"{name}=" + "x" * 6000), ("Authorization", b"Bearer \xff\xfe"),
           ("Authorization", "Bearer été".encode()), ("Authorization", b"Basic \x80")]
    for header in odd:
        status, text = raw(web, "GET", "/api/runs", [header])
        assert status == 401, (header[0], header[1][:40], status, text[:200])
    status, text = raw(web, "POST", "/api/uploads", [("Origin", b"http://\xff\xfe"), ("Content-Type", b"application/json")], b"{}")
    assert status == 403, (status, text[:200])
    status, text = raw(web, "GET", "/api/runs", [("Authorization", b"Bearer correct-horse-battery-staple")])
    assert status == 200  # the real token still opens it


@pytest.mark.slow  # a real TensorBoard
@pytest.mark.timeout(300)
def test_the_tensorboard_the_page_starts_refuses_a_rebound_host(web, monkeypatch):
    from ddsp_launch.launch import records

    run_id = "20261201-000000-process-tbtb"
    monkeypatch.setenv("DDSP_LAUNCH_HOME", str(web.home))
    records.write({"id": run_id, "state": "succeeded", "target": "process", "output": str(web.tmp / "tb-run"), "settings": {}})
    try:
        status, _, text = web.get(f"/api/runs/{run_id}/tensorboard", "POST", headers={"Content-Type": "application/json"})
        assert status == 200, text
        url = json.loads(text)["url"]
        port = url.rstrip("/").rsplit(":", 1)[1]
        board = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
        for host, expected in ((f"evil.example:{port}", 400), ("evil.example", 400), (f"127.0.0.1:{port}", 200), (f"localhost:{port}", 200)):
            board.request("GET", "/data/environment", headers={"Host": host})
            resp = board.getresponse()
            body = resp.read()
            assert resp.status == expected, (host, resp.status, body[:200])
        assert b"answers only to" not in body and json.loads(body)  # the real TensorBoard behind the check
    finally:
        (web.home / "runs" / f"{run_id}.json").unlink(missing_ok=True)
