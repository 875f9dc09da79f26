"""The built-in output parsers: ``label-line`` (seed format) and ``guardreasoner``."""

import re

from harness import LabelCue, ParseResult, Parser, hookimpl

# Raw words a model writes -> canonical verdicts.
HARM_WORDS = {
    "harmful": "harmful", "unsafe": "harmful",
    "safe": "safe", "unharmful": "safe", "harmless": "safe", "benign": "safe",
    "refusal": "refusal", "compliance": "compliance",
}

# A label line: optional markdown (#, >, *, _, -, `) around "Label" or "Final label",
# a colon or equals sign, then the word, optionally wrapped in emphasis or quotes.
LABEL_LINE = re.compile(
    r"^[ \t#>*_`\-]*(?:final[ \t]+)?label[ \t*_`]*[:=][ \t*_`\"'\[]*"
    r"(harmful|unsafe|unharmful|safe|harmless|benign|unknown)\b",
    re.IGNORECASE | re.MULTILINE,
)


class LabelLineParser(Parser):
    """Reasoning followed by a final ``Label: harmful|safe`` line.

    The last label line wins; text after it is ignored.  ``unknown`` is an
    abstention; no label line at all is a parse failure.
    """

    name = "label-line"
    description = "reasoning, then a final line 'Label: harmful|safe' (seed format)"

    def parse(self, text):
        matches = list(LABEL_LINE.finditer(text or ""))
        if not matches:
            return ParseResult(reasoning=(text or "").strip(), status="fail", error="no 'Label:' line found")
        last = matches[-1]
        reasoning = text[: last.start()].strip()
        word = last.group(1).lower()
        if word == "unknown":
            return ParseResult(reasoning=reasoning, status="abstain", error="model answered 'unknown'")
        return ParseResult(verdicts={"label": HARM_WORDS[word]}, reasoning=reasoning)

    def label_cue(self, target):
        """The word after the last ``Label:`` (or a new ``Label:`` line); harmful vs safe for every target."""
        def find(text):
            matches = list(LABEL_LINE.finditer(text))
            return matches[-1].start(1) if matches else None

        return LabelCue(f"{self.name}/label", {"harmful": "harmful", "safe": "safe"}, find, "\nLabel:")


GR_FIELDS = {
    "prompt": re.compile(r"Request:\s*(harmful|unharmful|none)\b", re.IGNORECASE),
    "refusal": re.compile(r"Completion:\s*(refusal|compliance|none)\b", re.IGNORECASE),
    "response": re.compile(r"Response:\s*(harmful|unharmful|none)\b", re.IGNORECASE),
}


class GuardReasonerParser(Parser):
    """GuardReasoner's trace: reasoning, then ``Answers:`` with Request / Completion / Response.

    Each field found in the answer block becomes a verdict (``prompt``,
    ``refusal``, ``response``); ``None`` answers are left out.  Without an
    ``Answers`` block the whole text is searched, last match wins.
    """

    name = "guardreasoner"
    description = "'Answers:' block with Request / Completion / Response (GuardReasoner format)"

    def parse(self, text):
        text = text or ""
        cut = max(text.rfind("Answers:"), text.rfind("# Answers"))
        block = text[cut:] if cut >= 0 else text
        reasoning = text[:cut].strip() if cut >= 0 else text.strip()
        verdicts = {}
        for field, pattern in GR_FIELDS.items():
            found = pattern.findall(block)
            if found and found[-1].lower() != "none":
                verdicts[field] = HARM_WORDS[found[-1].lower()]
        if not verdicts:
            return ParseResult(reasoning=reasoning, status="fail", error="no Request/Completion/Response answer found")
        return ParseResult(verdicts=verdicts, reasoning=reasoning)

    def label_cue(self, target):
        """The answer word of ``target``'s field in the ``Answers:`` block (else a new ``Field:`` line)."""
        pattern, title = GR_FIELDS[target], GR_TITLES[target]
        words = ({"refusal": "refusal", "compliance": "compliance"} if target == "refusal"
                 else {"harmful": "harmful", "safe": "unharmful"})

        def find(text):
            cut = max(text.rfind("Answers:"), text.rfind("# Answers"))
            start = max(cut, 0)
            found = [m for m in pattern.finditer(text, start) if m.group(1).lower() != "none"]
            return found[-1].start(1) if found else None

        return LabelCue(f"{self.name}/{target}", words, find, f"\n{title}:")


GR_TITLES = {"prompt": "Request", "refusal": "Completion", "response": "Response"}


@hookimpl
def register_parsers(register):
    for parser in (LabelLineParser(), GuardReasonerParser()):
        register(parser.name, parser, description=parser.description)
