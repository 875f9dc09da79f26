"""Which sentences of a trace earn relevance and specificity credit (version 5, issue 29).

Version 4 credited every word the reasoning shares with its content, so a policy could earn the
reward by repeating the content: quoting it, listing its words in a template, or wrapping them in
sentences that say nothing ("It is important to consider the X in this context.").  Version 5
credits a sentence only for what it adds:

* a **quote** -- half or more of its tokens inside a run copied from the content
  (``harness.copying``, the one definition of copying) -- earns nothing; a sentence that restates a
  phrase of the content inside its own words ("... the civil rights movement.") keeps its credit;
* a **filler** sentence -- content words wrapped in generic words (``GENERIC``, stop words and the
  analysis vocabulary every trace uses) and nothing of its own -- earns nothing;
* a **repeat** -- the same sentence as an earlier one once the content's words are masked (one
  skeleton filled with different content words) -- earns nothing;
* the first sentence that describes the input ("The user is asking how to ...", coherence.DESCRIPTION)
  earns whatever it restates: a trace says once what it judges.

A sentence that earns nothing also counts against the reasoning (``unearned``: its share of the
sentences; lexical relevance counts times ``1 - unearned``), so adding one lowers the score.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .categories import term_categories
from .coherence import DESCRIPTION
from .text import ANALYSIS_WORDS, WORD, match_key, stem, stop_words

#: words that say nothing about any content: how a trace talks about itself and its task ("this step
#: considers ..."), importance and care ("it is important to carefully ..."), and mention verbs
GENERIC = frozenset(
    "step steps consider considers considered considering consideration mention mentions mentioned mentioning "
    "important importance carefully careful context contexts regard regarding regards relate relates related "
    "relating relation relevant assess assesses assessed assessing assessment evaluate evaluates evaluated "
    "evaluating evaluation examine examines examined examining point points aspect aspects matter matters "
    "thing things way ways case cases issue issues topic topics subject item items term terms talk talks "
    "talking discuss discusses discussed discussing discussion refer refers referred referring reference "
    "concern concerns concerned concerning note notes noted noting look looks looking need needs needed "
    "make makes made say says said tell tells seen see sees given give gives like kind sort type types "
    "part parts whole general generally certain certainly particular particularly overall clearly clear "
    "simply simple really actually just well hand".split())
#: hedges say how sure a sentence is, not what it adds: they do not save a filler sentence, but they
#: still count as words off the content's topic (hedging every sentence costs relevance, as in version 4)
HEDGE_WORDS = frozenset("perhaps maybe possibly possible probably likely arguably seemingly apparently".split())
#: a hedge opening a sentence ("Perhaps the user is asking ...") does not change what it describes
HEDGED = re.compile(r"^\W*(?:perhaps|maybe|possibly|it (?:may|might|could) be that)\s*,?\s*", re.IGNORECASE)
_DROP = ANALYSIS_WORDS | GENERIC
_GENERIC_STEMS = frozenset(stem(w) for w in _DROP)

QUOTE_SHARE = 0.5  # a sentence with at least this share of copied tokens is a quote
#: lexical relevance counts times (1 - UNEARNED_COST x the unearned share)
UNEARNED_COST = 1.0


@dataclass(frozen=True)
class Earned:
    """Per unique sentence: the text that earns credit ("" when none) and why; the unearned share."""

    texts: list
    kinds: list  # "earns", "quote", "filler" or "repeat"
    unearned: float  # share of the unique sentences that earn nothing
    copied: float  # share of the reasoning's tokens copied from the content


def own_terms(sentence: str, hedges: bool = True) -> set:
    """Topical words of a sentence without the analysis and generic vocabulary (stems); ``hedges``:
    keep hedge words."""
    stops = stop_words()
    out = set()
    for w in WORD.findall(sentence.lower()):
        w = w.split("'", 1)[0]  # "assistant's" is "assistant"
        if len(w) > 2 and w not in stops and w not in _DROP and (hedges or w not in HEDGE_WORDS):
            s = stem(w)
            if s not in _GENERIC_STEMS:
                out.add(s)
    return out


def earned(sentences: list, copied_shares: list, content_keys: set, content_cats: frozenset,
           copied_rate: float) -> Earned:
    """Classify each unique sentence; ``copied_shares`` are their copied shares (added.py)."""
    def on_topic(t):
        return match_key(t) in content_keys or bool(term_categories(t) & content_cats)

    texts, kinds, skeletons = [], [], set()
    unearned = 0
    described = False
    for s, share in zip(sentences, copied_shares):
        terms = own_terms(s, hedges=False)
        on = {t for t in terms if on_topic(t)}
        skeleton = " ".join("_" if match_key(stem(w)) in content_keys else w for w in WORD.findall(s.lower()))
        if not described and DESCRIPTION.match(HEDGED.sub("", s)):
            described, kind = True, "earns"
        elif share >= QUOTE_SHARE:
            kind = "quote"
        elif on and not terms - on:
            kind = "filler"
        elif on and skeleton in skeletons:
            kind = "repeat"
        else:
            kind = "earns"
        if on:
            skeletons.add(skeleton)
        kinds.append(kind)
        texts.append(s if kind == "earns" else "")
        unearned += kind != "earns"
    # a share of sentences, not of tokens: longer earning sentences (hedged, padded) must not dilute it
    return Earned(texts, kinds, unearned / len(sentences) if sentences else 0.0, copied_rate)
