"""harness.score.stats against scipy/statsmodels and against answers worked out by hand."""

from math import comb

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import f1_score

from harness.score.stats import f1_difference, f1_from_arrays, mcnemar_exact, mean_difference, paired_bootstrap


def paired_flags(n_both_right, n_a_only, n_b_only, n_both_wrong):
    a = [1] * n_both_right + [1] * n_a_only + [0] * n_b_only + [0] * n_both_wrong
    b = [1] * n_both_right + [0] * n_a_only + [1] * n_b_only + [0] * n_both_wrong
    return a, b


def test_mcnemar_exact_p_is_the_two_sided_binomial_on_discordant_pairs():
    a, b = paired_flags(50, 3, 12, 20)
    res = mcnemar_exact(a, b)
    assert (res.both_right, res.a_only, res.b_only, res.both_wrong) == (50, 3, 12, 20)
    by_hand = min(1.0, 2 * sum(comb(15, k) for k in range(0, 4)) / 2 ** 15)
    assert res.pvalue == pytest.approx(by_hand, rel=1e-12)
    assert res.pvalue == pytest.approx(0.03515625)  # 2 * 576 / 32768
    assert res.pvalue == pytest.approx(sps.binomtest(3, 15, 0.5).pvalue)
    assert res.statistic == 3


def test_mcnemar_is_symmetric_and_one_when_balanced():
    a, b = paired_flags(10, 7, 7, 5)
    assert mcnemar_exact(a, b).pvalue == pytest.approx(1.0)
    a, b = paired_flags(10, 1, 9, 5)
    assert mcnemar_exact(a, b).pvalue == pytest.approx(mcnemar_exact(b, a).pvalue)
    assert mcnemar_exact(a, b).pvalue == pytest.approx(2 * (1 + 10) / 2 ** 10)


def test_accuracy_interval_matches_scipy_paired_percentile_bootstrap():
    rng = np.random.default_rng(7)
    a = rng.random(300) < 0.6
    b = np.where(rng.random(300) < 0.85, a, ~a)
    d = mean_difference(a, b, seed=3, n_resamples=2000)
    ref = sps.bootstrap((a.astype(float), b.astype(float)), lambda x, y, axis: y.mean(axis) - x.mean(axis),
                        paired=True, vectorized=True, n_resamples=2000, method="percentile",
                        random_state=np.random.default_rng(3))
    assert d.ci_low == pytest.approx(ref.confidence_interval.low)
    assert d.ci_high == pytest.approx(ref.confidence_interval.high)
    assert d.diff == pytest.approx(b.mean() - a.mean())
    assert d.n == 300


def test_bootstrap_is_deterministic_for_a_seed():
    rng = np.random.default_rng(0)
    a, b = rng.random(200) < 0.5, rng.random(200) < 0.6
    first, again = mean_difference(a, b, seed=11), mean_difference(a, b, seed=11)
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)
    other = mean_difference(a, b, seed=12)
    assert (first.ci_low, first.ci_high) != (other.ci_low, other.ci_high)


def test_interval_contains_the_true_difference_of_a_constructed_population():
    """B is A with 10% of A's wrong answers made right: the true accuracy gain is known exactly."""
    rng = np.random.default_rng(42)
    n = 4000
    a = rng.random(n) < 0.55
    wrong = np.flatnonzero(~a)
    b = a.copy()
    b[rng.choice(wrong, size=len(wrong) // 10, replace=False)] = True
    true_gain = (len(wrong) // 10) / n
    d = mean_difference(a, b, seed=0)
    assert d.ci_low <= true_gain <= d.ci_high
    assert d.significant and d.ci_low > 0


def test_pairing_makes_the_interval_narrower_than_independent_resampling():
    """Highly correlated runs: the paired interval must be far tighter than an unpaired one."""
    rng = np.random.default_rng(5)
    a = rng.random(500) < 0.6
    b = np.where(rng.random(500) < 0.95, a, ~a)
    paired = mean_difference(a, b, seed=0)
    unpaired = sps.bootstrap((a.astype(float), b.astype(float)), lambda x, y, axis: y.mean(axis) - x.mean(axis),
                             paired=False, vectorized=True, n_resamples=2000, method="percentile",
                             random_state=np.random.default_rng(0))
    width_unpaired = unpaired.confidence_interval.high - unpaired.confidence_interval.low
    assert (paired.ci_high - paired.ci_low) < 0.6 * width_unpaired


def test_identical_runs_give_an_exact_zero_interval():
    a = [1, 0, 1, 1, 0, 1]
    d = mean_difference(a, a)
    assert (d.diff, d.ci_low, d.ci_high) == (0.0, 0.0, 0.0)
    assert not d.significant


def test_vectorized_f1_equals_scikit_learn_on_resamples():
    rng = np.random.default_rng(1)
    gold = rng.random(120) < 0.4
    pred = np.where(rng.random(120) < 0.7, gold, ~gold)
    idx = rng.integers(0, 120, size=(50, 120))
    ours = f1_from_arrays(gold[idx], pred[idx], axis=-1)
    ref = [f1_score(gold[i], pred[i], zero_division=0) for i in idx]
    np.testing.assert_allclose(ours, ref)
    assert f1_from_arrays(np.array([False, False]), np.array([False, False])) == 0.0


def test_f1_difference_value_and_interval():
    rng = np.random.default_rng(2)
    gold = np.where(rng.random(400) < 0.5, "harmful", "safe")
    flip = lambda p: np.where(rng.random(400) < p, gold, np.where(gold == "harmful", "safe", "harmful"))  # noqa: E731
    pa, pb = flip(0.7), flip(0.9)
    d = f1_difference(gold, pa, pb, "harmful", seed=0)
    fa = f1_score(gold, pa, pos_label="harmful")
    fb = f1_score(gold, pb, pos_label="harmful")
    assert d.a == pytest.approx(fa) and d.b == pytest.approx(fb)
    assert d.diff == pytest.approx(fb - fa)
    assert d.ci_low < d.diff < d.ci_high
    assert d.ci_low > 0  # a 20-point accuracy gap on 400 samples is not noise


def test_paired_bootstrap_of_a_single_sample_has_no_interval():
    value, low, high = paired_bootstrap(lambda x, axis=-1: np.mean(x, axis=axis), ([1.0],))
    assert value == 1.0 and np.isnan(low) and np.isnan(high)
