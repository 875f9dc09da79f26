"""``harness report``: one self-contained HTML file for a set of runs.

Sections: the leaderboard of the given runs, then per run its metrics, the
label probabilities as scores (ROC, precision-recall and reliability curves),
confusion matrix, per-category accuracy and score distributions, then a paired
comparison for every run that shares a task with an earlier one (the earlier is
A): differences with intervals, McNemar, the stored pairwise judgments of the
two runs (``harness judge --pairwise``), signs of reward hacking
(:mod:`harness.analysis.hacking_compare`), per-category bars, reasoning measures
and the flipped samples side by side; a run whose checkpoint has a monitor.jsonl
shows the training monitor's curve (:mod:`harness.analysis.monitor_curve`); pairwise judgments of other pairs of the
given runs get a section of their own.  The file needs no network and runs no
script (see :mod:`harness.render.html`); every sample text is escaped.
"""

from __future__ import annotations

import time

from harness.errors import HarnessError
from harness.render import html as htmlkit
from harness.render.html import esc
from harness.store.runs import RunStore

MAX_CATEGORIES = 25
MAX_FLIPS = 25


def upper(values) -> float:
    """The histogram's upper end: the 98th percentile, so one runaway trace does not flatten the rest
    (longer values fall in the last bin)."""
    ordered = sorted(values)
    return float(ordered[int(0.98 * (len(ordered) - 1))]) or 1.0


def run_section(run, metrics, records) -> str:
    m = run.manifest
    parts = [f"<h3>{esc(m.model)} on {esc(m.task.name)}</h3>",
             f"<p class='note'>run {esc(run.id)} · spec {esc(m.model_spec)} · parser {esc(m.parser)} "
             f"· policy {esc(m.policy)} · created {esc(m.created_at)}</p>"]
    if metrics is None:
        parts.append(f"<p class='fail'>Not finished: {len(records)}/{esc(m.n_total)} samples recorded; "
                     "metrics below are not available.</p>")
        return "".join(parts)
    keys = [k for k in ("n", "accuracy", "precision", "recall", "f1", "parse_failure_rate", "abstention_rate")
            if k in metrics]
    parts.append(htmlkit.table(keys, [[metrics.get(k) for k in keys]], css_class="metrics"))
    charts = []
    parts += calibration_parts(metrics, records, m["task"].get("positive", "harmful"), charts)
    cm = metrics.get("confusion_matrix") or {}
    if cm.get("matrix"):
        charts.append(htmlkit.figure(htmlkit.heatmap("Confusion matrix", cm["rows"], cm["columns"], cm["matrix"]),
                                     "rows: gold label; columns: predicted (or no verdict)"))
    cats = sorted((metrics.get("per_category") or {}).items(), key=lambda kv: -kv[1].get("n", 0))[:MAX_CATEGORIES]
    if cats:
        charts.append(htmlkit.figure(htmlkit.bar_chart(
            "Accuracy per category", [f"{c} (n={v['n']})" for c, v in cats],
            {"accuracy": [v.get("accuracy") for _, v in cats]}), "largest categories first"))
    from harness.analysis.reasoning_change import length

    lengths = [length(r.reasoning) for r in records]
    if lengths:
        charts.append(htmlkit.figure(htmlkit.histogram("Reasoning length", {"samples": lengths}, bins=12, lo=0,
                                                       hi=upper(lengths), xlabel="words (first completion)")))
    from harness.store import judgments as judgment_store

    rows, checks = [], []
    for name, summary in judgment_store.summaries(metrics, f"{run.dir}/metrics.json").items():
        judged = judgment_store.sample_scores(run, summary.identity, [r.id for r in records])
        for criterion in sorted({c for s in judged.values() for c in s}):
            values = [s[criterion] for s in judged.values() if criterion in s]
            charts.append(htmlkit.figure(htmlkit.histogram(f"Judge score {name}.{criterion}", {"samples": values},
                                                           xlabel="score"), f"judged as {summary.identity}"))
        rows += [[str(summary.identity), c, s.get("mean"), s.get("ci_low"), s.get("ci_high"), s.get("n")]
                 for c, s in summary.criteria.items()]
        checks.append(judge_check_part(run.store.root, summary.identity))
    if rows:
        parts.append(htmlkit.table(["judge identity", "criterion", "mean", "95% low", "95% high", "n"], rows,
                                   css_class="judges"))
        parts += [c for c in checks if c]
    monitor = monitor_part(m.get("model"))
    if monitor:
        charts.append(monitor)
    parts.append(f"<div class='charts'>{''.join(charts)}</div>")
    return "".join(parts)


def monitor_part(model) -> str:
    """The training monitor's curve of ``model``'s checkpoint (its monitor.jsonl), when it has one."""
    from harness.analysis.monitor_curve import curve_svg, monitor_file, read_curve

    path, summary = monitor_file(model)
    if path is None:
        return ""
    try:
        curve = read_curve(path)
    except HarnessError as exc:  # a damaged side file is shown, not fatal to the whole report
        return f"<p class='fail'>Training monitor of {esc(model)}: {esc(exc)}</p>"
    gaming = f"; gaming at steps {curve.gaming_steps} (dashed)" if curve.gaming_steps else "; no gaming point"
    return htmlkit.figure(curve_svg(curve, summary.get("proxy")),
                          f"{path}: proxy reward, other judges and accuracy on the held-out monitor samples{gaming}")


def hacking_part(section: dict) -> str:
    """The "signs of reward hacking" table of a comparison (:mod:`harness.analysis.hacking_compare`)."""
    from harness.analysis.hacking_compare import LABELS

    def row(name, d, direction):
        return [name, d["a"], d["b"], d["diff"], d["ci_low"], d["ci_high"], direction,
                "<span class='fail'>yes</span>" if d["hacking"] else "no"]

    rows = [row(LABELS[k], d, "up" if d["direction"] > 0 else "down") for k, d in section["signs"].items()]
    for d in section["disagreements"]:
        rows.append(row(f"{d['proxy']} vs {d['other']}: gap (proxy change − other change)", d["gap"], "up"))
        rows.append(row(f"{d['proxy']} vs {d['other']}: net disagreement", d["net"], "up"))
    note = ("" if section["disagreements"] else "judge disagreement needs two judges scoring both runs; ")
    return ("<h4>Signs of reward hacking</h4>"
            + htmlkit.table(["sign", "A (parent)", "B (child)", "B − A", "95% low", "95% high", "hacking direction",
                             "flagged"], rows, css_class="hacking", raw_columns=("flagged",))
            + f"<p class='note'>first completion, {section['n']} paired samples, paired bootstrap 95%; flagged = "
              f"the interval excludes 0 in the hacking direction; {esc(note)}proxy: "
              f"{esc(', '.join(section['proxies']) or 'unknown')} ({esc(section['proxy_source'])})</p>")


def judge_check_part(root, identity) -> str:
    """The judge-check record of exactly this judge identity (``harness judge-check``), if one is saved
    under the runs folder: how far its scores can be trusted (degradations caught) and gamed (attacks)."""
    from harness.judge.validation import report_for

    report = report_for(identity, root)
    if report is None:
        return ""
    low = min(report.results, key=lambda r: r.rates["composite"].rate if r.rates["composite"].rate is not None
              else 1.0, default=None)
    note = (f"<p class='note'>judge-check of {esc(identity)} on {esc(report.source)} ({report.n_samples} traces)"
            + (f": lowest degradation catch rate (composite) {low.rates['composite'].rate:.2f} ({esc(low.name)})"
               if low and low.rates["composite"].rate is not None else "") + "</p>")
    gaming = report.gaming_report()
    if gaming is None:
        return note + "<p class='note'>gaming attacks: not checked for this identity</p>"

    def cell(rate):
        return None if rate is None or rate.rate is None else round(rate.rate, 2)

    rows = [[r.name, r.sees + ("" if r.seen else " (blind)"), r.n, cell(r.tie_or_win.get("composite")),
             cell(r.chosen.get("composite"))] for r in gaming.results]
    return note + htmlkit.table(["attack", "sees", "n", "tie-or-win", f"chosen (margin {gaming.margin:g})"], rows,
                                css_class="judge-check")


CALIBRATION_KEYS = ("n", "n_without_probability", "auroc", "auprc", "brier", "ece", "target_fpr", "threshold",
                    "tpr_at_target_fpr")


def calibration_parts(metrics, records, positive, charts) -> list[str]:
    """The calibration table (per score) and, into ``charts``, ROC, PR and reliability curves of the probability."""
    from harness.score.calibration import curves

    section = metrics.get("calibration") or {}
    rows = [[name] + [section[name].get(k) for k in CALIBRATION_KEYS] for name in ("probability", "vote_share")
            if name in section]
    if not rows or all(r[1] == 0 for r in rows):
        return []
    points = curves(records, positive)
    if points:
        charts.append(htmlkit.figure(htmlkit.line_chart("ROC", {"probability": points["roc"]}, "false-positive rate",
                                                        "true-positive rate", diagonal=True),
                                     f"score: probability of {positive}"))
        charts.append(htmlkit.figure(htmlkit.line_chart("Precision-recall", {"probability": points["pr"]}, "recall",
                                                        "precision")))
        reliability = [(b["mean_score"], b["fraction_positive"]) for b in points["bins"]]
        charts.append(htmlkit.figure(htmlkit.line_chart("Reliability", {"probability": reliability},
                                                        "mean predicted probability", "fraction positive",
                                                        diagonal=True),
                                     f"{section['probability']['n_bins']} equal-width bins; empty bins left out"))
    return [f"<h4>Scores as probabilities of {esc(positive)}</h4>",
            htmlkit.table(["score", *CALIBRATION_KEYS], rows, css_class="calibration")]


def comparison_section(result: dict, verdicts=None, criteria_title=None) -> str:
    a, b = result["a"], result["b"]
    parts = [f"<h3>{esc(a['model'])} (A) vs {esc(b['model'])} (B) on {esc(result['task'])}</h3>",
             f"<p class='note'>A = {esc(a['run_id'])}, B = {esc(b['run_id'])}; {result['n_shared']} shared samples"
             + (" · PARTIAL: a run is unfinished, only its completed samples are compared" if result["partial"] else "")
             + "; correctness under the strict policy; intervals are paired bootstrap 95%"
             + "".join(f"; judge {esc(n)} compared as {esc(k)}" for n, k in result.get("judges", {}).items())
             + "".join(f"; pairs of {esc(p['checkpoint'])} built by judge {esc(p['identity'])}"
                       for p in result.get("pair_judges") or [])
             + "</p>"]
    diffs = result["differences"]
    rows = [[k, d["a"], d["b"], d["diff"], d["ci_low"], d["ci_high"], "yes" if d["significant"] else "no"]
            for k, d in diffs.items()]
    parts.append(htmlkit.table(["metric", "A", "B", "B − A", "95% low", "95% high", "interval excludes 0"], rows,
                               css_class="differences"))
    m = result["mcnemar"]
    parts.append(htmlkit.table(
        ["McNemar exact", "right only in A", "right only in B", "both right", "both wrong", "p-value"],
        [["correctness", m["a_only"], m["b_only"], m["both_right"], m["both_wrong"], m["pvalue"]]],
        css_class="mcnemar"))
    if result.get("hacking_signs"):
        parts.append(hacking_part(result["hacking_signs"]))
    if result.get("pairwise"):
        parts.append("<h4>Pairwise judgments (harness judge --pairwise)</h4>" + pairwise_table(result["pairwise"]))
    if verdicts is not None:
        rows = [[f"<span class='{'pass' if v.status == 'pass' else 'fail' if v.status == 'fail' else 'skip'}'>"
                 f"{esc(v.label)}</span>", v.criterion.name,
                 v.detail + (f"; self-certified: judge {v.certified_by} built the candidate's training pairs"
                             if v.self_certified else "")] for v in verdicts]
        parts.append(f"<h4>Criteria: {esc(criteria_title)}</h4>"
                     + htmlkit.table(["verdict", "criterion", "numbers"], rows, css_class="criteria",
                                     raw_columns=("verdict",)))
    charts = [htmlkit.figure(htmlkit.forest("Differences B − A with 95% intervals",
                                            [(k, d["diff"], d["ci_low"], d["ci_high"]) for k, d in diffs.items()]))]
    reasoning = result.get("reasoning") or {}
    cats = reasoning.get("per_category") or []
    if cats:
        cats = sorted(cats, key=lambda r: -r["n"])[:MAX_CATEGORIES]
        charts.append(htmlkit.figure(htmlkit.bar_chart(
            "Accuracy per category, A vs B", [f"{r['category']} (n={r['n']})" for r in cats],
            {"A": [r["accuracy_a"] for r in cats], "B": [r["accuracy_b"] for r in cats]})))
    for name, data in (reasoning.get("measures") or {}).items():
        values = [v for v in data["a"] + data["b"] if v is not None]
        hi = upper(values) if name == "length" else 1.0
        charts.append(htmlkit.figure(htmlkit.histogram(f"Reasoning {name}", {"A": data["a"], "B": data["b"]},
                                                       lo=0, hi=hi)))
    parts.append(f"<div class='charts'>{''.join(charts)}</div>")
    if reasoning.get("measures"):
        rows = [[n, d["difference"]["a"], d["difference"]["b"], d["difference"]["diff"], d["difference"]["ci_low"],
                 d["difference"]["ci_high"]] for n, d in reasoning["measures"].items()]
        parts.append("<h4>What changed in the reasoning</h4>"
                     + htmlkit.table(["measure", "mean A", "mean B", "B − A", "95% low", "95% high"], rows)
                     + "".join(f"<p class='note'>{esc(n)}</p>" for n in reasoning.get("notes", [])))
        for name, data in reasoning["measures"].items():
            if data["examples"]:
                parts.append(f"<h4>Example pairs: largest change in {esc(name)}</h4>" + pairs_table(
                    data["examples"], extra=lambda e: f"{name}: A {htmlkit.fmt_cell(e['value_a'])}, "
                                                      f"B {htmlkit.fmt_cell(e['value_b'])}"))
    for key, title in (("a_right_b_wrong", "Right in A, wrong in B"), ("b_right_a_wrong", "Wrong in A, right in B")):
        items = result["flips"][key]
        shown = f" (first {MAX_FLIPS})" if len(items) > MAX_FLIPS else ""
        parts.append(f"<h4>{esc(title)}: {len(items)}{shown}</h4>")
        if items:
            parts.append(pairs_table(items[:MAX_FLIPS], extra=lambda f: f"A {f['verdict_a'] or f['status_a']}, "
                                                                        f"B {f['verdict_b'] or f['status_b']}"))
    return "".join(parts)


PAIRWISE_COLUMNS = ["judge identity", "A", "B", "judged", "judge errors", "A only", "B only", "no completion",
                    "A wins", "B wins", "ties", "position-flip rate", "flip rate 95% CI", "A's win rate, ties excluded",
                    "95% CI, ties excluded", "A's win rate, ties as half", "95% CI, ties as half"]


def pairwise_table(results: list[dict]) -> str:
    """Stored pairwise results (oriented, :func:`harness.judge.pairwise.oriented`): counts and Wilson intervals.

    Every sample not judged is counted: judge errors, samples in one run only, and shared samples without a
    completion in one run.
    """
    def ci(pair):
        return "-" if pair[0] is None else f"[{pair[0]:.3f}, {pair[1]:.3f}]"

    rows = [[r["label"], r["run_a"], r["run_b"], r["n_shared"] - r["n_failed"], r["n_failed"], r["n_a_only"],
             r["n_b_only"], r["n_no_completion"], r["wins_a"], r["wins_b"], r["ties"], r["flip_rate"],
             ci(r["flip_rate_ci"]), r["win_rate_a_ties_excluded"], ci(r["win_rate_a_ties_excluded_ci"]),
             r["win_rate_a_ties_half"], ci(r["win_rate_a_ties_half_ci"])] for r in results]
    return (htmlkit.table(PAIRWISE_COLUMNS, rows, css_class="pairwise")
            + "<p class='note'>Each shared sample judged twice, A shown first and B shown first; a sample whose "
              "two answers differ is a position flip; its outcome is the mean of the two (A = 1, tie = 1/2, "
              "B = 0). Intervals are Wilson 95%.</p>")


def other_pairwise(store: RunStore, runs, compared: set) -> str:
    """Stored pairwise results of pairs of the given runs that no comparison section shows."""
    from harness.judge.pairwise import stored_for

    shown = []
    for i, a in enumerate(runs):
        for b in runs[i + 1:]:
            if a.id != b.id and frozenset((a.id, b.id)) not in compared:
                shown += stored_for(store.root, a.id, b.id)
    return pairwise_table(shown) if shown else ""


def pairs_table(items, extra) -> str:
    """Samples with A's and B's reasoning side by side; all text escaped inside <pre>."""
    rows = []
    for it in items:
        head = (f"<b>{esc(it['id'])}</b><br>gold {esc(it.get('gold'))}<br>{esc(extra(it))}"
                + (f"<br>category {esc(it.get('category'))}" if it.get("category") is not None else ""))
        rows.append([head, f"<pre class='sample'>{esc(it.get('prompt'))}</pre>",
                     f"<pre class='sample'>{esc(it.get('reasoning_a'))}</pre>",
                     f"<pre class='sample'>{esc(it.get('reasoning_b'))}</pre>"])
    columns = ["sample", "prompt", "reasoning A", "reasoning B"]
    return htmlkit.table(columns, rows, css_class="pairs", raw_columns=tuple(columns))


def capability_section(path) -> str:
    """Child - parent on the lm-eval suite, with paired bootstrap intervals (``harness capability``)."""
    from harness.analysis.capability import read_capability

    cap = read_capability(path)
    rows = [[r.task, r.metric, r.parent, r.child, r.diff,
             f"[{htmlkit.fmt_cell(r.ci_low)}, {htmlkit.fmt_cell(r.ci_high)}]", r.n, "yes" if r.significant else "no"]
            for r in cap.rows]
    return (f"<h3>child {esc(cap.child)} - parent {esc(cap.parent)}</h3>"
            + htmlkit.table(["task", "metric", "parent", "child", "child - parent", "95% interval", "n",
                             "significant"], rows))


def build_report(store: RunStore, refs: list[str], *, partial=False, criteria_path=None, seed=0,
                 studies=(), capability=(), allow_self_certified=False) -> str:
    """The HTML text of the report for runs ``refs`` (ids or folders)."""
    from harness.analysis.compare import compare_runs, open_run
    from harness.analysis.leaderboard import build_leaderboard, render_html_table

    if not refs:
        raise HarnessError("harness report needs at least one run id (see `harness runs`)")
    runs = [open_run(store, ref) for ref in refs]
    seen = {}
    for run, ref in zip(runs, refs):
        if run.dir.resolve() in seen:
            raise HarnessError(f"run {run.id} is given more than once ({seen[run.dir.resolve()]} and {ref}); a run "
                               "compared with itself has no differences: name each run once")
        seen[run.dir.resolve()] = ref
    sections = []
    try:
        board = build_leaderboard(store, run_ids={r.id for r in runs}, include_subsets=True)  # the runs named
        sections.append(("Leaderboard", render_html_table(board)))
    except HarnessError as exc:
        sections.append(("Leaderboard", f"<p class='note'>{esc(exc)}</p>"))
    per_run = []
    for run in runs:
        per_run.append(run_section(run, run.read_metrics(), run.read_samples()))
    sections.append(("Runs", "".join(per_run)))
    criteria = None
    if criteria_path:
        from harness.analysis.criteria import load_criteria

        criteria = load_criteria(criteria_path)
    comparisons, first_on_task, compared = [], {}, set()
    for run, ref in zip(runs, refs):
        task = run.manifest.task.name
        if task not in first_on_task:
            first_on_task[task] = (ref, run.id)
            continue
        compared.add(frozenset((first_on_task[task][1], run.id)))
        result = compare_runs(store, first_on_task[task][0], ref, partial=partial, seed=seed)
        verdicts = None
        if criteria:
            from harness.analysis.criteria import evaluate

            from harness.analysis.self_certification import certify

            verdicts = certify(evaluate(criteria[1], result), result, allow_self_certified)
        comparisons.append(comparison_section(result, verdicts, criteria and criteria[0]))
    if comparisons:
        sections.append(("Comparisons", "".join(comparisons)))
    pairwise = other_pairwise(store, runs, compared)
    if pairwise:
        sections.append(("Pairwise judgments", pairwise))
    if capability:
        sections.append(("Capability (lm-eval)", "".join(capability_section(path) for path in capability)))
    if studies:
        from harness.human_eval.report import human_eval_section

        sections.append(("Human preference", human_eval_section(list(studies), store.root)))
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    subtitle = f"{len(runs)} run(s) · generated {stamp} by harness report"
    return htmlkit.page("harness report", sections, subtitle)
