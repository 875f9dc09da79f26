"""The capability check: did retraining cost general capability (the "alignment tax")?

A small suite of lm-eval ``generate_until`` tasks runs on the parent and the
child checkpoint through ``harness eval`` (stored runs, resumable); for every
task metric the child - parent difference of the per-document values on the
shared documents gets a paired bootstrap interval
(:func:`harness.score.stats.mean_difference`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.errors import HarnessError

# Small generate_until tasks: grade-school maths, science questions, open-domain QA.
DEFAULT_SUITE = ("gsm8k", "arc_challenge_chat", "nq_open")
DEFAULT_LIMIT = 200


@dataclass
class CapabilityRow:
    task: str
    metric: str
    parent: float
    child: float
    diff: float
    ci_low: float
    ci_high: float
    n: int
    significant: bool
    higher_is_better: bool | None = None


@dataclass
class CapabilityReport:
    parent: str
    child: str
    rows: list = field(default_factory=list)
    runs: dict = field(default_factory=dict)  # task -> {"parent": run id, "child": run id}

    def to_dict(self):
        from dataclasses import asdict

        return {"parent": self.parent, "child": self.child, "runs": self.runs,
                "deltas": [asdict(r) for r in self.rows]}


def read_capability(path) -> CapabilityReport:
    """A report written by ``harness capability --json`` or a pipeline's ``capability.json``."""
    import json
    from pathlib import Path

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(f"{path}: file not found (write one with `harness capability --model M --json > FILE`)") from None
    except (OSError, ValueError) as exc:  # ValueError: not JSON, or not UTF-8
        raise HarnessError(f"{path}: not a capability report ({exc})") from None
    if not isinstance(data, dict) or not {"parent", "child", "deltas"} <= set(data):
        raise HarnessError(f"{path}: expected the JSON of `harness capability --json` (keys parent, child, deltas)")
    try:
        rows = [CapabilityRow(**row) for row in data["deltas"]]
    except TypeError as exc:
        raise HarnessError(f"{path}: field 'deltas': {exc}") from None
    return CapabilityReport(data["parent"], data["child"], rows, data.get("runs") or {})


def check_sides(report: CapabilityReport, model_a: str, model_b: str, path) -> None:
    """Capability deltas shown beside a comparison must be of the same two checkpoints (A parent, B child)."""
    if (report.parent, report.child) != (model_a, model_b):
        raise HarnessError(f"{path}: capability deltas of child {report.child} - parent {report.parent}, but the "
                           f"comparison is B={model_b} - A={model_a}; run `harness capability --model {model_b} "
                           f"--parent {model_a} --json`")


def render_text(report: CapabilityReport) -> str:
    from harness.render.text import table

    rows = [{**r.__dict__, "significant": "yes" if r.significant else "no"} for r in report.rows]
    return (f"child {report.child} - parent {report.parent} (paired bootstrap 95 % intervals)\n"
            + table(rows, ["task", "metric", "parent", "child", "diff", "ci_low", "ci_high", "n", "significant"]))


def parent_of(model: str) -> str:
    from harness.checkpoints.loading import resolve

    parent = resolve(model).get("parent")
    if not parent:
        raise HarnessError(f"Checkpoint '{model}' names no parent in the registry; pass --parent P")
    return parent


def capability_check(child: str, parent: str | None = None, tasks=DEFAULT_SUITE, *, limit=DEFAULT_LIMIT,
                     settings=None, options=None, runs_dir=None, progress=True, log=None) -> CapabilityReport:
    """Evaluate both checkpoints on every task (building each task first, so missing data fails early)."""
    from harness.evaluate.runner import EvalRequest, evaluate
    from harness.interfaces.model import GenerationSettings
    from harness.score.stats import mean_difference
    from harness.tasks.lm_eval_source import get_lm_eval_task

    from harness.checkpoints.loading import resolve

    parent = parent or parent_of(child)
    for name in (child, parent):  # an unknown checkpoint is refused before any task data is fetched
        resolve(name)
    lm_tasks = [get_lm_eval_task(name) for name in tasks]
    settings = settings or GenerationSettings()
    # ``limit`` caps each task at that many documents; a smaller task runs whole (eval refuses a larger limit)
    by_limit: dict = {}
    for task in lm_tasks:
        by_limit.setdefault(limit if limit and limit < len(task.load()) else None, []).append(task)
    results = {}
    for side, model in (("parent", parent), ("child", child)):
        for task_limit, group in by_limit.items():
            request = EvalRequest(model, group, settings, limit=task_limit, options=dict(options or {}),
                                  progress=progress, runs_dir=runs_dir)
            for result in evaluate(request, log=log):
                results.setdefault(result.task, {})[side] = result.run
    report = CapabilityReport(parent, child)
    for task in lm_tasks:
        runs = results[task.name]
        report.runs[task.name] = {side: run.id for side, run in runs.items()}
        per_doc = {side: task.per_doc_metrics(run.read_samples()) for side, run in runs.items()}
        better = task.lm_task.higher_is_better()
        for key, child_values in per_doc["child"].items():
            parent_values = per_doc["parent"].get(key, {})
            shared = sorted(set(parent_values) & set(child_values), key=int)
            numeric = [i for i in shared if isinstance(parent_values[i], (int, float, bool))
                       and isinstance(child_values[i], (int, float, bool))]
            if not numeric:
                continue  # a metric whose per-document items are not numbers (e.g. corpus BLEU inputs)
            d = mean_difference([float(parent_values[i]) for i in numeric], [float(child_values[i]) for i in numeric])
            report.rows.append(CapabilityRow(task.name, key, d.a, d.b, d.diff, d.ci_low, d.ci_high, d.n,
                                             d.significant, better.get(key.split(",")[0])))
    return report
