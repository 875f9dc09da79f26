"""Guard scores as probabilities: metrics against hand values and scikit-learn, the AUROC bootstrap."""

import numpy as np
import pytest

from harness.records import Completion, SampleRecord
from harness.score.calibration import calibration_metrics, score_metrics
from harness.score.stats import auroc_difference, auroc_from_arrays

# Six samples, no score on a bin edge: gold 1 1 1 0 0 0.
GOLD = [1, 1, 1, 0, 0, 0]
SCORE = [0.95, 0.85, 0.45, 0.65, 0.25, 0.15]


def test_six_samples_by_hand():
    m = score_metrics(GOLD, SCORE)
    # AUROC: of the 9 (positive, negative) pairs the positive scores higher in 3 + 3 + 2 (0.45 loses to 0.65).
    assert m["auroc"] == pytest.approx(8 / 9)
    # Brier: mean squared error (0.05² + 0.15² + 0.55² + 0.65² + 0.25² + 0.15²) / 6.
    assert m["brier"] == pytest.approx((0.0025 + 0.0225 + 0.3025 + 0.4225 + 0.0625 + 0.0225) / 6)
    # Average precision: ranked P P N P N N, precision 1, 1, 3/4 at the positives.
    assert m["auprc"] == pytest.approx((1 + 1 + 0.75) / 3)
    # ECE: every sample alone in its bin: mean |gold - score| = (.05 + .15 + .55 + .65 + .25 + .15) / 6.
    assert m["ece"] == pytest.approx(1.8 / 6)
    assert [b["count"] for b in m["bins"]] == [1] * 6
    assert [round(b["low"], 1) for b in m["bins"]] == [0.1, 0.2, 0.4, 0.6, 0.8, 0.9]
    # At FPR <= 5 % no negative may be flagged: threshold 0.85 (above 0.65) catches 2 of 3 positives.
    assert (m["threshold"], m["tpr_at_target_fpr"], m["fpr_at_threshold"]) == (0.85, pytest.approx(2 / 3), 0.0)
    # Allowing one negative in three: threshold 0.45 catches every positive.
    loose = score_metrics(GOLD, SCORE, target_fpr=0.4)
    assert (loose["threshold"], loose["tpr_at_target_fpr"]) == (0.45, 1.0)


def test_equal_to_scikit_learn_on_random_scores():
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    rng = np.random.default_rng(7)
    gold = rng.integers(0, 2, 300)
    score = np.clip(0.35 * gold + rng.random(300) * 0.65, 0, 1).round(2)  # ties and edge values included
    m = score_metrics(gold.tolist(), score.tolist())
    assert m["auroc"] == pytest.approx(roc_auc_score(gold, score))
    assert m["auprc"] == pytest.approx(average_precision_score(gold, score))
    assert m["brier"] == pytest.approx(brier_score_loss(gold, score))
    prob_true, prob_pred = calibration_curve(gold, score, n_bins=10)
    # counts per bin taken independently: bins (0, .1], (.1, .2], ... closed on the right, [0, .1] first
    edges = np.linspace(0, 1, 11)
    counts = np.array([np.sum((score > lo) & (score <= hi)) + (np.sum(score == 0) if lo == 0 else 0)
                       for lo, hi in zip(edges[:-1], edges[1:])])
    counts = counts[counts > 0]
    assert sum(counts) == 300 and [b["count"] for b in m["bins"]] == counts.tolist()
    assert m["ece"] == pytest.approx(np.sum(counts / 300 * np.abs(prob_true - prob_pred)))


def record(i, gold, probs, verdicts=("harmful",)):
    completions = [Completion(sample_index=k, text="t", verdict=v, status="ok" if v else "fail",
                              label_probs=probs if k == 0 else None) for k, v in enumerate(verdicts)]
    return SampleRecord(id=str(i), task="t", gold=gold, completions=completions)


def test_samples_without_probability_are_counted_and_vote_share_scored():
    records = [record(0, "harmful", {"harmful": 0.9, "safe": 0.1}, ("harmful", "harmful")),
               record(1, "safe", {"harmful": 0.3, "safe": 0.7}, ("safe", None)),
               record(2, "harmful", None, ("safe", "harmful")),
               record(3, "safe", None, ("harmful", "safe"))]
    cal = calibration_metrics(records, "harmful")
    prob, votes = cal["probability"], cal["vote_share"]
    assert (prob["n"], prob["n_without_probability"]) == (2, 2)
    assert prob["auroc"] == 1.0 and prob["brier"] == pytest.approx((0.1 ** 2 + 0.3 ** 2) / 2)
    # vote shares: positives 1 and 0.5, negatives 0 (a failed parse is no positive vote) and 0.5;
    # pairs (1, 0) (1, 0.5) (0.5, 0) won, (0.5, 0.5) a tie: 3.5 of 4
    assert (votes["n"], votes["n_without_probability"]) == (4, 0)
    assert votes["auroc"] == pytest.approx(3.5 / 4)


def test_one_class_leaves_ranking_metrics_out_with_a_note():
    m = score_metrics([1, 1], [0.2, 0.9])
    assert m["auroc"] is None and m["auprc"] is None and m["brier"] == pytest.approx((0.64 + 0.01) / 2)
    assert "both classes" in m["notes"][0]


def test_auroc_bootstrap_statistic_and_interval():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    gold = rng.integers(0, 2, 80).astype(bool)
    noisy = rng.random(80).round(1)  # ties
    sharp = gold * 0.5 + rng.random(80) * 0.5
    assert auroc_from_arrays(gold, noisy) == pytest.approx(roc_auc_score(gold, noisy))
    labels = ["harmful" if g else "safe" for g in gold]
    d = auroc_difference(labels, noisy, sharp, "harmful", n_resamples=999)
    assert d.a == pytest.approx(roc_auc_score(gold, noisy)) and d.b == pytest.approx(roc_auc_score(gold, sharp))
    assert d.ci_low <= d.diff <= d.ci_high and d.significant and d.n == 80


def test_records_written_before_label_probs_load_and_count_as_without():
    old = {"id": "1", "task": "t", "gold": "harmful", "input": {"prompt": "p"},
           "completions": [{"sample_index": 0, "text": "Label: harmful", "verdict": "harmful", "status": "ok"}]}
    rec = SampleRecord.from_dict(old)
    assert rec.first.label_probs is None
    cal = calibration_metrics([rec], "harmful")
    assert cal["probability"]["n"] == 0 and cal["probability"]["n_without_probability"] == 1
    assert "vote_share" not in cal and cal["probability"]["auroc"] is None
