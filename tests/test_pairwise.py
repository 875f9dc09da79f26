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


@hookimpl
def register_judges(register):
    register("prefers-first", PrefersFirst)
    register("prefers-longer", PrefersLonger)
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
