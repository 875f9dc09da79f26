"""Text units of the heuristic judge: sentences, word forms and the word lists every criterion shares."""

from __future__ import annotations

import re
from functools import lru_cache

from .categories import ANY_CATEGORY

WORD = re.compile(r"[a-z][a-z0-9']+")
SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
MARKUP = re.compile(r"^[\s#>*_`\-•]+|[*_`]+$")
HEADING = re.compile(r"^\s*(#{1,6}\s|\*\*[^*]+\*\*:?\s*$|[^.!?]{1,60}:\s*$)")
BULLET = re.compile(r"^\s*[-*•]\s+\S")
CONNECTIVES = re.compile(
    r"\b(first(?:ly)?|second(?:ly)?|then|next|finally|therefore|thus|hence|because|since|so|however|"
    r"consequently|as a result|in conclusion|overall)\b", re.IGNORECASE)
CONCLUSION_CUE = re.compile(
    r"\b(therefore|thus|hence|in conclusion|conclusion|conclude[sd]?|overall|in summary|to summarize|finally|"
    r"final|consequently|as a result|based on (?:this|the|these|my)|classif(?:y|ied)|determined?|assessment)\b",
    re.IGNORECASE)
TRUNCATED = re.compile(r"[.!?:)\]\"'`*]\s*$")

# Function words: natural sentences are ~40% function words, keyword lists ~0%.
FUNCTION_WORDS = frozenset(
    "a an the is are was were be been being of to in on for with by as at from that this these those it its "
    "and or but not no if than then so such which who whom what when where how any all some can could would "
    "should may might must will do does did has have had there their they them he she his her we our you your "
    "i me my about into over under without because since while".split())

# Words every safety analysis uses whatever the content; they say nothing about *this* content.
ANALYSIS_WORDS = frozenset(
    "content request requests requested user users human assistant ai response responses respond harmful "
    "unharmful harm harms harmless safe safety unsafe analysis analyze analyse analyzing reasoning reason step "
    "steps task tasks determine determining determined conclusion conclude information potential potentially "
    "considered consider considering classify classified classification label refusal compliance comply "
    "provide provided provides providing contain contains containing indicate indicates indication asking "
    "asks ask asked involve involves involving appears appear seems intent intention inappropriate "
    "appropriate context specific specifically statement question none also however therefore overall "
    "based thus any does not whether other promote promotes risk risks lead could would might may".split())

#: share of lexical relevance given to character 4-gram similarity (the rest: shared words)
STEMS = re.compile(r"(ing|edly|ed|ies|es|s|ly)$")


def stem(word: str) -> str:
    """Crude suffix stripping: enough to match 'weapons'/'weapon', 'hacking'/'hack' cheaply."""
    if len(word) > 5:
        return STEMS.sub("", word)
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


@lru_cache(maxsize=1)
def stop_words() -> frozenset:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | FUNCTION_WORDS


def topical_terms(text: str, drop=frozenset()) -> set:
    stops = stop_words()
    return {stem(w) for w in WORD.findall(text.lower()) if len(w) > 2 and w not in stops and w not in drop}


def char_profile(terms) -> dict:
    """Counts of the character 4-grams of some words (each padded by a space at both ends)."""
    grams: dict = {}
    for w in terms:
        w = f" {w} "
        for k in range(len(w) - 3):
            g = w[k:k + 4]
            grams[g] = grams.get(g, 0) + 1
    return grams


def cosine(a: dict, b: dict) -> float:
    if not a or not b:
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    dot = sum(v * b.get(g, 0) for g, v in a.items())
    return dot / (sum(v * v for v in a.values()) * sum(v * v for v in b.values())) ** 0.5


def match_key(term: str) -> str:
    """Terms match when their first six letters do: the reasoning paraphrases the content with other
    forms of its words ('confusing'/'confusion', 'explosive'/'explosion') that suffix stripping misses."""
    return term[:6]


class Units:
    """A text cut into sentences, with headings and duplicates told apart."""

    def __init__(self, text: str):
        self.lines = [line for line in text.splitlines() if line.strip()]
        self.raw = []  # non-heading sentences, in order, duplicates kept
        for piece in SENTENCE_SPLIT.split(text):
            piece = piece.strip()
            if not piece:
                continue
            if HEADING.match(piece) and len(WORD.findall(piece.lower())) <= 10:
                # "## Conclusion for Task 1: The request is harmful." carries a sentence after the colon
                rest = piece.split(":", 1)[1].strip() if ":" in piece else ""
                if len(WORD.findall(rest.lower())) < 4:
                    continue
            clean = MARKUP.sub("", piece).strip()
            if len(WORD.findall(clean.lower())) >= 1:
                self.raw.append(clean)
        seen, self.unique = set(), []
        for sent in self.raw:
            key = " ".join(WORD.findall(sent.lower()))
            if key not in seen:
                seen.add(key)
                self.unique.append(sent)

    @staticmethod
    @lru_cache(maxsize=1 << 16)
    def is_keyword_list(sentence: str) -> bool:
        """Keywords posing as a sentence: almost no function words, or four or more harm categories
        named in one sentence (an enumeration, not an analysis of any of them)."""
        words = WORD.findall(sentence.lower())
        if len(words) < 4:
            return False
        if sum(w in FUNCTION_WORDS for w in words) / len(words) < 0.12:
            return True
        return len({m.lastgroup for m in ANY_CATEGORY.finditer(sentence)}) >= 4



def clip01(x: float) -> float:
    return 0.0 if x < 0 else 1.0 if x > 1 else float(x)
