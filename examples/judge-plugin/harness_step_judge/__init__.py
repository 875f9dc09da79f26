"""Example judge plugin: ``step-count`` rewards reasoning laid out in distinct steps."""

import re

from harness import HarnessError, Judge, JudgeOption, Judgment, hookimpl

STEP = re.compile(r"^\s*(?:#+\s*)?(?:(?:reasoning\s+)?step\s*\d+|\d+[.)])", re.IGNORECASE | re.MULTILINE)


class StepCountJudge(Judge):
    name = "step-count"
    version = "1"  # bump whenever scores for the same input and options would change
    criteria = ("steps",)
    composite = "steps"  # its one score is its reward
    # what `--judge-option step-count.KEY=VALUE` accepts; anything else is refused before judging
    options = {"target_steps": JudgeOption((int,), 4, "distinct numbered steps that earn a full score")}

    @classmethod
    def check(cls, arg, options):
        if options["target_steps"] < 1:
            raise HarnessError(f"step-count option target_steps must be at least 1, got {options['target_steps']}")

    def __init__(self, target_steps=4):
        self.target = int(target_steps)

    def judge(self, item):
        steps = len(set(STEP.findall(item.reasoning or item.completion or "")))
        return Judgment({"steps": min(1.0, steps / self.target)}, f"{steps} distinct step markers")


@hookimpl
def register_judges(register):
    register("step-count", StepCountJudge,
             description="example plugin: share of target_steps (default 4) distinct numbered steps")
