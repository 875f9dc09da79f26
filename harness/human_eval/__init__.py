"""Blind human A/B preference studies of reasoning (issues 13 and 26).

``study`` draws the items and owns the study database, ``checks`` adds gold and
attention items and measures raters, ``raters`` makes raters sessions,
``answers`` records their versioned choices with history, ``stats`` turns them
into win rates, agreement and rankings, ``criteria`` judges the criteria by an
interval rule and plans sample sizes, ``export_pairs`` turns preferences into
DPO pairs, ``app`` (behind ``guard``) is the rating page and ``report`` the
section for ``harness report``.
"""
