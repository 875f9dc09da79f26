"""What an output parser provides: completion text in, verdicts and reasoning out.

Canonical verdict values are ``harmful``/``safe`` and ``refusal``/``compliance``.
A parse either succeeds (``status='ok'``), abstains (the model said ``unknown``),
or fails; an abstention or failure is never mapped silently to a class.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

CANONICAL_VERDICTS = ("harmful", "safe", "refusal", "compliance")


@dataclass
class ParseResult:
    #: verdicts by field, e.g. {"label": "harmful"} or {"prompt": "safe", "refusal": "compliance", "response": "safe"}
    verdicts: dict = field(default_factory=dict)
    reasoning: str = ""
    status: str = "ok"  # ok | abstain | fail
    error: str | None = None

    def verdict_for(self, target: str) -> str | None:
        """The verdict for a task target (prompt/response/refusal), else the generic label."""
        if target in self.verdicts:
            return self.verdicts[target]
        return self.verdicts.get("label")

    def to_dict(self):
        return asdict(self)


@dataclass(frozen=True)
class LabelCue:
    """Where in a completion a verdict label is generated, so a model can score the labels there.

    ``words`` are what the model writes for each canonical label (``{"harmful": "harmful", "safe":
    "unharmful"}``); ``find(text)`` is the character offset where the (last) label word starts in
    ``text``, or None when the completion wrote none; ``cue`` is appended to a completion without a
    label (``"\nLabel:"``) to force the label position.  ``key`` names the cue (parser/target).
    """

    key: str
    words: dict
    find: Callable[[str], "int | None"]
    cue: str

    @property
    def labels(self) -> tuple:
        return tuple(self.words)

    def split(self, text: str) -> tuple[str, str, bool]:
        """(completion text up to the label word, whitespace before the word, whether the model wrote one).

        Trailing spaces go with the label word (``" harmful"``), as a tokenizer would merge them.
        """
        text = text or ""
        at = self.find(text)
        if at is None:
            return text.rstrip() + self.cue, " ", False
        head = text[:at]
        prefix = head.rstrip(" \t")
        return prefix, head[len(prefix):], True


class Parser:
    """Base class for output parsers."""

    name: str = ""
    description: str = ""

    def parse(self, text: str) -> ParseResult:
        raise NotImplementedError

    def label_cue(self, target: str) -> LabelCue | None:
        """Where this format writes the verdict for ``target`` (None: the format has no label position)."""
        return None
