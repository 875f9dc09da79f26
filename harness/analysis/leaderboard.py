"""The leaderboard: checkpoints x tasks from the SQLite run index.

Only complete runs count, and by default only runs of the whole task: a
``--limit N`` subset run is never mixed into a task's column (the index's
``runs.task_limit``).  With ``include_subsets`` (``harness leaderboard
--include-subsets``, and a report's board of the runs it names) each subset
run gets its own column, ``task[limit=N]``.  For each (model, column) one run
is shown: the latest or the best by the chosen metric.  Metrics come from the
index's per-policy ``metrics`` table: under one ``policy`` for every run, or by
default under the policy each run was evaluated with.  Every metric is a
fraction in [0, 1], as stored; tables show percent.
Judge means come from the ``judges`` section of each run's metrics (read
through :mod:`harness.store.judgments`); they are optional.  A judge's
criteria are set side by side only when every run shown was judged with the
same judge identity; otherwise they are left out (and ranking by one is an
error naming both identities).  The average column is weighted by the samples
each task scored, over the full tasks a model has (subset columns are not in it).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from harness.errors import HarnessError
from harness.render.text import table
from harness.score.calibration import leaderboard_values
from harness.store import judgments as judgment_store
from harness.store.runs import RunStore

BASE_METRICS = ("accuracy", "f1", "precision", "recall", "parse_failure_rate")
#: base metrics where lower is better; a judge declares its own (Judge.lower_is_better)
LOWER_IS_BETTER = frozenset({"parse_failure_rate", "abstention_rate", "brier", "ece"})
SELECTIONS = ("latest", "best")


@dataclass
class Entry:
    """One complete run's scores, as the leaderboard uses them."""

    model: str
    task: str
    run_id: str
    date: str
    n: int
    policy: str | None
    metrics: dict = field(default_factory=dict)  # metric name -> value; judge scores as "judge.criterion"
    weights: dict = field(default_factory=dict)  # metric name -> samples behind it
    judges: dict = field(default_factory=dict)  # judge name -> JudgeSummary of the judging that counts
    limit: int | None = None  # a subset run's --limit (its column is task[limit=N]); None for the whole task

    def get(self, metric):
        return self.metrics.get(metric)


def base_metrics(metrics: dict) -> dict:
    return {k: metrics.get(k) for k in BASE_METRICS}

def column_name(task: str, limit: int | None) -> str:
    """A run's leaderboard column: its task, or ``task[limit=N]`` for a subset run."""
    return task if limit is None else f"{task}[limit={limit}]"


def collect_entries(store: RunStore, tasks=None, models=None, run_ids=None, policy=None,
                    include_subsets=False) -> tuple[list[Entry], int, int, int]:
    """Entries for every complete run (filtered) scored under ``policy`` (default: each run's own), and how
    many runs were left out as unfinished, as not scored under ``policy`` and as subset runs."""
    if not store.list_runs():
        raise HarnessError(f"The run index {store.db_path} holds no runs yet. Start one with: "
                           "harness eval --model keyword-baseline --task combined_test")
    entries, unfinished, unscored, subsets = [], 0, 0, 0
    with store.connect() as conn:
        # Insertion order (rowid) breaks ties between runs created in the same second, so "latest" is exact.
        rows = conn.execute("SELECT r.*, m.policy AS scored_policy, m.metrics_json AS scored_json FROM runs r"
                            " LEFT JOIN metrics m ON m.run_id = r.run_id AND m.policy = COALESCE(?, r.policy)"
                            " ORDER BY r.created_at, r.rowid", (policy,)).fetchall()
        for r in rows:
            if ((tasks and r["task"] not in tasks) or (models and r["model"] not in models)
                    or (run_ids is not None and r["run_id"] not in run_ids)):
                continue
            if r["task_limit"] is not None and not include_subsets:
                subsets += r["status"] == "complete"
                continue
            if r["status"] != "complete":
                unfinished += 1
                continue
            if not r["scored_json"]:
                unscored += 1
                continue
            metrics = json.loads(r["scored_json"])
            n = metrics.get("n") or r["n_done"] or 0
            values = base_metrics(metrics)
            weights = {k: n for k in values}
            for name, (value, scored) in leaderboard_values(metrics).items():  # runs with label probabilities
                values[name], weights[name] = value, scored
            judges = judgment_store.summaries(metrics, f"run {r['run_id']} metrics")
            for name, summary in judges.items():
                for criterion, stats in summary.criteria.items():
                    values[f"{name}.{criterion}"] = stats.get("mean")
                    weights[f"{name}.{criterion}"] = stats.get("n") if stats.get("n") is not None else n
            entries.append(Entry(r["model"], column_name(r["task"], r["task_limit"]), r["run_id"],
                                 r["finished_at"] or r["created_at"], n, r["scored_policy"], values, weights, judges,
                                 r["task_limit"]))
    return entries, unfinished, unscored, subsets


def lower_is_better(entries) -> frozenset:
    """The base metrics and judge criteria ("judge.criterion") where lower is better, as the judges declared."""
    declared = {f"{name}.{c}" for e in entries for name, s in e.judges.items() for c in s.lower_is_better}
    return LOWER_IS_BETTER | declared


def better(metric, a, b, lower=LOWER_IS_BETTER) -> bool:
    """Whether value ``a`` beats ``b`` (None never beats anything)."""
    if a is None:
        return False
    if b is None:
        return True
    return a < b if metric in lower else a > b


def drop_mixed_judges(entries, metric) -> list[str]:
    """Leave out the criteria of each judge whose identity differs between ``entries``; return why.

    Ranking by such a criterion is refused, naming two of the identities.
    """
    notes = []
    for name in sorted({n for e in entries for n in e.judges}):
        judged = [e for e in entries if name in e.judges]
        first = judged[0]
        other = next((e for e in judged if e.judges[name].identity != first.judges[name].identity), None)
        if other is None:
            continue
        if metric.startswith(f"{name}."):
            raise judgment_store.mixed_identities("leaderboard", name,
                                                  (f"run {first.run_id}", first.judges[name].identity),
                                                  (f"run {other.run_id}", other.judges[name].identity))
        notes.append(f"{name} left out: run {first.run_id} was judged as {first.judges[name].identity}, "
                     f"run {other.run_id} as {other.judges[name].identity}")
        for e in judged:
            for key in [k for k in e.metrics if k.startswith(f"{name}.")]:
                del e.metrics[key]
    return notes


@dataclass
class Leaderboard:
    metric: str
    selection: str
    tasks: list
    rows: list  # [{"model", "cells": {task: Entry}, "average": {metric: value}, "n", "date"}]
    unfinished: int = 0
    metrics: list = field(default_factory=list)  # every metric present, base ones first
    policy: str | None = None  # None: each run's own
    unscored: int = 0  # complete runs not scored under ``policy``
    lower_is_better: frozenset = LOWER_IS_BETTER
    notes: list = field(default_factory=list)  # judges left out because their identities differ
    subsets: int = 0  # complete subset (--limit) runs left out; include_subsets shows them


def weighted_mean(entries, metric):
    pairs = [(e.get(metric), e.weights.get(metric) or 0) for e in entries if e.get(metric) is not None]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else None


def build_leaderboard(store: RunStore, tasks=None, metric="accuracy", selection="latest", models=None,
                      run_ids=None, policy=None, include_subsets=False) -> Leaderboard:
    """The board over the index, or over ``run_ids`` only (a report's runs), under ``policy``.

    Subset runs are left out unless ``include_subsets``; then each gets its own ``task[limit=N]`` column.
    """
    if selection not in SELECTIONS:
        raise HarnessError(f"selection '{selection}': expected one of {', '.join(SELECTIONS)}")
    entries, unfinished, unscored, subsets = collect_entries(store, tasks, models, run_ids, policy, include_subsets)
    if not entries:
        what = " and ".join(filter(None, [tasks and f"task(s) {', '.join(tasks)}",
                                          models and f"model(s) {', '.join(models)}"]))
        raise HarnessError(f"No complete runs{' for ' + what if what else ''} in {store.db_path}"
                           + (f" ({unfinished} unfinished: finish them with the same `harness eval` command)"
                              if unfinished else "")
                           + (f" ({unscored} not scored under policy {policy}: score them with the same "
                              f"`harness eval` command plus --policy {policy})" if unscored else "")
                           + (f" ({subsets} complete subset run(s) made with --limit: show them with "
                              "--include-subsets)" if subsets else ""))
    present = sorted({k for e in entries for k in e.metrics if e.metrics[k] is not None} - set(BASE_METRICS))
    all_metrics = list(BASE_METRICS) + present
    if metric not in all_metrics:
        from harness.errors import unknown_name

        raise unknown_name("metric", metric, all_metrics)
    lower = lower_is_better(entries)
    if selection == "best" and metric not in BASE_METRICS:
        drop_mixed_judges(entries, metric)  # "best" compares the judge's scores across every candidate run
    chosen: dict[tuple, Entry] = {}
    for e in entries:  # entries are in creation order, so later runs replace earlier ones
        key = (e.model, e.task)
        if selection == "latest" or key not in chosen or better(metric, e.get(metric), chosen[key].get(metric),
                                                                lower):
            chosen[key] = e
    notes = drop_mixed_judges(list(chosen.values()), metric)
    shown = {k for e in chosen.values() for k in e.metrics if e.metrics[k] is not None}
    all_metrics = list(BASE_METRICS) + [m for m in present if m in shown]
    columns = sorted({k[1] for k in chosen})  # a task's subset columns sort right after it
    task_order = [c for t in (tasks or []) for c in columns if c == t or c.startswith(f"{t}[")] or columns
    rows = []
    for model in sorted({k[0] for k in chosen}):
        cells = {t: chosen[(model, t)] for t in task_order if (model, t) in chosen}
        full = [e for e in cells.values() if e.limit is None]  # subset columns are shown, never averaged in
        average = {m: weighted_mean(full, m) for m in all_metrics}
        rows.append({"model": model, "cells": cells, "average": average,
                     "n": sum(e.n for e in full), "date": max(e.date for e in cells.values())})
    rows.sort(key=lambda r: (r["average"][metric] is None,
                             (1 if metric in lower else -1) * (r["average"][metric] or 0), r["model"]))
    return Leaderboard(metric, selection, task_order, rows, unfinished, all_metrics, policy, unscored, lower, notes,
                       subsets)


# -- rendering --------------------------------------------------------------


def pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def matrix(board: Leaderboard) -> tuple[list[str], list[dict]]:
    """Columns and text rows of the model x task table of the chosen metric (percent)."""
    columns = ["model"] + board.tasks + ["avg (weighted)", "tasks", "n", "date"]
    rows = []
    for r in board.rows:
        row = {"model": r["model"], "avg (weighted)": pct(r["average"][board.metric]),
               "tasks": f"{len(r['cells'])}/{len(board.tasks)}", "n": str(r["n"]), "date": r["date"][:10]}
        row.update({t: pct(r["cells"][t].get(board.metric)) if t in r["cells"] else "" for t in board.tasks})
        rows.append(row)
    return columns, rows


def long_rows(board: Leaderboard) -> list[dict]:
    """One row per (model, task) with every metric as a fraction, then each model's weighted average."""
    out = []
    for r in board.rows:
        for t, e in r["cells"].items():
            out.append({"model": r["model"], "task": t, **{m: e.get(m) for m in board.metrics}, "n": e.n,
                        "date": e.date, "policy": e.policy, "run_id": e.run_id})
        out.append({"model": r["model"], "task": "weighted average", **r["average"], "n": r["n"], "date": r["date"],
                    "policy": None, "run_id": None})
    return out


def caption(board: Leaderboard) -> str:
    direction = "lower is better" if board.metric in board.lower_is_better else "higher is better"
    note = (f"{board.metric} in percent ({direction}), {board.selection} complete run per model and task, "
            "sorted by the sample-weighted average over the tasks each model has")
    note += f", policy {board.policy}" if board.policy else ", each run under the policy it was evaluated with"
    if board.unfinished:
        note += f"; {board.unfinished} unfinished run(s) left out"
    if board.unscored:
        note += f"; {board.unscored} run(s) not scored under {board.policy} left out"
    if board.subsets:
        note += f"; {board.subsets} subset (--limit) run(s) left out (--include-subsets shows them)"
    for text in board.notes:
        note += f"; {text}"
    return note


def render_text(board: Leaderboard) -> str:
    columns, rows = matrix(board)
    return table(rows, columns) + f"\n\n{caption(board)}"


def render_markdown(board: Leaderboard) -> str:
    columns, rows = matrix(board)
    esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(map(esc, columns)) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(esc(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + f"\n\n_{caption(board)}_"


def render_csv(board: Leaderboard) -> str:
    rows = long_rows(board)
    columns = ["model", "task"] + board.metrics + ["n", "date", "policy", "run_id"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def render_json(board: Leaderboard) -> str:
    return json.dumps({"metric": board.metric, "selection": board.selection, "policy": board.policy,
                       "tasks": board.tasks, "unfinished_runs": board.unfinished, "unscored_runs": board.unscored,
                       "subset_runs_left_out": board.subsets,
                       "notes": board.notes,
                       "rows": [{"model": r["model"], "average": r["average"], "n": r["n"], "date": r["date"],
                                 "tasks": {t: {**e.metrics, "n": e.n, "date": e.date, "policy": e.policy,
                                               "run_id": e.run_id} for t, e in r["cells"].items()}}
                                for r in board.rows]}, indent=2)


def render_html_table(board: Leaderboard) -> str:
    """The leaderboard as an escaped HTML table with bar-shaded cells (for reports)."""
    from harness.render import html as htmlkit

    columns, rows = matrix(board)
    shades = {}
    for r, text_row in zip(board.rows, rows):
        for t in board.tasks:
            if t in r["cells"]:
                shades[(text_row["model"], t)] = r["cells"][t].get(board.metric)
        shades[(text_row["model"], "avg (weighted)")] = r["average"][board.metric]
    return htmlkit.table(columns, [[r[c] for c in columns] for r in rows], css_class="leaderboard",
                         shade=lambda i, c: shades.get((rows[i]["model"], c))) + \
        f"<p class='note'>{htmlkit.esc(caption(board))}</p>"


def render_html(board: Leaderboard) -> str:
    from harness.render import html as htmlkit

    return htmlkit.page("harness leaderboard", [("Leaderboard", render_html_table(board))])


RENDERERS = {"text": render_text, "markdown": render_markdown, "csv": render_csv, "json": render_json,
             "html": render_html}
