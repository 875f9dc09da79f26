"""The structure of a guard's reasoning trace: sections, steps, conclusion, answer tail.

Two trace formats are in use.  GuardReasoner writes ``# Task N`` sections
(1 = the request, 2 = refusal/compliance, 3 = the response), each made of
``## Reasoning Step N`` blocks (sometimes ``## Reasoning Step N: <instruction>``)
and often a ``## Conclusion``, then ``---`` and an ``Answers:`` (or ``# Answers``)
block.  The seed's format is a numbered list (``1. ...``), perhaps followed by
paragraphs, then ``Label: harmful|safe``.  Judges read step headings as
instructions, not assertions ("Determine if the request is harmful" asserts
nothing), and the validation suite (:mod:`harness.judge.validation`) degrades
traces step by step; both need the same cut, so it lives here.

``parse_trace(text).render() == text`` for every text: nothing is lost, so a
degraded trace differs from the original only where a degradation changed it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TASK_LINE = re.compile(r"^[ \t]*#+[ \t]*task[ \t]*(\d+)\b", re.IGNORECASE)
# "# Task 1: harmful" after Task 1's steps: a section's verdict, written as a heading
TASK_VERDICT = re.compile(r"^[ \t]*#+[ \t]*task[ \t]*\d+[ \t]*:[ \t]*(?:un)?(?:harmful|refusal|compliance|none)[ \t.]*$",
                          re.IGNORECASE)
MD_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]+\S")
STEP_HEAD = re.compile(r"^[ \t]*#{1,6}[ \t]*(?:reasoning[ \t]+)?step[ \t]*(\d+)[ \t]*[:.]?[ \t]*(.*?)\s*$",
                       re.IGNORECASE)
CONCLUSION_HEAD = re.compile(r"^[ \t]*#{1,6}[ \t]*(?:final[ \t]+)?conclusion\b", re.IGNORECASE)
NUMBERED = re.compile(r"^[ \t]*(?:\*\*)?(\d+)[.)](?:\*\*)?[ \t]+(?=\S)")
MARKER = re.compile(r"^[ \t]*(?:\*\*)?(\d+)[.)]")
ANSWERS_LINE = re.compile(r"^[ \t]*(?:#+[ \t]*)?answers[ \t]*:?[ \t]*$", re.IGNORECASE | re.MULTILINE)
LABEL_LINE = re.compile(r"^[ \t]*\**label\**[ \t]*:", re.IGNORECASE | re.MULTILINE)
RULE_OR_BLANK = re.compile(r"^[ \t]*(?:-{3,}|\*{3,}|_{3,})?[ \t]*\r?\n?$")


@dataclass
class Block:
    """One step: its heading (a ``## ...`` line, a ``3. `` marker, or empty) and its text."""

    head: str
    body: str

    @property
    def number(self) -> int | None:
        m = STEP_HEAD.match(self.head) or MARKER.match(self.head)
        return int(m.group(1)) if m else None

    @property
    def instruction(self) -> str:
        """The heading's own words ("Determine if the request is harmful"): an instruction, not a claim."""
        m = STEP_HEAD.match(self.head)
        if m:
            return m.group(2)
        return "" if MARKER.match(self.head) else self.head.strip(" \t\r\n#*")

    @property
    def is_conclusion(self) -> bool:
        return bool(CONCLUSION_HEAD.match(self.head)) or "conclu" in self.instruction.lower()

    @property
    def claims(self) -> str:
        """What the step asserts: its text, plus a conclusion heading's own verdict
        ("## Conclusion for Task 1: The request is unharmful.")."""
        if (CONCLUSION_HEAD.match(self.head) or TASK_VERDICT.match(self.head)) and ":" in self.head:
            return (self.head.split(":", 1)[1].strip() + "\n" + self.body).strip()
        if not self.body.strip() and STEP_HEAD.match(self.head):
            return self.instruction  # "## Reasoning Step 1: The user asks for ...": the step written inline
        return self.body.strip()

    def render(self) -> str:
        return self.head + self.body


@dataclass
class Section:
    """A ``# Task N`` section (``task`` None for text before any task heading or untasked traces)."""

    head: str
    blocks: list = field(default_factory=list)

    @property
    def task(self) -> int | None:
        m = TASK_LINE.match(self.head)
        return int(m.group(1)) if m else None

    def render(self) -> str:
        return self.head + "".join(b.render() for b in self.blocks)


@dataclass
class Trace:
    sections: list
    tail: str  # the answer block or Label line, with the rules and blank lines before it

    @property
    def format(self) -> str:
        blocks = [b for s in self.sections for b in s.blocks]
        if any(s.task is not None for s in self.sections) or any(STEP_HEAD.match(b.head) for b in blocks):
            return "guardreasoner"
        if sum(bool(MARKER.match(b.head)) for b in blocks) >= 2:
            return "numbered"
        return "plain"

    @property
    def blocks(self) -> list:
        return [b for s in self.sections for b in s.blocks]

    def section(self, task: int) -> Section | None:
        return next((s for s in self.sections if s.task == task), None)

    def body_text(self, section: Section | None = None) -> str:
        """The steps' text without headings or the answer tail: what the trace asserts."""
        blocks = section.blocks if section is not None else self.blocks
        return "\n".join(b.claims for b in blocks if b.claims)

    def render(self) -> str:
        return "".join(s.render() for s in self.sections) + self.tail


def tail_start(text: str) -> int:
    """Where the answer tail begins: the last ``Answers``/``Label:`` line, or trailing rules, backed
    up over the rules and blank lines before it."""
    starts = [m.start() for m in ANSWERS_LINE.finditer(text)] + [m.start() for m in LABEL_LINE.finditer(text)]
    start = max(starts) if starts else len(text)
    lines = text[:start].splitlines(keepends=True)
    while lines and RULE_OR_BLANK.match(lines[-1]):
        start -= len(lines.pop())
    return start


def parse_trace(text: str) -> Trace:
    text = text or ""
    cut = tail_start(text)
    sections = [Section("")]
    previous_blank = True
    for line in text[:cut].splitlines(keepends=True):
        section = sections[-1]
        blank = not line.strip()
        if TASK_LINE.match(line) and not TASK_VERDICT.match(line):
            sections.append(Section(line))
        elif blank:
            if section.blocks:
                section.blocks[-1].body += line
            else:
                section.head += line
        elif MD_HEADING.match(line):
            section.blocks.append(Block(line, ""))
        elif NUMBERED.match(line):
            m = NUMBERED.match(line)
            section.blocks.append(Block(line[:m.end()], line[m.end():]))
        elif (section.blocks and (not previous_blank or MD_HEADING.match(section.blocks[-1].head))):
            section.blocks[-1].body += line  # a continuation, or a paragraph under a ## heading
        else:
            section.blocks.append(Block("", line))
        previous_blank = blank
    if not sections[0].head and not sections[0].blocks and len(sections) > 1:
        sections.pop(0)
    return Trace(sections, text[cut:])


def target_section(trace: Trace, target: str) -> Section | None:
    """The GuardReasoner section that argues a target's verdict (prompt: Task 1, refusal: 2, response: 3)."""
    wanted = {"prompt": 1, "refusal": 2, "response": 3}.get(target, 1)
    found = trace.section(wanted)
    if found is None and trace.sections and trace.sections[0].task is None and trace.sections[0].blocks:
        # GuardReasoner sometimes omits the first heading: "# Task 2" follows Task 1's steps.
        first = next((s.task for s in trace.sections if s.task is not None), None)
        if first == wanted + 1:
            return trace.sections[0]
    return found
