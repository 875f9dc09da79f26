"""The text of a ``harness judge-check`` report: catch rate per degradation and criterion."""

from __future__ import annotations

from harness.render.text import table


def render_validation(report) -> str:
    """The catch-rate table of a :class:`harness.judge.validation.ValidationReport`."""
    names = []
    for r in report.results:
        names += [c for c in r.rates if c not in names]
    names = [c for c in names if c != "composite"] + ["composite"]
    rows = []
    for r in report.results:
        row = {"degradation": r.name, "n": r.n, "own": r.criterion}
        for c in names:
            rate = r.rates.get(c)
            if rate is None or rate.rate is None:
                row[c] = "-"
            else:
                mark = "*" if c == r.criterion else ""
                row[c] = f"{rate.rate:.2f}{mark} [{rate.ci_low:.2f},{rate.ci_high:.2f}]"
        rows.append(row)
    head = (f"{report.identity} on {report.source}: {report.n_samples} traces"
            + (f" ({report.n_skipped} without reasoning or verdict left out)" if report.n_skipped else "")
            + "\ncatch rate = share of samples whose original scores strictly better than the degraded copy "
              "(ties fail), Wilson 95% interval; * = the criterion meant to catch it")
    return head + "\n" + table(rows, ["degradation", "n", "own"] + names)
