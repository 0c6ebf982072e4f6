"""Serve the web interface: check the address, choose the token, put the gates in front of
the routes, open the browser, run uvicorn."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import secrets
import socket
import threading
import time
import webbrowser
from dataclasses import dataclass
from pathlib import Path

from ddsp_launch.common import hosts, paths, private
from ddsp_launch.common.errors import InputError
from ddsp_launch.web import uploads
from ddsp_launch.web.policy import Policy

_TOKEN = re.compile(r"[A-Za-z0-9._~-]{16,}")


@dataclass(frozen=True)
class Options:
    host: str
    port: int
    workspace: Path
    token: str | None
    policy: Policy
    limits: uploads.Limits
    allow_hosts: tuple[str, ...] = ()
    browser: bool = True

    @classmethod
    def build(cls, host: str, port: int, workspace: Path | None, token: str | None, allow_roots: list[Path],
              allow_hosts: list[str], limits: uploads.Limits, own: dict, config: Path | None, browser: bool) -> "Options":
        """From `ddsp-launch web`'s flags: the workspace (default DDSP_LAUNCH_HOME/web), what pages may
        name, and the server's own settings (``own``: flags, over its --config FILE)."""
        from ddsp_launch.web import policy  # noqa: PLC0415

        space = (workspace or paths.web_workspace()).resolve()
        rules = Policy(policy.allowed_roots(space, allow_roots), policy.server_settings(own, config))
        return cls(host, port, space, token, rules, limits, tuple(allow_hosts), browser)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port(host: str, port: int) -> int:
    """Refuse a port another program holds, before anything starts; returns the port (for 0:
    the free one the system chose, which the URL, the Origin check and the cookie then use)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise InputError(f"cannot listen on {host}:{port}: {exc.strerror}",
                             f"another program holds the port: choose another with --port (e.g. --port {port + 1}, "
                             "or --port 0 for any free one)") from None
        return s.getsockname()[1]


def token_for(token: str | None) -> str:
    """A token always, on the loopback too: the one given (16+ URL-safe characters), else a random one."""
    if token is None:
        return secrets.token_urlsafe(24)
    if not _TOKEN.fullmatch(token):
        raise InputError("the token is too short or holds characters a URL would change",
                         "use 16 or more letters, digits, '-', '_', '.' or '~', or leave --token out to get a random one")
    return token


def url(host: str, port: int, token: str | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def open_when_listening(host: str, port: int, address: str, timeout: float = 60.0) -> None:
    """Open ``address`` in the user's browser once the server accepts connections."""
    probe = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - a wildcard bind answers on the loopback
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((probe, port), timeout=1).close()
        except OSError:
            time.sleep(0.2)
            continue
        webbrowser.open(address)
        return


def build(o: Options, token: str):
    """The routes behind their gates: Host, then same origin, then the token."""
    from ddsp_launch.web.app import create_app  # noqa: PLC0415
    from ddsp_launch.web.gates import HostGate, SameOriginGate, TokenGate  # noqa: PLC0415

    app = create_app(o.workspace, o.policy, o.limits)
    gated = SameOriginGate(TokenGate(app, token, cookie=f"ddsp_launch_token_{o.port}"))  # cookies ignore ports: one per server
    return HostGate(gated, hosts.allowed_names(o.host, o.allow_hosts), url(o.host, o.port, None))


def serve(o: Options, say) -> None:
    import uvicorn  # noqa: PLC0415

    token = token_for(o.token)
    o = dataclasses.replace(o, port=check_port(o.host, o.port))
    private.private_dir(o.workspace)
    app = build(o, token)
    address = url(o.host, o.port, token)
    if not is_loopback(o.host):
        say(f"listening on {o.host}, beyond this machine: it answers to {', '.join(sorted(hosts.allowed_names(o.host, o.allow_hosts)))} "
            "(more names with --allow-host)")
    say(f"ddsp-launch web: {address}  (workspace {o.workspace}; Ctrl-C to stop; runs it started go on)")
    say("open that address (with its token) to use the pages; the token is the key to this server: do not share it")
    if o.browser:
        threading.Thread(target=open_when_listening, args=(o.host, o.port, address), daemon=True).start()
    uvicorn.run(app, host=o.host, port=o.port, log_level="warning", access_log=False)
