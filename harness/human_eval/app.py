"""The rating web page of a study: blind A/B items, one form per item, answers saved on each submit.

Starlette + Jinja2 because both are small, well-kept and already the standard
pair for a few server-rendered pages: Starlette gives routing, a test client
and uvicorn serving without a framework's ORM, sessions or admin; Jinja2 with
``autoescape=True`` escapes every value put into a template, so sample text
(jailbreaks, markup, ``<script>``) is always shown as text.  There is no
inline script or style: the page loads ``/static/rate.js`` and ``rate.css``
under the CSP ``script-src 'self'``.

Raters are sessions (:mod:`harness.human_eval.raters`): the start form or a
personal link (`harness human-eval invite`) sets a cookie holding the rater's
secret; no URL or form field names a rater.  Each POST must carry the rater's
form token and a same-origin ``Origin`` (or ``Referer``); each answer names
the version its page showed, so a stale tab is refused instead of
overwriting; ``/review`` lists a rater's answers and ``/item/N`` changes one
(the history is kept).  The Host allow-list, body limits, access token and
security headers are in :mod:`harness.human_eval.guard`.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from harness.errors import HarnessError
from harness.human_eval import answers as answers_mod
from harness.human_eval import raters
from harness.human_eval.guard import (
    LOOPBACK,
    MAX_BODY,
    BodyTooLarge,
    guard,
    needs_token,
    read_body,
)
from harness.human_eval.study import CHOICES, QUESTION_TEXT, QUESTIONS, Study

HERE = Path(__file__).parent
STATIC = {"rate.js": "text/javascript; charset=utf-8", "rate.css": "text/css; charset=utf-8"}
RATER_COOKIE = "harness_rater"
COOKIE_DAYS = 30
__all__ = ["LOOPBACK", "MAX_BODY", "create_app", "needs_token", "parse_form", "serve", "study_url"]


class BadRequest(Exception):
    """A malformed or refused request: answered with this status and message, nothing stored."""

    def __init__(self, message: str, status: int = 400, link: tuple[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.link = link


def parse_form(body: bytes, content_type: str) -> dict[str, str]:
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise BadRequest("expected a form (application/x-www-form-urlencoded)")
    if len(body) > MAX_BODY:
        raise BadRequest(f"form is larger than {MAX_BODY} bytes", 413)
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


def create_app(study: Study, host: str = "127.0.0.1", allowed_hosts: tuple[str, ...] = ()):
    """The Starlette application serving ``study``, behind :func:`harness.human_eval.guard.guard`."""
    from jinja2 import Environment, FileSystemLoader
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
    from starlette.routing import Route

    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
    total = len(study.shown)

    def render(name: str, status: int = 200, **context) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(study_id=study.study_id, **context), status_code=status)

    def error(exc: BadRequest) -> Response:
        return render("error.html", status=exc.status, message=str(exc), link=exc.link)

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

    async def form_of(request: Request) -> dict[str, str]:
        check_origin(request)
        try:
            body = await read_body(request.receive)
        except BodyTooLarge:
            raise BadRequest(f"form is larger than {MAX_BODY} bytes", 413) from None
        return parse_form(body, request.headers.get("content-type", ""))

    async def session_of(request: Request) -> raters.RaterSession | None:
        return await run_in_threadpool(raters.session_for, study, request.cookies.get(RATER_COOKIE))

    def with_session_cookie(response: Response, secret: str) -> Response:
        # Lax, not Strict: an invitation link opened from mail is a cross-site navigation; POSTs stay guarded by
        # the form token and the Origin check.
        response.set_cookie(RATER_COOKIE, secret, max_age=COOKIE_DAYS * 86400, httponly=True, samesite="lax",
                            path="/")
        return response

    async def home(request: Request):
        return render("home.html", total=total, session=await session_of(request))

    async def start(request: Request):
        try:
            form = await form_of(request)
            session, secret = await run_in_threadpool(raters.new_session, study, form.get("name", ""))
        except BadRequest as exc:
            return error(exc)
        except HarnessError as exc:
            return error(BadRequest(str(exc), 400, ("/", "Back to the start")))
        return with_session_cookie(RedirectResponse("/rate", status_code=303), secret)

    async def personal_link(request: Request):
        secret = request.path_params["secret"]
        if await run_in_threadpool(raters.session_for, study, secret) is None:
            return error(BadRequest("this personal link is not one of this study's raters", 403))
        return with_session_cookie(RedirectResponse("/rate", status_code=303), secret)

    def item_page(session, item, stored: answers_mod.ItemAnswers, done: int, back: str):
        return render("item.html", rater=session.name, rater_id=session.rater, item=item, csrf=session.csrf,
                      done=done, total=total, position=study.shown.index(item) + 1,
                      questions=[(q, QUESTION_TEXT[q]) for q in QUESTIONS], choices=CHOICES, stored=stored,
                      back=back)

    async def rate(request: Request):
        session = await session_of(request)
        if session is None:
            return RedirectResponse("/", status_code=303)
        done = await run_in_threadpool(answers_mod.answered_items, study, session.rater)
        item = answers_mod.first_unanswered(study, done)
        if item is None:
            return render("done.html", rater=session.name, rater_id=session.rater, total=total)
        return item_page(session, item, answers_mod.ItemAnswers(0, {}, ""), len(done), "next")

    async def edit(request: Request):
        session = await session_of(request)
        if session is None:
            return RedirectResponse("/", status_code=303)
        try:
            item = study.item(int(request.path_params["item_no"]))
        except (ValueError, HarnessError) as exc:
            return error(BadRequest(str(exc) if isinstance(exc, HarnessError) else "not an item number", 404))
        stored = await run_in_threadpool(answers_mod.item_answers, study, session.rater, item.item_no)
        done = await run_in_threadpool(answers_mod.answered_items, study, session.rater)
        return item_page(session, item, stored, len(done), "review")

    async def review(request: Request):
        session = await session_of(request)
        if session is None:
            return RedirectResponse("/", status_code=303)
        done = await run_in_threadpool(answers_mod.answered_items, study, session.rater)
        rows = []
        for position, item in enumerate(study.shown, 1):
            if item.item_no in done:
                stored = await run_in_threadpool(answers_mod.item_answers, study, session.rater, item.item_no)
                rows.append((position, item.item_no, stored))
        return render("review.html", rater=session.name, rater_id=session.rater, rows=rows, total=total,
                      questions=QUESTIONS, done=len(done))

    async def submit(request: Request):
        try:
            session = await session_of(request)
            if session is None:
                raise BadRequest("refused: no rater session (start from the first page or your personal link)", 403,
                                 ("/", "Back to the start"))
            form = await form_of(request)
            if not hmac.compare_digest(form.pop("csrf", "").encode(), session.csrf.encode()):
                raise BadRequest("refused: missing or wrong form token (reload the page)", 403)
            try:
                item_no = int(form.pop("item", ""))
            except ValueError:
                raise BadRequest("field 'item' must be an item number") from None
            try:
                version = int(form.pop("version", ""))
            except ValueError:
                raise BadRequest("field 'version' must be the answers' version the page showed (reload the page)"
                                 ) from None
            back = form.pop("back", "next")
            comment = form.pop("comment", "")
            try:
                await run_in_threadpool(answers_mod.save_item_answers, study, session.rater, item_no, form, comment,
                                        version)
            except answers_mod.StaleAnswer as exc:
                raise BadRequest(str(exc), 409, (f"/item/{item_no}", "Show the stored answers")) from None
        except BadRequest as exc:
            return error(exc)
        except HarnessError as exc:
            return error(BadRequest(str(exc), 400))
        return RedirectResponse("/review" if back == "review" else "/rate", status_code=303)

    async def static(request: Request):
        name = request.path_params["name"]
        if name not in STATIC:
            return PlainTextResponse("not found", status_code=404)
        return Response((HERE / "static" / name).read_bytes(), media_type=STATIC[name])

    app = Starlette(routes=[
        Route("/", home, methods=["GET"]),
        Route("/start", start, methods=["POST"]),
        Route("/r/{secret}", personal_link, methods=["GET"]),
        Route("/rate", rate, methods=["GET"]),
        Route("/answer", submit, methods=["POST"]),
        Route("/item/{item_no}", edit, methods=["GET"]),
        Route("/review", review, methods=["GET"]),
        Route("/static/{name}", static),
    ])
    return guard(app, study.access_token, needs_token(host), allowed_hosts)


def serve(study: Study, host: str = "127.0.0.1", port: int = 8765, log_level: str = "warning",
          allowed_hosts: tuple[str, ...] = ()):
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(study, host, allowed_hosts), host=host, port=port, log_level=log_level)


def study_url(study: Study, host: str, port: int, path: str = "/") -> str:
    shown = f"[{host}]" if ":" in host else host
    suffix = f"?token={study.access_token}" if needs_token(host) else ""
    return f"http://{shown}:{port}{path}{suffix}"
