"""Guard scores as probabilities: ranking, calibration and an operating point (scikit-learn).

A run has up to two scores per sample for "is it the positive class":

* ``probability``: the first completion's probability of the positive label at the
  label position (``Completion.label_probs``, from the model);
* ``vote_share`` (k > 1 only): the fraction of the k completions whose verdict is
  the positive label (an unanswered completion is not a positive vote).

For each score: AUROC (``roc_auc_score``), AUPRC as average precision
(``average_precision_score``), the Brier score (``brier_score_loss``), ECE over
``N_BINS`` = 10 equal-width bins of [0, 1] from ``calibration_curve(strategy="uniform")``
(ECE = sum over non-empty bins of count/n * |fraction positive - mean score|; the
counts use the same bin edges and rule as scikit-learn: ``searchsorted`` on the
inner edges, so a score on an inner edge goes to the lower bin), and, for a target
false-positive rate (default 5 %), the ROC point (``roc_curve``) with the highest
true-positive rate whose false-positive rate is at most the target: its threshold
(flag when score >= threshold) and TPR.  Samples without a score are counted
(``n_without_probability``), never silently dropped.  Ranking metrics need both
classes among the scored samples; otherwise they are None with a note.
"""

from __future__ import annotations

import numpy as np

N_BINS = 10
TARGET_FPR = 0.05


def scores(records, positive: str) -> dict:
    """``{"probability": [(gold is positive, score | None)], "vote_share": [...]}`` (vote share for k > 1)."""
    out = {"probability": []}
    votes = any(len(r.completions) > 1 for r in records)
    if votes:
        out["vote_share"] = []
    for r in records:
        gold = r.gold == positive
        probs = r.first.label_probs
        out["probability"].append((gold, None if probs is None else float(probs.get(positive, 0.0))))
        if votes:
            share = sum(c.status == "ok" and c.verdict == positive for c in r.completions) / len(r.completions)
            out["vote_share"].append((gold, share))
    return out


def score_metrics(y_true, y_score, target_fpr=TARGET_FPR, n_bins=N_BINS) -> dict:
    """Every metric of one score on samples that all have one (lists of bools and floats in [0, 1])."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import (
        average_precision_score,
        brier_score_loss,
        roc_auc_score,
        roc_curve,
    )

    y = np.asarray(y_true, dtype=int)
    p = np.asarray(y_score, dtype=float)
    out = {"n": len(y), "n_positive": int(y.sum()), "auroc": None, "auprc": None, "brier": None, "ece": None,
           "n_bins": n_bins, "bins": [], "target_fpr": target_fpr, "threshold": None, "tpr_at_target_fpr": None,
           "fpr_at_threshold": None, "notes": []}
    if not len(y):
        out["notes"].append("no sample has a score")
        return out
    out["brier"] = float(brier_score_loss(y, p))
    prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
    counts = bin_counts(p, n_bins)
    filled = counts[counts > 0]
    out["ece"] = float(np.sum(filled / len(y) * np.abs(prob_true - prob_pred)))
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    out["bins"] = [{"low": float(edges[i]), "high": float(edges[i + 1]), "count": int(c),
                    "mean_score": float(mp), "fraction_positive": float(ft)}
                   for i, c, mp, ft in zip(np.flatnonzero(counts), filled, prob_pred, prob_true)]
    if len(set(y.tolist())) < 2:
        out["notes"].append("AUROC, AUPRC and the operating point need both classes among the scored samples")
        return out
    out["auroc"] = float(roc_auc_score(y, p))
    out["auprc"] = float(average_precision_score(y, p))
    fpr, tpr, thresholds = roc_curve(y, p)
    ok = np.flatnonzero(fpr <= target_fpr)
    best = ok[np.argmax(tpr[ok])]  # fpr[0] == 0, so there is always one
    if np.isfinite(thresholds[best]):  # the first ROC point (threshold inf) flags nothing
        out["threshold"] = float(thresholds[best])
    out["tpr_at_target_fpr"], out["fpr_at_threshold"] = float(tpr[best]), float(fpr[best])
    return out


def bin_counts(p, n_bins=N_BINS):
    """Samples per equal-width bin, binned exactly as ``calibration_curve(strategy="uniform")`` does."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.bincount(np.searchsorted(edges[1:-1], p), minlength=n_bins)


def calibration_metrics(records, positive: str, target_fpr=TARGET_FPR) -> dict:
    """The ``calibration`` section of metrics.json: per score, metrics on the samples that have it."""
    out = {"positive": positive}
    for name, pairs in scores(records, positive).items():
        scored = [(g, s) for g, s in pairs if s is not None]
        section = score_metrics([g for g, _ in scored], [s for _, s in scored], target_fpr)
        section["n_without_probability"] = len(pairs) - len(scored)
        out[name] = section
    return out


def curves(records, positive: str) -> dict:
    """ROC and precision-recall points and reliability bins of the probability score (for the report)."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    pairs = [(g, s) for g, s in scores(records, positive)["probability"] if s is not None]
    if len({g for g, _ in pairs}) < 2:
        return {}
    y, p = np.array([g for g, _ in pairs], dtype=int), np.array([s for _, s in pairs])
    fpr, tpr, _ = roc_curve(y, p)
    precision, recall, _ = precision_recall_curve(y, p)
    return {"roc": list(zip(fpr.tolist(), tpr.tolist())), "pr": list(zip(recall.tolist(), precision.tolist())),
            "bins": score_metrics(y, p)["bins"]}


#: metrics.json's calibration numbers the leaderboard ranks by (the probability score's)
LEADERBOARD_METRICS = ("auroc", "auprc", "brier", "ece")


def leaderboard_values(metrics: dict) -> dict:
    """``{name: (value, samples behind it)}`` of the probability score, for the runs that recorded one."""
    section = (metrics.get("calibration") or {}).get("probability") or {}
    return {name: (section[name], section.get("n") or 0) for name in LEADERBOARD_METRICS
            if section.get(name) is not None}
