"""``keyword-baseline``: a deterministic rule-based guard, the offline demo model.

It looks for harm-category keywords in the content, writes a short reasoning
that names what it found, and ends with a ``Label:`` line, so it exercises the
same parsing and scoring path as a neural guard.
"""

import re
import time

from harness import Generation, Model, check_model_options, hookimpl

CATEGORIES = {
    "violence": ["kill", "murder", "attack", "weapon", "bomb", "explosive", "shoot", "gun", "assault", "terror"],
    "cybercrime": ["hack", "malware", "virus", "ransomware", "phishing", "exploit", "steal password", "ddos", "keylogger"],
    "fraud": ["fraud", "scam", "counterfeit", "launder", "forge", "fake id", "identity theft", "steal"],
    "drugs": ["meth", "cocaine", "heroin", "drug", "fentanyl", "poison"],
    "self-harm": ["suicide", "self-harm", "kill myself", "cut myself"],
    "hate": ["racist", "hate speech", "inferior race", "slur", "genocide"],
    "sexual": ["explicit sexual", "porn", "sexual content involving"],
    "evasion": ["without getting caught", "evade police", "untraceable", "bypass security", "illegally"],
}
PATTERNS = {cat: re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")", re.IGNORECASE) for cat, words in CATEGORIES.items()}


def keyword_verdict(content):
    """Return (label, reasoning) for one content string."""
    hits = {}
    for cat, pattern in PATTERNS.items():
        found = sorted({m.group(1).lower() for m in pattern.finditer(content)})
        if found:
            hits[cat] = found
    lines = ["1. The content was scanned for terms from known harm categories."]
    if hits:
        for cat, words in hits.items():
            lines.append(f"{len(lines) + 1}. It mentions {', '.join(repr(w) for w in words)}, which relates to {cat}.")
        lines.append(f"{len(lines) + 1}. These terms suggest a request that could enable harm.")
        label = "harmful"
    else:
        lines.append("2. No terms from the harm categories were found.")
        lines.append("3. The request looks like an ordinary task.")
        label = "safe"
    return label, "\n".join(lines) + f"\n\nLabel: {label}"


class KeywordBaseline(Model):
    spec = "keyword-baseline"
    cacheable = False

    def describe(self):
        return {"spec": self.spec, "kind": "rule-based", "categories": sorted(CATEGORIES)}

    def fingerprint(self):
        return f"keyword-baseline:{len(PATTERNS)}"

    def generate(self, requests, settings):
        for req in requests:
            start = time.perf_counter()
            _, text = keyword_verdict(req.content)
            yield Generation(req.sample_id, req.sample_index, text, seed=req.seed,
                             n_new_tokens=len(text.split()), seconds=time.perf_counter() - start)


def load(arg, options) -> KeywordBaseline:
    check_model_options("keyword-baseline", options, ())  # it takes none: a typo must not pass silently
    return KeywordBaseline()


@hookimpl
def register_models(register):
    register("keyword-baseline", load,
             description="deterministic keyword guard that writes reasoning and a Label: line (offline demo)")
