"""When a human-preference criterion counts as shown, and how many items a study needs to show it.

The rule (:data:`RULE`): a criterion "humans prefer B's reasoning at >= T" is

* **PASS** when, over the items whose raters' majority is not a tie, the
  candidate's share has a Wilson 95 % interval whose *lower* bound is >= T,
  and the exact one-sided binomial test of "share <= 50 %" rejects at
  alpha = 0.05 (humans prefer B at all);
* **FAIL** when the interval's *upper* bound is below T (shown not to hold);
* **NOT SHOWN** otherwise, with the number of items a study would need: the
  smallest number of decided items at which the rule passes with 80 % power if
  the true share were the observed one, scaled up by the observed tie rate.

A point estimate above T is never a pass by itself: 6 of 9 (67 %) has the
interval [35 %, 88 %] and p = 0.25.

Power is exact: for n decided items the rule passes exactly when the wins
reach a critical count k*(n) (both conditions grow with the wins), so the
power at a true share p is P(Binomial(n, p) >= k*(n)).  `human-eval plan`
prints it beside statsmodels' normal approximation (Cohen's h, one-sample
``NormalIndPower``), the textbook figure a reviewer can check by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ALPHA = 0.05
POWER = 0.8
MAX_ITEMS = 20000
RULE = ("PASS when the Wilson 95% interval of the candidate's share of decided items (ties excluded) lies at or "
        "above the threshold and the exact one-sided binomial test of share <= 50% rejects at alpha 0.05; FAIL "
        "when the interval lies below the threshold; otherwise NOT SHOWN")


def wilson_low_high(wins, n, alpha: float = ALPHA):
    from statsmodels.stats.proportion import proportion_confint

    return proportion_confint(wins, n, alpha=alpha, method="wilson")


def one_sided_p(wins: int, n: int) -> float | None:
    """Exact binomial p-value of "share <= 50 %" against "share > 50 %" (scipy)."""
    from scipy.stats import binomtest

    return None if n == 0 else float(binomtest(wins, n, 0.5, alternative="greater").pvalue)


def critical_wins(n: int, threshold: float, alpha: float = ALPHA) -> int | None:
    """The fewest wins out of ``n`` decided items with which the rule passes (None: no count passes)."""
    import numpy as np
    from scipy.stats import binom

    k = np.arange(n + 1)
    low, _ = wilson_low_high(k, n, alpha)
    p = binom.sf(k - 1, n, 0.5)  # P(X >= k) under share 0.5
    ok = np.nonzero((low >= threshold) & (p <= alpha))[0]
    return int(ok[0]) if ok.size else None


def rule_power(n: int, share: float, threshold: float, alpha: float = ALPHA) -> float:
    """Probability that the rule passes with ``n`` decided items when the true share is ``share``."""
    from scipy.stats import binom

    k = critical_wins(n, threshold, alpha)
    return 0.0 if k is None else float(binom.sf(k - 1, n, share))


def powers(ns, share: float, threshold: float, alpha: float = ALPHA):
    """The rule's exact power for every n in the array ``ns`` at once.

    The Wilson lower bound L of k/n is the lower root of (k/n - L)^2 = z^2 L (1 - L) / n, so L >= T exactly
    when k/n >= T + z sqrt(T (1 - T) / n); the binomial test's critical count is scipy's inverse
    survival function.  :func:`rule_power` (statsmodels' interval) is the reference; tests check both agree.
    """
    import numpy as np
    from scipy.stats import binom, norm

    ns = np.asarray(ns, dtype=float)
    z = norm.ppf(1 - alpha / 2)
    k_wilson = np.ceil(ns * threshold + z * np.sqrt(threshold * (1 - threshold) * ns) - 1e-9)
    k_binom = binom.isf(alpha, ns, 0.5) + 1
    k = np.maximum(k_wilson, k_binom)
    return np.where(k <= ns, binom.sf(k - 1, ns, share), 0.0)


def decided_items_needed(share: float, threshold: float, power: float = POWER, alpha: float = ALPHA) -> int | None:
    """The smallest number of decided items at which the rule's exact power reaches ``power`` (None if the
    share does not exceed the threshold and 50 %, or if more than MAX_ITEMS are needed)."""
    import numpy as np

    if share <= threshold or share <= 0.5:
        return None
    reached = np.nonzero(powers(np.arange(1, MAX_ITEMS + 1), share, threshold, alpha) >= power)[0]
    return int(reached[0]) + 1 if reached.size else None


def normal_items(share: float, threshold: float, power: float = POWER, alpha: float = ALPHA) -> float | None:
    """statsmodels' normal approximation: one-sample test of share > threshold, Cohen's h, one-sided alpha/2
    (the lower bound of a two-sided 1 - alpha interval)."""
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    if share <= threshold:
        return None
    h = proportion_effectsize(share, threshold)
    return float(NormalIndPower().solve_power(effect_size=h, alpha=alpha / 2, power=power, ratio=0,
                                              alternative="larger"))


@dataclass
class Verdict:
    """One criterion judged by the rule, with what it would take to show it."""

    status: str  # "pass", "fail" or "not shown"
    share: float | None
    ci_low: float | None
    ci_high: float | None
    p_one_sided: float | None
    decided: int
    items: int
    items_needed: int | None  # items (ties included) for 80 % power at the observed share and tie rate
    reason: str


def judge(wins: int, losses: int, ties: int, threshold: float, alpha: float = ALPHA) -> Verdict:
    """The rule applied to one pair's outcomes (see the module docstring)."""
    decided, items = wins + losses, wins + losses + ties
    if decided == 0:
        return Verdict("not shown", None, None, None, None, 0, items, None, "no item with a decided majority yet")
    low, high = (float(x) for x in wilson_low_high(wins, decided, alpha))
    share, p = wins / decided, one_sided_p(wins, decided)
    if low >= threshold and p <= alpha:
        return Verdict("pass", share, low, high, p, decided, items, None,
                       f"the interval's lower bound {100 * low:.1f}% >= {100 * threshold:.0f}% and p = {p:.3g}")
    if high < threshold:
        return Verdict("fail", share, low, high, p, decided, items, None,
                       f"the interval's upper bound {100 * high:.1f}% < {100 * threshold:.0f}%")
    needed = decided_items_needed(share, threshold, POWER, alpha)
    if needed is None:
        why = (f"at the observed share {100 * share:.1f}% no number of items would show it"
               if share <= threshold or share <= 0.5 else f"more than {MAX_ITEMS} decided items needed")
        return Verdict("not shown", share, low, high, p, decided, items, None, why)
    tie_rate = ties / items
    total = math.ceil(needed / (1 - tie_rate)) if tie_rate < 1 else None
    return Verdict("not shown", share, low, high, p, decided, items, total,
                   f"interval [{100 * low:.1f}%, {100 * high:.1f}%] contains {100 * threshold:.0f}%; about "
                   f"{total} items ({needed} decided, tie rate {100 * tie_rate:.0f}%) give 80% power if the true "
                   f"share is the observed {100 * share:.1f}%")


@dataclass
class PlanRow:
    share: float
    decided: int | None
    items: int | None
    normal_decided: float | None
    power_at: float | None  # the exact power at ``decided`` (>= the target)


def plan(shares: list[float], threshold: float, power: float = POWER, alpha: float = ALPHA,
         tie_rate: float = 0.0) -> list[PlanRow]:
    """Items a study needs per hypothesised true share (exact rule power, and the normal approximation)."""
    rows = []
    for share in shares:
        n = decided_items_needed(share, threshold, power, alpha)
        rows.append(PlanRow(share, n, math.ceil(n / (1 - tie_rate)) if n else None,
                            normal_items(share, threshold, power, alpha),
                            rule_power(n, share, threshold, alpha) if n else None))
    return rows
