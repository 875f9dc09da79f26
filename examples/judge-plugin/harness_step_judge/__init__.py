"""Example judge plugin: ``step-count`` rewards reasoning laid out in distinct steps."""

import re

from harness import Judge, Judgment, hookimpl

STEP = re.compile(r"^\s*(?:#+\s*)?(?:(?:reasoning\s+)?step\s*\d+|\d+[.)])", re.IGNORECASE | re.MULTILINE)


class StepCountJudge(Judge):
    name = "step-count"
    version = "1"  # bump whenever scores would change: it invalidates cached judgments
    criteria = ("steps",)

    def __init__(self, target_steps=4):
        self.target = int(target_steps)

    def judge(self, item):
        steps = len(set(STEP.findall(item.reasoning or item.completion or "")))
        return Judgment({"steps": min(1.0, steps / self.target)}, f"{steps} distinct step markers")


@hookimpl
def register_judges(register):
    register("step-count", lambda arg, options: StepCountJudge(**options),
             description="example plugin: share of target_steps (default 4) distinct numbered steps")
