"""Which Host headers a server of ours answers (the web interface, the TensorBoards it starts).

A page on any web site can make the browser call a local server under a DNS name that the
site's owner rebinds to 127.0.0.1 ("DNS rebinding"); the request then carries that name in
its Host header. Our servers answer only to the names they were bound under and to the
loopback names, with or without a port; anything else is refused (400).
"""

from __future__ import annotations

import re

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")


def allowed_names(bound: str, extra: tuple[str, ...] = ()) -> frozenset[str]:
    """The loopback names, the address a server is bound to, and ``extra`` (lower case, no brackets)."""
    return frozenset(name.strip("[]").lower() for name in (*LOOPBACK_NAMES, bound, *extra))


def host_name(header: str | None) -> str | None:
    """The name in a Host header (no port, an IPv6 address without brackets, lower case);
    None when the header is missing or not a plain host[:port]."""
    match = _HOST.fullmatch(header or "")
    return match.group(1).strip("[]").lower() if match else None


def is_allowed(header: str | None, names: frozenset[str]) -> bool:
    return host_name(header) in names
