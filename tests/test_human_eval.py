"""Blind human A/B studies: statistics against hand computations, the study store, the app's refusals.

The browser flow (keyboard, reload, restart, two raters, XSS) is in test_human_eval_browser.py.
"""

import json
import math
import sqlite3
import subprocess
import sys

import pytest

from harness.errors import HarnessError
from harness.human_eval import answers, raters, stats
from harness.human_eval.study import Item, Study, create_study, open_study
from harness.score.stats import wilson_interval
from tests.human_eval_fixtures import LIMIT, make_runs

# -- statistics against hand computations -------------------------------------------


def test_wilson_interval_matches_the_textbook_value():
    # Newcombe (1998), Statistics in Medicine 17:857, example 81/263: Wilson 95% interval 0.2553 to 0.3662.
    low, high = wilson_interval(81, 263)
    assert round(low, 4) == 0.2553 and round(high, 4) == 0.3662
    assert wilson_interval(0, 0) == (None, None)


def test_sign_test_is_the_exact_binomial_by_hand():
    # 8 wins, 2 losses: P = 2 * (C(10,8) + C(10,9) + C(10,10)) / 2^10 = 2 * 56 / 1024
    assert stats.sign_test(8, 2) == pytest.approx(112 / 1024)
    assert stats.sign_test(5, 5) == pytest.approx(1.0)


def test_cohen_kappa_by_hand():
    r1 = ["A", "A", "B", "B", "tie", "A"]
    r2 = ["A", "B", "B", "B", "tie", "A"]
    # p_o = 5/6; marginals r1 A3 B2 T1, r2 A2 B3 T1: p_e = (6 + 6 + 1)/36 = 13/36; kappa = (5/6 - 13/36)/(23/36) = 17/23
    assert stats.kappa([list(p) for p in zip(r1, r2)]) == pytest.approx(17 / 23)


def test_fleiss_kappa_by_hand():
    rows = [["A", "A", "A"], ["B", "B", "B"], ["A", "A", "B"], ["A", "B", "tie"]]
    # P_i = 1, 1, 1/3, 0 -> P = 7/12; p_A = 6/12, p_B = 5/12, p_T = 1/12 -> P_e = 62/144; kappa = 11/41
    assert stats.kappa(rows) == pytest.approx(11 / 41)


def test_kappa_undefined_is_none():
    assert stats.kappa([["A", "A"]]) is None  # one item
    assert stats.kappa([["A", "A"], ["A", "A"]]) is None  # no variation: p_e = 1


def bt_study(outcomes):
    """A 3-run study whose items are (left, right) with majorities given by ``outcomes`` (winner or None)."""
    items, majority = [], {}
    for n, (left, right, winner) in enumerate(outcomes, 1):
        items.append(Item(n, str(n), None, left, right, "", None, None, "", None, "", None))
        for q in ("coherence", "specificity", "helpfulness", "ship"):
            majority[(n, q)] = winner
    return Study("bt", "", 0, None, ["X", "Y", "Z"], "", items, None), majority


def test_bradley_terry_solves_the_likelihood_equations_with_ties_as_half():
    outcomes = ([("X", "Y", "X")] * 3 + [("Y", "X", "Y")] + [("Y", "Z", "Y")] * 3 + [("Z", "Y", None)] * 2
                + [("X", "Z", "X")] * 2 + [("Z", "X", "Z")])
    study, majority = bt_study(outcomes)
    rows = [r for r in stats.bradley_terry(study, majority, n_boot=50) if r["question"] == "ship"]
    theta = {r["run"]: r["score"] for r in rows}
    # At the maximum: each run's wins (a tie = 1/2) equal its expected wins sum p(run beats opponent).
    for run in "XYZ":
        observed = expected = 0.0
        for left, right, winner in outcomes:
            if run in (left, right):
                other = right if run == left else left
                observed += 0.5 if winner is None else float(winner == run)
                expected += 1 / (1 + math.exp(theta[other] - theta[run]))
        assert observed == pytest.approx(expected, abs=0.02), run
    assert theta["X"] > theta["Y"] > theta["Z"]
    assert all(r["ci_low"] <= r["score"] <= r["ci_high"] for r in rows)
    two_runs = Study("two", "", 0, None, ["X", "Y"], "", study.items, None)
    assert stats.bradley_terry(two_runs, majority) == []


# -- creating studies ----------------------------------------------------------------


def test_create_study_draws_shared_samples_with_random_sides(cli, isolated_home):
    a, b = make_runs(cli, isolated_home)
    code, _, err = cli("human-eval", "create", "--a", a, "--b", b, "--n", LIMIT, "--seed", "3",
                         "--stratify-by", "correct", "--id", "s1")
    assert code == 0, err
    study = open_study("s1")
    assert study.runs == [a, b] and len(study.items) == LIMIT
    assert len({i.sample_id for i in study.items}) == LIMIT
    assert {i.run_left for i in study.items} == {a, b}  # seed 3 puts each run on the left at least once
    left_b = [i for i in study.items if i.run_left == b]
    assert all("candidate 0 reasons" in i.reasoning_left for i in left_b)
    assert all(i.stratum in ("right/right", "wrong/wrong") for i in study.items)  # B copies A's verdicts
    # the same seed draws the same study
    assert cli("human-eval", "create", "--a", a, "--b", b, "--n", LIMIT, "--seed", "3", "--stratify-by", "correct",
               "--id", "s2")[0] == 0
    assert [(i.sample_id, i.run_left) for i in open_study("s2").items] == \
        [(i.sample_id, i.run_left) for i in study.items]


def test_three_runs_make_balanced_pairs(cli, isolated_home):
    refs = make_runs(cli, isolated_home, extra_runs=1)
    code, _, err = cli("human-eval", "create", "--runs", ",".join(refs), "--n", "6", "--id", "r3")
    assert code == 0, err
    pairs = [frozenset((i.run_left, i.run_right)) for i in open_study("r3").items]
    assert {p: pairs.count(p) for p in pairs} == {frozenset(p): 2 for p in
                                                   [(refs[0], refs[1]), (refs[0], refs[2]), (refs[1], refs[2])]}


def test_bad_create_input_is_a_clear_error(cli, isolated_home):
    a, b = make_runs(cli, isolated_home)
    code, _, err = cli("human-eval", "create", "--a", a, "--b", b, "--n", LIMIT + 1)
    assert code == 1 and f"--n {LIMIT + 1} is larger than the {LIMIT} samples the runs share" in err
    other = cli("eval", "--model", "keyword-baseline", "--task", "jailbreakbench", "--limit", "3", "--json", "--quiet")
    other_id = json.loads(other[1])["runs"]["jailbreakbench"]["run_id"]
    code, _, err = cli("human-eval", "create", "--a", a, "--b", other_id, "--n", "2")
    assert code == 1 and "share no samples" in err and "Traceback" not in err
    code, _, err = cli("human-eval", "create", "--a", a, "--n", "2")
    assert code == 1 and "--a RUN_A --b RUN_B" in err
    code, _, err = cli("human-eval", "results", "no-such-study")
    assert code == 1 and "unknown study 'no-such-study'" in err
    code, _, err = cli("human-eval", "serve", "no-such-study")
    assert code == 1 and "unknown study 'no-such-study'" in err


# -- answers ------------------------------------------------------------------------

ALL = {"coherence": "A", "specificity": "B", "helpfulness": "tie", "ship": "B"}


@pytest.fixture
def study(cli, isolated_home):
    a, b = make_runs(cli, isolated_home)
    return create_study([a, b], 4, seed=1, study_id="t")


def stored(study):
    con = sqlite3.connect(study.path)
    try:
        return con.execute("SELECT item_no, rater, question, choice FROM answers ORDER BY 1, 2, 3").fetchall()
    finally:
        con.close()


def test_a_second_submit_replaces_the_first_and_counts_once(study):
    answers.save_item_answers(study, "ann", 1, ALL, "first")
    answers.save_item_answers(study, "ann", 1, {**ALL, "ship": "A"}, "")
    rows = stored(study)
    assert len(rows) == 4 and (1, "ann", "ship", "A") in rows
    assert answers.read_comments(study) == {}
    res = stats.results(study)
    assert res["raters"] == {"ann": 1}
    ship = next(w for w in res["win_rates"] if w["question"] == "ship")
    assert ship["candidate_wins"] + ship["baseline_wins"] + ship["ties"] == 1
    assert answers.next_item(study, "ann").item_no == 2


def test_invalid_answers_store_nothing(study):
    for bad in ({**ALL, "ship": "C"}, {k: v for k, v in ALL.items() if k != "ship"}, {**ALL, "extra": "A"}):
        with pytest.raises(HarnessError):
            answers.save_item_answers(study, "ann", 1, bad)
    with pytest.raises(HarnessError, match="no item 99"):
        answers.save_item_answers(study, "ann", 99, ALL)
    with pytest.raises(HarnessError, match="rater name"):
        answers.save_item_answers(study, "<b>x</b>", 1, ALL)
    assert stored(study) == []


KILL = """
import os, sys
from harness.human_eval.answers import write_answers
from harness.human_eval.study import open_study
def rows():
    yield ("coherence", "A")
    yield ("specificity", "B")
    os._exit(9)  # the server dies between two rows of one submit
write_answers(open_study("t", sys.argv[1]), "ann", 1, rows(), "")
"""


def test_a_process_killed_mid_submit_leaves_no_partial_rows(study):
    proc = subprocess.run([sys.executable, "-c", KILL, str(study.path.parent)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 9, proc.stderr
    assert stored(study) == []
    assert answers.next_item(study, "ann").item_no == 1
    answers.save_item_answers(study, "ann", 1, ALL)  # the database is usable afterwards
    assert len(stored(study)) == 4


# -- the app's refusals (no browser needed) --------------------------------------------


BASE = "http://127.0.0.1:8765"


def client_for(study, host="127.0.0.1", rater=None):
    """A test client; with ``rater`` (a display name) it carries a new rater session's cookie."""
    from starlette.testclient import TestClient

    from harness.human_eval.app import RATER_COOKIE, create_app

    c = TestClient(create_app(study, host), base_url=BASE, follow_redirects=False)
    if rater is not None:
        session, secret = raters.new_session(study, rater)
        c.cookies.set(RATER_COOKIE, secret)
        c.session = session
    return c


def form(c, item=1, version=0, **changes):
    return {"csrf": c.session.csrf, "item": str(item), "version": str(version), **ALL, "comment": "", **changes}


ORIGIN = {"Origin": BASE}


def test_malformed_or_cross_site_posts_are_refused_and_store_nothing(study):
    c = client_for(study, rater="ann")
    cases = [
        (form(c, ship="maybe"), ORIGIN, 400, "answer to &#39;ship&#39; must be one of"),
        (form(c, csrf="forged"), ORIGIN, 403, "wrong form token"),
        ({k: v for k, v in form(c).items() if k != "csrf"}, ORIGIN, 403, "wrong form token"),
        (form(c, item="x"), ORIGIN, 400, "must be an item number"),
        (form(c, item="42"), ORIGIN, 400, "has no item 42"),
        ({k: v for k, v in form(c).items() if k != "version"}, ORIGIN, 400, "field &#39;version&#39;"),
        (form(c), {"Origin": "http://evil.example"}, 403, "cross-site request"),
        (form(c), {}, 403, "no Origin or Referer"),
    ]
    for data, headers, status, message in cases:
        r = c.post("/answer", data=data, headers=headers)
        assert r.status_code == status and message in r.text, (data, r.status_code, r.text[-300:])
    r = c.post("/answer", content=b'{"ship": "A"}', headers={**ORIGIN, "Content-Type": "application/json"})
    assert r.status_code == 400 and "expected a form" in r.text
    body = "&".join(f"{k}={v}" for k, v in form(c).items()) + "&ship=A"
    r = c.post("/answer", content=body.encode(),
               headers={**ORIGIN, "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and "given twice" in r.text
    assert stored(study) == []
    r = c.post("/answer", data=form(c), headers=ORIGIN)
    assert r.status_code == 303 and r.headers["location"] == "/rate"
    assert len(stored(study)) == 4


def test_pages_carry_a_strict_csp_and_escape_text(study):
    c = client_for(study, rater="ann")
    r = c.get("/rate")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert "<script>window.__xss" not in r.text and "&lt;script&gt;window.__xss=1" in r.text
    assert "<script src=\"/static/rate.js\" defer></script>" in r.text and r.text.count("<script") == 1
    assert c.get("/static/rate.js").headers["content-type"].startswith("text/javascript")
    assert c.get("/static/../study.py").status_code == 404
    assert c.get("/item/<b>").status_code == 404


def test_bound_beyond_loopback_the_access_token_is_required(study):
    c = client_for(study, host="0.0.0.0")
    assert c.get("/").status_code == 403
    assert c.get("/?token=wrong").status_code == 403
    r = c.get(f"/?token={study.access_token}")
    assert r.status_code == 200 and "harness_study_token" in r.headers["set-cookie"]
    assert c.get("/").status_code == 200  # the cookie carries the token on
    assert c.get("/rate").headers["location"] == "/"  # and a rater still needs a session of their own


def test_results_exports_and_report_section(cli, study, isolated_home):
    answers.save_item_answers(study, "ann", 1, ALL, "fine <b>")
    answers.save_item_answers(study, "bob", 1, {**ALL, "ship": "tie"})
    code, out, err = cli("human-eval", "results", "t", "--json", "--csv", isolated_home / "a.csv",
                         "--jsonl", isolated_home / "a.jsonl")
    assert code == 0, err
    res = json.loads(out)
    assert res["raters"] == {"ann": 1, "bob": 1}
    assert "not all judged" in res["notes"][0]
    lines = (isolated_home / "a.jsonl").read_text().splitlines()
    assert len(lines) == 8 and (isolated_home / "a.csv").read_text().count("\n") == 9
    row = json.loads(lines[0])
    item = study.items[0]
    shown = (row["item"], row["sample_id"], row["run_shown_a"], row["run_shown_b"])
    assert shown == (1, item.sample_id, item.run_left, item.run_right)
    # ship: ann B, bob tie -> margin toward B (right)
    ship = next(w for w in res["win_rates"] if w["question"] == "ship")
    assert (ship["candidate_wins"], ship["baseline_wins"]) == ((1, 0) if item.run_right == study.runs[1] else (0, 1))
    html = isolated_home / "r.html"
    code, _, err = cli("report", *study.runs, "-o", html, "--study", "t")
    assert code == 0, err
    text = html.read_text()
    assert "Human preference" in text and "human-win-rates" in text and "<b>" not in text.split("Human preference")[1]


def test_judge_agreement_from_stored_judgments(cli, study):
    code, out, err = cli("human-eval", "results", "t")
    assert code == 0 and "judge agreement is skipped" in out
    for run in study.runs:
        code, _, err = cli("judge", run, "--judge", "heuristic:lexical", "--quiet")
        assert code == 0, err
    for n in (1, 2, 3):
        answers.save_item_answers(study, "ann", n, {**ALL, "ship": "A"})  # the raters always pick the left one
    reward = {}
    for run in study.runs:
        for line in (isolated_run_dir(study, run) / "judgments.jsonl").read_text().splitlines():
            rec = json.loads(line)
            reward[(run, rec["id"])] = rec["scores"]["reward"]
    expected = sum(reward[(i.run_left, i.sample_id)] > reward[(i.run_right, i.sample_id)] for i in study.items[:3])
    code, out, err = cli("human-eval", "results", "t", "--json")
    assert code == 0, err
    (name, agreement), = json.loads(out)["judges"].items()
    assert name == "heuristic" and agreement["items"] == 3 and agreement["agree"] == expected


def isolated_run_dir(study, run):
    return study.path.parent / run


def test_live_judge_picks_match_stored_judgments_and_pairwise_mode(cli, study, monkeypatch):
    from harness.human_eval.judges import live_judge_picks, stored_judge_picks
    from harness.interfaces.judge import Judgment

    for run in study.runs:
        assert cli("judge", run, "--judge", "heuristic:lexical", "--quiet")[0] == 0
    stored_picks, _ = stored_judge_picks(study)
    assert live_judge_picks(study, "heuristic:lexical") == stored_picks["heuristic"]

    class PrefersFirst:  # a pairwise judge: always prefers the first reasoning of a pair
        name = "pairwise-stub"

        def compare_batch(self, pairs):
            return [Judgment({"preference": 1.0, "position_consistent": 1.0}) for _ in pairs]

    monkeypatch.setattr("harness.judge.runner.load_judge", lambda spec, options=None: PrefersFirst())
    assert live_judge_picks(study, "stub") == {i.item_no: i.run_left for i in study.items}
    for n in (1, 2):
        answers.save_item_answers(study, "ann", n, {**ALL, "ship": "A"})
    answers.save_item_answers(study, "ann", 3, {**ALL, "ship": "B"})
    code, out, err = cli("human-eval", "results", "t", "--json", "--judge", "stub")
    assert code == 0, err
    assert json.loads(out)["judges"]["stub"] == {"question": "ship", "items": 3, "agree": 2,
                                                 "agreement": pytest.approx(2 / 3), "ci_low": pytest.approx(
                                                     wilson_interval(2, 3)[0]), "ci_high": pytest.approx(
                                                     wilson_interval(2, 3)[1])}


def test_concurrent_raters_never_lose_answers(study):
    import threading

    errors = []

    def rate(rater):
        try:
            for item in study.items:
                answers.save_item_answers(study, rater, item.item_no, ALL)
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=rate, args=(f"r{k}",)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(stored(study)) == 6 * len(study.items) * 4
