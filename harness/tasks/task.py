"""Declarative tasks: one YAML file per task, loaded into samples with canonical gold labels.

A task file names its data source, how to read it, which fields hold the prompt,
response, label and category, how raw labels map onto canonical verdicts, the
positive class, the prompt template, the parser, and the metrics.  Copy any file
in ``tasks/`` to add a task.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness.config import check_keys, check_name, read_yaml_mapping, where_of
from harness.errors import HarnessError, unknown_name
from harness.records import Sample
from harness.tasks import sources, templates

TASK_KEYS = {
    "name", "description", "source", "format", "records_key", "fields", "labels",
    "positive", "target", "template", "parser", "metrics", "policy",
}
REQUIRED_KEYS = {"name", "source", "format", "fields", "labels", "positive"}
SOURCE_KEYS = {"path", "file", "url", "sha256", "hf", "split", "config"}
FIELD_KEYS = {"prompt", "response", "label", "category", "id"}
FORMATS = {"json", "jsonl", "guardreasoner"}
TARGETS = {"prompt", "response", "refusal"}
CANONICAL = {"harmful", "safe", "refusal", "compliance"}
METRICS = {"accuracy", "precision", "recall", "f1"}
POLICIES = {"strict", "exclude", "guardreasoner-paper"}


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

    # -- what a run of this task uses (lm-eval tasks answer these differently) -----------
    def generation(self, settings, model_template=None, model_parser=None):
        """(template, parser, settings) of a run: the checkpoint's or model loader's declaration, else the task's."""
        from harness.plugins import get_registry

        template, parser = model_template or self.template, model_parser or self.parser
        templates.resolve_template(template)
        get_registry().get("parsers", parser)
        return template, parser, settings

    def output_parser(self, name: str):
        from harness.plugins import get_registry

        return get_registry().get("parsers", name)

    def score(self, records, policy: str) -> dict:
        from harness.score.metrics import score_records

        return score_records(records, self, policy)

    # -- data ------------------------------------------------------------
    def data_path(self, data_dir=None) -> Path:
        """Where the data file is: in the data folder, else (with a ``url``) downloaded into the cache.

        A ``sha256`` in the source is checked against the file either way.
        """
        expected = self.source.get("sha256")
        if "file" in self.source:  # shipped next to the task file: needs no data folder
            path = self.path.parent / self.source["file"]
            if not path.exists():
                raise HarnessError(f"{self.path}: source.file '{self.source['file']}' is not next to the task file "
                                   f"(looked for {path})")
            return sources.check_sha256(path, expected, self.path)
        if "path" in self.source:
            root, origin = sources.data_dir(data_dir)
            path = root / self.source["path"]
            if path.exists():
                return sources.check_sha256(path, expected, self.path)
            if "url" not in self.source:
                raise HarnessError(
                    f"Task '{self.name}' needs {self.source['path']}, which is not in the data directory "
                    f"{root.resolve()} (from {origin}). Point the harness at the data with "
                    f"--data-dir DIR or HARNESS_DATA_DIR=DIR (e.g. HARNESS_DATA_DIR=../shared/data), or give "
                    f"source.url in {self.path} to download it."
                )
            hint = (f". Without network, put the file at {path.resolve()} yourself and set HARNESS_DATA_DIR "
                    f"(or --data-dir) to {root.resolve()}")
            return sources.fetch_url(self.source["url"], expected, hint)
        if "url" in self.source:
            return sources.fetch_url(self.source["url"], expected,
                                     ". Without network, download it elsewhere and give its path as source.path "
                                     "with HARNESS_DATA_DIR set to its folder")
        raise HarnessError(f"Task '{self.name}' has an 'hf' source: it has no data file")

    def load(self, data_dir=None) -> list[Sample]:
        if "hf" in self.source:
            rows = sources.read_hf_dataset(self.source["hf"], self.source.get("split", "test"), self.source.get("config"))
        else:
            rows = sources.read_rows(self.data_path(data_dir), "jsonl" if self.format == "jsonl" else "json", self.records_key)
        return check_unique_ids([self._sample(i, row, where) for i, (row, where) in enumerate(rows)], self)

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
        if sample_id is not None and (isinstance(sample_id, bool) or not isinstance(sample_id, (str, int))):
            raise HarnessError(f"{where}: field '{self.fields.get('id')}' (the sample id) must be text or a whole "
                               f"number, got {json.dumps(sample_id)[:40]}")
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
    """Read and validate one task YAML file; errors name the file, line and key."""
    spec = read_yaml_mapping(path, sources.read_text(path))
    check_keys(str(path), spec, TASK_KEYS)
    missing = REQUIRED_KEYS - set(spec)
    if missing:
        raise HarnessError(f"{path}: missing required key(s): {', '.join(sorted(missing))}")
    check_task_spec(spec, path)
    source = spec["source"]
    if not isinstance(source, dict) or not ({"path", "file", "url", "hf"} & set(source)):
        raise HarnessError(f"{spec.where('source')}: 'source' must have one of path (in the data folder), file (next "
                           "to the task file), url or hf")
    check_keys(f"{path}: source", source, SOURCE_KEYS, kind="source key")
    check_source(source, path)
    if spec["format"] not in FORMATS:
        raise unknown_name_in(spec.where("format"), "format", spec["format"], FORMATS)
    check_keys(f"{path}: fields", spec["fields"], FIELD_KEYS, kind="fields key")
    if not isinstance(spec["labels"], dict):
        raise HarnessError(f"{spec.where('labels')}: 'labels' must map raw labels to canonical verdicts")
    labels = {str(k): v for k, v in spec["labels"].items()}
    for raw, canon in spec["labels"].items():
        if canon not in CANONICAL:
            raise HarnessError(f"{spec['labels'].where(raw)}: labels.{raw} maps to '{canon}'; expected one of "
                               f"{', '.join(sorted(CANONICAL))}")
    if spec["positive"] not in labels.values():
        raise HarnessError(f"{spec.where('positive')}: positive '{spec['positive']}' is not a value of the label map")
    target = spec.get("target", "prompt")
    if target not in TARGETS:
        raise unknown_name_in(spec.where("target"), "target", target, TARGETS)
    task = Task(
        name=spec["name"], source=source, format=spec["format"], fields=spec["fields"], labels=labels,
        positive=spec["positive"], path=Path(path), description=spec.get("description", ""),
        records_key=spec.get("records_key"), target=target,
    )
    for key in ("template", "parser", "metrics", "policy"):
        if key in spec:
            setattr(task, key, spec[key])
    try:
        templates.resolve_template(task.template)
    except HarnessError as exc:
        raise HarnessError(f"{where_of(spec, 'template', str(path))}: field 'template': {exc}") from None
    return task


def check_source(source: dict, path) -> None:
    """Types of the source fields: text paths, an http(s) url, a sha256 of 64 hex digits."""
    for key in ("path", "file", "url", "hf"):
        if key in source and not isinstance(source[key], str):
            raise HarnessError(f"{where_of(source, key, str(path))}: source.{key} must be text, got {source[key]!r}")
    if "url" in source and not source["url"].startswith(("http://", "https://")):
        raise HarnessError(f"{where_of(source, 'url', str(path))}: source.url must start with http:// or https://, "
                           f"got {source['url']!r}")
    sha = source.get("sha256")
    if sha is not None and not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
        raise HarnessError(f"{where_of(source, 'sha256', str(path))}: source.sha256 must be 64 lowercase hex digits "
                           f"(sha256sum of the data file), got {sha!r}")


YAML_BOOLEAN_WORDS = "yes/no, on/off, true/false, y/n"


def check_task_spec(spec: dict, path) -> None:
    """Types and values of a task file's fields, before any is used: each error names file, line and field."""
    def at(key):
        return where_of(spec, key, str(path))

    def need(key, types, what):
        if key in spec and (not isinstance(spec[key], types) or isinstance(spec[key], bool)):
            raise HarnessError(f"{at(key)}: field '{key}' must be {what}, got {spec[key]!r}")

    for key in ("name", "format", "positive", "target", "template", "parser", "policy", "records_key"):
        need(key, str, "text")
    need("description", str, "text")
    for key in ("source", "fields", "labels"):
        need(key, dict, "a mapping (key: value lines under it)")
    check_name(spec["name"], f"{at('name')}: field 'name'")
    for key, value in spec["fields"].items():
        if not isinstance(value, str) or isinstance(key, bool):
            raise HarnessError(f"{where_of(spec['fields'], key, at('fields'))}: fields.{key} must name a record "
                               f"field (text), got {value!r}")
    if not spec["labels"]:
        raise HarnessError(f"{at('labels')}: field 'labels' is empty; map each raw label to one of "
                           f"{', '.join(sorted(CANONICAL))}")
    for key, value in spec["source"].items():
        if not isinstance(value, str):
            raise HarnessError(f"{where_of(spec['source'], key, at('source'))}: source.{key} must be text, got {value!r}")
    for raw, canon in spec["labels"].items():
        if not isinstance(canon, str):
            raise HarnessError(f"{where_of(spec['labels'], raw, at('labels'))}: labels.{raw} must be one of "
                               f"{', '.join(sorted(CANONICAL))}, got {canon!r}")
        if isinstance(raw, bool):
            raise HarnessError(
                f"{where_of(spec['labels'], raw, at('labels'))}: label key {raw!r}: YAML reads unquoted "
                f"{YAML_BOOLEAN_WORDS} as true/false; quote the raw label, e.g. \"yes\": harmful")
    if "metrics" in spec:
        metrics = spec["metrics"]
        if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
            raise HarnessError(f"{at('metrics')}: field 'metrics' must be a list of metric names "
                               f"({', '.join(sorted(METRICS))}), got {metrics!r}")
        for metric in metrics:
            if metric not in METRICS:
                raise HarnessError(f"{at('metrics')}: field 'metrics': {unknown_name('metric', metric, METRICS)}")
    if "policy" in spec and spec["policy"] not in POLICIES:
        raise HarnessError(f"{at('policy')}: field 'policy': {unknown_name('policy', spec['policy'], POLICIES)}")
    if "parser" in spec:
        from harness.plugins import get_registry

        try:
            get_registry().get("parsers", spec["parser"])
        except HarnessError as exc:
            raise HarnessError(f"{at('parser')}: field 'parser': {exc}") from None


def check_unique_ids(samples: list[Sample], task: "Task") -> list[Sample]:
    """Refuse two records with one sample id: one would never be evaluated and the other scored twice."""
    first = {}
    for sample in samples:
        if sample.id in first:
            raise HarnessError(
                f"{sample.location}: sample id {sample.id!r} repeats the id of {first[sample.id].location}; "
                f"ids (fields.id: '{task.fields.get('id')}' in {task.path}) must be unique")
        first[sample.id] = sample
    return samples


def unknown_name_in(where, kind, name, known):
    """An unknown value (not key) in a task file, prefixed with its ``file:line``."""
    err = unknown_name(kind, str(name), known)
    return HarnessError(f"{where}: {err}")


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


def get_yaml_task(name_or_path: str) -> Task:
    """A task by registered name or by the path of a task YAML file (``harness.tasks.get_task`` finds any task)."""
    p = Path(name_or_path)
    if not name_or_path.strip():
        raise HarnessError("--task: expected a task name or a task YAML path, got an empty name")
    if p.suffix in {".yaml", ".yml"} or len(p.parts) > 1:
        if not p.exists():
            raise HarnessError(f"{p}: task file not found")
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
