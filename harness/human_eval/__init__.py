"""Blind human A/B preference studies of reasoning (issue 13).

``study`` draws the items and owns the study database, ``answers`` records
raters' choices, ``stats`` turns them into win rates, agreement and rankings,
``app`` is the rating web page and ``report`` the section for ``harness report``.
"""
