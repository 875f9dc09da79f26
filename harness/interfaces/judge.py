"""What a reasoning-quality judge provides.

A judge scores one completion (content, optional response, completion, parsed
verdict, gold label when known) with named scores in [0, 1] and a short
explanation.  A judgment is identified by the judge's name, its ``version``
and a hash of its argument and options (:class:`harness.records.JudgeIdentity`):
change ``version`` whenever scores for the same input and options would change
(new rubric, new weights, new model), so cached judgments are not reused.

A judge declares what the harness must know without running it, so a spec is
checked before any sample is generated or judged: which options it takes
(``options``), whether it takes the text after ``name:`` (``arg``), which
criteria are lower-is-better and which score is its composite (the one reward
preference pairs and GRPO use).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class JudgeInput:
    sample_id: str
    content: str
    completion: str
    reasoning: str = ""
    verdict: str | None = None
    gold: str | None = None
    response: str | None = None
    sample_index: int = 0


@dataclass
class Judgment:
    scores: dict = field(default_factory=dict)
    explanation: str = ""
    error: str | None = None

    def to_dict(self):
        return asdict(self)


@dataclass
class Preference:
    """A pairwise judge's answer for two texts shown in one order (``prefer_batch``).

    ``winner`` is "first", "second" or "tie" by position shown; None when the
    judge gave no usable answer (``error`` says why).  The harness asks both
    orders itself (:mod:`harness.judge.pairwise`), so position bias is measured.
    """

    winner: str | None
    explanation: str = ""
    error: str | None = None


@dataclass(frozen=True)
class JudgeOption:
    """One option a judge accepts: the JSON types its value may have, its default and what it does."""

    types: tuple
    default: object = None
    help: str = ""

    def accepts(self, value) -> bool:
        if value is None:
            return self.default is None  # "unset" is a value only where it is the default
        if isinstance(value, bool):
            return bool in self.types
        if isinstance(value, int) and float in self.types:
            return True
        return isinstance(value, self.types)


class Judge:
    """Base class for judges. Override ``judge_batch`` (fast path) or ``judge``.

    Register the class itself (``register("name", MyJudge)``): the harness checks
    a spec's argument and options against the declarations below, then calls
    :meth:`create` with the argument and the options, defaults filled in.
    """

    name: str = ""
    version: str = "0"
    #: the score names this judge returns
    criteria: tuple = ()
    #: criteria where a lower score is better (default: every criterion is higher-is-better)
    lower_is_better: frozenset = frozenset()
    #: the criterion that combines the others into one reward; None: the mean of the scores
    composite: str | None = None
    #: what the text after ``name:`` in a spec means; None: the judge takes no argument
    arg: str | None = None
    #: whether that argument must be given
    arg_required: bool = False
    #: the options the judge accepts, by name
    options: dict = {}
    #: where options not in ``options`` go, when the judge passes them on (e.g. to a model loader);
    #: None: any other option is an error
    other_options: str | None = None

    @classmethod
    def card(cls) -> dict:
        """Extra facts for ``harness judge --card`` (e.g. the composite's weights and why), by heading."""
        return {}

    @classmethod
    def check(cls, arg: str, options: dict):
        """Refuse a bad argument or option value with a HarnessError; cheap, called before any work."""

    @classmethod
    def create(cls, arg: str, options: dict) -> "Judge":
        """The judge for a checked spec; ``options`` has every declared option, defaults filled in."""
        return cls(**options)

    def judge(self, item: JudgeInput) -> Judgment:
        return self.judge_batch([item])[0]

    def judge_batch(self, items: list[JudgeInput]) -> list[Judgment]:
        return [self.judge(item) for item in items]
