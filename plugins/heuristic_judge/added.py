"""What the reasoning adds beyond the content it judges (version 5, issue 29).

A trace that quotes its content earns word overlap with it without analysing it: under version 4 a
copy of the content tied or beat the real reasoning in most samples.  Copied spans are found with
``harness.copying`` (the one definition of copying: tokens inside a 4-word run that also occurs in
the content) and dropped before relevance and specificity count words, so a quote earns nothing and
a paraphrase earns what it says.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness import copy_tokens, copying

#: what joins sentences before the copy check: no word characters, so each sentence keeps its tokens
JOIN = " \n "


@dataclass(frozen=True)
class Added:
    """Per unique sentence, its own words (copied runs removed) and its copied share; the whole body's."""

    texts: list  # own words of each sentence, joined by spaces
    copied: list  # share of each sentence's tokens that are copied
    rate: float  # share of all the reasoning's tokens that are copied


def added(sentences: list[str], content: str) -> Added:
    """Copied runs may span sentences (a quote cut into steps), so the check runs on them joined."""
    c = copying(JOIN.join(sentences), content)
    texts, shares, k = [], [], 0
    for s in sentences:
        n = len(copy_tokens(s))
        flags = c.copied[k:k + n]
        toks = c.tokens[k:k + n]
        texts.append(" ".join(t for t, f in zip(toks, flags) if not f))
        shares.append(sum(flags) / n if n else 0.0)
        k += n
    return Added(texts, shares, c.rate)
