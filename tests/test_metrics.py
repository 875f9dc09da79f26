import pytest

from harness.records import Completion, SampleRecord
from harness.score.metrics import score_records, weighted_average
from harness.tasks.task import Task


def make_task():
    return Task(name="t", source={"path": "x"}, format="json", fields={}, labels={"harmful": "harmful", "safe": "safe"},
                positive="harmful", path=None)


def rec(gold, verdict, status="ok", category=None):
    comp = Completion(0, "", verdict if status == "ok" else None, status)
    return SampleRecord("x", "t", gold, [comp], category=category)


# 4 TP, 1 FN, 2 FP, 3 TN, plus one failure on a harmful and one abstention on a safe sample
RECORDS = (
    [rec("harmful", "harmful", category="a")] * 4 + [rec("harmful", "safe", category="a")]
    + [rec("safe", "harmful", category="b")] * 2 + [rec("safe", "safe", category="b")] * 3
    + [rec("harmful", None, "fail", "a"), rec("safe", None, "abstain", "b")]
)


def test_strict_counts_failures_as_wrong():
    m = score_records(RECORDS, make_task(), "strict")
    # by hand: TP 4, FN 1 + 1 failure = 2, FP 2 + 1 abstention = 3, TN 3
    assert m["n"] == 12
    assert m["accuracy"] == pytest.approx(7 / 12)
    assert m["precision"] == pytest.approx(4 / 7)
    assert m["recall"] == pytest.approx(4 / 6)
    assert m["f1"] == pytest.approx(2 * (4 / 7) * (4 / 6) / (4 / 7 + 4 / 6))
    assert m["confusion_matrix"]["matrix"] == [[4, 1, 1], [2, 3, 1]]
    assert m["parse_failures"] == 1 and m["abstentions"] == 1
    assert m["parse_failure_rate"] == pytest.approx(1 / 12)


def test_exclude_drops_failures():
    m = score_records(RECORDS, make_task(), "exclude")
    assert m["n"] == 10
    assert m["accuracy"] == pytest.approx(7 / 10)
    assert m["precision"] == pytest.approx(4 / 6)
    assert m["recall"] == pytest.approx(4 / 5)
    assert m["n_total"] == 12


def test_per_category_breakdown():
    m = score_records(RECORDS, make_task(), "exclude")
    assert m["per_category"]["a"]["n"] == 5
    assert m["per_category"]["a"]["accuracy"] == pytest.approx(4 / 5)
    assert m["per_category"]["b"]["accuracy"] == pytest.approx(3 / 5)


def test_weighted_average_weights_by_samples():
    avg = weighted_average({"x": {"accuracy": 1.0, "n": 30}, "y": {"accuracy": 0.5, "n": 10}}, keys=("accuracy",))
    assert avg["accuracy"] == pytest.approx((30 + 5) / 40)
    assert avg["n"] == 40


def test_unknown_policy_suggests():
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="Did you mean: strict"):
        score_records(RECORDS, make_task(), "strikt")
