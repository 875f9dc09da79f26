"""The rating web page of a study: blind A/B items, one form per item, answers saved on each submit.

Starlette + Jinja2 because both are small, well-kept and already the standard
pair for a few server-rendered pages: Starlette gives routing, a test client
and uvicorn serving without a framework's ORM, sessions or admin; Jinja2 with
``autoescape=True`` escapes every value put into a template, so sample text
(jailbreaks, markup, ``<script>``) is always shown as text.  There is no
inline script or style: the page loads ``/static/rate.js`` and ``rate.css``
under the CSP ``script-src 'self'``.

Protection: a strict Content-Security-Policy on every response; each POST
must carry the rater's CSRF token (a form field checked server-side against
the database) and a same-origin ``Origin`` (or, failing that, ``Referer``);
bound to anything but loopback, every request needs the study's access token
(``?token=``, then kept in a SameSite=Strict cookie).
"""

from __future__ import annotations

import hmac
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

from harness.errors import HarnessError
from harness.human_eval import answers as answers_mod
from harness.human_eval.study import CHOICES, QUESTION_TEXT, QUESTIONS, Study

HERE = Path(__file__).parent
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
MAX_BODY = 16 * 1024
LOOPBACK = ("127.0.0.1", "localhost", "::1")
STATIC = {"rate.js": "text/javascript; charset=utf-8", "rate.css": "text/css; charset=utf-8"}


def needs_token(host: str) -> bool:
    return host not in LOOPBACK


class BadRequest(Exception):
    """A malformed or refused request: answered with this status and message, nothing stored."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def parse_form(body: bytes, content_type: str) -> dict[str, str]:
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise BadRequest("expected a form (application/x-www-form-urlencoded)")
    if len(body) > MAX_BODY:
        raise BadRequest(f"form is larger than {MAX_BODY} bytes")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body),
                          max_num_fields=20)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"malformed form: {exc}") from None
    form = {}
    for key, value in pairs:
        if key in form:
            raise BadRequest(f"field '{key[:40]}' given twice")
        form[key] = value
    return form


def create_app(study: Study, host: str = "127.0.0.1"):
    """The Starlette application serving ``study``."""
    from jinja2 import Environment, FileSystemLoader
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import (
        HTMLResponse,
        PlainTextResponse,
        RedirectResponse,
        Response,
    )
    from starlette.routing import Route

    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
    token_required = needs_token(host)
    total = len(study.items)

    def render(name: str, status: int = 200, **context) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(study_id=study.study_id, **context), status_code=status)

    def error(message: str, status: int = 400) -> Response:
        return render("error.html", status=status, message=message)

    def rater_url(rater: str) -> str:
        return f"/rate/{quote(rater, safe='')}"

    def check_origin(request: Request):
        expected = f"{request.url.scheme}://{request.headers.get('host', '')}"
        origin = request.headers.get("origin")
        if origin is None:
            referer = request.headers.get("referer")
            if not referer:
                raise BadRequest("refused: the request has no Origin or Referer header", 403)
            parts = urlsplit(referer)
            origin = f"{parts.scheme}://{parts.netloc}"
        if origin != expected:
            raise BadRequest(f"refused: cross-site request from {origin[:80]}", 403)

    async def home(request: Request):
        name = request.query_params.get("rater")
        if name is not None:
            try:
                name = answers_mod.check_rater(name)
            except HarnessError as exc:
                return error(str(exc))
            return RedirectResponse(rater_url(name), status_code=303)
        return render("home.html", total=total)

    async def rate(request: Request):
        try:
            rater = answers_mod.check_rater(request.path_params["rater"])
        except HarnessError as exc:
            return error(str(exc))
        csrf = await run_in_threadpool(answers_mod.rater_token, study, rater)
        done = await run_in_threadpool(answers_mod.answered_items, study, rater)
        item = answers_mod.first_unanswered(study, done)
        if item is None:
            return render("done.html", rater=rater, total=total)
        return render("item.html", rater=rater, item=item, csrf=csrf, done=len(done), total=total,
                      position=len(done) + 1, questions=[(q, QUESTION_TEXT[q]) for q in QUESTIONS],
                      choices=CHOICES, action=rater_url(rater))

    async def submit(request: Request):
        try:
            rater = answers_mod.check_rater(request.path_params["rater"])
            check_origin(request)
            form = parse_form(await request.body(), request.headers.get("content-type", ""))
            expected = await run_in_threadpool(answers_mod.rater_token, study, rater)
            if not hmac.compare_digest(form.pop("csrf", "").encode(), expected.encode()):
                raise BadRequest("refused: missing or wrong form token (reload the page)", 403)
            try:
                item_no = int(form.pop("item", ""))
            except ValueError:
                raise BadRequest("field 'item' must be an item number") from None
            comment = form.pop("comment", "")
            await run_in_threadpool(answers_mod.save_item_answers, study, rater, item_no, form, comment)
        except BadRequest as exc:
            return error(str(exc), exc.status)
        except HarnessError as exc:
            return error(str(exc), 400)
        return RedirectResponse(rater_url(rater), status_code=303)

    async def static(request: Request):
        name = request.path_params["name"]
        if name not in STATIC:
            return PlainTextResponse("not found", status_code=404)
        return Response((HERE / "static" / name).read_bytes(), media_type=STATIC[name])

    app = Starlette(routes=[
        Route("/", home),
        Route("/rate/{rater}", rate, methods=["GET"]),
        Route("/rate/{rater}", submit, methods=["POST"]),
        Route("/static/{name}", static),
    ])

    async def guarded(scope, receive, send):
        """Security headers on every response; the access token when not bound to loopback."""
        if scope["type"] != "http":
            return await app(scope, receive, send)
        request = Request(scope)
        set_cookie = False
        if token_required:
            given = request.query_params.get("token") or request.cookies.get("harness_study_token") or ""
            if not hmac.compare_digest(given.encode(), study.access_token.encode()):
                response = PlainTextResponse("403: this study needs its access token: open the URL "
                                             "`harness human-eval serve` printed", status_code=403)
                add_headers(response.headers)
                return await response(scope, receive, send)
            set_cookie = "token" in request.query_params

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                for key, value in security_headers():
                    headers.append((key.encode(), value.encode()))
                if set_cookie:
                    headers.append((b"set-cookie", f"harness_study_token={study.access_token}; Path=/; HttpOnly; "
                                                   "SameSite=Strict".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_headers)

    return guarded


def security_headers():
    return [("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "same-origin"), ("X-Frame-Options", "DENY"), ("Cache-Control", "no-store")]


def add_headers(headers):
    for key, value in security_headers():
        headers[key] = value


def serve(study: Study, host: str = "127.0.0.1", port: int = 8765, log_level: str = "warning"):
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(study, host), host=host, port=port, log_level=log_level)


def study_url(study: Study, host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    suffix = f"/?token={study.access_token}" if needs_token(host) else "/"
    return f"http://{shown}:{port}{suffix}"
