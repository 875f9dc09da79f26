"""Scoring prediction files made elsewhere: GuardReasoner's ``generated_predictions.jsonl``
(``prompt``, ``label``, ``predict``) or a harness ``samples.jsonl``."""

from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError
from harness.evaluate.runner import build_record
from harness.interfaces.model import Generation
from harness.tasks.sources import read_rows
from harness.records import Sample


def records_from_predictions(path: Path, task, parser) -> list[dict]:
    """Re-parse every completion in ``path`` with ``parser`` into harness records."""
    records = []
    for i, (row, where) in enumerate(read_rows(Path(path), "jsonl")):
        if "predict" in row:
            for field in ("label", "prompt"):
                if field not in row:
                    raise HarnessError(f"{where}: missing field '{field}' in a GuardReasoner predictions line")
            for field in ("prompt", "predict"):
                if not isinstance(row[field], str):
                    raise HarnessError(f"{where}: field '{field}' must be text, got {row[field]!r}")
            raw = str(row["label"]).strip()
            gold = task.labels.get(raw)
            if gold is None:
                raise HarnessError(f"{where}: label value {raw!r} is not in task '{task.name}' label map {task.labels}")
            sample = Sample(id=str(i), prompt=row["prompt"], gold=gold, gold_raw=raw, location=where)
            gens = [Generation(sample.id, 0, row["predict"])]
            rendered = row["prompt"]
        elif "completions" in row and "gold" in row:
            inp = row.get("input", {})
            sample = Sample(id=str(row["id"]), prompt=inp.get("prompt", ""), response=inp.get("response"),
                            gold=row["gold"], gold_raw=row.get("gold_raw", row["gold"]), category=inp.get("category"))
            gens = [Generation(sample.id, c.get("sample_index", k), c.get("text"), error=c.get("error"))
                    for k, c in enumerate(row["completions"])]
            rendered = row.get("rendered_prompt", "")
        else:
            raise HarnessError(
                f"{where}: expected GuardReasoner predictions ('prompt', 'label', 'predict') or harness "
                f"samples ('id', 'gold', 'completions'); found fields {sorted(row)}"
            )
        records.append(build_record(sample, task, rendered, gens, parser))
    return records
