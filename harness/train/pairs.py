"""Preference pairs: from k judged completions per prompt to TRL-format JSONL.

A :class:`PromptGroup` holds one prompt's k completions with their verdict
correctness and (optionally) a judge's composite reward.  A strategy turns
groups into pairs; each pair is one JSON line with TRL's preference fields
``prompt``, ``chosen``, ``rejected`` plus ``weight`` (used by ``hs-dpo``) and
metadata saying where it came from.  Strategies:

* ``hard-samples`` -- GuardReasoner's HS-DPO: prompts where some but not all k
  completions are correct; chosen is a random correct one, rejected a random
  incorrect one; weight = 1 + gamma * (difficulty + k) / (2k) with
  difficulty = k_incorrect - k_correct (so the weight grows with the share of
  wrong answers).  The seed's pairs (wizard101 exp_18) were drawn with
  ``random.Random(42)``, one ``choice`` among the correct then one among the
  incorrect completions per hard prompt in file order; the defaults reproduce
  them exactly.
* ``reasoning-quality`` -- best versus worst composite judge reward among the
  completions with the correct verdict (all completions with
  ``require_correct: false``), kept only when the reward margin reaches
  ``min_margin``.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError, unknown_name
from harness.records import SampleRecord

PAIR_FIELDS = ("prompt", "chosen", "rejected")


@dataclass
class Candidate:
    """One of a prompt's k completions."""

    index: int
    text: str
    verdict: str | None
    correct: bool
    reward: float | None = None
    scores: dict = field(default_factory=dict)
    #: the reasoning alone (what copy rates and lengths are measured on); empty: the whole text
    reasoning: str = ""
    #: every judge's composite reward and scores, by judge identity key (the picking judge's is ``reward``)
    rewards: dict = field(default_factory=dict)
    judge_scores: dict = field(default_factory=dict)


@dataclass
class PromptGroup:
    """A prompt (as the model saw it) with its k completions."""

    sample_id: str
    prompt: str
    gold: str | None
    candidates: list
    #: what the completions judge (prompt, or the exchange); None when unknown (the seed's files)
    content: str | None = None


# -- reading groups ---------------------------------------------------------


def composite_reward(scores: dict, composite: str | None = None) -> float | None:
    """A judgment's single reward: the judge's declared composite score (``Judge.composite``), else the mean."""
    if not scores:
        return None
    if composite is not None:
        return float(scores[composite]) if composite in scores else None
    return sum(float(v) for v in scores.values()) / len(scores)


def groups_from_run_records(records: list[SampleRecord], judgments: dict | None = None,
                            composite: str | None = None, judges: list | None = None) -> list[PromptGroup]:
    """Groups from a run's samples.jsonl records.

    ``judgments`` maps (sample_id, sample_index) to a judge's scores dict;
    ``composite`` is the judge's declared composite criterion.  ``judges`` is
    instead a list of (identity key, judgments, composite), the picking judge
    first: every judge's reward is kept on each candidate (for consensus).
    Completions that failed to generate (no text) are left out; a completion
    whose verdict could not be parsed counts as incorrect, as in the seed.
    """
    from harness.tasks.templates import content_of

    if judges is None:
        judges = [(None, judgments or {}, composite)]
    groups = []
    for rec in records:
        cands = []
        for comp in rec.completions:
            if comp.text is None:
                continue
            rewards, all_scores = {}, {}
            for key, scored, comp_name in judges:
                scores = scored.get((rec.id, comp.sample_index), {})
                if key is not None and scores:
                    rewards[key], all_scores[key] = composite_reward(scores, comp_name), scores
            _, first, first_composite = judges[0]
            scores = first.get((rec.id, comp.sample_index), {})
            cands.append(Candidate(comp.sample_index, comp.text, comp.verdict, comp.correct,
                                   composite_reward(scores, first_composite), scores, comp.reasoning, rewards,
                                   all_scores))
        groups.append(PromptGroup(rec.id, rec.rendered_prompt or rec.prompt, rec.gold, cands,
                                  content_of(rec.prompt, rec.response)))
    return groups


def groups_from_seed_hard_samples(path: Path) -> list[PromptGroup]:
    """Groups from the seed's ``hard_samples_*.json`` (wizard101 exp_18 format).

    The seed stored each completion split into ``reasoning`` and ``label``; its
    pair builder rejoined them as ``reasoning + "\\n\\nLabel: " + label``.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        samples = data["hard_samples"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HarnessError(f"{path}: not a seed hard-samples file (expected a 'hard_samples' list): {exc}") from None
    if not isinstance(samples, list):
        raise HarnessError(f"{path}: 'hard_samples' must be a list, got {type(samples).__name__}")
    groups = []
    for i, s in enumerate(samples):
        if not isinstance(s, dict):
            raise HarnessError(f"{path}: hard_samples[{i}] must be an object, got {type(s).__name__}")
        for key in ("prompt", "ground_truth", "outputs"):
            if key not in s:
                raise HarnessError(f"{path}: hard_samples[{i}] has no '{key}'")
        if not isinstance(s["outputs"], list):
            raise HarnessError(f"{path}: hard_samples[{i}].outputs must be a list, got {type(s['outputs']).__name__}")
        cands = []
        for j, o in enumerate(s["outputs"]):
            where = f"{path}: hard_samples[{i}].outputs[{j}]"
            if not isinstance(o, dict):
                raise HarnessError(f"{where} must be an object, got {type(o).__name__}")
            for key in ("reasoning", "label", "correct"):
                if key not in o:
                    raise HarnessError(f"{where} has no '{key}' (expected reasoning, label and correct)")
            if not isinstance(o["reasoning"], str) or not isinstance(o["label"], str):
                raise HarnessError(f"{where}: 'reasoning' and 'label' must be text")
            cands.append(Candidate(j, f"{o['reasoning']}\n\nLabel: {o['label']}", o["label"], bool(o["correct"]),
                                   reasoning=o["reasoning"]))
        groups.append(PromptGroup(str(i), s["prompt"], s["ground_truth"], cands))
    return groups


# -- strategies -------------------------------------------------------------


def _pair(group, chosen, rejected, strategy, weight=1.0, **meta):
    return {
        "prompt": group.prompt,
        "chosen": chosen.text,
        "rejected": rejected.text,
        "weight": weight,
        "sample_id": group.sample_id,
        "ground_truth": group.gold,
        "strategy": strategy,
        "chosen_index": chosen.index,
        "rejected_index": rejected.index,
        "chosen_verdict": chosen.verdict,
        "rejected_verdict": rejected.verdict,
        **meta,
    }


def hard_samples(groups, gamma: float = 0.5, seed: int = 42):
    """GuardReasoner's HS-DPO pairs (see the module docstring)."""
    rng = random.Random(seed)
    pairs, skipped = [], Counter()
    for g in groups:
        k = len(g.candidates)
        correct = [c for c in g.candidates if c.correct]
        incorrect = [c for c in g.candidates if not c.correct]
        if not correct or not incorrect:
            skipped["all correct" if correct else "none correct" if k else "no completions"] += 1
            continue
        chosen, rejected = rng.choice(correct), rng.choice(incorrect)
        if chosen.text == rejected.text:
            skipped["identical chosen and rejected"] += 1
            continue
        difficulty = len(incorrect) - len(correct)
        weight = 1 + gamma * (difficulty + k) / (2 * k)
        pairs.append(_pair(g, chosen, rejected, "hard-samples", weight, difficulty=difficulty, k=k,
                           k_correct=len(correct), k_incorrect=len(incorrect)))
    return pairs, skipped


def reasoning_quality(groups, min_margin: float = 0.1, require_correct: bool = True):
    """Best versus worst composite judge reward (see the module docstring)."""
    pairs, skipped = [], Counter()
    for g in groups:
        pool = [c for c in g.candidates if c.reward is not None and (c.correct or not require_correct)]
        if len(pool) < 2:
            skipped["fewer than 2 judged candidates" + (" with the correct verdict" if require_correct else "")] += 1
            continue
        best = max(pool, key=lambda c: (c.reward, -c.index))
        worst = min(pool, key=lambda c: (c.reward, c.index))
        margin = best.reward - worst.reward
        if margin < min_margin:
            skipped["reward margin below min_margin"] += 1
            continue
        if best.text == worst.text:
            skipped["identical chosen and rejected"] += 1
            continue
        pairs.append(_pair(g, best, worst, "reasoning-quality", 1.0, margin=margin, chosen_reward=best.reward,
                           rejected_reward=worst.reward, k=len(g.candidates),
                           k_correct=sum(c.correct for c in g.candidates)))
    return pairs, skipped


STRATEGIES = {"hard-samples": hard_samples, "reasoning-quality": reasoning_quality}
NEEDS_JUDGE = {"reasoning-quality"}


def build_pairs(groups, strategy: str, options: dict | None = None, guards=None, judges: list | None = None):
    """Run a strategy, then the safeguards (:mod:`harness.train.pair_guards`) when given; returns (pairs, stats).

    ``judges`` are the identity keys of the judges that scored the groups, the picking judge first.
    """
    if strategy not in STRATEGIES:
        raise unknown_name("pair strategy", strategy, STRATEGIES)
    try:
        pairs, skipped = STRATEGIES[strategy](groups, **(options or {}))
    except TypeError as exc:
        raise HarnessError(f"pair strategy '{strategy}': bad option ({exc})") from None
    from harness.train.pair_guards import guard_pairs, selecting_judges

    guarded = None
    if guards is not None:
        pairs, guarded = guard_pairs(pairs, groups, guards, list(judges or []),
                                     default_margin=(options or {}).get("min_margin", 0.1))
    stats = pair_stats(groups, pairs, skipped, strategy, options)
    if guarded is not None:
        stats["safeguards"] = guarded
    # which judges decided what exists: the trained child's lineage names them (they must not certify it)
    stats["pair_judges"] = selecting_judges(strategy, guards, list(judges or []))
    return pairs, stats


def pair_stats(groups, pairs, skipped, strategy, options) -> dict:
    weights = [p["weight"] for p in pairs]
    return {
        "strategy": strategy,
        "options": dict(options or {}),
        "prompts": len(groups),
        "completions": sum(len(g.candidates) for g in groups),
        "pairs": len(pairs),
        "skipped": dict(skipped),
        "identical_dropped": skipped.get("identical chosen and rejected", 0),
        "weight": {"min": min(weights), "mean": sum(weights) / len(weights), "max": max(weights)} if weights else None,
        "k_correct": dict(sorted(Counter(p["k_correct"] for p in pairs).items())),
    }


# -- files ------------------------------------------------------------------


def pairs_outputs(path: Path) -> tuple[Path, Path]:
    """The pairs file and its stats file (``<name>.stats.json``)."""
    path = Path(path)
    return path, path.with_name(path.stem + ".stats.json")


def check_pairs_output(path: Path, inputs=(), option: str = "--output"):
    """Refuse before any work an output that would overwrite an input or a harness store."""
    from harness.store.outputs import check_output

    for target in pairs_outputs(path):
        check_output(target, option, inputs)


def write_pairs(pairs: list[dict], stats: dict, path: Path, inputs=(), option: str = "--output") -> Path:
    """Write pairs as JSONL and the stats next to it (``<name>.stats.json``); returns the stats path."""
    from harness.store.outputs import atomic_output, write_text

    path, stats_path = pairs_outputs(path)
    check_pairs_output(path, inputs, option)
    with atomic_output(path, option, inputs) as f:
        for p in pairs:
            f.write(json.dumps(p, ensure_ascii=False, allow_nan=False) + "\n")
    write_text(stats_path, json.dumps(stats, indent=2), option, inputs)
    return stats_path


def read_pairs(path: Path, require_weight: bool = False) -> list[dict]:
    """Read a pairs JSONL file, naming the line and field of anything missing or malformed."""
    path = Path(path)
    if not path.exists():
        raise HarnessError(f"Pairs file not found: {path}")
    from harness.tasks.sources import read_rows

    pairs = []
    for rec, where in read_rows(path, "jsonl"):  # names file:line of bad UTF-8, bad JSON, a non-object
        for key in PAIR_FIELDS:
            if key not in rec:
                raise HarnessError(f"{where}: missing field '{key}' (a pair needs {', '.join(PAIR_FIELDS)})")
            if not isinstance(rec[key], str) or (key != "prompt" and not rec[key]):
                raise HarnessError(f"{where}: field '{key}' must be a non-empty string")
        if "weight" not in rec and require_weight:
            raise HarnessError(f"{where}: missing field 'weight' (hs-dpo needs a per-pair weight)")
        weight = rec.get("weight", 1.0)
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight < 0:
            raise HarnessError(f"{where}: field 'weight' must be a non-negative number, got {weight!r}")
        pairs.append(rec)
    if not pairs:
        raise HarnessError(f"{path}: no pairs in the file")
    return pairs


def drop_identical(pairs: list[dict]) -> tuple[list[dict], int]:
    """Pairs whose chosen and rejected differ, and how many were identical (no preference signal)."""
    kept = [p for p in pairs if p["chosen"] != p["rejected"]]
    return kept, len(pairs) - len(kept)
