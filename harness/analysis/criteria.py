"""Success criteria: a YAML file of checks on a comparison (A = baseline, B = candidate).

::

    name: toy DPO vs SFT
    criteria:
      - name: accuracy within ±2 points of SFT
        metric: accuracy          # accuracy, f1, JUDGE.CRITERION (e.g. heuristic.reward), reasoning.MEASURE
        measure: difference       # difference (B - A), relative ((B - A) / A), value_a or value_b
        min: -0.02                # bounds are inclusive; either may be left out
        max: 0.02
        significant: false        # true: the bootstrap interval must also exclude 0

A criterion whose metric the runs do not have (judge scores before
``harness judge`` ran) is reported as not evaluated, never as failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.config import check_keys, expect_type, read_yaml_mapping
from harness.errors import HarnessError

MEASURES = ("difference", "relative", "value_a", "value_b")
#: metrics a comparison always has; others are JUDGE.CRITERION or reasoning.MEASURE
PLAIN_METRICS = ("accuracy", "f1")
KEYS = {"name", "metric", "measure", "min", "max", "significant", "description"}
FILE_KEYS = {"name", "description", "criteria"}


@dataclass
class Criterion:
    name: str
    metric: str
    measure: str
    min: float | None = None
    max: float | None = None
    significant: bool = False
    description: str = ""


@dataclass
class Verdict:
    criterion: Criterion
    status: str  # pass | fail | not evaluated
    value: float | None
    detail: str
    #: the judge identity whose scores decided it (harness.analysis.self_certification.certify)
    certified_by: str | None = None
    #: that judge built the candidate's training pairs (allowed only with --allow-self-certified)
    self_certified: bool = False

    def to_dict(self):
        c = self.criterion
        return {"name": c.name, "metric": c.metric, "measure": c.measure, "min": c.min, "max": c.max,
                "status": self.status, "value": self.value, "detail": self.detail,
                "certified_by": self.certified_by, "self_certified": self.self_certified}

    @property
    def label(self) -> str:
        """PASS, FAIL or NOT EVALUATED, with (SELF-CERTIFIED) when the pairs' judge decided it."""
        return self.status.upper() + (" (SELF-CERTIFIED)" if self.self_certified else "")


def shipped_dir() -> Path:
    """The shipped criteria folder (the ``harness_criteria`` package)."""
    from harness_criteria import CRITERIA_DIR

    return Path(CRITERIA_DIR)


def resolve_criteria(name_or_path) -> Path:
    """A criteria file path, or the name of a shipped one (``toy_dpo``, ``full_dpo``)."""
    path = Path(name_or_path)
    if path.exists():
        return path
    shipped = shipped_dir()
    if (shipped / f"{name_or_path}.yaml").exists():
        return shipped / f"{name_or_path}.yaml"
    names = sorted(p.stem for p in shipped.glob("*.yaml"))
    raise HarnessError(f"criteria '{name_or_path}': no such file, and not a shipped criteria name "
                       f"({', '.join(names) or 'none installed'})")


def load_criteria(name_or_path) -> tuple[str, list[Criterion]]:
    path = resolve_criteria(name_or_path)
    data = read_yaml_mapping(path)
    check_keys(str(path), data, FILE_KEYS)
    if not isinstance(data.get("criteria"), list) or not data["criteria"]:
        raise HarnessError(f"{data.where('criteria')}: expected a non-empty 'criteria' list")
    out = []
    for i, item in enumerate(data["criteria"]):
        if not isinstance(item, dict):
            raise HarnessError(f"{data.where('criteria')}: criteria[{i}]: expected a mapping with name, metric, "
                               "measure, min/max")
        where = f"{item.where()} (criteria[{i}])"
        check_keys(where, item, KEYS)
        for key in ("name", "metric", "measure"):
            if key not in item:
                raise HarnessError(f"{where}: missing '{key}'")
        check_metric_name(where, item["metric"])
        if item["measure"] not in MEASURES:
            raise HarnessError(f"{item.where('measure')} (criteria[{i}]): measure '{item['measure']}' is not one of "
                               f"{', '.join(MEASURES)}")
        for key in ("min", "max"):
            if item.get(key) is not None:
                expect_type(f"{item.where(key)} (criteria[{i}])", key, item[key], (int, float), "a number")
        if item.get("min") is None and item.get("max") is None:
            raise HarnessError(f"{where}: give 'min', 'max' or both")
        out.append(Criterion(str(item["name"]), str(item["metric"]), item["measure"], item.get("min"),
                             item.get("max"), bool(item.get("significant", False)), str(item.get("description", ""))))
    return str(data.get("name") or path.stem), out


def check_metric_name(where: str, metric) -> None:
    """A metric with no JUDGE. or reasoning. prefix must be one the comparison computes: a typo would never be
    evaluated, and a gate of unevaluated criteria would pass."""
    from harness.errors import unknown_name

    if not isinstance(metric, str) or not metric.strip():
        raise HarnessError(f"{where}: 'metric' must be a metric name, got {metric!r}")
    if "." not in metric and metric not in PLAIN_METRICS:
        raise HarnessError(f"{where}: {unknown_name('metric', metric, PLAIN_METRICS)} "
                           "(or JUDGE.CRITERION such as heuristic.reward, or reasoning.MEASURE)")


def lookup(result: dict, metric: str) -> dict | None:
    """The difference record for ``metric`` (with a, b, diff and interval), or None when the runs lack it."""
    if metric in result["differences"]:
        return result["differences"][metric]
    if metric.startswith("reasoning."):
        measure = (result.get("reasoning") or {}).get("measures", {}).get(metric.split(".", 1)[1])
        return measure["difference"] if measure else None
    means = result.get("run_judge_means") or {}
    a, b = means.get("a", {}).get(metric), means.get("b", {}).get(metric)
    if a is not None and b is not None:  # run-level means only: no paired interval
        return {"a": a, "b": b, "diff": b - a, "ci_low": None, "ci_high": None, "significant": None}
    return None


def evaluate(criteria: list[Criterion], result: dict) -> list[Verdict]:
    verdicts = []
    for c in criteria:
        d = lookup(result, c.metric)
        if d is None:
            hint = ("run harness judge first" if "." in c.metric and not c.metric.startswith("reasoning.")
                    else "the comparison has no such metric")
            verdicts.append(Verdict(c, "not evaluated", None, f"{c.metric} is missing in run A or B: {hint}"))
            continue
        if c.measure == "difference":
            value = d["diff"]
        elif c.measure == "relative":
            if not d["a"]:
                verdicts.append(Verdict(c, "not evaluated", None, f"A's {c.metric} is 0: no relative change"))
                continue
            value = d["diff"] / d["a"]
        else:
            value = d["a"] if c.measure == "value_a" else d["b"]
        ok = (c.min is None or value >= c.min - 1e-12) and (c.max is None or value <= c.max + 1e-12)
        ci = ""
        if d.get("ci_low") is not None:
            ci = f", B-A 95% CI [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]"
        elif c.significant:
            ci = ", no per-sample scores for an interval"
        if c.significant and ok:
            ok = bool(d.get("significant"))
            if not ok:
                ci += " (interval includes 0: not significant)"
        bounds = " and ".join(filter(None, [c.min is not None and f">= {c.min:g}",
                                            c.max is not None and f"<= {c.max:g}"]))
        detail = f"{c.measure} {value:+.4f} (A {d['a']:.4f}, B {d['b']:.4f}){ci}; required {bounds}"
        verdicts.append(Verdict(c, "pass" if ok else "fail", value, detail))
    return verdicts


def render_text(title: str, verdicts: list[Verdict]) -> str:
    lines = [f"criteria: {title}"]
    for v in verdicts:
        mark = (f"; self-certified: judge {v.certified_by} built the candidate's training pairs"
                if v.self_certified else "")
        lines.append(f"  {v.label:<14} {v.criterion.name}: {v.detail}{mark}")
    return "\n".join(lines)
