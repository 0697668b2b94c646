"""The web app's guard (ASGI middleware): requests must be addressed to this machine and writes must come from the
page itself; every response carries security headers.

The Host header must name this machine (loopback names, or the address the server was bound to), which defeats DNS
rebinding; a POST whose Origin is another site (or that the browser marks Sec-Fetch-Site cross-site) is refused; the
Content-Security-Policy lets the page load nothing but its own files.
"""

import logging

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

log = logging.getLogger(__name__)

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                                 b"script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                                 b"form-action 'self'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


def _hostname(host):
    """The name part of a Host header ("[::1]:8000" -> "::1", "localhost:8000" -> "localhost")."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    """ASGI middleware: refuses other hosts and cross-origin writes; adds the security headers."""

    def __init__(self, app, allowed_hosts):
        self.app = app
        self.allowed_hosts = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}

    def problem(self, scope):
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if self.allowed_hosts is not None and _hostname(host) not in self.allowed_hosts:
            return 400, (f"this server answers requests addressed to {', '.join(sorted(self.allowed_hosts))}, not "
                         f"to {host or 'no host'}; open the address it printed when it started")
        if scope["method"] in UNSAFE_METHODS:
            origin = headers.get("origin")
            if origin is not None and origin != f"{scope.get('scheme', 'http')}://{host}":
                return 403, (f"refused a request from another web page ({origin}): only this page may upload "
                             "images or change batches")
            if headers.get("sec-fetch-site") in ("cross-site", "same-site"):
                return 403, "refused a request from another web site: only this page may upload images"
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + SECURITY_HEADERS
            await send(message)

        problem = self.problem(scope)
        if problem is not None:
            status, message = problem
            log.warning("refused %s %s: %s", scope["method"], scope.get("path"), message)
            await JSONResponse({"error": message, "detail": None}, status_code=status)(scope, receive,
                                                                                      send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
