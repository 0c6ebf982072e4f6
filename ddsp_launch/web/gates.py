"""What every request to `ddsp-launch web` passes before a page or route sees it.

Three pure ASGI layers (request bodies pass through untouched, so uploads stream), outermost
first:

- ``HostGate``: the Host header names this server (its bound address or a loopback name),
  else 400: a rebound DNS name reaches nothing.
- ``SameOriginGate``: a request that changes anything (any method but GET/HEAD/OPTIONS)
  carries ``Origin`` equal to this server's own origin (or, without Origin,
  ``Sec-Fetch-Site: same-origin``), and a POST is ``Content-Type: application/json``; else 403.
  Another site's form, or a page on another port of this machine, changes nothing.
- ``TokenGate``: the token, always (Jupyter's model): ``?token=`` on a GET is swapped for an
  HttpOnly SameSite=Strict cookie and dropped from the address; scripts may send
  ``Authorization: Bearer TOKEN`` instead. Otherwise 401.

Headers are read as latin-1 (Starlette's ``Headers``) and tokens compared as bytes with
``hmac.compare_digest``, so no byte sequence a client sends makes a 500.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import PlainTextResponse, RedirectResponse

from ddsp_launch.common import hosts

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _refuse(status: int, message: str):
    return PlainTextResponse(message, status_code=status)


class HostGate:
    def __init__(self, app, names: frozenset[str], url: str):
        self.app, self.names, self.url = app, names, url

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and not hosts.is_allowed(Headers(scope=scope).get("host"), self.names):
            message = (f"this ddsp-launch web server answers only to {', '.join(sorted(self.names))}, not to the Host "
                       f"this request names. Fix: open {self.url}")
            return await _refuse(400, message)(scope, receive, send)
        await self.app(scope, receive, send)


def cross_site(scope) -> str | None:
    """Why a state-changing request is not from this server's own pages (None: it is)."""
    headers = Headers(scope=scope)
    own = f"{scope['scheme']}://{headers.get('host', '')}".lower()
    origin, method = headers.get("origin"), scope["method"]
    fix = f"use the pages at {own}/ (scripts: send Origin: {own} and Content-Type: application/json)"
    if origin is not None and origin.lower() != own:
        return f"refused: a {method} from {origin!r}, not from this server's own pages ({own}). Fix: {fix}"
    if origin is None and headers.get("sec-fetch-site") != "same-origin":
        return f"refused: a {method} that does not say it comes from this server's pages (no Origin header). Fix: {fix}"
    if method == "POST" and headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        return f"refused: a POST that is not JSON (Content-Type: application/json). Fix: {fix}"
    return None


class SameOriginGate:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            problem = cross_site(scope)
            if problem:
                return await _refuse(403, problem)(scope, receive, send)
        await self.app(scope, receive, send)


class TokenGate:
    def __init__(self, app, token: str, cookie: str):
        self.app, self.token, self.cookie = app, token.encode(), cookie

    def matches(self, candidate: str | None) -> bool:
        # candidates are latin-1 text (headers, query): always encodable, so never an exception
        return candidate is not None and hmac.compare_digest(candidate.encode("utf-8"), self.token)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), encoding="latin-1")
        if scope["method"] in ("GET", "HEAD") and self.matches(query.get("token", [None])[0]):
            response = RedirectResponse("/" + scope["path"].lstrip("/"), status_code=303)  # never //elsewhere
            response.set_cookie(self.cookie, self.token.decode(), httponly=True, samesite="strict")
            return await response(scope, receive, send)
        authorization = headers.get("authorization", "")
        bearer = authorization[len("Bearer "):].strip() if authorization.startswith("Bearer ") else None
        if self.matches(cookie_parser(headers.get("cookie", "")).get(self.cookie)) or self.matches(bearer):
            return await self.app(scope, receive, send)
        await _refuse(401, "this ddsp-launch web server needs its token: open the URL it printed "
                           "(http://...:PORT/?token=...), or send Authorization: Bearer TOKEN")(scope, receive, send)
