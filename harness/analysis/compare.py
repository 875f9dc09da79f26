"""Paired comparison of two runs of the same task on the samples both recorded.

Correctness follows the ``strict`` policy whatever policy a run was scored
with (a failed parse is a wrong answer), so A and B are judged alike on every
shared sample.  Differences are B - A with paired bootstrap 95 % intervals
(AUROC too, on the samples where both runs recorded label probabilities);
McNemar's exact test checks whether the correctness flips are balanced.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.score.stats import (
    auroc_difference,
    f1_difference,
    mcnemar_exact,
    mean_difference,
)
from harness.store.runs import Run, RunStore


@dataclass
class Side:
    label: str  # "A" or "B"
    run: Run
    manifest: dict
    records: list
    complete: bool

    @property
    def name(self) -> str:
        return f"{self.manifest.get('model')} ({self.run.id})"


def open_run(store: RunStore, ref: str):
    """A run by id or folder, with a clear message when the index is still empty."""
    if not (Path(ref) / "manifest.json").exists() and not store.list_runs():
        raise HarnessError(f"The run index {store.db_path} holds no runs yet, so there is no run '{ref}'. "
                           "Record runs first, e.g.: harness eval --model keyword-baseline --task combined_test")
    return store.open_run(ref)


def load_side(store: RunStore, ref: str, label: str, partial: bool) -> Side:
    run = open_run(store, ref)
    manifest = run.manifest
    records = run.read_samples()
    n_total = manifest.get("n_total")
    complete = run.read_metrics() is not None and (n_total is None or len(records) >= n_total)
    if not complete and not partial:
        raise HarnessError(
            f"Run {label} ({run.id}) is not finished: {len(records)}/{n_total} samples recorded (still running or "
            "interrupted). Finish it with the same `harness eval` command, or pass --partial to compare the "
            f"{len(records)} completed samples."
        )
    return Side(label, run, manifest, records, complete)


def check_same_task(a: Side, b: Side):
    ta, tb = a.manifest["task"], b.manifest["task"]
    if ta["name"] != tb["name"]:
        raise HarnessError(
            f"Run A ({a.run.id}) is on task '{ta['name']}' and run B ({b.run.id}) on task '{tb['name']}': a paired "
            "comparison needs the same samples with the same gold labels. Compare two runs of one task "
            "(see `harness runs --task NAME`), or use `harness leaderboard` to set tasks side by side."
        )
    if ta.get("data_sha256") and tb.get("data_sha256") and ta["data_sha256"] != tb["data_sha256"]:
        raise HarnessError(
            f"Runs A and B are both on task '{ta['name']}' but read different data "
            f"(sha256 {ta['data_sha256'][:12]} vs {tb['data_sha256'][:12]}): sample ids do not name the same samples."
        )


def align(a: Side, b: Side) -> tuple[list, list]:
    """The records of the shared samples, in A's order."""
    by_id_b = {r.id: r for r in b.records}
    ra, rb = [], []
    for r in a.records:
        other = by_id_b.get(r.id)
        if other is None:
            continue
        if other.gold != r.gold:
            raise HarnessError(f"Sample {r.id} has gold '{r.gold}' in run A and '{other.gold}' in "
                               "run B: the runs do not share the same labelled samples")
        ra.append(r)
        rb.append(other)
    if not ra:
        raise HarnessError(
            f"Runs A ({a.run.id}, {len(a.records)} samples) and B ({b.run.id}, {len(b.records)} samples) share no "
            "sample ids (different --limit subsets?). Re-run one of them on the other's samples."
        )
    return ra, rb


def strict_prediction(record, positive, negative):
    """The verdict, or for a failed parse the wrong answer (strict policy)."""
    if record.status == "ok" and record.verdict is not None:
        return record.verdict
    return negative if record.gold == positive else positive


def judge_differences(a: Side, b: Side, ra: list, rb: list, seed: int) -> tuple[dict, dict, dict]:
    """Paired differences of every judge criterion both runs were scored on, by one identity per judge.

    Which identity: see :func:`harness.store.judgments.shared_summaries` (the one
    both runs count, else the one both hold, else a refusal naming both).  A
    sample's score is the mean over its completions, as the run's means are.
    Returns (differences by "judge.criterion", identity key by judge, run-level
    means {"a": ..., "b": ...} where both runs count that identity).
    """
    from harness.store import judgments as store

    differences, used, means = {}, {}, {"a": {}, "b": {}}
    for name, (sa, sb, identity) in store.shared_summaries(a.run, b.run).items():
        used[name] = identity.key
        if sa.identity == identity == sb.identity:
            for side, summary in (("a", sa), ("b", sb)):
                means[side].update({f"{name}.{c}": s["mean"] for c, s in summary.criteria.items()
                                    if s.get("mean") is not None})
        judged_a = store.sample_scores(a.run, identity, [r.id for r in ra])
        judged_b = store.sample_scores(b.run, identity, [r.id for r in rb])
        criteria = sorted({c for s in judged_a.values() for c in s} & {c for s in judged_b.values() for c in s})
        for criterion in criteria:
            pairs = [(judged_a[x.id][criterion], judged_b[y.id][criterion]) for x, y in zip(ra, rb)
                     if criterion in judged_a.get(x.id, {}) and criterion in judged_b.get(y.id, {})]
            if pairs:
                differences[f"{name}.{criterion}"] = mean_difference([p[0] for p in pairs], [p[1] for p in pairs],
                                                                     seed=seed).to_dict()
    return differences, used, means


def flips(ra, rb, a_right: bool) -> list[dict]:
    out = []
    for x, y in zip(ra, rb):
        if x.correct == a_right and y.correct != a_right:
            out.append({"id": x.id, "category": x.category, "gold": x.gold,
                        "prompt": x.prompt, "response": x.response,
                        "verdict_a": x.verdict, "status_a": x.status,
                        "verdict_b": y.verdict, "status_b": y.status,
                        "reasoning_a": x.reasoning, "reasoning_b": y.reasoning})
    return out


def compare_runs(store: RunStore, ref_a: str, ref_b: str, *, partial=False, seed=0, reasoning=True) -> dict:
    """Everything ``harness compare`` shows, as a JSON-ready dict."""
    a = load_side(store, ref_a, "A", partial)
    b = load_side(store, ref_b, "B", partial)
    if a.run.dir.resolve() == b.run.dir.resolve():
        raise HarnessError(f"RUN_A and RUN_B are the same run ({a.run.id}); a run compared with itself has no "
                           "differences to show: give two runs of one task (see `harness runs`)")
    check_same_task(a, b)
    ra, rb = align(a, b)
    task = a.manifest["task"]
    positive = task.get("positive", "harmful")
    golds = [r.gold for r in ra]
    negative = next((g for g in golds if g != positive), {"refusal": "compliance"}.get(positive, "safe"))
    correct_a = [r.correct for r in ra]
    correct_b = [r.correct for r in rb]
    differences = {
        "accuracy": mean_difference(correct_a, correct_b, seed=seed).to_dict(),
        "f1": f1_difference(golds, [strict_prediction(r, positive, negative) for r in ra],
                            [strict_prediction(r, positive, negative) for r in rb], positive, seed=seed).to_dict(),
    }
    scored = [(x.gold, x.first.label_probs[positive], y.first.label_probs[positive]) for x, y in zip(ra, rb)
              if positive in (x.first.label_probs or {}) and positive in (y.first.label_probs or {})]
    if len({g for g, _, _ in scored}) == 2:  # both runs recorded label probabilities: AUROC of them
        gold, pa, pb = zip(*scored)
        differences["auroc"] = {**auroc_difference(gold, pa, pb, positive, seed=seed).to_dict(),
                                "n_without_probability": len(ra) - len(scored)}
    judged, judges, judge_means = judge_differences(a, b, ra, rb, seed)
    differences.update(judged)
    result = {
        "task": task["name"], "positive": positive,
        "a": side_summary(a), "b": side_summary(b),
        "n_shared": len(ra), "n_a_only": len(a.records) - len(ra), "n_b_only": len(b.records) - len(rb),
        "partial": not (a.complete and b.complete),
        "differences": differences,
        "judges": judges,
        "run_judge_means": judge_means,
        "mcnemar": mcnemar_exact(correct_a, correct_b).to_dict(),
        "flips": {"a_right_b_wrong": flips(ra, rb, True), "b_right_a_wrong": flips(ra, rb, False)},
    }
    from harness.analysis.self_certification import lineage_pair_judges
    from harness.judge.pairwise import stored_for

    # the judges that built B's training pairs (registry lineage): they must not certify B
    built = lineage_pair_judges(b.manifest.get("model"), a.manifest.get("model"))
    result["pair_judges"] = [p.to_dict() for p in built]

    result["pairwise"] = stored_for(store.root, a.run.id, b.run.id)
    if reasoning:
        from harness.analysis.reasoning_change import analyze

        result["reasoning"] = analyze(ra, rb, seed=seed)
    from harness.analysis.hacking_compare import hacking_section

    result["hacking_signs"] = hacking_section(a.run, b.run, ra, rb, b.manifest.get("model"), seed=seed)
    return result


def side_summary(side: Side) -> dict:
    return {"run_id": side.run.id, "model": side.manifest.get("model"), "model_spec": side.manifest.get("model_spec"),
            "complete": side.complete, "n_recorded": len(side.records), "n_total": side.manifest.get("n_total"),
            "policy": side.manifest.get("policy"), "created_at": side.manifest.get("created_at")}


# -- text output ------------------------------------------------------------


def format_difference(name, d: dict) -> str:
    mark = " *" if d.get("significant") else ""
    return (f"{name:<24} A {d['a']:.4f}  B {d['b']:.4f}  B-A {d['diff']:+.4f}  "
            f"95% CI [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]{mark}")


def shorten(text, limit) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_text(result: dict, flips_shown: int = 5, width: int = 60) -> str:
    a, b = result["a"], result["b"]
    partial = lambda s: "" if s["complete"] else f"  (PARTIAL {s['n_recorded']}/{s['n_total']})"  # noqa: E731
    lines = [f"task {result['task']}: {result['n_shared']} shared samples "
             f"(A only {result['n_a_only']}, B only {result['n_b_only']})",
             f"A: {a['model']}  {a['run_id']}{partial(a)}",
             f"B: {b['model']}  {b['run_id']}{partial(b)}",
             "", "differences (paired bootstrap, * = interval excludes 0; judge scores: "
                 "per-sample mean over its completions):"]
    lines += ["  " + format_difference(k, d) for k, d in result["differences"].items()]
    lines += [f"  judge {name}: both runs by {key}" for name, key in result.get("judges", {}).items()]
    from harness.analysis.self_certification import pair_judges_lines

    lines += pair_judges_lines(result)
    if result.get("pairwise"):
        from harness.judge.pairwise import render_summary

        lines += ["", "pairwise judgments of these two runs (harness judge --pairwise):"]
        lines += [render_summary(p) for p in result["pairwise"]]
    m = result["mcnemar"]
    lines += ["", f"McNemar exact: right only in A {m['a_only']}, right only in B {m['b_only']}, "
                  f"both right {m['both_right']}, both wrong {m['both_wrong']}; p = {m['pvalue']:.4g}"]
    reasoning = result.get("reasoning")
    if reasoning:
        lines += ["", "reasoning (first completion), mean A -> B:"]
        for name, data in reasoning["measures"].items():
            lines.append("  " + format_difference(name, data["difference"]))
        lines += [f"  note: {n}" for n in reasoning["notes"]]
        if reasoning["per_category"]:
            lines += ["", "per-category accuracy:"]
            for row in reasoning["per_category"]:
                lines.append(f"  {shorten(row['category'], 30):<30} n {row['n']:<5} A {row['accuracy_a']:.3f}  "
                             f"B {row['accuracy_b']:.3f}  B-A {row['diff']:+.3f}")
    if result.get("hacking_signs"):
        from harness.analysis.hacking_compare import render_lines

        lines += ["", *render_lines(result["hacking_signs"])]
    for key, title in (("a_right_b_wrong", "right in A, wrong in B"), ("b_right_a_wrong", "wrong in A, right in B")):
        items = result["flips"][key]
        lines += ["", f"{title}: {len(items)}" + (f" (first {flips_shown})" if len(items) > flips_shown else "")]
        for f in items[:flips_shown]:
            lines.append(f"  [{f['id']}] gold {f['gold']}  A {f['verdict_a'] or f['status_a']}  "
                         f"B {f['verdict_b'] or f['status_b']}: {shorten(f['prompt'], 100)}")
            lines.append(f"      A: {shorten(f['reasoning_a'], width * 2)}")
            lines.append(f"      B: {shorten(f['reasoning_b'], width * 2)}")
    return "\n".join(lines)
