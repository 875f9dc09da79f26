"""Safeguards on preference pairs: judge consensus, copy filters and length limits (issue 22, part 1).

A pair teaches the policy "write more like chosen".  Whatever the picking judge
wrongly prefers is what retraining learns (issue 29: a copy of the content beat
real reasoning under the v4 reward), so before a pair is written:

* **consensus** (``--consensus``): every judge of ``--judge A,B`` must prefer
  chosen over rejected by at least its margin, not only the judge that picked;
* **copy filters**: chosen must not copy more of the content than rejected
  (by more than ``max_copy_excess``), nor more than ``max_copy_rate`` of its
  words, by :func:`harness.copy_rate` -- the one definition of copying;
* **length limits**: chosen at most ``max_length_ratio`` times rejected's
  words, and at most ``max_chosen_words`` words (longer reasoning is a known
  reward hack: Singhal et al., "A Long Way to Go: Investigating Length
  Correlations in RLHF", 2023).

Each pair records every judge's scores of chosen and rejected (by judge
identity), both copy rates and both lengths, so a reader of the pairs file can
see why it was kept; the stats count the dropped pairs by reason.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass

from harness.errors import HarnessError
from harness.judge.copying import copy_rate, words

#: Defaults, and why (measured on 1,539 real GuardReasoner-1B traces of six benchmarks, 300 a benchmark,
#: and the seed's 63 exp_18 pairs):
#: real reasoning copies a median 0.04 of its words from the content (90th percentile 0.12, max 0.32),
#: a copy of the content about 1.0: a chosen copying more than 0.4 is mostly a quote
MAX_COPY_RATE = 0.4
#: one quoted 4-word phrase in an 80-word analysis is 0.05; two real traces of a prompt differ by up to ~0.1
MAX_COPY_EXCESS = 0.1
#: the seed's hard-samples pairs have chosen/rejected length ratios 0.5-2.63: 3 keeps every one of them
MAX_LENGTH_RATIO = 3.0


@dataclass(frozen=True)
class Safeguards:
    """The filters a pair must pass; None turns a limit off."""

    consensus: bool = False
    #: per judge (one value for all, or one per judge in --judge order); empty: the strategy's min_margin
    margins: tuple = ()
    max_copy_rate: float | None = MAX_COPY_RATE
    max_copy_excess: float | None = MAX_COPY_EXCESS
    max_length_ratio: float | None = MAX_LENGTH_RATIO
    max_chosen_words: int | None = None

    def to_dict(self) -> dict:
        return {**asdict(self), "margins": list(self.margins)}


def parse_margins(text: str | None, option: str = "--consensus-margin") -> tuple:
    """'0.1' or '0.1,0.05' (one per judge) as a tuple of floats; errors name the option."""
    if text is None or str(text).strip() == "":
        return ()
    out = []
    for part in str(text).split(","):
        try:
            out.append(float(part))
        except ValueError:
            raise HarnessError(f"{option}: '{part.strip()}' is not a number (expected e.g. 0.1 or 0.1,0.05)") from None
    return tuple(out)


def check_number(option: str, value, low: float | None = 0.0, high: float | None = None, integer=False):
    """A finite number within [low, high], or a HarnessError naming the option."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or (integer and int(value) != value):
        raise HarnessError(f"{option} must be a finite {'whole ' if integer else ''}number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = " and ".join(filter(None, [low is not None and f">= {low:g}", high is not None and f"<= {high:g}"]))
        raise HarnessError(f"{option} must be {bounds}, got {value!r}")


def check_safeguards(guards: Safeguards, n_judges: int, where: str = "") -> None:
    """Every option in range before any sampling or judging; ``where`` prefixes a config file's location."""
    pre = f"{where}: " if where else ""
    check_number(pre + "max_copy_rate (--max-copy-rate)", guards.max_copy_rate, 0.0, 1.0)
    check_number(pre + "max_copy_excess (--max-copy-excess)", guards.max_copy_excess, 0.0, 1.0)
    check_number(pre + "max_length_ratio (--max-length-ratio)", guards.max_length_ratio, 0.0)
    if guards.max_length_ratio == 0:
        raise HarnessError(f"{pre}max_length_ratio (--max-length-ratio) must be above 0 (a ratio of 0 drops every pair)")
    check_number(pre + "max_chosen_words (--max-chosen-words)", guards.max_chosen_words, 1, integer=True)
    for m in guards.margins:
        check_number(pre + "consensus margin (--consensus-margin)", m, 0.0)
    if guards.consensus and n_judges < 1:
        raise HarnessError(f"{pre}--consensus needs the judges that must all prefer chosen: pass --judge A,B "
                           "(e.g. --judge heuristic,llm-judge:MODEL)")
    if guards.margins and not guards.consensus:
        raise HarnessError(f"{pre}--consensus-margin applies to --consensus only")
    if len(guards.margins) not in (0, 1, n_judges):
        raise HarnessError(f"{pre}--consensus-margin gives {len(guards.margins)} margins for {n_judges} judges: "
                           "give one for all or one per judge, in --judge order")


def judge_margins(guards: Safeguards, judges: list, default: float) -> dict:
    """Each judge identity's required margin."""
    if not guards.margins:
        return {j: default for j in judges}
    if len(guards.margins) == 1:
        return {j: guards.margins[0] for j in judges}
    return dict(zip(judges, guards.margins))


def judge_name(key: str) -> str:
    return key.partition("@")[0]


def guard_pairs(pairs: list[dict], groups: list, guards: Safeguards, judges: list,
                default_margin: float = 0.1) -> tuple[list[dict], dict]:
    """The pairs that pass ``guards`` (annotated with judges' scores, copy rates and lengths), and a summary.

    ``judges`` are the identity keys of the judges that scored the candidates
    (the picking judge first).  A dropped pair counts under the first check it
    fails: consensus, then copying, then length.
    """
    by_group = {g.sample_id: g for g in groups}
    margins = judge_margins(guards, judges, default_margin)
    kept, dropped = [], Counter()
    no_content = 0
    for pair in pairs:
        group = by_group[pair["sample_id"]]
        cands = {c.index: c for c in group.candidates}
        chosen, rejected = cands[pair["chosen_index"]], cands[pair["rejected_index"]]
        annotate(pair, group, chosen, rejected, judges)
        reason = None
        if guards.consensus:
            reason = consensus_failure(pair["judges"], margins)
        if reason is None and group.content is None:
            no_content += 1
        elif reason is None:
            reason = copy_failure(pair, guards)
        if reason is None:
            reason = length_failure(pair, guards)
        if reason:
            dropped[reason] += 1
        else:
            kept.append(pair)
    summary = {"options": guards.to_dict(), "judges": list(judges),
               "margins": margins if guards.consensus else {}, "before": len(pairs), "kept": len(kept),
               "dropped": dict(dropped), "n_dropped": sum(dropped.values())}
    if no_content:
        summary["copy_filter_not_applied"] = f"{no_content} pairs have no content to compare with (a seed file)"
    return kept, summary


def annotate(pair: dict, group, chosen, rejected, judges: list) -> None:
    """Write into the pair what the safeguards looked at."""
    pair["judges"] = {
        key: {"chosen": chosen.rewards.get(key), "rejected": rejected.rewards.get(key),
              "margin": (None if chosen.rewards.get(key) is None or rejected.rewards.get(key) is None
                         else chosen.rewards[key] - rejected.rewards[key]),
              "chosen_scores": chosen.judge_scores.get(key, {}), "rejected_scores": rejected.judge_scores.get(key, {})}
        for key in judges
    }
    texts = (chosen.reasoning or chosen.text, rejected.reasoning or rejected.text)
    if group.content is not None:
        pair["chosen_copy_rate"], pair["rejected_copy_rate"] = (copy_rate(t, group.content) for t in texts)
    pair["chosen_words"], pair["rejected_words"] = (len(words(t)) for t in texts)


def consensus_failure(scored: dict, margins: dict) -> str | None:
    for key, margin in margins.items():
        s = scored[key]
        if s["margin"] is None:
            return f"consensus: {judge_name(key)} did not score chosen and rejected"
        if s["margin"] < margin - 1e-12:
            return f"consensus: {judge_name(key)} prefers chosen by less than {margin:g}"
    return None


def copy_failure(pair: dict, guards: Safeguards) -> str | None:
    c, r = pair["chosen_copy_rate"], pair["rejected_copy_rate"]
    if guards.max_copy_rate is not None and c > guards.max_copy_rate + 1e-12:
        return f"chosen copies more than {guards.max_copy_rate:g} of its words from the content"
    if guards.max_copy_excess is not None and c - r > guards.max_copy_excess + 1e-12:
        return f"chosen copies more of the content than rejected (by more than {guards.max_copy_excess:g})"
    return None


def length_failure(pair: dict, guards: Safeguards) -> str | None:
    c, r = pair["chosen_words"], pair["rejected_words"]
    if guards.max_chosen_words is not None and c > guards.max_chosen_words:
        return f"chosen longer than {guards.max_chosen_words} words"
    if guards.max_length_ratio is not None and c > guards.max_length_ratio * max(r, 1):
        return f"chosen more than {guards.max_length_ratio:g} times as long as rejected"
    return None


def selecting_judges(strategy: str, guards: Safeguards | None, judges: list) -> list:
    """The judge identities whose scores decided which pairs exist: these must not certify the trained child.

    reasoning-quality's pick is the first judge's; with --consensus every judge
    also vetoed pairs.  hard-samples picks by verdict correctness alone.
    """
    if guards is not None and guards.consensus:
        return list(judges)
    return list(judges[:1]) if strategy == "reasoning-quality" else []


def judge_list(judge_spec) -> list[str]:
    """'A,B' (or a list) as judge specs."""
    if not judge_spec:
        return []
    specs = judge_spec if isinstance(judge_spec, list) else str(judge_spec).split(",")
    return [str(j).strip() for j in specs if str(j).strip()]
