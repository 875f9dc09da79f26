"""What an output parser provides: completion text in, verdicts and reasoning out.

Canonical verdict values are ``harmful``/``safe`` and ``refusal``/``compliance``.
A parse either succeeds (``status='ok'``), abstains (the model said ``unknown``),
or fails; an abstention or failure is never mapped silently to a class.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

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


class Parser:
    """Base class for output parsers."""

    name: str = ""
    description: str = ""

    def parse(self, text: str) -> ParseResult:
        raise NotImplementedError
