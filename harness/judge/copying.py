"""How much of a text is copied from the content it judges.

A trace that quotes the prompt or response it is judging earns lexical overlap
with that content without analysing it (issue 29: copies of the content beat
real reasoning under the v4 reward).  The copy rate is the share of a text's
word tokens that lie inside a run of at least ``n`` consecutive words that also
occurs in the content -- the n-gram containment measure of Broder ("On the
resemblance and containment of documents", 1997), computed per token so that
a quote inside real reasoning counts for its own length only.

One definition serves the judge (copied spans earn no credit), the pair
filters (chosen must not copy more than rejected) and the over-optimisation
monitor (copy rate over training), so all three agree on what a copy is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
#: words in a shared run before it counts as copied: 4 consecutive words rarely recur by chance
#: between an analysis and its content, while any quote of a clause has them
DEFAULT_N = 4


def words(text: str) -> list[str]:
    """Lower-cased word tokens (punctuation and markup dropped)."""
    return WORD.findall((text or "").lower())


@dataclass(frozen=True)
class Copying:
    """Which tokens of a text are copied from a content."""

    tokens: tuple[str, ...]
    copied: tuple[bool, ...]

    @property
    def rate(self) -> float:
        """Share of the text's tokens inside a copied run (0 for an empty text)."""
        return sum(self.copied) / len(self.tokens) if self.tokens else 0.0

    @property
    def n_copied(self) -> int:
        return sum(self.copied)

    def own_words(self) -> list[str]:
        """The tokens that are not part of a copied run: what the text adds."""
        return [t for t, c in zip(self.tokens, self.copied) if not c]


def ngrams(tokens, n: int) -> set:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def copying(text: str, content: str, n: int = DEFAULT_N) -> Copying:
    """Mark every token of ``text`` that lies in an ``n``-word run also found in ``content``."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    tokens = words(text)
    grams = ngrams(words(content), n)
    copied = [False] * len(tokens)
    if grams:
        for i in range(len(tokens) - n + 1):
            if tuple(tokens[i:i + n]) in grams:
                for k in range(i, i + n):
                    copied[k] = True
    return Copying(tuple(tokens), tuple(copied))


def copy_rate(text: str, content: str, n: int = DEFAULT_N) -> float:
    """Share of ``text``'s word tokens inside an ``n``-word run that also occurs in ``content``."""
    return copying(text, content, n).rate


def content_coverage(text: str, content: str, n: int = DEFAULT_N) -> float:
    """Share of ``content``'s tokens that ``text`` reproduces in copied runs (how much of it is quoted)."""
    return copying(content, text, n).rate
