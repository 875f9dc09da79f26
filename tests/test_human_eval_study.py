"""A human study a reviewer would accept (issue 26): the criteria rule and its power, Krippendorff's alpha,
gold/attention checks and rater quality, DPO pairs from human preferences, CSV escaping.

Expected figures are computed by hand (formulas in the comments) or taken from the cited papers.
"""

import csv
import io
import json
import math
import sqlite3
from statistics import NormalDist

import pytest

from harness.human_eval import answers, criteria, stats
from harness.human_eval.study import QUESTIONS, create_study, open_study
from tests.human_eval_fixtures import make_runs

Z = NormalDist().inv_cdf(0.975)


def wilson(k, n, z=Z):
    """Wilson score interval by its formula (Wilson 1927), independent of statsmodels."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def power_by_hand(n, share, threshold, alpha=0.05):
    """P(rule passes) with n decided items: sum of binomial terms over the win counts the rule passes."""
    total, tail = 0.0, 0
    for k in range(n, -1, -1):  # tail = C(n,k) + ... + C(n,n), so P(X >= k | share 1/2) = tail / 2^n
        tail += math.comb(n, k)
        if tail / 2 ** n <= alpha and wilson(k, n)[0] >= threshold:
            total += math.exp(math.log(math.comb(n, k)) + k * math.log(share) + (n - k) * math.log(1 - share))
    return total


# -- Krippendorff's alpha: Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability" ---------------


def test_alpha_binary_two_observers_by_hand():
    # Section A of the paper. n = 20 values: 14 zeros, 6 ones; 4 units disagree, so o_01 = 4.
    # alpha = 1 - (n - 1) * o_01 / (n_0 * n_1) = 1 - 19 * 4 / (14 * 6) = 8 / 84 = 0.0952
    a = "0 1 0 0 0 0 0 0 1 0".split()
    b = "1 1 1 0 0 1 0 0 0 0".split()
    assert stats.krippendorff_alpha([list(u) for u in zip(a, b)]) == pytest.approx(1 - 19 * 4 / 84)
    # Cohen's kappa on the same data is lower-bounded differently: p_o = .6, p_e = .8*.6 + .2*.4 = .56
    assert stats.kappa([list(u) for u in zip(a, b)]) == pytest.approx(0.04 / 0.44)


def test_alpha_nominal_four_observers_with_missing_values_is_the_papers_0743():
    # Section C of the paper: 4 observers, 12 units, missing values; the paper gives alpha_nominal = 0.743.
    observers = ["1 2 3 3 2 1 4 1 2 . . .", "1 2 3 3 2 2 4 1 2 5 . 3",
                 ". 3 3 3 2 3 4 2 2 5 1 .", "1 2 3 3 2 4 4 1 2 5 1 ."]
    data = [[None if v == "." else v for v in row.split()] for row in observers]
    assert round(stats.krippendorff_alpha([list(unit) for unit in zip(*data)]), 3) == 0.743


def test_alpha_undefined_is_none():
    assert stats.krippendorff_alpha([["A", "A"], ["A", "A"]]) is None  # one value throughout
    assert stats.krippendorff_alpha([["A", None], [None, "B"]]) is None  # no unit with two values


# -- the criteria rule, its power and the plan ---------------------------------------------------


def test_six_of_nine_is_not_shown_with_items_needed():
    # The case: 6 wins, 3 losses, 1 tie against a 60 % threshold.
    v = criteria.judge(6, 3, 1, 0.6)
    low, high = wilson(6, 9)
    assert (round(low, 3), round(high, 3)) == (0.354, 0.879)
    assert v.ci_low == pytest.approx(low) and v.ci_high == pytest.approx(high)
    assert v.p_one_sided == pytest.approx(130 / 512)  # (C(9,6)+C(9,7)+C(9,8)+C(9,9)) / 2^9
    assert v.status == "not shown"
    # items needed: the smallest decided n with power >= 0.8 at share 2/3, divided by (1 - tie rate 1/10)
    needed = criteria.decided_items_needed(2 / 3, 0.6)
    assert power_by_hand(needed, 2 / 3, 0.6) >= 0.8 > power_by_hand(needed - 1, 2 / 3, 0.6)
    assert v.items_needed == math.ceil(needed / 0.9)


def test_pass_and_fail_need_the_interval():
    # 45 of 50: Wilson low = 0.7864 >= 0.65 and P(X >= 45 | 50, .5) is tiny: pass
    assert round(wilson(45, 50)[0], 4) == 0.7864
    assert criteria.judge(45, 5, 0, 0.65).status == "pass"
    # 10 of 50: Wilson high = 0.3325 < 0.6: shown not to hold
    assert wilson(10, 50)[1] < 0.6 and criteria.judge(10, 40, 3, 0.6).status == "fail"
    # 70 % of 10 is above 60 % but not shown; 0 decided items is not shown either
    assert criteria.judge(7, 3, 0, 0.6).status == "not shown"
    assert criteria.judge(0, 0, 4, 0.6).reason == "no item with a decided majority yet"
    # below the threshold and not shown below it: no number of items would show it
    v = criteria.judge(5, 5, 0, 0.6)
    assert v.status == "not shown" and v.items_needed is None and "no number of items" in v.reason


def test_exact_power_by_hand():
    # n = 10, threshold 0.5: 9 wins pass (P(X>=9) = 11/1024, Wilson low 0.596), 8 do not (P(X>=8) = 56/1024 > .05)
    assert criteria.critical_wins(10, 0.5) == 9
    # power at share 0.8 = P(X >= 9) = 10 * 0.8^9 * 0.2 + 0.8^10 = 0.3758096384
    assert criteria.rule_power(10, 0.8, 0.5) == pytest.approx(10 * 0.8 ** 9 * 0.2 + 0.8 ** 10)
    for n in (20, 57, 120):
        assert criteria.rule_power(n, 0.7, 0.6) == pytest.approx(power_by_hand(n, 0.7, 0.6))


def test_closed_form_power_equals_the_statsmodels_interval_rule():
    import numpy as np

    ns = np.arange(1, 300)
    for threshold, share in ((0.6, 0.7), (0.5, 0.8), (0.65, 0.75)):
        exact = [criteria.rule_power(int(n), share, threshold) for n in ns]
        assert criteria.powers(ns, share, threshold) == pytest.approx(exact, abs=1e-12)
    # the smallest n is the first one reaching the target (saw-tooth power: n - 1 falls short)
    n = criteria.decided_items_needed(0.65, 0.6)
    assert all(power_by_hand(m, 0.65, 0.6) < 0.8 for m in (n - 1, n - 2)) and power_by_hand(n, 0.65, 0.6) >= 0.8


def test_normal_approximation_is_cohens_h_by_hand():
    # h = 2 asin(sqrt .7) - 2 asin(sqrt .6) = 0.21016; n = ((z_.975 + z_.8) / h)^2 = 177.71
    h = 2 * math.asin(math.sqrt(0.7)) - 2 * math.asin(math.sqrt(0.6))
    n = ((Z + NormalDist().inv_cdf(0.8)) / h) ** 2
    assert round(n, 1) == 177.7
    assert criteria.normal_items(0.7, 0.6) == pytest.approx(n, rel=1e-6)


def test_plan_cli(cli):
    code, out, err = cli("human-eval", "plan", "--share", "0.7", "--threshold", "0.6", "--tie-rate", "0.2", "--json")
    assert code == 0, err
    row = json.loads(out)["rows"][0]
    decided = row["decided"]
    assert power_by_hand(decided, 0.7, 0.6) >= 0.8 > power_by_hand(decided - 1, 0.7, 0.6)
    assert row["items"] == math.ceil(decided / 0.8)
    code, out, err = cli("human-eval", "plan", "--share", "0.55", "--threshold", "0.6")
    assert code == 0 and "cannot be shown" in out
    code, _, err = cli("human-eval", "plan", "--share", "1.5")
    assert code != 0 and "--share" in err


# -- gold and attention checks, rater quality -----------------------------------------------------


@pytest.fixture
def checked(cli, isolated_home):
    a, b = make_runs(cli, isolated_home)
    code, out, err = cli("human-eval", "create", "--a", a, "--b", b, "--n", "3", "--gold", "2", "--attention", "1",
                         "--id", "q", "--seed", "2")
    assert code == 0 and "3 check items" in out, err
    return open_study("q")


def test_check_items_are_mixed_in_and_never_counted(checked):
    kinds = [i.kind for i in checked.shown]
    assert sorted(kinds) == ["attention", "gold", "gold", "study", "study", "study"]
    assert [i.item_no for i in checked.shown] == [1, 2, 3, 4, 5, 6]
    gold = [i for i in checked.checks if i.kind == "gold"]
    for item in gold:
        side = item.expected["ship"]
        real, decoy = (item.reasoning_left, item.reasoning_right) if side == "A" else \
            (item.reasoning_right, item.reasoning_left)
        assert real != decoy and set(item.expected) == {"specificity", "ship"}
        if item.run_left == checked.runs[1]:  # the replay's reasoning names its sample: the real side is this one
            assert f"about sample {item.sample_id}" in real and f"about sample {item.sample_id}" not in decoy
    attention = next(i for i in checked.checks if i.kind == "attention")
    assert f"answer {attention.expected['ship']} to every question" in attention.reasoning_left
    assert set(attention.expected) == set(QUESTIONS)
    # the same seed draws the same study items as a study without checks
    plain = create_study(checked.runs, 3, seed=2, study_id="plain")
    assert [(i.sample_id, i.run_left) for i in plain.items] == [(i.sample_id, i.run_left) for i in checked.items]


def test_rater_quality_and_flagged_raters_left_out(checked):
    def answer(rater, check_answer, study_choice):
        for item in checked.shown:
            if item.kind == "study":
                choices = dict.fromkeys(QUESTIONS, study_choice)
            else:
                choices = {q: check_answer(item, q) for q in QUESTIONS}
            answers.save_item_answers(checked, rater, item.item_no, choices)

    # good: every expected answer; "B" on study items. bad: "tie" on every check, "A" on study items.
    answer("good", lambda item, q: item.expected.get(q, "tie"), "B")
    answer("bad", lambda item, q: "tie", "A")
    res = stats.results(checked)
    quality = {q["rater"]: q for q in res["rater_quality"]}
    # 2 gold items x 2 scored questions = 4 gold answers; 1 attention item
    assert (quality["good"]["gold_right"], quality["good"]["gold_answers"]) == (4, 4)
    assert (quality["good"]["attention_passed"], quality["good"]["attention_items"]) == (1, 1)
    assert quality["good"]["flags"] == [] and quality["good"]["items"] == 3
    assert (quality["bad"]["gold_right"], quality["bad"]["gold_answers"]) == (0, 4)
    assert quality["bad"]["flags"] == ["failed 1 of 1 attention checks", "gold accuracy 0% < 75%"]
    assert res["excluded_raters"] == ["bad"] and res["raters"] == {"good": 3}
    ship = next(w for w in res["win_rates"] if w["question"] == "ship")
    wins_b = sum(i.run_right == checked.runs[1] for i in checked.items)  # good always picks B (right)
    assert (ship["candidate_wins"], ship["baseline_wins"], ship["items"]) == (wins_b, 3 - wins_b, 3)
    kept = stats.results(checked, keep_flagged=True)
    assert kept["excluded_raters"] == [] and kept["raters"] == {"bad": 3, "good": 3}
    text = stats.render_text(res)
    assert "bad: 3 items, gold 0/4" in text and "FLAGGED: failed 1 of 1 attention checks" in text


def test_straight_lining_is_flagged(cli, isolated_home):
    a, b = make_runs(cli, isolated_home)
    study = create_study([a, b], 6, seed=0, study_id="s")
    for item in study.items:
        answers.save_item_answers(study, "same", item.item_no, dict.fromkeys(QUESTIONS, "A"))
    (q,) = stats.results(study, keep_flagged=True)["rater_quality"]
    assert q["straight_lining"] and q["flags"] == ["same choice (A) on every question of 6 items"]


# -- exports --------------------------------------------------------------------------------------


def test_csv_cells_that_start_like_a_formula_are_quoted(cli, isolated_home):
    a, b = make_runs(cli, isolated_home)
    study = create_study([a, b], 4, seed=1, study_id="t")
    evil = ["=HYPERLINK(\"http://x\",\"y\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "fine = ok"]
    for n, comment in enumerate(evil[:4], 1):
        answers.save_item_answers(study, f"r{n}", n, dict.fromkeys(QUESTIONS, "A"), comment)
    rows = stats.export_rows(study)
    for row, comment in zip(rows[::4], evil[:4]):
        row["comment"] = comment
    rows[4]["rater_name"] = evil[4]
    rows[8]["rater_name"] = evil[5]
    rows[12]["rater_name"] = evil[6]
    parsed = list(csv.DictReader(io.StringIO(stats.to_csv(rows))))
    assert [r["comment"] for r in parsed[::4]] == ["'" + c for c in evil[:4]]
    assert parsed[4]["rater_name"] == "'\tx" and parsed[8]["rater_name"] == "'\rx"
    assert parsed[12]["rater_name"] == "fine = ok"  # only a leading formula character counts
    assert parsed[0]["item"] == "1"  # numbers stay numbers


def test_export_pairs_are_what_harness_train_reads(cli, isolated_home):
    from harness.store.runs import RunStore
    from harness.train.pairs import read_pairs
    from harness_plugins.trl_trainers import pair_rows

    a, b = make_runs(cli, isolated_home)
    study = create_study([a, b], 4, seed=1, study_id="t")
    items = study.items
    # item 1: two raters pick A; item 2: ann B, bob tie (B leads by 1); item 3: A vs B (tie); item 4: nobody
    for rater, picks in (("ann", "ABA"), ("bob", "AtB")):
        for item, pick in zip(items, picks):
            answers.save_item_answers(study, rater, item.item_no, {**dict.fromkeys(QUESTIONS, "A"),
                                                                    "ship": "tie" if pick == "t" else pick})
    out = isolated_home / "human.jsonl"
    code, text, err = cli("human-eval", "export-pairs", "t", "-o", out)
    assert code == 0, err
    assert "Wrote 2 pairs" in text and "tie 1" in text and "not rated 1" in text
    pairs = read_pairs(out, require_weight=True)
    records = {run: {r.id: r for r in RunStore().open_run(run).read_samples()} for run in study.runs}
    expected = [(items[0], items[0].run_left, items[0].run_right), (items[1], items[1].run_right, items[1].run_left)]
    for pair, (item, winner, loser) in zip(pairs, expected):
        assert pair["chosen"] == records[winner][item.sample_id].first.text
        assert pair["rejected"] == records[loser][item.sample_id].first.text
        assert pair["prompt"] == (records[winner][item.sample_id].rendered_prompt
                                  or records[winner][item.sample_id].prompt)
        assert (pair["chosen_run"], pair["item"], pair["strategy"]) == (winner, item.item_no, "human-preference")
    assert [(p["votes_chosen"], p["votes_rejected"], p["votes_tie"]) for p in pairs] == [(2, 0, 0), (1, 0, 1)]
    rows, dropped = pair_rows(out, weighted=True)  # what `harness train --method hs-dpo` reads
    assert len(rows) == 2 and dropped == 0 and set(rows[0]) == {"prompt", "chosen", "rejected", "weight"}
    st = json.loads((isolated_home / "human.stats.json").read_text())
    assert st["pairs"] == 2 and st["skipped"] == {"tie": 1, "not rated": 1}
    code, text, err = cli("human-eval", "export-pairs", "t", "-o", isolated_home / "m.jsonl", "--min-margin", "2")
    assert code == 0 and "Wrote 1 pair to" in text and "majority below 2 votes 1" in text  # only item 1 (2-0)
    code, _, err = cli("human-eval", "export-pairs", "t", "-o", isolated_home / "x.jsonl", "--min-margin", "3")
    assert code == 1 and "no item has a decided majority" in err and not (isolated_home / "x.jsonl").exists()
    code, _, err = cli("human-eval", "export-pairs", "t", "-o", isolated_home / "x.jsonl", "--question", "nope")
    assert code == 1 and "--question must be one of" in err


def test_a_version_1_database_is_migrated_and_keeps_its_answers(tmp_path):
    from harness.human_eval.study import MIGRATIONS, connect

    path = tmp_path / "human_eval.db"
    con = sqlite3.connect(path)
    con.executescript(MIGRATIONS[0])
    con.execute("INSERT INTO studies VALUES ('old', 't', 0, NULL, '[\"X\", \"Y\"]', 'tok')")
    con.execute("INSERT INTO items VALUES ('old', 1, 's1', NULL, 'X', 'Y', 'p', NULL, NULL, 'rl', NULL, 'rr', NULL)")
    con.execute("INSERT INTO answers VALUES ('old', 1, 'ann', 'ship', 'B', 't')")
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()
    connect(path).close()
    study = open_study("old", tmp_path)
    assert [i.kind for i in study.shown] == ["study"] and study.checks == []
    (a,) = answers.read_answers(study)
    assert (a.rater, a.choice, a.winner, a.version) == ("ann", "B", "Y", 1)
    assert answers.save_item_answers(study, "ann", 1, dict.fromkeys(QUESTIONS, "A"), version=1) == 2
