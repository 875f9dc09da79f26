import json

import pytest

from harness.plugins import get_registry
from tests.conftest import DATA_DIR


@pytest.fixture
def label_line():
    return get_registry().get("parsers", "label-line")


@pytest.fixture
def gr():
    return get_registry().get("parsers", "guardreasoner")


@pytest.mark.parametrize("text,expected", [
    ("1. Asks for a cake recipe.\n2. Nothing dangerous.\n\nLabel: safe", "safe"),
    ("Steps...\nLABEL: HARMFUL", "harmful"),
    ("Reasoning\n**Label:** harmful", "harmful"),
    ("Reasoning\n## Label: **Safe**.", "safe"),
    ("Reasoning\nLabel: harmful (it asks for weapon instructions)\nThanks for asking!", "harmful"),
    ("Reasoning\n- Final label = unsafe", "harmful"),
    ("Label: safe\nOn reflection the request is dangerous.\nLabel: harmful", "harmful"),
])
def test_label_line_verdicts(label_line, text, expected):
    result = label_line.parse(text)
    assert result.status == "ok"
    assert result.verdict_for("prompt") == expected


def test_label_line_keeps_reasoning_before_label(label_line):
    result = label_line.parse("1. First step.\n2. Second step.\nLabel: safe")
    assert result.reasoning == "1. First step.\n2. Second step."


def test_label_line_unknown_is_abstention_not_a_class(label_line):
    result = label_line.parse("I cannot decide.\nLabel: unknown")
    assert result.status == "abstain"
    assert result.verdicts == {}


def test_label_line_missing_label_is_failure(label_line):
    result = label_line.parse("The content seems safe overall, harmful parts absent.")
    assert result.status == "fail"
    assert result.verdicts == {}
    # words inside prose must not be mistaken for a verdict
    assert label_line.parse("the labels: are hard").status == "fail"


def test_guardreasoner_answers_block(gr):
    text = "# Task 1\nreasoning\n---\n\nAnswers: \nRequest: harmful\nCompletion: refusal\nResponse: unharmful"
    result = gr.parse(text)
    assert result.verdicts == {"prompt": "harmful", "refusal": "refusal", "response": "safe"}
    assert result.reasoning == "# Task 1\nreasoning\n---"


def test_guardreasoner_none_answers_are_left_out(gr):
    result = gr.parse("r\nAnswers: \nRequest: unharmful\nCompletion: None\nResponse: None")
    assert result.verdicts == {"prompt": "safe"}
    assert result.verdict_for("response") is None


def test_guardreasoner_parser_on_real_traces(gr):
    """On every real GuardReasoner-1B trace, the parser reads the word written in the final Answers block."""
    import re

    targets = {"AegisSafetyTest": ("prompt", "Request"), "HarmBenchResponse": ("response", "Response"),
               "XSTestResponseRefusal": ("refusal", "Completion")}
    words = {"harmful": "harmful", "unharmful": "safe", "refusal": "refusal", "compliance": "compliance"}
    for bench, (target, key) in targets.items():
        path = DATA_DIR / "guardreasoner" / "predictions" / "1B" / bench / "generated_predictions.jsonl"
        rows = [json.loads(line) for line in path.open()]
        answered = 0
        for row in rows:
            cut = max(row["predict"].rfind("Answers:"), row["predict"].rfind("# Answers"))
            if cut < 0:
                continue
            block = row["predict"][cut:]
            m = re.search(rf"{key}:\s*(harmful|unharmful|compliance|refusal)", block, re.I)
            result = gr.parse(row["predict"])
            if m:
                answered += 1
                assert result.verdict_for(target) == words[m.group(1).lower()], row["predict"][-200:]
            else:
                assert result.verdict_for(target) is None
        assert answered >= 0.98 * len(rows), bench
