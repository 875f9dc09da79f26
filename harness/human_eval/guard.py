"""The rating server's outer guard, one ASGI layer in front of every route.

* **Host allow-list** (DNS rebinding): a page on ``evil.example`` whose name
  is re-pointed at 127.0.0.1 reaches this server with ``Host: evil.example``;
  only IP literals, ``localhost`` and names given with ``--allowed-host`` are
  answered.  An IP literal cannot be rebound, so it is always accepted.
* **Body limit before reading**: a declared ``Content-Length`` above the limit
  is refused before any byte is read; bodies without one (chunked) are read by
  :func:`read_body`, which stops at the limit instead of buffering the rest.
* **Access token** when bound beyond loopback (``?token=`` once, then a cookie).
* Security headers (a strict CSP, no framing, no caching) on every response.
"""

from __future__ import annotations

import hmac
import ipaddress

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
MAX_BODY = 16 * 1024
LOOPBACK = ("127.0.0.1", "localhost", "::1")
TOKEN_COOKIE = "harness_study_token"


class BodyTooLarge(Exception):
    """The request body passed the limit while it was read."""


def needs_token(host: str) -> bool:
    return host not in LOOPBACK


def host_name(header: str) -> str:
    """The name in a Host header, without port or IPv6 brackets, lower-cased."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def host_allowed(header: str, allowed: tuple[str, ...] = ()) -> bool:
    name = host_name(header)
    if not name:
        return False
    if name == "localhost" or name in {a.lower() for a in allowed}:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


async def read_body(receive, limit: int = MAX_BODY) -> bytes:
    """The request body, read chunk by chunk; raises :class:`BodyTooLarge` as soon as it passes ``limit``."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        body += message.get("body", b"")
        if len(body) > limit:
            raise BodyTooLarge
        if not message.get("more_body", False):
            break
    return bytes(body)


def security_headers():
    return [("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "same-origin"), ("X-Frame-Options", "DENY"), ("Cache-Control", "no-store")]


def guard(app, access_token: str, token_required: bool, allowed_hosts: tuple[str, ...] = (), max_body: int = MAX_BODY):
    """``app`` wrapped in the checks of the module docstring."""
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse

    async def refuse(scope, receive, send, status: int, message: str):
        response = PlainTextResponse(message, status_code=status)
        for key, value in security_headers():
            response.headers[key] = value
        await response(scope, receive, send)

    async def guarded(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        request = Request(scope)
        host = request.headers.get("host", "")
        if not host_allowed(host, allowed_hosts):
            return await refuse(scope, receive, send, 400,
                                f"400: this server does not answer to Host '{host[:80]}' (a guard against DNS "
                                "rebinding); open it by IP address or localhost, or serve with --allowed-host NAME")
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_body):
            return await refuse(scope, receive, send, 413, f"413: request body larger than {max_body} bytes")
        set_cookie = False
        if token_required:
            given = request.query_params.get("token") or request.cookies.get(TOKEN_COOKIE) or ""
            if not hmac.compare_digest(given.encode(), access_token.encode()):
                return await refuse(scope, receive, send, 403, "403: this study needs its access token: open the "
                                    "URL `harness human-eval serve` printed")
            set_cookie = "token" in request.query_params

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.encode(), v.encode()) for k, v in security_headers()]
                if set_cookie:
                    headers.append((b"set-cookie", f"{TOKEN_COOKIE}={access_token}; Path=/; HttpOnly; "
                                                   "SameSite=Strict".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_headers)

    return guarded
