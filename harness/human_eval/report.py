"""The study's figures as a section of ``harness report`` (escaped tables from harness.render.html)."""

from __future__ import annotations

from harness.render import html as htmlkit
from harness.render.html import esc


STATUS_CLASS = {"pass": "pass", "fail": "fail", "not shown": "skip"}


def pct(value):
    return None if value is None else round(100 * value, 1)


def study_section(study, res: dict) -> str:
    """HTML for one study's results (``res`` from :func:`harness.human_eval.stats.results`)."""
    names = res.get("rater_names", {})
    raters = ", ".join(f"{names.get(r, r)} [{r}] ({n})" if names.get(r, r) != r else f"{r} ({n})"
                       for r, n in res["raters"].items()) or "none yet"
    parts = [f"<h3>Blind A/B study {esc(study.study_id)}</h3>",
             (f"<p class='note'>{len(study.items)} items · runs {esc(', '.join(study.runs))} · "
              f"raters (items answered): {esc(raters)}</p>")]
    rows = [[w["candidate"], w["baseline"], w["question"], w["candidate_wins"], w["baseline_wins"], w["ties"],
             pct(w["win_rate"]), pct(w["ci_low"]), pct(w["ci_high"]), pct(w["win_rate_ties_half"]),
             w["sign_test_p"]] for w in res["win_rates"]]
    parts.append(htmlkit.table(["candidate", "baseline", "question", "wins", "losses", "ties", "win rate %",
                                "CI low %", "CI high %", "ties as half %", "sign test p"], rows,
                               css_class="human-win-rates"))
    if res["agreement"]:
        rows = [[a["question"], a["alpha"], a["alpha_items"], a["statistic"], a["items"], a["kappa"],
                 a["items_without_ties"], a["kappa_without_ties"]] for a in res["agreement"]]
        parts.append(htmlkit.table(["question", "Krippendorff's alpha", "alpha items", "kappa statistic", "items",
                                    "kappa", "items without ties", "kappa without ties"], rows,
                                   css_class="human-agreement"))
    if res["bradley_terry"]:
        rows = [[b["question"], b["run"], b["score"], b["ci_low"], b["ci_high"]] for b in res["bradley_terry"]]
        parts.append(htmlkit.table(["question", "run", "Bradley-Terry score", "CI low", "CI high"], rows,
                                   css_class="human-bradley-terry"))
    quality = res.get("rater_quality", [])
    if quality and (res.get("checks") or any(q["flagged"] for q in quality)):
        names = res.get("rater_names", {})
        rows = [[names.get(q["rater"], q["rater"]), q["rater"], q["items"], q["gold_right"], q["gold_answers"],
                 pct(q["gold_accuracy"]), q["attention_passed"], q["attention_items"],
                 "; ".join(q["flags"]) or "ok", "excluded" if q["rater"] in res.get("excluded_raters", []) else "kept"]
                for q in quality]
        parts.append(htmlkit.table(["rater", "id", "items", "gold right", "gold answers", "gold accuracy %",
                                    "attention passed", "attention items", "flags", "in the figures"], rows,
                                   css_class="human-rater-quality"))
    parts.append(f"<p class='note'>Criteria rule: {esc(res['rule'])}.</p>")
    rows = [[c["criterion"], f"{100 * c['threshold']:.0f}%", c["candidate"], pct(c["win_rate"]), pct(c["ci_low"]),
             pct(c["ci_high"]), c["decided"],
             f"<span class='{esc(STATUS_CLASS[c['status']])}'>{esc(c['status'])}</span>", c["items_needed"],
             c["reason"]] for c in res["criteria"]]
    parts.append(htmlkit.table(["criterion", "threshold", "candidate", "win rate %", "CI low %", "CI high %",
                                "decided items", "status", "items needed", "why"], rows,
                               css_class="human-criteria", raw_columns=("status",)))
    if res["judges"]:
        rows = [[name, j["items"], j["agree"], pct(j["agreement"])] for name, j in res["judges"].items()]
        parts.append(htmlkit.table(["judge", "items", "agree", "agreement %"], rows, css_class="human-judges"))
    if res.get("pairwise_judges"):
        rows = [[label, "; ".join(j["judged_as"]), j["items"], j["judged"], j["not_judged"], j["judge_ties"],
                 j["flips"], pct(j["flip_rate"]), j["compared"], j["agree"], pct(j["agreement"]), pct(j["ci_low"]),
                 pct(j["ci_high"])] for label, j in res["pairwise_judges"].items()]
        parts.append(htmlkit.table(["pairwise judge identity", "judged as", "items", "judged", "not judged",
                                    "judge ties", "position flips", "flip rate %", "compared", "agree",
                                    "agreement %", "CI low %", "CI high %"], rows, css_class="human-pairwise-judges"))
    parts += [f"<p class='note'>{esc(note)}</p>" for note in res.get("notes", [])]
    return "".join(parts)


def human_eval_section(study_ids: list[str], runs_dir=None) -> str:
    """The "Human preference" section body for ``harness report --study ID``."""
    from harness.human_eval import stats
    from harness.human_eval.judges import stored_judge_picks, stored_pairwise_picks
    from harness.human_eval.study import open_study

    out = []
    for study_id in study_ids:
        study = open_study(study_id, runs_dir)
        judges, notes = stored_judge_picks(study, runs_dir)
        pairwise, pairwise_notes = stored_pairwise_picks(study, runs_dir)
        res = stats.results(study, judges, pairwise=pairwise)
        res["notes"] = notes + pairwise_notes
        out.append(study_section(study, res))
    return "".join(out)
