"""Paired statistics for comparing two runs on the same samples.

* :func:`paired_bootstrap` -- a 95 % interval for the difference B - A of any
  statistic of paired per-sample values (accuracy, F1, mean judge score), with
  ``scipy.stats.bootstrap(paired=True)``: resampling the shared samples keeps
  each sample's A and B values together, which is what makes the interval
  paired.  scipy can express F1 differences too: F1 is not a mean of
  per-sample values, but with ``paired=True`` scipy resamples indices and hands
  every resampled (gold, pred A, pred B) triple to a vectorized statistic, so
  no resampling of our own is needed.  The percentile method is used because
  BCa's jackknife is undefined (NaN) when a statistic is constant, which is
  common for small or saturated guard benchmarks.
* :func:`mcnemar_exact` -- McNemar's exact test on paired correctness,
  ``statsmodels.stats.contingency_tables.mcnemar(exact=True)``: a two-sided
  binomial test on the discordant pairs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 9999
#: resampled values held at once (scipy's ``batch``): 9999 resamples of 5000 samples x 4 arrays would take 1.6 GB;
#: batching draws the same resamples from the same generator, so intervals are unchanged
BATCH_ELEMENTS = 2 ** 23


@dataclass
class Difference:
    """B - A for one statistic on the shared samples, with its bootstrap interval."""

    a: float
    b: float
    diff: float
    ci_low: float
    ci_high: float
    n: int
    confidence: float = CONFIDENCE

    @property
    def significant(self) -> bool:
        """The interval excludes zero."""
        return self.ci_low > 0 or self.ci_high < 0

    def to_dict(self):
        return {**asdict(self), "significant": self.significant}


def paired_bootstrap(statistic, samples, *, n_resamples=RESAMPLES, confidence=CONFIDENCE, seed=0) -> tuple:
    """Percentile interval of ``statistic(*samples)`` over paired resamples.

    ``samples`` are equal-length 1-D arrays, resampled together;
    ``statistic(*arrays, axis=-1)`` must be vectorized over the last axis.
    Returns (value, low, high).  Deterministic for a given ``seed``.
    """
    from scipy.stats import bootstrap

    arrays = [np.asarray(s) for s in samples]
    value = float(statistic(*arrays, axis=-1))
    if len(arrays[0]) < 2:
        return value, float("nan"), float("nan")
    batch = max(1, BATCH_ELEMENTS // (len(arrays[0]) * len(arrays)))
    res = bootstrap(tuple(arrays), statistic, paired=True, vectorized=True, n_resamples=n_resamples,
                    confidence_level=confidence, method="percentile", random_state=np.random.default_rng(seed),
                    batch=batch if batch < n_resamples else None)
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    # A constant statistic gives a degenerate (or NaN) interval: the difference is exact.
    if np.isnan(low) or np.isnan(high):
        low = high = value
    return value, low, high


def mean_difference(values_a, values_b, **kw) -> Difference:
    """B - A of the mean of paired per-sample values (correctness 0/1, judge scores)."""
    a, b = np.asarray(values_a, dtype=float), np.asarray(values_b, dtype=float)
    if a.shape != b.shape:
        raise ValueError("paired values must have the same length")

    def stat(x, y, axis=-1):
        return np.mean(y, axis=axis) - np.mean(x, axis=axis)

    diff, low, high = paired_bootstrap(stat, (a, b), **kw)
    return Difference(float(a.mean()), float(b.mean()), diff, low, high, len(a))


def f1_from_arrays(gold, pred, axis=-1):
    """Binary F1 of boolean arrays (True = positive class), vectorized; 0 when undefined (as scikit-learn)."""
    tp = np.sum(gold & pred, axis=axis)
    fp = np.sum(~gold & pred, axis=axis)
    fn = np.sum(gold & ~pred, axis=axis)
    denom = 2 * tp + fp + fn
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)


def f1_difference(gold, pred_a, pred_b, positive, **kw) -> Difference:
    """B - A of binary F1 for ``positive``; a missing prediction (None) is never positive-correct."""
    g = np.array([x == positive for x in gold])
    pa = np.array([x == positive for x in pred_a])
    pb = np.array([x == positive for x in pred_b])

    def stat(gg, xa, xb, axis=-1):
        return f1_from_arrays(gg, xb, axis) - f1_from_arrays(gg, xa, axis)

    diff, low, high = paired_bootstrap(stat, (g, pa, pb), **kw)
    return Difference(float(f1_from_arrays(g, pa)), float(f1_from_arrays(g, pb)), diff, low, high, len(g))


@dataclass
class McNemar:
    """Exact McNemar test on paired correctness."""

    both_right: int
    a_only: int  # right in A, wrong in B
    b_only: int  # wrong in A, right in B
    both_wrong: int
    statistic: float
    pvalue: float

    def to_dict(self):
        return asdict(self)


def mcnemar_exact(correct_a, correct_b) -> McNemar:
    from statsmodels.stats.contingency_tables import mcnemar

    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    table = [[int(np.sum(a & b)), int(np.sum(a & ~b))], [int(np.sum(~a & b)), int(np.sum(~a & ~b))]]
    res = mcnemar(table, exact=True)
    return McNemar(table[0][0], table[0][1], table[1][0], table[1][1], float(res.statistic), float(res.pvalue))


def auroc_from_arrays(gold, score, axis=-1):
    """AUROC of boolean ``gold`` against ``score``, vectorized over leading axes (for the bootstrap).

    The Mann-Whitney form: (rank sum of positives - n+(n+ + 1)/2) / (n+ n-), with
    average ranks for ties (``scipy.stats.rankdata``), equal to scikit-learn's
    ``roc_auc_score``; NaN where a row has only one class.
    """
    from scipy.stats import rankdata

    ranks = rankdata(score, axis=axis)
    n_pos = np.sum(gold, axis=axis)
    n_neg = gold.shape[axis] - n_pos
    rank_sum = np.sum(np.where(gold, ranks, 0.0), axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def auroc_difference(gold, score_a, score_b, positive, **kw) -> Difference:
    """B - A of AUROC on paired scores (``gold`` labels; ``positive`` is the class the scores are for).

    A resample with only one class has no AUROC; it counts as no difference (0),
    which matters only for tiny or nearly one-class sets.
    """
    g = np.array([x == positive for x in gold])
    a, b = np.asarray(score_a, dtype=float), np.asarray(score_b, dtype=float)

    def stat(gg, xa, xb, axis=-1):
        return np.nan_to_num(auroc_from_arrays(gg, xb, axis) - auroc_from_arrays(gg, xa, axis), nan=0.0)

    diff, low, high = paired_bootstrap(stat, (g, a, b), **kw)
    return Difference(float(auroc_from_arrays(g, a)), float(auroc_from_arrays(g, b)), diff, low, high, len(g))


def wilson_interval(successes: float, n: int) -> tuple[float | None, float | None]:
    """Wilson 95 % interval of successes/n (statsmodels); (None, None) when n is 0."""
    from statsmodels.stats.proportion import proportion_confint

    if n == 0:
        return None, None
    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
    return float(low), float(high)
