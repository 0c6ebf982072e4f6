"""Serve the web interface: check the address, choose the token, run uvicorn."""

from __future__ import annotations

import ipaddress
import secrets
import socket
from pathlib import Path

from ddsp_launch.common.errors import InputError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port(host: str, port: int) -> None:
    """Refuse a port another program holds, before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise InputError(f"cannot listen on {host}:{port}: {exc.strerror}",
                             f"another program holds the port: choose another with --port (e.g. --port {port + 1})") from None


def token_for(host: str, token: str | None) -> str | None:
    """No token on loopback (unless given); a token always elsewhere (generated if not given)."""
    if token is not None and len(token) < 16:
        raise InputError("the token is too short", "use 16 characters or more, or leave --token out to get a random one")
    if is_loopback(host):
        return token
    return token or secrets.token_urlsafe(24)


def url(host: str, port: int, token: str | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def serve(host: str, port: int, workspace: Path, token: str | None, max_upload_mb: float, say) -> None:
    import uvicorn  # noqa: PLC0415

    from ddsp_launch.web.app import create_app  # noqa: PLC0415

    token = token_for(host, token)
    check_port(host, port)
    workspace.mkdir(parents=True, exist_ok=True)
    app = create_app(workspace, token=token, max_upload_mb=max_upload_mb)
    if not is_loopback(host):
        say(f"listening on {host}, beyond this machine: every request needs the token in the URL below")
    say(f"ddsp-launch web: {url(host, port, token)}  (workspace {workspace}; Ctrl-C to stop; runs it started go on)")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
