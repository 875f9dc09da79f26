"""Pairwise judging of two runs: A vs B per shared sample, asked in both orders (issue 12).

For each sample both runs recorded, the first completion of A and of B are
shown to the judge twice: A first, then B first.  A judge with a pairwise mode
(``prefer_batch``, e.g. ``llm-judge``) answers which shown position is better;
any other judge prefers by its composite score (mean of its scores when it
declares none), the higher one winning when the difference exceeds ``margin``,
else a tie; a score judge cannot see the order, so its flip rate is 0 by
construction.

A sample's outcome is the mean of its two answers (A = 1, tie = 1/2, B = 0):
above 1/2 A wins, below B wins, else a tie (a flip between A and B is a tie).
Reported: the position-flip rate (samples whose two answers differ), ties, and
A's win rate with a Wilson 95 % interval, ties excluded and ties counted as
half; samples not judged (a judge error, in one run only, no completion) are
counted, never dropped.  Results are stored under the pair's identity by
:mod:`harness.store.pairwise`.
"""

from __future__ import annotations

from harness.errors import HarnessError
from harness.interfaces.judge import JudgeInput, Preference
from harness.records import JudgeIdentity
from harness.score.stats import wilson_interval
from harness.store import pairwise as store
from harness.store.pairwise import PairIdentity, PairRecord, PairSummary

POINTS = {"A": 1.0, "tie": 0.5, "B": 0.0}


def wilson(count: float, n: int) -> list:
    """Wilson 95 % interval as a JSON list."""
    return list(wilson_interval(count, n))


def outcome(record: PairRecord) -> str:
    share = (POINTS[record.a_first] + POINTS[record.b_first]) / 2
    return "A" if share > 0.5 else "B" if share < 0.5 else "tie"


def pair_stats(wins_a: int, wins_b: int, ties: int, flips: int) -> dict:
    """Flip rate, tie rate and A's win rate (ties excluded / as half) with Wilson intervals, from counts."""
    n = wins_a + wins_b + ties
    decided = wins_a + wins_b
    half = wins_a + ties / 2
    rate = lambda c, d: c / d if d else None  # noqa: E731
    return {
        "n_judged": n,
        "flip_rate": rate(flips, n), "flip_rate_ci": wilson(flips, n),
        "tie_rate": rate(ties, n),
        "win_rate_a_ties_excluded": rate(wins_a, decided), "win_rate_a_ties_excluded_ci": wilson(wins_a, decided),
        "win_rate_a_ties_half": rate(half, n), "win_rate_a_ties_half_ci": wilson(half, n),
    }


def oriented(summary: PairSummary, run_a: str) -> dict:
    """The summary's figures from the point of view of ``run_a`` as A (a pair judged as B vs A is turned round)."""
    c, u = summary.counts, summary.unpaired
    same = summary.identity["run_a"] == run_a
    wins_a, wins_b = (c["wins_a"], c["wins_b"]) if same else (c["wins_b"], c["wins_a"])
    a_only, b_only = (u["a_only"], u["b_only"]) if same else (u["b_only"], u["a_only"])
    run_b = summary.identity["run_b"] if same else summary.identity["run_a"]
    return {"identity": summary.identity, "label": summary.label, "run_a": run_a, "run_b": run_b,
            "n_shared": summary.n_shared, "n_failed": summary.n_failed,
            "n_a_only": a_only, "n_b_only": b_only, "n_no_completion": u["no_completion"],
            "wins_a": wins_a, "wins_b": wins_b, "ties": c["ties"], "flips": c["flips"],
            **pair_stats(wins_a, wins_b, c["ties"], c["flips"])}


def stored_for(runs_root, run_a: str, run_b: str) -> list[dict]:
    """Every stored pairwise result of these two runs, oriented with ``run_a`` as A (for `harness compare`)."""
    return [oriented(s, run_a) for s in store.summaries_for(runs_root, run_a, run_b)]


def render_summary(r: dict) -> str:
    """An oriented pairwise summary as text (`harness judge --pairwise` and `harness compare`)."""
    def pct(value, ci=None):
        if value is None:
            return "n/a"
        return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci and ci[0] is not None else "")

    return "\n".join([
        f"pairwise {r['label']}: A {r['run_a']} vs B {r['run_b']}",
        (f"  {r['n_shared']} shared samples, each judged in both orders; {r['n_failed']} failed (judge error); "
         f"not judged: {r['n_a_only']} in A only, {r['n_b_only']} in B only, {r['n_no_completion']} without a "
         "completion in one run"),
        f"  A wins {r['wins_a']}, B wins {r['wins_b']}, ties {r['ties']} (tie rate {pct(r['tie_rate'])})",
        f"  position-flip rate {pct(r['flip_rate'], r['flip_rate_ci'])}",
        f"  A's win rate, ties excluded {pct(r['win_rate_a_ties_excluded'], r['win_rate_a_ties_excluded_ci'])}; "
        f"ties as half {pct(r['win_rate_a_ties_half'], r['win_rate_a_ties_half_ci'])} (Wilson 95%)",
    ])


# -- asking -----------------------------------------------------------------------------


def composite_of(judge, scores: dict) -> float:
    name = getattr(judge, "composite", None)
    if name is None:
        values = [float(v) for v in scores.values()]
        return sum(values) / len(values)
    value = float(scores[name])
    return -value if name in getattr(judge, "lower_is_better", ()) else value


def score_preferences(judge, pairs: list[tuple], margin: float) -> list[Preference]:
    """Preferences of a score judge: each text scored once, the higher composite wins beyond ``margin``."""
    items, index = [], {}
    for pair in pairs:
        for item in pair:
            if id(item) not in index:
                index[id(item)] = len(items)
                items.append(item)
    judged = judge.judge_batch(items)
    out = []
    for first, second in pairs:
        j1, j2 = judged[index[id(first)]], judged[index[id(second)]]
        if j1.error or j2.error:
            out.append(Preference(None, "", j1.error or j2.error))
            continue
        s1, s2 = composite_of(judge, j1.scores), composite_of(judge, j2.scores)
        winner = "first" if s1 - s2 > margin else "second" if s2 - s1 > margin else "tie"
        out.append(Preference(winner, f"composite {s1:.4f} vs {s2:.4f}"))
    return out


def shared_inputs(run_a, run_b) -> tuple[list[tuple[JudgeInput, JudgeInput]], dict]:
    """(A's first completion, B's first completion) for each sample both runs recorded, in A's order,
    and the counts of samples left out: ``a_only``, ``b_only`` and ``no_completion`` (shared, but a run
    recorded no completion for it)."""
    from harness.judge.runner import judge_inputs

    ta, tb = run_a.manifest.task, run_b.manifest.task
    if ta.name != tb.name:
        raise HarnessError(f"run A ({run_a.id}) is on task '{ta.name}' and run B ({run_b.id}) on task "
                           f"'{tb.name}': pairwise judging needs two runs of the same task")
    records_a = run_a.read_samples()
    by_id = {r.id: r for r in run_b.read_samples()}
    shared = [(r, by_id[r.id]) for r in records_a if r.id in by_id]
    pairs = [(judge_inputs(ra, first_only=True)[0], judge_inputs(rb, first_only=True)[0])
             for ra, rb in shared if ra.completions and rb.completions]
    if not pairs:
        raise HarnessError(f"runs A ({run_a.id}) and B ({run_b.id}) share no sample with a completion")
    unpaired = {"a_only": len(records_a) - len(shared), "b_only": len(by_id) - len(shared),
                "no_completion": len(shared) - len(pairs)}
    return pairs, unpaired


def judge_pair(run_a, run_b, spec, runs_root, *, margin: float = 0.0) -> dict:
    """Judge A vs B in both orders with a checked judge spec; store and return the oriented summary.

    ``spec`` is a :class:`harness.judge.runner.JudgeSpec`; ``margin`` applies to score judges only.
    """
    if margin < 0:
        raise HarnessError(f"--margin {margin}: expected a number >= 0")
    if margin and hasattr(spec.cls, "prefer_batch"):
        raise HarnessError(f"--margin applies to judges compared by score; '{spec.spec}' answers A, B or tie "
                           "itself (leave --margin out)")
    pairs, unpaired = shared_inputs(run_a, run_b)
    judge = spec.create()
    try:
        identity = JudgeIdentity(judge.name, judge.version, spec.args_hash)
        ordered = [p for a, b in pairs for p in ((a, b), (b, a))]
        if hasattr(judge, "prefer_batch"):
            settings = ""
            answers = judge.prefer_batch(ordered)
        else:
            settings = f"margin={margin:g}"
            answers = score_preferences(judge, ordered, margin)
    finally:
        close = getattr(judge, "close", None)
        if close:
            close()
    if len(answers) != len(ordered):
        raise HarnessError(f"judge {judge.name} returned {len(answers)} preferences for {len(ordered)} pairs")
    records = []
    for n, (a, _) in enumerate(pairs):
        p1, p2 = answers[2 * n], answers[2 * n + 1]
        bad = next((p for p in (p1, p2) if p.winner not in ("first", "second", "tie")), None)
        if bad is not None:
            records.append(PairRecord(a.sample_id, None, None, bad.explanation,
                                      bad.error or f"no winner first/second/tie: {bad.winner!r}"))
            continue
        a_first = {"first": "A", "second": "B", "tie": "tie"}[p1.winner]
        b_first = {"first": "B", "second": "A", "tie": "tie"}[p2.winner]  # B was shown first
        records.append(PairRecord(a.sample_id, a_first, b_first, f"A first: {p1.explanation}; "
                                                                   f"B first: {p2.explanation}"))
    judged = [r for r in records if r.error is None]
    outcomes = [outcome(r) for r in judged]
    counts = {"wins_a": outcomes.count("A"), "wins_b": outcomes.count("B"), "ties": outcomes.count("tie"),
              "flips": sum(r.flipped for r in judged)}
    pair = PairIdentity(identity, run_a.id, run_b.id, settings)
    summary = PairSummary(pair.to_dict(), len(records), len(records) - len(judged), counts, unpaired,
                          pair_stats(counts["wins_a"], counts["wins_b"], counts["ties"], counts["flips"]))
    path = store.write(runs_root, pair, records, summary)
    return {**oriented(summary, run_a.id), "path": str(path)}
