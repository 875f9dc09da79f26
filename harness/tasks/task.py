"""Declarative tasks: one YAML file per task, loaded into samples with canonical gold labels.

A task file names its data source, how to read it, which fields hold the prompt,
response, label and category, how raw labels map onto canonical verdicts, the
positive class, the prompt template, the parser, and the metrics.  Copy any file
in ``tasks/`` to add a task.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.errors import HarnessError, unknown_name
from harness.tasks import sources, templates

TASK_KEYS = {
    "name", "description", "source", "format", "records_key", "fields", "labels",
    "positive", "target", "template", "parser", "metrics", "policy",
}
REQUIRED_KEYS = {"name", "source", "format", "fields", "labels", "positive"}
SOURCE_KEYS = {"path", "url", "hf", "split", "config"}
FIELD_KEYS = {"prompt", "response", "label", "category", "id"}
FORMATS = {"json", "jsonl", "guardreasoner"}
TARGETS = {"prompt", "response", "refusal"}
CANONICAL = {"harmful", "safe", "refusal", "compliance"}


@dataclass
class Sample:
    id: str
    prompt: str
    gold: str
    gold_raw: str
    response: str | None = None
    category: str | None = None
    location: str = ""


@dataclass
class Task:
    name: str
    source: dict
    format: str
    fields: dict
    labels: dict
    positive: str
    path: Path
    description: str = ""
    records_key: str | None = None
    target: str = "prompt"
    template: str = "seed-chatml"
    parser: str = "label-line"
    metrics: list = field(default_factory=lambda: ["accuracy", "precision", "recall", "f1"])
    policy: str = "strict"

    @property
    def negative(self) -> str:
        others = sorted(set(self.labels.values()) - {self.positive})
        return others[0] if others else {"harmful": "safe", "refusal": "compliance"}.get(self.positive, "safe")

    def file_hash(self) -> str:
        return sources.file_sha256(self.path)

    # -- data ------------------------------------------------------------
    def data_path(self, data_dir=None) -> Path:
        """Where the data file is, downloading URL sources into the cache."""
        if "url" in self.source:
            return sources.fetch_url(self.source["url"])
        if "path" in self.source:
            root, origin = sources.data_dir(data_dir)
            path = root / self.source["path"]
            if not path.exists():
                raise HarnessError(
                    f"Task '{self.name}' needs {self.source['path']}, which is not in the data directory "
                    f"{root.resolve()} (from {origin}). Point the harness at the data with "
                    f"--data-dir DIR or HARNESS_DATA_DIR=DIR (e.g. HARNESS_DATA_DIR=../shared/data)."
                )
            return path
        raise HarnessError(f"Task '{self.name}' has an 'hf' source: it has no data file")

    def load(self, data_dir=None) -> list[Sample]:
        if "hf" in self.source:
            rows = sources.read_hf_dataset(self.source["hf"], self.source.get("split", "test"), self.source.get("config"))
        else:
            rows = sources.read_rows(self.data_path(data_dir), "jsonl" if self.format == "jsonl" else "json", self.records_key)
        return [self._sample(i, row, where) for i, (row, where) in enumerate(rows)]

    def data_fingerprint(self, data_dir=None) -> str:
        if "hf" in self.source:
            return "hf:" + json.dumps(self.source, sort_keys=True)
        return sources.file_sha256(self.data_path(data_dir))

    def _field(self, row, key, where, required):
        name = self.fields.get(key)
        if name is None:
            if required:
                raise HarnessError(f"Task '{self.name}': fields.{key} is not set in {self.path}")
            return None
        if name not in row:
            if not required:
                return None
            raise HarnessError(
                f"{where}: missing field '{name}' (task '{self.name}' maps {key} to it); "
                f"the record has: {', '.join(sorted(row)) or 'no fields'}"
            )
        return row[name]

    def _sample(self, index, row, where) -> Sample:
        if self.format == "guardreasoner":
            prompt, response = split_guardreasoner_input(self._field(row, "prompt", where, True), where)
        else:
            prompt = self._field(row, "prompt", where, True)
            response = self._field(row, "response", where, False)
        if not isinstance(prompt, str):
            raise HarnessError(f"{where}: field '{self.fields['prompt']}' must be text, got {type(prompt).__name__}")
        raw = self._field(row, "label", where, True)
        gold = self.labels.get(str(raw).strip() if raw is not None else raw)
        if gold is None:
            raise HarnessError(
                f"{where}: label value {raw!r} is not in task '{self.name}' label map "
                f"{self.labels} (edit 'labels:' in {self.path})"
            )
        category = self._field(row, "category", where, False)
        sample_id = self._field(row, "id", where, False)
        return Sample(
            id=str(sample_id) if sample_id is not None else str(index),
            prompt=prompt,
            response=response,
            gold=gold,
            gold_raw=str(raw),
            category=None if category is None else str(category),
            location=where,
        )


def split_guardreasoner_input(text: str, where: str) -> tuple[str, str | None]:
    """Split GuardReasoner's ``Human user:\\n...\\n\\nAI assistant:\\n...\\n\\n`` input."""
    head, sep, tail = text.partition("\n\nAI assistant:\n")
    if not head.startswith("Human user:\n") or not sep:
        raise HarnessError(f"{where}: input is not in GuardReasoner's 'Human user: / AI assistant:' form")
    prompt = head[len("Human user:\n"):]
    response = tail[:-2] if tail.endswith("\n\n") else tail
    return prompt, (None if response == "None" else response)


def parse_task_file(path: Path) -> Task:
    """Read and validate one task YAML file, naming any bad key."""
    try:
        spec = yaml.safe_load(sources.read_text(path))
    except yaml.YAMLError as exc:
        raise HarnessError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(spec, dict):
        raise HarnessError(f"{path}: a task file must be a YAML mapping")
    for key in spec:
        if key not in TASK_KEYS:
            raise unknown_name_in(path, "key", key, TASK_KEYS)
    missing = REQUIRED_KEYS - set(spec)
    if missing:
        raise HarnessError(f"{path}: missing required key(s): {', '.join(sorted(missing))}")
    source = spec["source"]
    if not isinstance(source, dict) or not ({"path", "url", "hf"} & set(source)):
        raise HarnessError(f"{path}: 'source' must have one of path, url or hf")
    for key in source:
        if key not in SOURCE_KEYS:
            raise unknown_name_in(path, "source key", key, SOURCE_KEYS)
    if spec["format"] not in FORMATS:
        raise unknown_name_in(path, "format", spec["format"], FORMATS)
    for key in spec["fields"]:
        if key not in FIELD_KEYS:
            raise unknown_name_in(path, "fields key", key, FIELD_KEYS)
    labels = {str(k): v for k, v in spec["labels"].items()}
    for raw, canon in labels.items():
        if canon not in CANONICAL:
            raise HarnessError(f"{path}: labels.{raw} maps to '{canon}'; expected one of {', '.join(sorted(CANONICAL))}")
    if spec["positive"] not in labels.values():
        raise HarnessError(f"{path}: positive '{spec['positive']}' is not a value of the label map")
    target = spec.get("target", "prompt")
    if target not in TARGETS:
        raise unknown_name_in(path, "target", target, TARGETS)
    task = Task(
        name=spec["name"], source=source, format=spec["format"], fields=spec["fields"], labels=labels,
        positive=spec["positive"], path=Path(path), description=spec.get("description", ""),
        records_key=spec.get("records_key"), target=target,
    )
    for key in ("template", "parser", "metrics", "policy"):
        if key in spec:
            setattr(task, key, spec[key])
    templates.resolve_template(task.template)
    return task


def unknown_name_in(path, kind, name, known):
    err = unknown_name(kind, str(name), known)
    return HarnessError(f"{path}: {err}")


def task_files() -> dict[str, Path]:
    """Task name -> file, from every path the plugins registered."""
    from harness.plugins import get_registry

    found = {}
    for reg in get_registry().items["tasks"].values():
        path = Path(reg.value)
        files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
        for f in files:
            found[f.stem] = f
    return found


def get_task(name_or_path: str) -> Task:
    """A task by registered name, by the path of a task YAML file, or ``lm-eval:NAME`` (an lm-eval task)."""
    if name_or_path.startswith("lm-eval:"):
        from harness.tasks.lm_eval_source import get_lm_eval_task

        return get_lm_eval_task(name_or_path[len("lm-eval:"):])
    p = Path(name_or_path)
    if p.suffix in {".yaml", ".yml"} and p.exists():
        return parse_task_file(p)
    files = task_files()
    if name_or_path not in files:
        raise unknown_name("task", name_or_path, files)
    task = parse_task_file(files[name_or_path])
    if task.name != name_or_path:
        raise HarnessError(f"{files[name_or_path]}: 'name: {task.name}' must match the file name '{name_or_path}'")
    return task


def stratified_subset(samples: list[Sample], limit: int | None, seed: int = 0) -> list[Sample]:
    """A deterministic, label-stratified subset of ``limit`` samples, in original order."""
    if not limit or limit >= len(samples):
        return list(samples)
    from sklearn.model_selection import train_test_split

    indices = list(range(len(samples)))
    labels = [s.gold for s in samples]
    counts = Counter(labels)
    stratify = labels if len(counts) > 1 and min(counts.values()) >= 2 and limit >= len(counts) else None
    chosen, _ = train_test_split(indices, train_size=limit, stratify=stratify, random_state=seed)
    return [samples[i] for i in sorted(chosen)]
