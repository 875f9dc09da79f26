"""Relevance: the reasoning is about *this* content.

Lexical overlap of its topical words with the content's (a word matches another form of it by its
first six letters, or a harm category the content touches: 'theft' for 'steal'), and character
4-gram similarity of the two (so traces sharing no whole word with a short prompt are still
ordered); the judge adds the MiniLM cosine (embeddings.py) when on.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .categories import content_categories, term_categories
from .text import ANALYSIS_WORDS, Units, char_profile, cosine, match_key, topical_terms

#: share of lexical relevance given to character 4-gram similarity (the rest: shared words)
CHAR_WEIGHT = 0.2
#: content words a trace must speak of for full recall (at most the content's); chosen with the weights
#: (benchmarks/judge_weights_choice.py).  Version 3 had 10: with a long response in the content, any
#: trace on a similar topic reached it, and another sample's reasoning lost little relevance.
RECALL_CAP = 20


@lru_cache(maxsize=4096)
def content_profile(content: str) -> dict:
    return char_profile(topical_terms(content))


@lru_cache(maxsize=4096)
def content_topical(content: str) -> frozenset:
    """The content's topical words (one content is judged with many completions and copies)."""
    return frozenset(topical_terms(content))


@lru_cache(maxsize=4096)
def content_key_set(content: str) -> frozenset:
    return frozenset(match_key(t) for t in content_topical(content))


def analysis_terms(sentence: str) -> set:
    return topical_terms(sentence, ANALYSIS_WORDS)


@dataclass
class Topic:
    """The reasoning's topical words against the content's, shared by relevance and specificity.

    A word of the reasoning is on topic when it matches a content word (first six letters) or names a
    harm category the content touches; keyword lists name words without saying anything about them,
    so their words count against precision but earn nothing.
    """

    content_terms: set
    content_keys: set
    content_cats: frozenset
    own: list  # topical terms of each unique sentence
    prose: list  # whether each unique sentence is prose (not a keyword list)
    reasoning_terms: set
    spoken: set  # terms of the prose sentences
    said_terms: set  # the content's words the prose speaks of, by form or by harm category
    texts: list  # the words of each unique sentence that count (copied runs removed in version 5)

    def on_topic(self, terms) -> set:
        return {t for t in terms if match_key(t) in self.content_keys or term_categories(t) & self.content_cats}


def topic(units: Units, content: str, own_texts: list[str] | None = None, terms_of=None) -> Topic:
    """``own_texts``: the text of each unique sentence that earns credit (analysis.py; version 5: "" for
    a quote, filler or repeat); None counts every sentence (version 4).  ``terms_of``: a sentence's
    topical words (version 5 also drops generic words); default all but the analysis vocabulary."""
    unique = units.unique
    own_texts = unique if own_texts is None else own_texts
    content_terms = content_topical(content)
    content_keys = content_key_set(content)
    content_cats = content_categories(content)
    own = [(terms_of or analysis_terms)(s) for s in own_texts]
    prose = [not Units.is_keyword_list(s) for s in unique]
    reasoning_terms = set().union(*own)
    spoken = set().union(*(t for t, ok in zip(own, prose) if ok))
    spoken_keys = {match_key(t) for t in spoken}
    spoken_cats = set().union(*(term_categories(t) for t in spoken))
    said_terms = {t for t in content_terms if match_key(t) in spoken_keys or term_categories(t) & spoken_cats}
    return Topic(content_terms, content_keys, content_cats, own, prose, reasoning_terms, spoken, said_terms,
                 list(own_texts))


def lexical_relevance(t: Topic, content: str) -> float:
    if t.content_terms and t.reasoning_terms:
        precision = len(t.on_topic(t.spoken)) / len(t.reasoning_terms)
        recall = len(t.said_terms) / min(len(t.content_terms), RECALL_CAP)
        # saturating but strictly increasing in precision: any off-topic padding costs something
        words = (1.25 * precision / (precision + 0.25) * min(1.0, recall)) ** 0.5
    else:
        words = 0.0
    # character 4-grams of the topical words on both sides: graded where no whole word is shared (a
    # short prompt the reasoning paraphrases), so an unrelated trace does not tie with the real one;
    # the prose's words are diluted by any off-topic text, as precision is
    grams = cosine(char_profile(t.spoken), content_profile(content)) if t.content_terms else 0.0
    return (1 - CHAR_WEIGHT) * words + CHAR_WEIGHT * grams


def relevance_text(units: Units, t: Topic) -> str:
    """The encoder sees only its first tokens: give it the sentences that say something about the
    content (template lines like "Analyze the request." carry no signal)."""
    topical = [s for s, terms in zip(t.texts, t.own) if t.on_topic(terms)]
    return " ".join(topical or t.texts)
