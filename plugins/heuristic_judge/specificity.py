"""Specificity: the reasoning names concrete elements of the content and harm categories the content
actually touches, rather than boilerplate."""

from __future__ import annotations

from .categories import categories, content_categories
from .relevance import Topic
from .text import Units, clip01


def specificity(units: Units, t: Topic, content: str) -> tuple[float, str]:
    """(score, why).  Counts what the prose says about the content: a list of keywords names, but
    analyses, nothing, so its words and categories earn no credit (its categories still count as named)."""
    unique = units.unique
    coverage = min(1.0, len(t.said_terms) / min(len(t.content_terms), 6)) if t.content_terms else 0.0
    density = sum(bool(t.on_topic(terms)) for terms, ok in zip(t.own, t.prose) if ok) / len(unique)
    named = categories(" ".join(t.texts))
    said_named = named if all(t.prose) else categories(" ".join(s for s, ok in zip(t.texts, t.prose) if ok))
    grounded = said_named & content_categories(content)
    # smoothed share of named categories the content touches: 0.5 when none is named, and every
    # ungrounded category named lowers it, even when none was grounded before
    category_score = (len(grounded) + 0.5) / (len(named) + 1)
    score = clip01(0.4 * coverage + 0.4 * density + 0.2 * category_score)
    why = (f"{len(t.said_terms)} content terms named, {density:.0%} of sentences about the content, "
           f"categories {sorted(grounded) or '-'}"
           + (f" (ungrounded: {sorted(named - grounded)})" if named - grounded else ""))
    return score, why
