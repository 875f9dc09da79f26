"""The ``criteria`` step of ``harness pipeline``: success criteria and bounds on the signs of reward hacking.

::

    criteria:
      file: toy_dpo                  # criteria YAML (path or shipped name) on each parent/child comparison
      allow_self_certified: false    # true: let the judge that built the pairs decide a criterion (marked)
      signs: {max_copy_rate_increase: 0.05, max_length_ratio: 1.5, max_distinct_drop: 0.1}

A failed criterion or bound makes the pipeline exit with code 3 after its other
steps; a criterion scored by the judge that built the pairs is refused (exit 1)
unless ``allow_self_certified`` (:mod:`harness.analysis.self_certification`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.analysis.sign_bounds import SignBounds, parse_sign_bounds
from harness.config import check_keys, where_of
from harness.errors import HarnessError

KEYS = {"file", "allow_self_certified", "signs"}
FLAG = "criteria.allow_self_certified"


class CriteriaFailed(HarnessError):
    """A pipeline criterion or sign bound failed: exit code 3, as `harness compare --criteria`."""

    exit_code = 3


@dataclass
class PipelineCriteria:
    file: str | None = None
    allow_self_certified: bool = False
    signs: SignBounds = field(default_factory=SignBounds)
    criteria: tuple = ()  # (title, [Criterion]) once the file is read


def parse_criteria(config, path: str) -> PipelineCriteria | None:
    """The checked ``criteria`` section of a pipeline config (None when absent); errors name file and line."""
    if config.get("criteria") is None:
        return None
    section = config["criteria"]
    at = where_of(config, "criteria", str(path))
    if not isinstance(section, dict):
        raise HarnessError(f"{at}: 'criteria' must be a mapping ({', '.join(sorted(KEYS))}), got {section!r}")
    check_keys(f"{at}: criteria", section, KEYS, kind="criteria key")
    out = PipelineCriteria()
    if "allow_self_certified" in section:
        if not isinstance(section["allow_self_certified"], bool):
            raise HarnessError(f"{where_of(section, 'allow_self_certified', at)}: criteria field "
                               f"'allow_self_certified' must be true or false, got {section['allow_self_certified']!r}")
        out.allow_self_certified = section["allow_self_certified"]
    if section.get("file") is not None:
        from harness.analysis.criteria import load_criteria

        try:
            out.criteria = load_criteria(str(section["file"]))
        except HarnessError as exc:
            raise HarnessError(f"{where_of(section, 'file', at)}: criteria.file: {exc}") from None
        out.file = str(section["file"])
    out.signs = parse_sign_bounds(section.get("signs"), where_of(section, "signs", at))
    return out


def refuse_early(config, section: PipelineCriteria, path: str) -> None:
    """Before any step: a criterion on a judge whose spec both builds the pairs and scores the evaluation.

    The same spec gives the same judge identity, so the criteria step would refuse it after hours of
    training; say so now.  (The step's check by identity, from the lineage, stays the authority.)
    """
    from harness.judge.runner import split_judge_spec
    from harness.train.pair_guards import Safeguards, judge_list, selecting_judges

    if section is None or not section.criteria or section.allow_self_certified:
        return
    pairs = config["pairs"]
    guards = Safeguards(consensus=bool((pairs.get("safeguards") or {}).get("consensus", False)))
    built = selecting_judges(pairs.get("strategy", "hard-samples"), guards, judge_list(pairs.get("judge")))
    scoring = set(judge_list((config.get("eval") or {}).get("judge")))
    same = {split_judge_spec(spec)[0]: spec for spec in built if spec in scoring}
    for c in section.criteria[1]:
        name = c.metric.split(".", 1)[0]
        if name in same and not c.metric.startswith("reasoning."):
            raise HarnessError(
                f"{where_of(config['criteria'], 'file', path)}: criterion '{c.name}' ({c.metric}) would be certified "
                f"by judge '{same[name]}', which also builds the pairs (pairs.judge, strategy "
                f"{pairs.get('strategy', 'hard-samples')}): a judge cannot certify the child it taught. Score the "
                "criterion with another judge (add e.g. llm-judge:MODEL to eval.judge and use llm-judge.<criterion>),"
                f" or set {FLAG}: true to report it marked self-certified")


def judge_scores(run_a, run_b, ra, rb) -> dict:
    """{judge name: (A composites, B composites)} per aligned sample, for the judges both runs hold."""
    from harness.store import judgments as store
    from harness.train.pairs import composite_reward

    out = {}
    for name, (sa, _, identity) in store.shared_summaries(run_a, run_b).items():
        ja = store.sample_scores(run_a, identity, [r.id for r in ra])
        jb = store.sample_scores(run_b, identity, [r.id for r in rb])
        out[name] = ([composite_reward(ja.get(r.id, {}), sa.composite) for r in ra],
                     [composite_reward(jb.get(r.id, {}), sa.composite) for r in rb])
    return out


def criteria_step(section: PipelineCriteria, pairs: dict, state, runs_dir=None, echo=print) -> list[str]:
    """Criteria and sign bounds on each task's (parent run, child run); returns what failed."""
    from harness.analysis.compare import align, compare_runs, load_side
    from harness.analysis.criteria import evaluate
    from harness.analysis.self_certification import certify
    from harness.analysis.sign_bounds import check_signs
    from harness.store.runs import RunStore

    store = RunStore(runs_dir)
    failed, record = [], {}
    for task, (run_a, run_b) in pairs.items():
        result = compare_runs(store, run_a, run_b, reasoning=False)
        verdicts = []
        if section.criteria:
            verdicts = certify(evaluate(section.criteria[1], result), result, section.allow_self_certified, FLAG)
            for v in verdicts:
                echo(f"criteria {task}: {v.label:<14} {v.criterion.name}: {v.detail}"
                     + (f"; self-certified: judge {v.certified_by} built the pairs" if v.self_certified else ""))
                if v.status == "fail":
                    failed.append(f"{task}: {v.criterion.name}")
        checks = []
        if section.signs.any():
            a, b = load_side(store, run_a, "A", False), load_side(store, run_b, "B", False)
            ra, rb = align(a, b)
            names = {p["identity"]: p for p in result.get("pair_judges") or []}
            proxies = [n for n, key in (result.get("judges") or {}).items() if key in names]
            checks = check_signs(ra, rb, section.signs, judge_scores(a.run, b.run, ra, rb), proxies)
            for c in checks:
                echo(f"signs {task}: {c.text()}")
                if c.status == "fail":
                    failed.append(f"{task}: {c.detail} beyond {c.bound} {c.limit:g}")
        record[task] = {"verdicts": [v.to_dict() for v in verdicts], "signs": [c.to_dict() for c in checks],
                        "pair_judges": result.get("pair_judges") or []}
    state.record("criteria", "fail" if failed else "pass", failed=failed, tasks=record,
                 self_certified=any(v["self_certified"] for t in record.values() for v in t["verdicts"]))
    return failed
