"""The rating page trusts no one (issues 23 and 26): rater sessions, stale tabs, review with history,
the Host allow-list, streamed body limits.  The browser flow is in test_human_eval_browser.py."""

import asyncio
import sqlite3

import pytest

from harness.human_eval import answers, raters
from harness.human_eval.app import RATER_COOKIE, create_app
from harness.human_eval.guard import MAX_BODY, host_allowed
from harness.human_eval.study import QUESTIONS, create_study
from tests.human_eval_fixtures import make_runs

BASE = "http://127.0.0.1:8765"
ORIGIN = {"Origin": BASE}
ALL = {"coherence": "A", "specificity": "B", "helpfulness": "tie", "ship": "B"}


@pytest.fixture
def study(cli, isolated_home):
    a, b = make_runs(cli, isolated_home)
    return create_study([a, b], 4, seed=1, study_id="t")


def client(study, **kwargs):
    from starlette.testclient import TestClient

    return TestClient(create_app(study, **kwargs), base_url=BASE, follow_redirects=False)


def start(study, name):
    """A browser that started a session on the page with ``name``; returns (client, session)."""
    c = client(study)
    r = c.post("/start", data={"name": name}, headers=ORIGIN)
    assert r.status_code == 303 and r.headers["location"] == "/rate", r.text
    assert "httponly" in r.headers["set-cookie"].lower() and "samesite=lax" in r.headers["set-cookie"].lower()
    return c, raters.session_for(study, c.cookies.get(RATER_COOKIE))


def submit(c, session, item=1, version=0, **choices):
    data = {"csrf": session.csrf, "item": str(item), "version": str(version), **ALL, **choices, "comment": ""}
    return c.post("/answer", data=data, headers=ORIGIN)


def stored(study):
    con = sqlite3.connect(study.path)
    try:
        return con.execute("SELECT item_no, rater, question, choice, version FROM answers ORDER BY 1, 2, 3").fetchall()
    finally:
        con.close()


def test_raters_are_sessions_with_unicode_names_and_cannot_answer_as_another(study):
    jose, s1 = start(study, "  José  ")
    other, s2 = start(study, "José")  # a second José is a second rater
    assert (s1.rater, s1.name, s2.rater, s2.name) == ("r1", "José", "r2", "José")
    assert "José" in jose.get("/rate").text and "[r1]" in jose.get("/rate").text
    for name in ("李雷", "Zoë Ødegård", "O'Brien-Smith"):
        assert start(study, name)[1].name == name
    c = client(study)
    r = c.post("/start", data={"name": "bad\u202ename"}, headers=ORIGIN)
    assert r.status_code == 400 and "control or invisible character (U+202E)" in r.text
    assert c.post("/start", data={"name": "x" * 41}, headers=ORIGIN).status_code == 400
    assert c.post("/start", data={"name": "x"}, headers={"Origin": "http://evil.example"}).status_code == 403
    # no session: refused; another rater's form token with one's own session: refused
    assert c.get("/rate").headers["location"] == "/"
    assert submit(c, s1).status_code == 403
    assert submit(other, s1).status_code == 403
    assert stored(study) == []
    assert submit(jose, s1).status_code == 303
    assert {row[1] for row in stored(study)} == {"r1"}
    # the secret is stored hashed, never in clear
    con = sqlite3.connect(study.path)
    hashes = [r[0] for r in con.execute("SELECT session_hash FROM raters")]
    con.close()
    assert jose.cookies.get(RATER_COOKIE) not in hashes and raters.digest(jose.cookies.get(RATER_COOKIE)) in hashes


def test_a_personal_link_from_invite_is_the_session(cli, study):
    code, out, err = cli("human-eval", "invite", "t", "--name", "José", "--name", "Ann")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("José [r1]: http://127.0.0.1:8765/r/") and lines[1].startswith("Ann [r2]: ")
    c = client(study)
    r = c.get(lines[1].split(": ", 1)[1].replace(BASE, ""))
    assert r.status_code == 303 and r.headers["location"] == "/rate"
    assert "Ann" in c.get("/rate").text
    assert client(study).get("/r/not-a-secret").status_code == 403


def test_a_stale_tab_never_overwrites_and_changes_keep_the_history(study):
    tab1, session = start(study, "ann")
    tab2 = client(study)
    tab2.cookies.set(RATER_COOKIE, tab1.cookies.get(RATER_COOKIE))  # the same browser, a second tab
    for tab in (tab1, tab2):
        assert 'name="version" value="0"' in tab.get("/rate").text  # both show item 1, unanswered
    assert submit(tab2, session, ship="A").status_code == 303
    r = submit(tab1, session, ship="B")  # the stale first tab
    assert r.status_code == 409 and "answered again since this page was loaded" in r.text and "/item/1" in r.text
    assert (1, "r1", "ship", "A", 1) in stored(study) and len(stored(study)) == 4  # tab 2's answer stands
    # review, then change the answer from its page: version 1 -> 2, both kept in the history
    review = tab1.get("/review").text
    assert 'href="/item/1"' in review and "<td>1</td>" in review
    page = tab1.get("/item/1").text
    assert 'name="version" value="1"' in page and 'value="A" required checked' in page and "Changing your answer" in page
    data = {"csrf": session.csrf, "item": "1", "version": "1", **ALL, "ship": "tie", "comment": "on reflection",
            "back": "review"}
    r = tab1.post("/answer", data=data, headers=ORIGIN)
    assert r.status_code == 303 and r.headers["location"] == "/review"
    assert submit(tab2, session, version=1, ship="B").status_code == 409  # tab 2 is now the stale one
    history = answers.history(study)
    assert [(h["version"], h["choices"]["ship"], h["comment"]) for h in history] == [(1, "A", ""),
                                                                                    (2, "tie", "on reflection")]
    assert answers.item_answers(study, "r1", 1).choices == {**ALL, "ship": "tie"}
    assert len(stored(study)) == len(QUESTIONS)  # the current answer counts once


def test_results_writes_the_history(cli, study, isolated_home):
    answers.save_item_answers(study, "ann", 1, ALL)
    answers.save_item_answers(study, "ann", 1, {**ALL, "ship": "A"}, version=1)
    with pytest.raises(answers.StaleAnswer):
        answers.save_item_answers(study, "ann", 1, ALL, version=1)
    code, _, err = cli("human-eval", "results", "t", "--history", isolated_home / "h.jsonl")
    assert code == 0 and "Wrote 2 submits" in err
    assert len((isolated_home / "h.jsonl").read_text().splitlines()) == 2


def test_host_allow_list_refuses_rebound_names(study):
    assert host_allowed("127.0.0.1:8765") and host_allowed("localhost:8765") and host_allowed("[::1]:8765")
    assert host_allowed("10.1.2.3") and not host_allowed("evil.example:8765") and not host_allowed("")
    assert host_allowed("rate.lab.example:80", ("rate.lab.example",))
    c = client(study)
    r = c.get("/", headers={"Host": "evil.example:8765"})
    assert r.status_code == 400 and "DNS rebinding" in r.text and "--allowed-host" in r.text
    assert "content-security-policy" in r.headers
    assert c.get("/", headers={"Host": "localhost:8765"}).status_code == 200
    named = client(study, allowed_hosts=("rate.lab.example",))
    assert named.get("/", headers={"Host": "rate.lab.example:8765"}).status_code == 200


def call(app, headers, chunks):
    """Send one POST straight to the ASGI app, feeding the body from ``chunks``; returns (status, chunks read)."""
    pulled, sent = [0], []

    async def receive():
        if pulled[0] >= len(chunks):
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled[0] += 1
        return {"type": "http.request", "body": chunks[pulled[0] - 1], "more_body": pulled[0] < len(chunks)}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/answer", "raw_path": b"/answer", "query_string": b"",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()], "scheme": "http",
             "server": ("127.0.0.1", 8765), "client": ("127.0.0.1", 5000), "http_version": "1.1",
             "root_path": "", "asgi": {"version": "3.0"}}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], pulled[0]


def test_body_limits_refuse_by_content_length_and_while_streaming(study):
    c, session = start(study, "ann")
    app = create_app(study)
    headers = {"host": "127.0.0.1:8765", "origin": BASE, "content-type": "application/x-www-form-urlencoded",
               "cookie": f"{RATER_COOKIE}={c.cookies.get(RATER_COOKIE)}"}
    chunk = b"x" * 8192
    # a declared length above the limit: refused before one byte is read
    assert call(app, {**headers, "content-length": str(300 * 2 ** 20)}, [chunk] * 1000) == (413, 0)
    # chunked, no length: reading stops at the first chunk past the limit (300 MB never arrive)
    status, read = call(app, headers, [chunk] * 38400)
    assert status == 413 and read == MAX_BODY // len(chunk) + 1
    # a small chunked form is read whole and stored
    body = "&".join(f"{k}={v}" for k, v in {"csrf": session.csrf, "item": "1", "version": "0", **ALL}.items())
    assert call(app, headers, [body[:10].encode(), body[10:].encode()]) == (303, 2)
    assert len(stored(study)) == 4
