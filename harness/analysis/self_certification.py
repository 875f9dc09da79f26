"""The judge that picks the pairs does not certify the result (issue 29, part 6).

A child trained on pairs a judge chose learns what that judge prefers, its
blind spots included (issue 29: a copy of the content beat real reasoning under
the v4 reward).  That judge's score rising on the child is what training
optimised, not evidence that the reasoning improved.  So:

* ``harness pairs`` records in its stats which judge identities decided the
  pairs (``pair_judges``); ``harness train`` copies them into the checkpoint's
  lineage (:func:`pair_judges_of_data`);
* a criterion scored by one of those identities -- of the candidate or of any
  checkpoint between the baseline and it (:func:`lineage_pair_judges`) -- is
  refused (:class:`SelfCertified`) unless explicitly allowed, and then marked
  ``self-certified`` (:func:`certify`).  A different identity (another judge,
  or another version or options of the same judge) certifies normally.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import HarnessError

FLAG = "--allow-self-certified"


@dataclass(frozen=True)
class PairJudge:
    """A judge identity that built the training pairs of ``checkpoint``."""

    identity: str  # JudgeIdentity.key, e.g. heuristic@4#0123456789ab
    checkpoint: str

    @property
    def name(self) -> str:
        return self.identity.partition("@")[0]

    def to_dict(self) -> dict:
        return asdict(self)


class SelfCertified(HarnessError):
    """A criterion would be certified by the judge that built the candidate's training pairs."""


def pair_judges_of_data(data_path) -> list[str] | None:
    """Identity keys of the judges that decided a pairs file (from ``<name>.stats.json``); None when unknown."""
    from harness.train.pairs import pairs_outputs

    stats_path = pairs_outputs(Path(data_path))[1]
    if not stats_path.is_file():
        return None
    try:
        stats = json.loads(stats_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise HarnessError(f"{stats_path}: not valid JSON ({exc}); the pairs' stats name the judges that built "
                           "them (rebuild them with harness pairs)") from None
    if not isinstance(stats, dict):
        raise HarnessError(f"{stats_path}: expected a JSON object (the stats harness pairs writes)")
    judges = stats.get("pair_judges")
    if judges is None:  # stats written before pair_judges: reasoning-quality's pick is its first judge's
        first = stats.get("judge_identity")
        judges = [first] if first and stats.get("strategy") == "reasoning-quality" else []
    if not isinstance(judges, list) or not all(isinstance(j, str) for j in judges):
        raise HarnessError(f"{stats_path}: field 'pair_judges' must be a list of judge identities, got {judges!r}")
    return list(judges)


def lineage_pair_judges(model_b: str | None, model_a: str | None = None, entries: dict | None = None
                        ) -> list[PairJudge]:
    """The judges that built the pairs of ``model_b`` and of its ancestors after ``model_a`` (registry lineage)."""
    if not model_b:
        return []
    if entries is None:
        from harness.checkpoints.registry import load_registry

        entries = load_registry()
    out, seen, name = [], set(), model_b
    while name and name in entries and name != model_a and name not in seen:
        seen.add(name)
        entry = entries[name] or {}
        for key in (entry.get("lineage") or {}).get("pair_judges") or []:
            out.append(PairJudge(str(key), name))
        name = entry.get("parent")
    return out


def judge_of(metric: str, judges: dict) -> str | None:
    """The judge name of a JUDGE.CRITERION metric among the comparison's judges (longest match)."""
    names = [n for n in judges if metric.startswith(n + ".")]
    return max(names, key=len) if names else None


def certify(verdicts: list, result: dict, allow: bool = False, flag: str = FLAG) -> list:
    """Mark each verdict with the judge identity that scored it; refuse one by a pair judge unless ``allow``.

    ``result`` is :func:`harness.analysis.compare.compare_runs`' output (its
    ``judges`` and ``pair_judges``).  Verdicts not evaluated, or on metrics no
    judge scores (accuracy, f1, reasoning.*), are left as they are.
    """
    judges = result.get("judges") or {}
    built = [PairJudge(**p) for p in result.get("pair_judges") or []]
    by_identity = {p.identity: p for p in built}
    refused = []
    for v in verdicts:
        if v.status == "not evaluated" or v.criterion.metric.startswith("reasoning."):
            continue
        name = judge_of(v.criterion.metric, judges)
        if name is None:
            continue
        v.certified_by = judges[name]
        if v.certified_by in by_identity:
            v.self_certified = True
            refused.append(v)
    if refused and not allow:
        raise SelfCertified(refusal(refused, by_identity, judges, result, flag))
    return verdicts


def refusal(refused: list, by_identity: dict, judges: dict, result: dict, flag: str) -> str:
    first = refused[0]
    maker = by_identity[first.certified_by]
    others = sorted(n for n, key in judges.items() if key not in by_identity)
    use = (f"judges of these runs that did not build the pairs: {', '.join(others)} (point the criterion's metric "
           f"at one, e.g. {others[0]}.<criterion>)" if others else
           "judge both runs with a judge that did not build the pairs, e.g. `harness judge RUN --judge "
           "llm-judge:MODEL` (heuristic:lexical shares the heuristic's blind spots), and point the criterion's "
           "metric at it (llm-judge.<criterion>)")
    names = ", ".join(f"'{v.criterion.name}' ({v.criterion.metric})" for v in refused)
    return (f"self-certification refused: criterion {names} would be certified by judge {first.certified_by}, "
            f"which built the training pairs of {maker.checkpoint} (its lineage's pair_judges), so its score on "
            f"{result['b']['model']} is what training optimised, not evidence. Use another judge: {use}; or pass "
            f"{flag} to report the result marked self-certified")


def pair_judges_lines(result: dict) -> list[str]:
    """Text lines naming the judges that built B's pairs (empty when the lineage names none)."""
    return [f"  pairs of {p['checkpoint']} were built by judge {p['identity']}: its scores do not certify B "
            f"(criteria on them are refused without {FLAG})" for p in result.get("pair_judges") or []]
