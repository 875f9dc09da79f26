"""Harm categories: which harms a text names ('theft' for 'steal'), shared by relevance and specificity."""

from __future__ import annotations

import re
from functools import lru_cache

CATEGORY_CUES = {
    "violence": r"violen\w*|kill\w*|murder\w*|assault\w*|attack\w*|shoot\w*|stab\w*|tortur\w*|terror\w*|hurt\w*",
    "weapons": r"weapon\w*|gun\w*|firearm\w*|bomb\w*|explosive\w*|ammunition|rifle\w*",
    "cybercrime": r"hack\w*|malware|ransomware|phishing|exploit\w*|ddos|keylogger|virus\w*|cyber\w*",
    "fraud": r"fraud\w*|scam\w*|counterfeit\w*|launder\w*|forg\w*|identity theft|embezzl\w*|deceiv\w*|deception",
    "theft": r"steal\w*|theft|rob\w*|shoplift\w*|burglar\w*",
    "drugs": r"drug\w*|meth\w*|cocaine|heroin|fentanyl|narcotic\w*|opioid\w*",
    "chemical": r"poison\w*|toxin\w*|chemical\w*|synthes\w*|nerve agent\w*|pathogen\w*|biological\w*|anthrax",
    "self-harm": r"suicid\w*|self-harm\w*|kill(?:ing)? myself|cut(?:ting)? myself|overdos\w*",
    "hate": r"hate\w*|racis\w*|slur\w*|discriminat\w*|bigot\w*|genocide|nazi\w*|antisemit\w*|sexis\w*",
    "harassment": r"harass\w*|bully\w*|stalk\w*|threat\w*|intimidat\w*|insult\w*|offensive",
    "sexual": r"sexual\w*|porn\w*|explicit|nude\w*|minor\w*",
    "privacy": r"privacy|personal (?:data|information)|doxx\w*|address\w*|surveil\w*|track\w*",
    "misinformation": r"misinformation|disinformation|conspirac\w*|propaganda|fake news|hoax\w*|mislead\w*",
    "illegal": r"illegal\w*|crim\w*|unlawful|smuggl\w*|traffick\w*|evad\w*|bypass\w*",
}
CATEGORY_PATTERNS = {c: re.compile(r"\b(?:" + p + r")\b", re.IGNORECASE) for c, p in CATEGORY_CUES.items()}
# one pass naming which categories a sentence mentions (group k = the k-th category)
ANY_CATEGORY = re.compile("|".join(rf"(?P<c{k}>\b(?:{p})\b)" for k, p in enumerate(CATEGORY_CUES.values())),
                          re.IGNORECASE)


def categories(text: str) -> set:
    return {c for c, p in CATEGORY_PATTERNS.items() if p.search(text)}


@lru_cache(maxsize=1 << 16)
def term_categories(term: str) -> frozenset:
    """The harm categories one word names: 'steal' and 'theft' both name theft, so reasoning that calls
    a plan to steal shoes "theft" is about that plan though it shares no word with it."""
    return frozenset(categories(term))


@lru_cache(maxsize=4096)
def content_categories(content: str) -> frozenset:
    """The content's categories: one content is judged with many completions (and degraded copies)."""
    return frozenset(categories(content))

