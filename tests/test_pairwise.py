"""`harness judge --pairwise`: both orders, flip rate, ties and A's win rate (issue 12)."""

import json
import sys
from pathlib import Path

import pytest
from statsmodels.stats.proportion import proportion_confint

from tests.report_fixtures import eval_run, flipped_replay

LOOP = "The request is harmful. " * 12


@pytest.fixture
def two_runs(cli, isolated_home):
    """A = keyword baseline on 40 samples; B = its replay with 8 verdicts flipped and 10 reasonings made loops."""
    a = eval_run(cli, "keyword-baseline", "combined_test", "--limit", "40")
    flip = {str(i) for i in range(0, 40, 5)}
    loops = {str(i): LOOP for i in range(1, 40, 4)}
    path = flipped_replay(a["dir"], isolated_home / "b.jsonl", flip, reasoning=loops)
    b = eval_run(cli, f"replay:{path}", "combined_test", "--limit", "40")
    return a, b


def first_rewards(run_dir) -> dict:
    """{sample id: heuristic reward of the first completion}, read straight from judgments.jsonl."""
    out = {}
    for line in Path(run_dir, "judgments.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["sample_index"] == 0:
            out[rec["id"]] = rec["scores"]["reward"]
    return out


def wilson(count, n):
    return list(proportion_confint(count, n, alpha=0.05, method="wilson"))


def test_heuristic_pairwise_counts_match_the_per_sample_scores(cli, two_runs, isolated_home):
    a, b = two_runs
    for run in (a, b):
        assert cli("judge", run["run_id"], "--judge", "heuristic:lexical", "--quiet")[0] == 0
    ra, rb = first_rewards(a["dir"]), first_rewards(b["dir"])
    margin = 0.05
    wins_a = sum(ra[i] - rb[i] > margin for i in ra)
    wins_b = sum(rb[i] - ra[i] > margin for i in ra)
    ties = len(ra) - wins_a - wins_b
    assert wins_a > 0 and ties > 0  # the fixture has both kinds of samples

    code, out, err = cli("judge", "--pairwise", a["run_id"], b["run_id"], "--judge", "heuristic:lexical",
                         "--margin", str(margin), "--json")
    assert code == 0, err
    res = json.loads(out)
    assert (res["n_shared"], res["n_failed"]) == (40, 0)
    assert (res["wins_a"], res["wins_b"], res["ties"], res["flips"]) == (wins_a, wins_b, ties, 0)
    assert res["flip_rate"] == 0.0  # a score judge cannot see the order
    assert res["tie_rate"] == pytest.approx(ties / 40)
    assert res["win_rate_a_ties_excluded"] == pytest.approx(wins_a / (wins_a + wins_b))
    assert res["win_rate_a_ties_excluded_ci"] == pytest.approx(wilson(wins_a, wins_a + wins_b))
    assert res["win_rate_a_ties_half"] == pytest.approx((wins_a + ties / 2) / 40)
    assert res["win_rate_a_ties_half_ci"] == pytest.approx(wilson(wins_a + ties / 2, 40))
    assert res["identity"]["settings"] == "margin=0.05"
    assert res["identity"]["judge"].startswith("heuristic@")

    stored = Path(res["path"])
    assert stored.parent == isolated_home / "runs" / "pairwise"
    lines = stored.with_suffix(".jsonl").read_text().splitlines()
    assert len(lines) == 40 and {json.loads(x)["id"] for x in lines} == set(ra)

    # compare shows it, turned round when the runs are given the other way
    code, out, err = cli("compare", b["run_id"], a["run_id"], "--json")
    assert code == 0, err
    [shown] = json.loads(out)["pairwise"]
    assert (shown["run_a"], shown["wins_a"], shown["wins_b"]) == (b["run_id"], wins_b, wins_a)
    code, out, err = cli("compare", a["run_id"], b["run_id"])
    assert code == 0, err
    assert f"A wins {wins_a}, B wins {wins_b}, ties {ties}" in out
    assert "position-flip rate 0.000" in out


PREFERS_FIRST = '''
from harness import hookimpl
from harness.interfaces.judge import Judge, Preference


class PrefersFirst(Judge):
    """Always prefers whatever is shown first: a judge with total position bias."""

    version = "1"
    criteria = ("score",)

    def judge_batch(self, items):
        raise AssertionError("a pairwise judge is asked with prefer_batch")

    def prefer_batch(self, pairs):
        return [Preference("first", "shown first") for _ in pairs]


class PrefersLonger(PrefersFirst):
    """Prefers the longer reasoning whatever the order; a tie when equally long."""

    def prefer_batch(self, pairs):
        out = []
        for first, second in pairs:
            la, lb = len(first.reasoning), len(second.reasoning)
            out.append(Preference("first" if la > lb else "second" if lb > la else "tie"))
        return out


class Scripted(PrefersFirst):
    """Answers from a script {sample id: [answer with A shown first, answer with B shown first]} in A/B terms
    ("A", "B", "tie", or "error"); B's reasoning is the one that starts with "[B]"."""

    def prefer_batch(self, pairs):
        import json, os

        script = json.loads(open(os.environ["H12_SCRIPT"]).read())
        out = []
        for first, second in pairs:
            b_first = first.reasoning.startswith("[B]")
            answer = script[first.sample_id][1 if b_first else 0]
            if answer == "error":
                out.append(Preference(None, "", "scripted failure"))
            elif answer == "tie":
                out.append(Preference("tie"))
            else:
                out.append(Preference("first" if (answer == "B") == b_first else "second"))
        return out


@hookimpl
def register_judges(register):
    register("prefers-first", PrefersFirst)
    register("prefers-longer", PrefersLonger)
    register("scripted", Scripted)
'''


@pytest.fixture
def pairwise_plugin(tmp_path, monkeypatch):
    """The two judges above installed as a real plugin (entry point), registry reloaded."""
    from harness.plugins import reset_registry

    site = tmp_path / "site"
    dist = site / "h12pairwise-0.1.dist-info"
    dist.mkdir(parents=True)
    (site / "h12pairwise.py").write_text(PREFERS_FIRST)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: h12pairwise\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[harness]\nh12pairwise = h12pairwise\n")
    monkeypatch.syspath_prepend(str(site))
    reset_registry()
    yield
    sys.modules.pop("h12pairwise", None)
    reset_registry()


def test_position_swap_a_judge_that_always_prefers_the_first_flips_every_sample(cli, two_runs, pairwise_plugin):
    a, b = two_runs
    code, out, err = cli("judge", "--pairwise", a["run_id"], b["run_id"], "--judge", "prefers-first", "--json")
    assert code == 0, err
    res = json.loads(out)
    # A first -> A wins; B first -> B wins: every sample flips, and the two answers cancel into a tie
    assert (res["flips"], res["ties"], res["wins_a"], res["wins_b"]) == (40, 40, 0, 0)
    assert res["flip_rate"] == 1.0 and res["win_rate_a_ties_excluded"] is None
    assert res["win_rate_a_ties_half"] == 0.5
    assert res["identity"]["settings"] == ""
    code, _, err = cli("judge", "--pairwise", a["run_id"], b["run_id"], "--judge", "prefers-first", "--margin", "0.1")
    assert code != 0 and "--margin applies to judges compared by score" in err


def test_position_swap_an_order_blind_judge_never_flips(cli, two_runs, pairwise_plugin):
    a, b = two_runs
    ra = {json.loads(x)["id"]: json.loads(x)["completions"][0]["reasoning"]
          for x in Path(a["dir"], "samples.jsonl").read_text().splitlines()}
    rb = {json.loads(x)["id"]: json.loads(x)["completions"][0]["reasoning"]
          for x in Path(b["dir"], "samples.jsonl").read_text().splitlines()}
    longer_a = sum(len(ra[i]) > len(rb[i]) for i in ra)
    longer_b = sum(len(rb[i]) > len(ra[i]) for i in ra)
    code, out, err = cli("judge", "--pairwise", a["run_id"], b["run_id"], "--judge", "prefers-longer", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert (res["flips"], res["wins_a"], res["wins_b"]) == (0, longer_a, longer_b)
    assert res["ties"] == 40 - longer_a - longer_b


def test_pairwise_bad_input(cli, two_runs):
    a, b = two_runs
    code, _, err = cli("judge", "--pairwise", a["run_id"], b["run_id"], "--judge", "heuristic,heuristic:lexical")
    assert code != 0 and "exactly one --judge" in err and "Traceback" not in err
    code, _, err = cli("judge", "--pairwise", a["run_id"], b["run_id"], "--judge", "heuristic", "--margin", "-1")
    assert code != 0 and "--margin -1.0: expected a number >= 0" in err
    code, _, err = cli("judge", "--pairwise", a["run_id"], "nope", "--judge", "heuristic")
    assert code != 0 and "nope" in err and "Traceback" not in err


# -- hand-counted outcomes, unpaired samples, the report ---------------------------------------------------------

# (answer with A shown first, answer with B shown first) for the first 7 samples; the 8th is in A only.
SCRIPT = [("A", "A"), ("A", "tie"), ("tie", "B"), ("A", "B"), ("B", "B"), ("tie", "tie"), ("error", "error")]
# by hand: outcomes A, A (0.75), B (0.25), tie (A/B flip), B, tie, failed -> A 2, B 2, ties 2, flips 3 of 6 judged


@pytest.fixture
def scripted_runs(cli, isolated_home, pairwise_plugin, monkeypatch):
    """A = keyword baseline on 8 samples; B = its replay on the first 7 with "[B] " before each reasoning."""
    from tests.report_fixtures import read_records

    a = eval_run(cli, "keyword-baseline", "combined_test", "--limit", "8")
    records = read_records(a["dir"])
    ids = [str(r["id"]) for r in records]
    marked = {str(r["id"]): "[B] " + r["completions"][0]["reasoning"] for r in records}
    (isolated_home / "last.txt").write_text(ids[7] + "\n")
    (isolated_home / "last2.txt").write_text(ids[6] + "\n" + ids[7] + "\n")
    b = eval_run(cli, f"replay:{flipped_replay(a['dir'], isolated_home / 'b.jsonl', set(), reasoning=marked)}",
                 "combined_test", "--limit", "8", "--exclude-ids", str(isolated_home / "last.txt"))
    script = isolated_home / "script.json"
    script.write_text(json.dumps(dict(zip(ids, SCRIPT))))
    monkeypatch.setenv("H12_SCRIPT", str(script))
    return a, b, ids


def test_scripted_answers_give_the_hand_counted_outcomes_and_unpaired_samples_are_counted(cli, scripted_runs):
    a, b, ids = scripted_runs
    code, out, err = cli("judge", "--pairwise", a["run_id"], b["run_id"], "--judge", "scripted", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert (res["n_shared"], res["n_failed"], res["n_a_only"], res["n_b_only"], res["n_no_completion"]) == (7, 1, 1, 0, 0)
    assert (res["wins_a"], res["wins_b"], res["ties"], res["flips"], res["n_judged"]) == (2, 2, 2, 3, 6)
    assert res["flip_rate"] == 0.5 and res["flip_rate_ci"] == pytest.approx(wilson(3, 6))
    assert res["tie_rate"] == pytest.approx(2 / 6)
    assert res["win_rate_a_ties_excluded"] == 0.5 and res["win_rate_a_ties_excluded_ci"] == pytest.approx(wilson(2, 4))
    assert res["win_rate_a_ties_half"] == 0.5 and res["win_rate_a_ties_half_ci"] == pytest.approx(wilson(3, 6))
    records = {json.loads(x)["id"]: json.loads(x) for x in Path(res["path"]).with_suffix(".jsonl").read_text().splitlines()}
    assert set(records) == set(ids[:7]) and records[ids[6]]["error"] == "scripted failure"
    assert [(records[i]["a_first"], records[i]["b_first"]) for i in ids[:6]] == SCRIPT[:6]
    code, out, err = cli("judge", "--pairwise", a["run_id"], b["run_id"], "--judge", "scripted")
    assert code == 0, err
    assert "1 failed (judge error); not judged: 1 in A only, 0 in B only" in out
    # compare turned round: A only becomes B only
    code, out, err = cli("compare", b["run_id"], a["run_id"], "--json")
    assert code == 0, err
    [shown] = json.loads(out)["pairwise"]
    assert (shown["n_a_only"], shown["n_b_only"], shown["wins_a"], shown["wins_b"]) == (0, 1, 2, 2)


def pairwise_rows(html: str, section: str | None = None) -> list[list[str]]:
    """The cells of every row of the report's pairwise tables (in one <h2> section if named)."""
    import re

    if section:
        html = html.split(f"<h2>{section}</h2>", 1)[1].split("<h2>", 1)[0]
    rows = []
    for body in re.findall(r"<table class='pairwise'>.*?<tbody>(.*?)</tbody>", html, re.DOTALL):
        rows += [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body)]
    return rows


def test_report_shows_stored_pairwise_results_in_the_comparison_and_other_pairs_apart(cli, scripted_runs,
                                                                                     isolated_home):
    a, b, _ = scripted_runs
    c = eval_run(cli, f"replay:{isolated_home / 'b.jsonl'}", "combined_test", "--limit", "8", "--exclude-ids",
                 str(isolated_home / "last2.txt"))
    for x, y in ((a, b), (b, c)):
        assert cli("judge", "--pairwise", x["run_id"], y["run_id"], "--judge", "scripted", "--json")[0] == 0
    out = isolated_home / "r.html"
    code, _, err = cli("report", a["run_id"], b["run_id"], c["run_id"], "-o", out)
    assert code == 0, err
    html = out.read_text()
    [ab] = pairwise_rows(html, "Comparisons")  # A vs C was not judged pairwise: only A vs B there

    def ci(k, n):
        return "[{:.3f}, {:.3f}]".format(*wilson(k, n))

    assert ab[1:] == [a["run_id"], b["run_id"], "6", "1", "1", "0", "0", "2", "2", "2", "0.5000", ci(3, 6),
                      "0.5000", ci(2, 4), "0.5000", ci(3, 6)]
    assert ab[0].startswith("scripted@1#")
    # B vs C is no comparison of the report (each is compared with A): its own section. C is the first 6
    # samples of B: 6 judged, no error (the scripted error is the 7th), the 7th in B (the pair's A) only
    [bc] = pairwise_rows(html, "Pairwise judgments")
    assert bc[1:8] == [b["run_id"], c["run_id"], "6", "0", "1", "0", "0"]
    assert "<script" not in html.lower()


# -- the human study's agreement against stored pairwise results ---------------------------------------------

RATED = ["A", "B", "B", "A", "tie", "A", "A"]  # the raters' 'ship' winner per sample (run A, run B or tie)
# by hand against SCRIPT's picks A, A, B, tie, B, tie, (error): 5 items with a majority and a pick, agreeing on
# samples 0 and 2; sample 6 has a majority but no pick; judge ties 2; flips on samples 1, 2, 3.


def rate_ship(study, ids, a, b):
    from harness.human_eval import answers

    want = dict(zip(ids, RATED))
    for item in study.items:
        winner = {"A": a["run_id"], "B": b["run_id"]}.get(want[item.sample_id])
        choice = "tie" if winner is None else "A" if item.run_left == winner else "B"
        answers.save_item_answers(study, "ann", item.item_no, {"coherence": "tie", "specificity": "tie",
                                                               "helpfulness": "tie", "ship": choice})


def test_study_agreement_uses_stored_pairwise_results_per_shared_sample(cli, scripted_runs, isolated_home):
    from harness.human_eval.study import create_study

    a, b, ids = scripted_runs
    study = create_study([a["run_id"], b["run_id"]], 7, seed=1, study_id="p")
    assert {i.sample_id for i in study.items} == set(ids[:7])
    rate_ship(study, ids, a, b)
    # judged as B vs A (the script names runs, not positions): picks are turned round to the study's runs
    assert cli("judge", "--pairwise", b["run_id"], a["run_id"], "--judge", "scripted", "--json")[0] == 0
    code, out, err = cli("human-eval", "results", "p", "--json")
    assert code == 0, err
    [(label, j)] = json.loads(out)["pairwise_judges"].items()
    assert label.startswith("scripted@1#") and j["judged_as"] == [f"{b['run_id']} vs {a['run_id']}"]
    assert (j["items"], j["judged"], j["not_judged"], j["not_judged_reasons"]) == (7, 6, 1, {"judge error": 1})
    assert (j["rated_not_judged"], j["judge_ties"], j["flips"], j["flip_rate"]) == (1, 2, 3, 0.5)
    assert j["flip_rate_ci"] == pytest.approx(wilson(3, 6))
    assert (j["compared"], j["agree"], j["agreement"]) == (5, 2, pytest.approx(2 / 5))
    assert [j["ci_low"], j["ci_high"]] == pytest.approx(wilson(2, 5))
    code, out, err = cli("human-eval", "results", "p")
    assert code == 0, err
    assert f"Pairwise {label}" in out and "on 2/5 items" in out and "position flips 3" in out
    assert "did not judge 1 (judge error 1; 1 of them with a rater majority)" in out

    # the report's study section carries the same figures
    html_path = isolated_home / "r.html"
    code, _, err = cli("report", a["run_id"], b["run_id"], "-o", html_path, "--study", "p")
    assert code == 0, err
    import re

    section = html_path.read_text().split("<h2>Human preference</h2>")[1]
    body = re.search(r"<table class='human-pairwise-judges'>.*?<tbody><tr>(.*?)</tr>", section, re.DOTALL).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", body)
    assert cells[2:11] == ["7", "6", "1", "2", "3", "50.0", "5", "2", "40.0"]  # percent columns: one decimal


def test_study_agreement_never_mixes_pairwise_identities(cli, scripted_runs, isolated_home):
    from harness.human_eval.study import create_study

    a, b, _ = scripted_runs
    create_study([a["run_id"], b["run_id"]], 7, seed=1, study_id="two")
    for margin in ("0", "0.05"):
        code, _, err = cli("judge", "--pairwise", a["run_id"], b["run_id"], "--judge", "heuristic:lexical",
                           "--margin", margin, "--quiet")
        assert code == 0, err
    code, out, err = cli("human-eval", "results", "two", "--json")
    assert code == 0, err
    labels = sorted(json.loads(out)["pairwise_judges"])  # two identities, two rows: each on its own
    assert [label.split(" ")[-1] for label in labels] == ["[margin=0.05]", "[margin=0]"]
    code, _, err = cli("human-eval", "results", "two", "--pairwise-judge", "heuristic")
    assert code == 1 and "Traceback" not in err
    assert "names several stored pairwise identities" in err and labels[0] in err and labels[1] in err
    code, out, err = cli("human-eval", "results", "two", "--pairwise-judge", labels[0], "--json")
    assert code == 0, err
    assert list(json.loads(out)["pairwise_judges"]) == [labels[0]]
    code, _, err = cli("human-eval", "results", "two", "--pairwise-judge", "nope")
    assert code == 1 and "no stored pairwise judging 'nope'" in err and "Traceback" not in err
    code, _, err = cli("human-eval", "results", "two", "--pairwise-judge", "heuristic", "--judge", "heuristic")
    assert code == 1 and "give one of them" in err

    # three runs: pairs judged under different identities are refused, naming both
    c = eval_run(cli, f"replay:{isolated_home / 'b.jsonl'}", "combined_test", "--limit", "8", "--exclude-ids",
                 str(isolated_home / "last2.txt"))
    create_study([a["run_id"], b["run_id"], c["run_id"]], 6, seed=1, study_id="three")
    for x, y in ((a, c), (b, c)):
        code, _, err = cli("judge", "--pairwise", x["run_id"], y["run_id"], "--judge", "heuristic:lexical",
                           "--margin", "0" if x is a else "0.05", "--quiet")
        assert code == 0, err
    # margin=0 judged A-B and A-C, margin=0.05 A-B and B-C: neither identity covers the three pairs
    code, out, err = cli("human-eval", "results", "three", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["pairwise_judges"] == {}
    [mixed] = [n for n in res["notes"] if "different identities" in n]
    assert labels[0] in mixed and labels[1] in mixed
    code, _, err = cli("human-eval", "results", "three", "--pairwise-judge", "heuristic")
    assert code == 1 and "cannot be used" in err and labels[0] in err and labels[1] in err
    assert "Traceback" not in err
