"""Study results: win rates, sign tests, rater agreement, Bradley-Terry ranks, judge agreement, exports.

Criteria are judged by the rule of :mod:`harness.human_eval.criteria` (an
interval, not a point estimate); raters flagged by the check items
(:mod:`harness.human_eval.checks`) are left out of every figure unless
``keep_flagged``.  Agreement is Krippendorff's alpha (nominal; the
``krippendorff`` package, which takes raters who skipped items) beside
Cohen's/Fleiss' kappa over the items every rater answered.

Units of analysis are items: each item's verdict per question is the raters'
majority (votes for one run minus votes for the other; equal is a tie), so
several raters on one item never count as independent evidence.  Win rates
exclude ties (the sign-test convention) and are also given with ties as half.
Everything statistical comes from reference libraries: Wilson intervals
(statsmodels), the exact sign test (scipy.stats.binomtest), Cohen's kappa
(scikit-learn), Fleiss' kappa (statsmodels) and the Bradley-Terry maximum
likelihood fit (choix).
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from collections import Counter, defaultdict

from harness.human_eval import criteria as rule
from harness.human_eval.answers import Answer, read_answers, read_comments
from harness.human_eval.study import QUESTIONS, Study
from harness.score.stats import wilson_interval

# The seed's success criteria: human preference for the DPO model's reasoning, judged blind.
CRITERIA = (("toy DPO run: humans prefer B's reasoning", 0.60), ("full DPO run: humans prefer B's reasoning", 0.65))
CRITERION_QUESTION = "ship"


def sign_test(wins: int, losses: int) -> float | None:
    from scipy.stats import binomtest

    if wins + losses == 0:
        return None
    return float(binomtest(wins, wins + losses, 0.5, alternative="two-sided").pvalue)


def majorities(study: Study, answers: list[Answer]) -> dict[tuple[int, str], str | None]:
    """``{(item_no, question): winning run id or None for a tie}`` over the raters who answered."""
    items = {item.item_no: item for item in study.items}
    margin: dict[tuple[int, str], int] = defaultdict(int)
    for a in answers:
        if a.item_no not in items:  # a check item: it measures the rater, not the runs
            continue
        item = items[a.item_no]
        margin[(a.item_no, a.question)] += {item.run_left: 1, item.run_right: -1}.get(a.winner, 0)
    out = {}
    for (item_no, question), m in margin.items():
        item = items[item_no]
        out[(item_no, question)] = item.run_left if m > 0 else item.run_right if m < 0 else None
    return out


def pair_win_rates(study: Study, majority: dict) -> list[dict]:
    """Per pair of runs and question: the candidate's (second run's) wins, losses, ties and statistics."""
    rows = []
    for baseline, candidate in study.pairs:
        pair_items = [i.item_no for i in study.items if {i.run_left, i.run_right} == {baseline, candidate}]
        for question in QUESTIONS:
            outcomes = [majority[(n, question)] for n in pair_items if (n, question) in majority]
            wins, losses = outcomes.count(candidate), outcomes.count(baseline)
            ties = len(outcomes) - wins - losses
            decisive = wins + losses
            low, high = wilson_interval(wins, decisive)
            rows.append({
                "baseline": baseline, "candidate": candidate, "question": question, "items": len(outcomes),
                "candidate_wins": wins, "baseline_wins": losses, "ties": ties,
                "win_rate": wins / decisive if decisive else None, "ci_low": low, "ci_high": high,
                "win_rate_ties_half": (wins + ties / 2) / len(outcomes) if outcomes else None,
                "sign_test_p": sign_test(wins, losses),
            })
    return rows


def kappa(labels: list[list[str]]) -> float | None:
    """Chance-corrected agreement of raters (columns) over items (rows): Cohen's for two, Fleiss' for more.

    None when undefined (fewer than two items, or every rater always gave one same label).
    """
    if len(labels) < 2:
        return None
    n_raters = len(labels[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if n_raters == 2:
            from sklearn.metrics import cohen_kappa_score

            value = cohen_kappa_score([row[0] for row in labels], [row[1] for row in labels])
        else:
            from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

            table, _ = aggregate_raters(labels)
            value = fleiss_kappa(table, method="fleiss")
    value = float(value)
    return None if math.isnan(value) else value


def krippendorff_alpha(table: list[list[str | None]]) -> float | None:
    """Krippendorff's alpha, nominal, of items (rows) by raters (columns), None where a rater did not answer.

    Computed by the ``krippendorff`` package; None when undefined (fewer than
    two pairable values, or a single value throughout).
    """
    import krippendorff
    import numpy as np

    labels = sorted({v for row in table for v in row if v is not None}, key=str)
    codes = {c: i for i, c in enumerate(labels)}
    data = np.array([[np.nan if v is None else codes[v] for v in row] for row in table], dtype=float).T
    if data.size == 0 or (~np.isnan(data)).sum(axis=0).max(initial=0) < 2:
        return None
    if len(set(data[~np.isnan(data)].tolist())) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
    return None if math.isnan(value) else value


def agreement(study: Study, answers: list[Answer]) -> list[dict]:
    """Per question, κ over the items every rater answered, with ties and without (items where nobody said tie),
    and Krippendorff's α over every study item two or more raters answered."""
    raters = sorted({a.rater for a in answers})
    if len(raters) < 2:
        return []
    by = {(a.item_no, a.rater, a.question): a.choice for a in answers}
    rows = []
    for question in QUESTIONS:
        table, partial = [], []
        for item in study.items:
            row = [by.get((item.item_no, r, question)) for r in raters]
            if None not in row:
                table.append(row)
            if sum(v is not None for v in row) >= 2:
                partial.append(row)
        no_ties = [row for row in table if "tie" not in row]
        rows.append({"question": question, "raters": raters, "alpha": krippendorff_alpha(partial),
                     "alpha_items": len(partial),
                     "statistic": "Cohen's kappa" if len(raters) == 2 else "Fleiss' kappa",
                     "items": len(table), "kappa": kappa(table),
                     "items_without_ties": len(no_ties), "kappa_without_ties": kappa(no_ties),
                     "raw_agreement": (sum(len(set(r)) == 1 for r in table) / len(table)) if table else None})
    return rows


def bradley_terry(study: Study, majority: dict, n_boot: int = 500, seed: int = 0) -> list[dict]:
    """Bradley-Terry log-strengths per run and question with percentile bootstrap intervals (resampling items).

    A tie counts as half a win each way: decisive outcomes enter twice and a
    tie once in each direction, which has the same maximum-likelihood point as
    weights 1 and 1/2 (choix takes unweighted comparisons).
    """
    import choix
    import numpy as np

    if len(study.runs) < 3:
        return []
    index = {run: i for i, run in enumerate(study.runs)}
    rng = np.random.default_rng(seed)
    rows = []
    for question in QUESTIONS:
        outcomes = []
        for item in study.items:
            if (item.item_no, question) in majority:
                winner = majority[(item.item_no, question)]
                a, b = index[item.run_left], index[item.run_right]
                if winner is None:
                    outcomes.append([(a, b), (b, a)])
                else:
                    w, loser = (a, b) if winner == item.run_left else (b, a)
                    outcomes.append([(w, loser), (w, loser)])
        if not outcomes:
            continue

        def fit(chosen, outcomes=outcomes):
            data = [c for k in chosen for c in outcomes[k]]
            return choix.opt_pairwise(len(study.runs), data, alpha=0.01)

        point = fit(range(len(outcomes)))
        boots = np.array([fit(rng.integers(0, len(outcomes), len(outcomes))) for _ in range(n_boot)])
        low, high = np.percentile(boots, [2.5, 97.5], axis=0)
        for run, i in index.items():
            rows.append({"question": question, "run": run, "score": float(point[i]),
                         "ci_low": float(low[i]), "ci_high": float(high[i]), "items": len(outcomes)})
    return rows


def criteria_checks(win_rates: list[dict]) -> list[dict]:
    """The seed's 60 % / 65 % human-preference criteria on the 'ship' question, per pair (B = candidate),
    judged by :data:`harness.human_eval.criteria.RULE`."""
    out = []
    for row in win_rates:
        if row["question"] != CRITERION_QUESTION:
            continue
        for name, threshold in CRITERIA:
            v = rule.judge(row["candidate_wins"], row["baseline_wins"], row["ties"], threshold)
            out.append({"criterion": name, "threshold": threshold, "baseline": row["baseline"],
                        "candidate": row["candidate"], "win_rate": v.share, "ci_low": v.ci_low,
                        "ci_high": v.ci_high, "p_one_sided": v.p_one_sided, "decided": v.decided,
                        "items": v.items, "status": v.status, "items_needed": v.items_needed, "reason": v.reason})
    return out


def judge_agreement(majority: dict, judge_picks: dict[int, str | None], question: str = CRITERION_QUESTION) -> dict:
    """How often a judge's pick equals the raters' majority, over items where the majority is not a tie."""
    compared = [(judge_picks[n], w) for (n, q), w in majority.items()
                if q == question and w is not None and n in judge_picks]
    agree = sum(j == w for j, w in compared)
    low, high = wilson_interval(agree, len(compared))
    return {"question": question, "items": len(compared), "agree": agree,
            "agreement": agree / len(compared) if compared else None, "ci_low": low, "ci_high": high}


def pairwise_agreement(majority: dict, pp, question: str = CRITERION_QUESTION) -> dict:
    """A stored pairwise judging (:class:`harness.human_eval.judges.PairwisePicks`) against the raters' majority.

    Agreement is over items with a non-tie majority that the judge judged (its
    tie counts as a disagreement, as for other judges); the items it did not
    judge, its ties and its position flips are counted beside it.
    """
    decided = {n: w for (n, q), w in majority.items() if q == question and w is not None}
    compared = [(pp.picks[n], w) for n, w in decided.items() if n in pp.picks]
    agree = sum(j == w for j, w in compared)
    low, high = wilson_interval(agree, len(compared))
    judged = len(pp.picks)
    flips = len(pp.flipped)
    reasons = Counter("judge error" if why.startswith("judge error") else "not in the pairwise judging"
                      for why in pp.not_judged.values())
    return {"question": question, "judged_as": pp.judged_as,
            "items": len(pp.picks) + len(pp.not_judged), "judged": judged, "not_judged": len(pp.not_judged),
            "not_judged_reasons": dict(sorted(reasons.items())),
            "rated_not_judged": sum(n in pp.not_judged for n in decided),
            "judge_ties": sum(p is None for p in pp.picks.values()),
            "flips": flips, "flip_rate": flips / judged if judged else None,
            "flip_rate_ci": list(wilson_interval(flips, judged)),
            "compared": len(compared), "agree": agree,
            "agreement": agree / len(compared) if compared else None, "ci_low": low, "ci_high": high}


def results(study: Study, judges: dict[str, dict[int, str | None]] | None = None, seed: int = 0,
            pairwise: list | None = None, keep_flagged: bool = False) -> dict:
    """Everything ``harness human-eval results`` prints, as one JSON-ready dict.

    ``judges``: per-sample picks by judge name; ``pairwise``: stored pairwise picks
    (:func:`harness.human_eval.judges.stored_pairwise_picks`), keyed in the result by their identity label.
    Raters flagged by the check items are left out of the figures unless ``keep_flagged``.
    """
    from harness.human_eval.checks import rater_quality
    from harness.human_eval.raters import rater_names

    every = read_answers(study)
    names = rater_names(study)
    quality = rater_quality(study, every, names)
    excluded = [] if keep_flagged else [q.rater for q in quality if q.flagged]
    study_items = {item.item_no for item in study.items}
    answers = [a for a in every if a.item_no in study_items and a.rater not in excluded]
    majority = majorities(study, answers)
    win_rates = pair_win_rates(study, majority)
    per_rater = Counter(a.rater for a in answers)
    return {
        "study": study.study_id, "runs": study.runs, "items": len(study.items), "checks": len(study.checks),
        "raters": {r: c // len(QUESTIONS) for r, c in sorted(per_rater.items())},
        "rater_names": {r: names.get(r, r) for r in sorted({a.rater for a in every})},
        "rater_quality": [q.to_dict() for q in quality],
        "excluded_raters": excluded,
        "win_rates": win_rates,
        "agreement": agreement(study, answers),
        "bradley_terry": bradley_terry(study, majority, seed=seed),
        "rule": rule.RULE,
        "criteria": criteria_checks(win_rates),
        "judges": {name: judge_agreement(majority, picks) for name, picks in (judges or {}).items()},
        "pairwise_judges": {pp.label: pairwise_agreement(majority, pp) for pp in (pairwise or [])},
    }


EXPORT_FIELDS = ["study", "item", "kind", "sample_id", "stratum", "run_shown_a", "run_shown_b", "rater",
                 "rater_name", "question", "choice", "winner", "version", "comment", "answered_at"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def export_rows(study: Study) -> list[dict]:
    """One row per stored answer (check items included, marked by ``kind``), sides unblinded, for CSV/JSONL."""
    from harness.human_eval.raters import rater_names

    items = {item.item_no: item for item in study.shown}
    comments = read_comments(study)
    names = rater_names(study)
    rows = []
    for a in read_answers(study):
        item = items[a.item_no]
        rows.append({"study": study.study_id, "item": a.item_no, "kind": item.kind, "sample_id": item.sample_id,
                     "stratum": item.stratum, "run_shown_a": item.run_left, "run_shown_b": item.run_right,
                     "rater": a.rater, "rater_name": names.get(a.rater, a.rater), "question": a.question,
                     "choice": a.choice, "winner": a.winner or "", "version": a.version,
                     "comment": comments.get((a.item_no, a.rater), ""), "answered_at": a.answered_at})
    return rows


def csv_cell(value):
    """A cell a spreadsheet shows as text: one that starts like a formula gets a leading quote (OWASP's
    CSV-injection advice: = + - @ tab and carriage return)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)
    return out.getvalue()


def to_jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def fmt(value, pct=False) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.1f}%" if pct else f"{value:.3f}"


def render_text(res: dict) -> str:
    label = {run: f"run {i}" for i, run in enumerate(res["runs"], 1)}
    names = res.get("rater_names", {})

    def who(r):
        return f"{names[r]} [{r}]" if names.get(r, r) != r else r

    checks = f" and {res['checks']} check items (gold/attention)" if res.get("checks") else ""
    lines = [f"Study {res['study']}: {res['items']} items{checks}"]
    lines += [f"  {label[run]} = {run}" for run in res["runs"]]
    lines += ["Raters (items answered): " + (", ".join(f"{who(r)} ({n})" for r, n in res["raters"].items())
                                             or "none yet")]
    quality = res.get("rater_quality", [])
    if res.get("checks") or any(q["flagged"] for q in quality):
        lines += ["", "Rater quality (check items; flagged raters are left out of every figure below"
                  + (", kept by --keep-flagged" if not res.get("excluded_raters") and any(q["flagged"] for q in quality)
                     else "") + "):"]
        for q in quality:
            gold = (f"gold {q['gold_right']}/{q['gold_answers']} ({fmt(q['gold_accuracy'], True)} "
                    f"[{fmt(q['gold_ci'][0], True)}, {fmt(q['gold_ci'][1], True)}])" if q["gold_answers"] else "gold -")
            lines.append(f"  {who(q['rater'])}: {q['items']} items, {gold}, attention {q['attention_passed']}/"
                         f"{q['attention_items']}" + (f"  FLAGGED: {'; '.join(q['flags'])}" if q["flags"] else "  ok"))
    lines += ["", "Candidate's win rate over item majorities (ties excluded, Wilson 95% CI; sign test):"]
    for w in res["win_rates"]:
        lines.append(f"  {label[w['candidate']]} vs {label[w['baseline']]}  {w['question']:<11} "
                     f"{w['candidate_wins']}-{w['baseline_wins']}-{w['ties']} (win-loss-tie)  "
                     f"{fmt(w['win_rate'], True)} [{fmt(w['ci_low'], True)}, {fmt(w['ci_high'], True)}]  "
                     f"ties as half {fmt(w['win_rate_ties_half'], True)}  p={fmt(w['sign_test_p'])}")
    if res["agreement"]:
        first = res["agreement"][0]
        lines += ["", f"Rater agreement (Krippendorff's alpha, nominal; {first['statistic']}; raters "
                      f"{', '.join(who(r) for r in first['raters'])}):"]
        for a in res["agreement"]:
            lines.append(f"  {a['question']:<11} Krippendorff's alpha {fmt(a['alpha'])} over {a['alpha_items']} "
                         f"items; kappa {fmt(a['kappa'])} over {a['items']} items; without ties "
                         f"{fmt(a['kappa_without_ties'])} over {a['items_without_ties']}; raw agreement "
                         f"{fmt(a['raw_agreement'], True)}")
    else:
        lines += ["", "Rater agreement: needs two or more raters on the same items."]
    if res["bradley_terry"]:
        lines += ["", "Bradley-Terry log-strength (bootstrap 95% CI over items):"]
        for b in res["bradley_terry"]:
            lines.append(f"  {b['question']:<11} {label[b['run']]}: {b['score']:+.3f} "
                         f"[{b['ci_low']:+.3f}, {b['ci_high']:+.3f}]")
    lines += ["", "Seed criteria ('which would you ship', ties excluded). Rule: " + res["rule"] + ":"]
    for c in res["criteria"]:
        lines.append(f"  [{c['status'].upper()}] {c['criterion']} >= {100 * c['threshold']:.0f}%: "
                     f"{label[c['candidate']]} vs {label[c['baseline']]} {fmt(c['win_rate'], True)} "
                     f"[{fmt(c['ci_low'], True)}, {fmt(c['ci_high'], True)}] over {c['decided']} decided items, "
                     f"one-sided p={fmt(c['p_one_sided'])}: {c['reason']}")
    for name, j in res["judges"].items():
        lines.append(f"Judge {name} agrees with the raters' majority ('ship') on {j['agree']}/{j['items']} items "
                     f"({fmt(j['agreement'], True)} [{fmt(j['ci_low'], True)}, {fmt(j['ci_high'], True)}])")
    for label, j in res["pairwise_judges"].items():
        lines.append(f"Pairwise {label} ({'; '.join(j['judged_as'])}) agrees with the raters' majority ('ship') on "
                     f"{j['agree']}/{j['compared']} items ({fmt(j['agreement'], True)} [{fmt(j['ci_low'], True)}, "
                     f"{fmt(j['ci_high'], True)}]); of the study's {j['items']} items it judged {j['judged']} "
                     f"(ties {j['judge_ties']}, position flips {j['flips']}, flip rate {fmt(j['flip_rate'], True)}) "
                     f"and did not judge {j['not_judged']}"
                     + (f" ({', '.join(f'{k} {v}' for k, v in j['not_judged_reasons'].items())}; "
                        f"{j['rated_not_judged']} of them with a rater majority)" if j["not_judged"] else ""))
    for note in res.get("notes", []):
        lines.append(f"Note: {note}")
    return "\n".join(lines)
