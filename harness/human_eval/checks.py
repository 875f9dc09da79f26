"""Gold and attention-check items, and each rater's quality measured on them.

Two kinds of check items are mixed, unmarked, among a study's items (the
practice of Potato, Argilla and MTurk-style studies: known-answer items that
measure the rater, not the systems):

* **gold** -- one side is a run's real reasoning for the shown content, the
  other side the same run's reasoning written for a *different* sample.  An
  attentive rater picks the matching side on "specificity" (which reasoning
  is specific to this content) and "ship"; the other questions are not scored.
* **attention** -- an instructed-response item (Meade & Craig 2012, "Identifying
  careless responses in survey data"): both sides say "answer A (or B) to every
  question"; every question is scored.

A rater is flagged when they fail any attention check, score below
:data:`GOLD_MIN` on gold answers, or give one same choice to every question of
every item (straight-lining, at least :data:`STRAIGHT_MIN` items).  Flagged
raters are left out of the study's figures unless asked otherwise.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from harness.errors import HarnessError

GOLD_QUESTIONS = ("specificity", "ship")
GOLD_MIN = 0.75  # share of gold answers right below which a rater is flagged
STRAIGHT_MIN = 5  # straight-lining counts only over at least this many answered items
ATTENTION_TEXT = ("Attention check: this is not a model's reasoning. To show you read it, answer {side} to every "
                  "question of this item.")


@dataclass
class CheckItem:
    """A check item before it is numbered and stored (same fields as a study item, plus the expected answers)."""

    kind: str
    sample_id: str
    run_left: str
    run_right: str
    prompt: str
    response: str | None
    category: str | None
    reasoning_left: str
    verdict_left: str | None
    reasoning_right: str
    verdict_right: str | None
    expected: dict[str, str]


def make_checks(runs: list[str], samples: list[dict], shared: list[str], drawn: set[str], gold: int,
                attention: int, rng: random.Random) -> list[CheckItem]:
    """``gold`` gold items and ``attention`` attention items from the runs' shared samples.

    ``samples[i]`` maps sample id to run ``runs[i]``'s record; samples not
    already drawn for the study are preferred so a check does not repeat an item.
    """
    from harness.human_eval.study import QUESTIONS

    if gold < 0 or attention < 0:
        raise HarnessError("--gold and --attention must be 0 or more")
    pool = [sid for sid in shared if sid not in drawn] or list(shared)
    out = []
    for g in range(gold):
        records = samples[g % len(runs)]
        sid = pool[g % len(pool)] if g < len(pool) else rng.choice(pool)
        others = [d for d in shared if d != sid and records[d].reasoning.strip() != records[sid].reasoning.strip()]
        if not others:
            raise HarnessError("--gold needs two or more shared samples whose reasonings differ (a gold item shows "
                               "one run's reasoning for this content against its reasoning for another content)")
        real, decoy = records[sid], records[rng.choice(others)]
        side = rng.choice("AB")
        left, right = (real, decoy) if side == "A" else (decoy, real)
        run = runs[g % len(runs)]
        out.append(CheckItem("gold", sid, run, run, real.prompt or "", real.response, real.category,
                             left.reasoning, left.verdict, right.reasoning, right.verdict,
                             {q: side for q in GOLD_QUESTIONS}))
    for a in range(attention):
        sid = rng.choice(pool)
        rec = samples[0][sid]
        side = rng.choice("AB")
        text = ATTENTION_TEXT.format(side=side)
        out.append(CheckItem("attention", sid, "attention-check", "attention-check", rec.prompt or "", rec.response,
                             rec.category, text, None, text, None, {q: side for q in QUESTIONS}))
    return out


@dataclass
class RaterQuality:
    """One rater's record on the check items and the reasons, if any, they are flagged."""

    rater: str
    name: str
    items: int  # study items answered
    gold_answers: int = 0
    gold_right: int = 0
    attention_items: int = 0
    attention_passed: int = 0
    straight_lining: bool = False
    flags: list[str] = field(default_factory=list)

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_right / self.gold_answers if self.gold_answers else None

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    def to_dict(self) -> dict:
        from harness.score.stats import wilson_interval

        low, high = wilson_interval(self.gold_right, self.gold_answers)
        return {"rater": self.rater, "name": self.name, "items": self.items, "gold_answers": self.gold_answers,
                "gold_right": self.gold_right, "gold_accuracy": self.gold_accuracy, "gold_ci": [low, high],
                "attention_items": self.attention_items, "attention_passed": self.attention_passed,
                "straight_lining": self.straight_lining, "flagged": self.flagged, "flags": self.flags}


def rater_quality(study, answers, names: dict[str, str] | None = None) -> list[RaterQuality]:
    """Every rater's quality on the study's check items, flags included (rule in the module docstring)."""
    checks = {item.item_no: item for item in study.checks}
    study_items = {item.item_no for item in study.items}
    by_rater: dict[str, dict[int, dict[str, str]]] = {}
    for a in answers:
        by_rater.setdefault(a.rater, {}).setdefault(a.item_no, {})[a.question] = a.choice
    out = []
    for rater, items in sorted(by_rater.items()):
        q = RaterQuality(rater, (names or {}).get(rater, rater), sum(n in study_items for n in items))
        for item_no, choices in items.items():
            check = checks.get(item_no)
            if check is None:
                continue
            right = sum(choices.get(question) == want for question, want in check.expected.items())
            if check.kind == "gold":
                q.gold_answers += len(check.expected)
                q.gold_right += right
            else:
                q.attention_items += 1
                q.attention_passed += right == len(check.expected)
        answered = [choices for n, choices in items.items() if n in study_items]
        values = {c for choices in answered for c in choices.values()}
        q.straight_lining = len(answered) >= STRAIGHT_MIN and len(values) == 1
        if q.attention_passed < q.attention_items:
            q.flags.append(f"failed {q.attention_items - q.attention_passed} of {q.attention_items} attention checks")
        if q.gold_answers and q.gold_accuracy < GOLD_MIN:
            q.flags.append(f"gold accuracy {100 * q.gold_accuracy:.0f}% < {100 * GOLD_MIN:.0f}%")
        if q.straight_lining:
            q.flags.append(f"same choice ({values.pop()}) on every question of {len(answered)} items")
        out.append(q)
    return out
