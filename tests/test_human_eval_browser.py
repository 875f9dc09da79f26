"""The rating page in headless Chromium: two raters at once, keyboard only, reload and server restart resume;
the layout at 1366x768 and on a phone; a stale tab refused; an answer reviewed and changed.

Needs Debian's ``chromium`` (/usr/bin/chromium) and the ``playwright`` package, as test_report_html.py.
"""

import json
import socket
import threading
import time

import pytest

from harness.human_eval.study import create_study, open_study
from tests.human_eval_fixtures import make_runs
from tests.test_report_html import CHROMIUM, FLAGS

# Keys per item (coherence, specificity, helpfulness, ship); items 1-3, in the order raters meet them.
ALICE = ["aaba", "bbab", "taat"]
BOB = ["abaa", "bbab", "aatb"]
KEY_CHOICE = {"a": "A", "b": "B", "t": "tie"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """uvicorn in a thread, stoppable, so a test can restart it on the same port."""

    def __init__(self, study, port):
        import uvicorn

        from harness.human_eval.app import create_app

        self.server = uvicorn.Server(uvicorn.Config(create_app(study), host="127.0.0.1", port=port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started:
            assert time.time() < deadline, "server did not start"
            time.sleep(0.05)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)


def answer_item(page, keys):
    for key in keys:
        page.keyboard.press(key)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_two_raters_keyboard_reload_restart_and_results(cli, isolated_home):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "install Debian's chromium package: apt-get install -y chromium"
    a, b = make_runs(cli, isolated_home)
    study = create_study([a, b], 6, seed=5, study_id="browser")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = Server(study, port)
    requests, console = [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
            try:
                alice = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                bob = browser.new_context().new_page()
                for page in (alice, bob):
                    page.on("request", lambda r: requests.append(r.url))
                    page.on("console", lambda m: console.append(m.text))
                    page.on("pageerror", lambda e: console.append(str(e)))
                for page, name in ((alice, "alice"), (bob, "bob")):
                    page.goto(base + "/")
                    page.fill("#name", name)
                    with page.expect_navigation():
                        page.keyboard.press("Enter")
                    assert page.url == f"{base}/rate"
                assert alice.inner_text("#progress") == "item 1 of 6 (0 done)"
                # the XSS payload in every candidate reasoning is shown as text and runs nothing
                assert "<script>window.__xss=1;document.title='pwned'</script>" in alice.inner_text("main")
                assert alice.evaluate("typeof window.__xss") == "undefined"
                assert alice.evaluate("document.querySelectorAll('main script, main img, [onerror]').length") == 0
                assert alice.title() == "Blind A/B study browser"
                alice.keyboard.press("a")
                alice.keyboard.press("b")
                assert alice.locator("fieldset.question.active").get_attribute("data-question") == "helpfulness"
                shot = alice.screenshot(path=str(isolated_home / "rating.png"), full_page=True)
                assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 10_000
                alice.reload()  # unsubmitted choices are not answers
                # interleaved: the two raters submit items 1-3 at the same time
                for alice_keys, bob_keys in zip(ALICE, BOB):
                    answer_item(alice, alice_keys)
                    answer_item(bob, bob_keys)
                alice.reload()
                assert alice.inner_text("#progress") == "item 4 of 6 (3 done)"
                server.stop()
                server = Server(study, port)  # a server restart resumes too
                alice.reload()
                assert alice.inner_text("#progress") == "item 4 of 6 (3 done)"
                assert bob.evaluate("typeof window.__xss") == "undefined" and bob.title() != "pwned"
            finally:
                browser.close()
    finally:
        server.stop()
    assert all(u.startswith(base) for u in requests), requests
    assert not [m for m in console if "Content Security Policy" in m or "Error" in m], console

    code, out, err = cli("human-eval", "results", "browser", "--json", "--jsonl", isolated_home / "a.jsonl")
    assert code == 0, err
    res = json.loads(out)
    assert res["raters"] == {"r1": 3, "r2": 3} and res["rater_names"] == {"r1": "alice", "r2": "bob"}
    stored = {(r["rater_name"], r["item"], r["question"]): r["choice"]
              for r in map(json.loads, (isolated_home / "a.jsonl").read_text().splitlines())}
    questions = ("coherence", "specificity", "helpfulness", "ship")
    typed = {(rater, item, q): KEY_CHOICE[k] for rater, keys in (("alice", ALICE), ("bob", BOB))
             for item, item_keys in enumerate(keys, 1) for q, k in zip(questions, item_keys)}
    assert stored == typed
    kappa = {row["question"]: row for row in res["agreement"]}
    # ship: alice A, B, tie; bob A, B, B. p_o = 2/3; p_e = (1*1 + 1*2 + 1*0)/9 = 1/3; kappa = 1/2.
    # Without ties only items 1 and 2 count: both agree, p_e = 1/2, kappa = 1.
    assert kappa["ship"]["kappa"] == pytest.approx(0.5) and kappa["ship"]["items"] == 3
    assert kappa["ship"]["kappa_without_ties"] == pytest.approx(1.0) and kappa["ship"]["items_without_ties"] == 2
    # coherence: alice A, B, tie; bob A, B, A -> same p_o and p_e: kappa 1/2
    assert kappa["coherence"]["kappa"] == pytest.approx(0.5)
    # specificity: alice A, B, A; bob B, B, A: p_o = 2/3; p_e = (2*1 + 1*2)/9 = 4/9; kappa = (2/9)/(5/9) = 2/5
    assert kappa["specificity"]["kappa"] == pytest.approx(0.4)
    # ship majorities by hand: item 1 A+A -> left, item 2 B+B -> right, item 3 tie+B -> right
    items = {i.item_no: i for i in open_study("browser").items}
    winners = [items[1].run_left, items[2].run_right, items[3].run_right]
    ship = next(w for w in res["win_rates"] if w["question"] == "ship")
    assert (ship["candidate_wins"], ship["baseline_wins"], ship["ties"]) == (winners.count(b), winners.count(a), 0)


def start_as(page, base, name):
    page.goto(base + "/")
    page.fill("#name", name)
    with page.expect_navigation():
        page.click("button[type=submit]")


def test_layout_stale_tab_and_review_at_1366x768_and_on_a_phone(cli, isolated_home):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "install Debian's chromium package: apt-get install -y chromium"
    a, b = make_runs(cli, isolated_home)
    study = create_study([a, b], 4, seed=5, study_id="layout", gold=1, attention=1)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = Server(study, port)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
            try:
                context = browser.new_context(viewport={"width": 1366, "height": 768})
                tab1 = context.new_page()
                start_as(tab1, base, "José")
                assert tab1.inner_text("#rater-name") == "José"
                # Submit and the key legend are above the fold; nothing scrolls sideways
                for selector in ("#submit", "#keys", "fieldset.question[data-question=ship]"):
                    box = tab1.locator(selector).bounding_box()
                    assert box["y"] + box["height"] <= 768, (selector, box)
                assert tab1.evaluate("document.documentElement.scrollWidth") <= 1366
                # a second tab of the same rater answers item 1; the first tab's stale submit is refused
                tab2 = context.new_page()
                tab2.goto(base + "/rate")
                answer_item(tab2, "abab")
                answer_item(tab1, "bbbb")
                assert "answered again since this page was loaded" in tab1.inner_text("#error")
                with tab1.expect_navigation():
                    tab1.click("#error-link")
                assert tab1.locator("#editing").is_visible()
                assert tab1.locator("fieldset[data-question=ship] input[value=B]").is_checked()  # tab 2's answer
                # change it from the review page: version 2, the earlier one kept
                tab1.goto(base + "/review")
                assert tab1.locator("#review tbody tr").count() == 1
                with tab1.expect_navigation():
                    tab1.click("#review a.change")
                tab1.check("fieldset[data-question=ship] input[value=tie]")
                with tab1.expect_navigation():
                    tab1.click("#submit")
                assert tab1.url == base + "/review"
                assert tab1.locator("#review tbody tr td").nth(5).inner_text() == "2"
                # a phone: one column, nothing wider than the screen, Submit reachable
                phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                            has_touch=True).new_page()
                start_as(phone, base, "Zoë")
                assert phone.evaluate("document.documentElement.scrollWidth") <= 390
                side_a, side_b = (phone.locator(s).bounding_box() for s in ("#side-a", "#side-b"))
                assert side_b["y"] >= side_a["y"] + side_a["height"]  # stacked, not side by side
                submit = phone.locator("#submit").bounding_box()
                assert submit["x"] >= 0 and submit["x"] + submit["width"] <= 390
            finally:
                browser.close()
    finally:
        server.stop()
    from harness.human_eval.answers import history

    ship = [(h["version"], h["choices"]["ship"]) for h in history(study) if h["rater"] == "r1"]
    assert ship == [(1, "B"), (2, "tie")]
