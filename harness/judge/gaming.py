"""Can retraining game a judge?  Tie-or-win rates of attacked copies, and a k-candidate simulation (issue 29).

Per attack (:mod:`harness.judge.attacks`) and criterion, over the samples it
applies to:

* **tie-or-win** -- the attacked copy scores at least as well as the original
  (>=, or <= for a ``lower_is_better`` criterion), with a Wilson 95 % interval
  (:func:`harness.score.stats.wilson_interval`): a reward must score a cheaper
  copy strictly lower, so ties count against it;
* **would be chosen** -- the attacked copy beats the original by at least the
  ``reasoning-quality`` pair strategy's ``min_margin`` (read from
  :func:`harness.train.pairs.reasoning_quality`'s default): as a pair, the
  copy would be *chosen*;
* **mean change** -- mean of attacked minus original (lower-is-better criteria
  negated, so positive always means the attack gained).

A failed judgment of either copy leaves that sample out of the counts
(``failed``): a reward that fails yields no pair.

The **k-candidate simulation** feeds each trace and its attacked copies as the k
completions of one prompt through every registered pair strategy
(:data:`harness.train.pairs.STRATEGIES`, default options) and counts which
variant each picks as chosen and as rejected.  Every variant keeps the
original's verdict, so all count as correct: the question is which reasoning
wins among right verdicts (verdict-driven strategies such as ``hard-samples``
then make no pair, which the counts show).
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass, field

from harness.interfaces.judge import JudgeInput
from harness.judge.attacks import ATTACKS, Pool, attack, judge_reads, sees
from harness.judge.validation import Rate, _judge_all, composite_score, usable_items

ORIGINAL = "original"


def pairs_margin() -> float:
    """The margin at which ``reasoning-quality`` makes a pair: its ``min_margin`` default."""
    from harness.train.pairs import reasoning_quality

    return float(inspect.signature(reasoning_quality).parameters["min_margin"].default)


@dataclass
class AttackResult:
    name: str
    description: str
    sees: str  # the weakest judge kind that can see the attack
    seen: bool  # whether this judge is of a kind that can see it
    n: int  # samples it applied to (failed judgments included)
    failed: int
    tie_or_win: dict  # criterion (and "composite") -> Rate
    chosen: dict  # criterion (and "composite") -> Rate: gain >= margin
    mean_change: dict  # criterion (and "composite") -> mean gain, or None


@dataclass
class StrategyPick:
    """One pair strategy's picks over the simulated prompts: variant -> how many prompts."""

    strategy: str
    prompts: int
    pairs: int
    chosen: dict
    rejected: dict
    skipped: dict
    error: str | None = None

    def share(self, variant: str, side: str = "chosen") -> float | None:
        counts = self.chosen if side == "chosen" else self.rejected
        return counts.get(variant, 0) / self.prompts if self.prompts else None


@dataclass
class GamingReport:
    judge: str
    identity: str
    reads: str
    composite: str | None
    source: str
    n_samples: int
    margin: float
    results: list = field(default_factory=list)  # AttackResult
    simulation: list = field(default_factory=list)  # StrategyPick

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GamingReport:
        def rates(d):
            return {k: Rate(**v) for k, v in d.items()}

        results = [AttackResult(**{**r, "tie_or_win": rates(r["tie_or_win"]), "chosen": rates(r["chosen"])})
                   for r in data["results"]]
        return cls(**{**data, "results": results, "simulation": [StrategyPick(**s) for s in data["simulation"]]})

    def result(self, name: str) -> AttackResult | None:
        return next((r for r in self.results if r.name == name), None)


def gain(original: float, attacked: float, lower_is_better: bool) -> float:
    """How much the attack gained: attacked minus original, negated for a lower-is-better criterion."""
    return original - attacked if lower_is_better else attacked - original


def gaming_rates(originals: list, attacked: list, criteria, lower_is_better=frozenset(),
                 composite: str | None = None, margin: float | None = None) -> tuple[dict, dict, dict, int]:
    """(tie-or-win Rates, would-be-chosen Rates, mean gains, failed count), each keyed by criterion and
    ``"composite"``, over paired Judgments of originals and their attacked copies."""
    margin = pairs_margin() if margin is None else margin
    names = [c for c in criteria if c != composite] + ["composite"]
    gains: dict[str, list] = {name: [] for name in names}
    failed = 0
    for orig, att in zip(originals, attacked):
        if orig.error or att.error:
            failed += 1
            continue
        for name in names:
            if name == "composite":
                a, b = composite_score(orig.scores, composite), composite_score(att.scores, composite)
            else:
                a, b = orig.scores.get(name), att.scores.get(name)
            if a is not None and b is not None:
                gains[name].append(gain(float(a), float(b), name in lower_is_better))
    tie = {n: Rate.of(sum(g >= 0 for g in gains[n]), len(gains[n])) for n in names}
    # the same float comparison as reasoning_quality's (best.reward - worst.reward >= min_margin)
    chosen = {n: Rate.of(sum(g >= margin for g in gains[n]), len(gains[n])) for n in names}
    mean = {n: (sum(gains[n]) / len(gains[n]) if gains[n] else None) for n in names}
    return tie, chosen, mean, failed


def simulate_k_candidates(variants: list[dict], composite: str | None = None, strategies=None) -> list[StrategyPick]:
    """Each entry of ``variants`` is one prompt: {variant name: (JudgeInput, Judgment)}, the original under
    ``ORIGINAL``.  They become one PromptGroup's candidates (in that order) and go through every pair
    strategy; per strategy, how many prompts picked each variant as chosen and as rejected."""
    from harness.errors import HarnessError
    from harness.train.pairs import STRATEGIES, Candidate, PromptGroup, build_pairs, composite_reward

    groups, names = [], []
    for k, prompt in enumerate(variants):
        cands, order = [], []
        for index, (name, (item, judgment)) in enumerate(prompt.items()):
            reward = None if judgment.error else composite_reward(judgment.scores, composite)
            cands.append(Candidate(index, item.completion, item.verdict, True, reward, dict(judgment.scores)))
            order.append(name)
        first = next(iter(prompt.values()))[0]
        groups.append(PromptGroup(f"{first.sample_id}#{k}", first.content, first.gold, cands))
        names.append(order)
    out = []
    for strategy in strategies or list(STRATEGIES):
        try:
            pairs, stats = build_pairs(groups, strategy)
        except HarnessError as exc:
            out.append(StrategyPick(strategy, len(groups), 0, {}, {}, {}, str(exc)))
            continue
        by_id = {g.sample_id: n for n, g in enumerate(groups)}
        chosen: dict[str, int] = {}
        rejected: dict[str, int] = {}
        for p in pairs:
            order = names[by_id[p["sample_id"]]]
            chosen[order[p["chosen_index"]]] = chosen.get(order[p["chosen_index"]], 0) + 1
            rejected[order[p["rejected_index"]]] = rejected.get(order[p["rejected_index"]], 0) + 1
        out.append(StrategyPick(strategy, len(groups), len(pairs), chosen, rejected, dict(stats.get("skipped", {}))))
    return out


def check_gaming(judge, identity: str, items: list[JudgeInput], source: str, attacks=ATTACKS,
                 batch_size: int = 64, originals: list | None = None) -> GamingReport:
    """Judge every trace and each attacked copy; rates per attack and the k-candidate simulation.
    ``originals``: the usable items' judgments when already computed (``validate`` judged them)."""
    from harness.errors import HarnessError

    usable = usable_items(items)
    if not usable:
        raise HarnessError(f"{source}: no sample has both reasoning and a parsed verdict to attack")
    if originals is None:
        originals = _judge_all(judge, usable, batch_size)
    reads = judge_reads(judge)
    margin = pairs_margin()
    report = GamingReport(judge.name, identity, reads, judge.composite, source, len(usable), margin)
    criteria = list(judge.criteria) or sorted({k for j in originals for k in j.scores})
    pool = Pool(usable)
    variants = [{ORIGINAL: (item, originals[n])} for n, item in enumerate(usable)]
    for a in attacks:
        pairs = [(n, attack(item, a, pool)) for n, item in enumerate(usable)]
        pairs = [(n, x) for n, x in pairs if x is not None]
        judged = _judge_all(judge, [x for _, x in pairs], batch_size)
        tie, chosen, mean, failed = gaming_rates([originals[n] for n, _ in pairs], judged, criteria,
                                                 frozenset(judge.lower_is_better), judge.composite, margin)
        report.results.append(AttackResult(a.name, a.description, a.sees, sees(reads, a), len(pairs), failed,
                                           tie, chosen, mean))
        for (n, x), j in zip(pairs, judged):
            variants[n][a.name] = (x, j)
    report.simulation = simulate_k_candidates(variants, judge.composite)
    return report


# -- text -----------------------------------------------------------------------------------------


def _cell(rate) -> str:
    return "-" if rate is None or rate.rate is None else f"{rate.rate:.2f} [{rate.ci_low:.2f},{rate.ci_high:.2f}]"


def render_gaming(report: GamingReport) -> str:
    """The per-attack table (composite, then tie-or-win per criterion) and the simulation's picks."""
    from harness.render.text import table

    criteria = []
    for r in report.results:
        criteria += [c for c in r.tie_or_win if c != "composite" and c not in criteria]
    rows = []
    for r in report.results:
        change = r.mean_change.get("composite")
        row = {"attack": r.name, "n": r.n, "sees": r.sees + ("" if r.seen else " (blind)"),
               "tie-or-win": _cell(r.tie_or_win.get("composite")), "chosen": _cell(r.chosen.get("composite")),
               "mean change": "-" if change is None else f"{change:+.3f}"}
        row.update({c: _cell(r.tie_or_win.get(c)) for c in criteria})
        rows.append(row)
    head = (f"gaming: {report.identity} ({report.reads} judge) on {report.source}: {report.n_samples} traces\n"
            "tie-or-win = attacked copy scores >= the original (Wilson 95%); chosen = it beats the original by "
            f">= {report.margin:g} (reasoning-quality's min_margin); per-criterion columns are tie-or-win; "
            "(blind) = an attack this kind of judge cannot see")
    out = [head, table(rows, ["attack", "n", "sees", "tie-or-win", "chosen", "mean change"] + criteria)]
    variants = [ORIGINAL] + [r.name for r in report.results]
    sim = []
    for s in report.simulation:
        if s.error:
            sim.append({"strategy": s.strategy, "pairs": "-", "chosen (top)": s.error, "rejected (top)": ""})
            continue
        top = {side: ", ".join(f"{v} {s.share(v, side):.2f}" for v in sorted(
            variants, key=lambda v: -(s.share(v, side) or 0))[:3] if s.share(v, side)) or "none"
            for side in ("chosen", "rejected")}
        sim.append({"strategy": s.strategy, "pairs": f"{s.pairs}/{s.prompts}",
                    "original chosen": f"{s.share(ORIGINAL) or 0:.2f}",
                    "original rejected": f"{s.share(ORIGINAL, 'rejected') or 0:.2f}",
                    "chosen (top)": top["chosen"], "rejected (top)": top["rejected"]})
    out += ["k-candidate simulation: each trace and its attacked copies as the k completions of one prompt "
            "(shares of prompts)", table(sim, ["strategy", "pairs", "original chosen", "original rejected",
                                                  "chosen (top)", "rejected (top)"])]
    return "\n".join(out)
