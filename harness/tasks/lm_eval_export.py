"""Export a harness task as an lm-evaluation-harness task: ``lm_eval --include_path DIR --tasks T``.

The export folder holds three files:

* ``T.jsonl``: the task's samples (the harness's stratified ``--limit`` subset when
  one is given), one document per line, so ``lm_eval`` runs offline;
* ``T.yaml``: the lm-eval task (``dataset_path: json`` over that file, greedy
  ``generate_until`` with the harness's stop strings and ``max_new_tokens``);
* ``utils.py``: thin wrappers around the functions below, which lm-eval calls to
  render a prompt, parse each completion and aggregate the metrics.

Every step calls the harness's own code (template rendering, the registered
parser, :func:`harness.evaluate.runner.build_record`,
:func:`harness.score.metrics.score_records`), so ``lm_eval`` and ``harness eval``
compute the same per-sample verdicts and the same metrics from the same text.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.errors import HarnessError

# The strings the harness's hf model stops on (harness_plugins.hf.STOP_TOKENS): lm-eval stops on
# stop *strings*, so these make its hf backend stop where the harness's engine does.
STOP_STRINGS = ("<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>", "</s>")
FILTER_NAME = "harness"


@dataclass
class ExportSpec:
    """What the generated ``utils.py`` needs to behave like ``harness eval`` on one task."""

    task: str
    template: str
    parser: str
    target: str
    positive: str
    negative: str
    policy: str
    metrics: list = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict) -> ExportSpec:
        return cls(**data)


def metric_names(task, policy: str) -> list[str]:
    """The task's metrics as lm-eval metric names (always with the parse-failure rate)."""
    if policy == "guardreasoner-paper":
        return ["f1", "parse_failure_rate"]
    names = [m for m in task.metrics if m in ("accuracy", "precision", "recall", "f1")]
    return names + ["parse_failure_rate"]


@dataclass
class ExportResult:
    directory: Path
    yaml_path: Path
    utils_path: Path
    data_path: Path
    n_docs: int
    name: str


def export_task(task, out_dir, *, name=None, limit=None, seed=0, max_new_tokens=512, template=None, parser=None,
                policy=None, data_dir=None) -> ExportResult:
    """Write ``NAME.yaml``, ``utils.py`` and ``NAME.jsonl`` for ``task`` into ``out_dir``."""
    from harness.plugins import get_registry
    from harness.tasks import templates
    from harness.tasks.task import stratified_subset

    name = name or task.name
    if not name.replace("_", "").replace("-", "").isalnum():
        raise HarnessError(f"--name '{name}': an lm-eval task name should be letters, digits, '_' or '-'")
    if max_new_tokens < 1:
        raise HarnessError(f"--max-new-tokens must be at least 1, got {max_new_tokens}")
    template_text = templates.resolve_template(template or task.template)
    parser = parser or task.parser
    get_registry().get("parsers", parser)
    policy = policy or task.policy
    from harness.score.metrics import POLICIES

    if policy not in POLICIES:
        from harness.errors import unknown_name

        raise unknown_name("policy", policy, POLICIES)
    samples = stratified_subset(task.load(data_dir), limit, seed=seed)
    spec = ExportSpec(task=task.name, template=template_text, parser=parser, target=task.target,
                      positive=task.positive, negative=task.negative, policy=policy,
                      metrics=metric_names(task, policy))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data_path = (out / f"{name}.jsonl").resolve()
    with data_path.open("w", encoding="utf-8") as f:
        for s in samples:
            f.write(json.dumps({"id": s.id, "prompt": s.prompt, "response": s.response, "gold": s.gold,
                                "gold_raw": s.gold_raw, "category": s.category}, ensure_ascii=False) + "\n")
    utils_path = out / "utils.py"
    utils_path.write_text(utils_source(spec), encoding="utf-8")
    yaml_path = out / f"{name}.yaml"
    yaml_path.write_text(task_yaml(name, spec, data_path, max_new_tokens, limit, seed, task), encoding="utf-8")
    return ExportResult(out, yaml_path, utils_path, data_path, len(samples), name)


def task_yaml(name, spec: ExportSpec, data_path: Path, max_new_tokens: int, limit, seed, task) -> str:
    """The lm-eval task config (JSON scalars are valid YAML; ``!function`` points into utils.py)."""
    q = json.dumps
    lines = [
        f"# lm-evaluation-harness task exported by `harness export lm-eval --task {task.name}`.",
        f"# Run: lm_eval --include_path {data_path.parent} --tasks {name} --model hf --model_args pretrained=MODEL",
        "# Same numbers as: harness eval --model hf:MODEL --task "
        f"{task.name} --temperature 0 --max-new-tokens {max_new_tokens}" + (f" --limit {limit}" if limit else "")
        + (f" --seed {seed}" if seed else ""),
        f"task: {q(name)}",
        "dataset_path: json",
        "dataset_kwargs:",
        "  data_files:",
        f"    test: {q(str(data_path))}",
        "test_split: test",
        "output_type: generate_until",
        "doc_to_text: !function utils.doc_to_text",
        "doc_to_target: gold",
        "generation_kwargs:",
        f"  until: {q(list(STOP_STRINGS))}",
        f"  max_gen_toks: {max_new_tokens}",
        "  do_sample: false",
        "  temperature: 0.0",
        "filter_list:",
        f"  - name: {FILTER_NAME}",
        "    filter:",
        "      - function: custom",
        "        filter_fn: !function utils.parse_completions",
        "      - function: take_first",
        "process_results: !function utils.process_results",
        "metric_list:",
    ]
    for metric in spec.metrics:
        lines += [f"  - metric: {metric}", f"    aggregation: !function utils.{metric}",
                  f"    higher_is_better: {'false' if metric == 'parse_failure_rate' else 'true'}"]
    lines += ["metadata:", "  version: 1.0", f"  harness_task: {q(task.name)}",
              f"  harness_task_sha256: {q(task.file_hash())}", f"  limit: {q(limit)}", f"  seed: {seed}"]
    return "\n".join(lines) + "\n"


def utils_source(spec: ExportSpec) -> str:
    aggregations = "".join(
        f"\n\ndef {m}(items):\n    return _export.aggregate(SPEC, {m!r}, items)\n" for m in spec.metrics)
    return f'''"""lm-eval hooks generated by `harness export lm-eval`: each calls the installed harness."""

from harness.tasks import lm_eval_export as _export

SPEC = _export.ExportSpec.from_dict({json.dumps(asdict(spec), indent=4, ensure_ascii=False)})


def doc_to_text(doc):
    return _export.doc_to_text(SPEC, doc)


def parse_completions(resps, docs):
    return _export.parse_completions(SPEC, resps, docs)


def process_results(doc, results):
    return _export.process_results(SPEC, doc, results)
{aggregations}'''


# -- the functions utils.py calls ------------------------------------------------------------------------------

def sample_of(doc: dict):
    from harness.tasks.task import Sample

    return Sample(id=str(doc["id"]), prompt=doc["prompt"], gold=doc["gold"], gold_raw=doc.get("gold_raw"),
                  response=doc.get("response"), category=doc.get("category"))


def doc_to_text(spec: ExportSpec, doc: dict) -> str:
    """The prompt exactly as ``harness eval`` renders it."""
    from harness.tasks import templates

    return templates.render(spec.template, doc["prompt"], doc.get("response"))


class _TaskView:
    """The few task attributes that record building and scoring read."""

    def __init__(self, spec: ExportSpec):
        self.name, self.target, self.positive, self.negative = spec.task, spec.target, spec.positive, spec.negative


def record_for(spec: ExportSpec, doc: dict, texts: list):
    """The harness's sample record for one document's completions (parsed by the registered parser)."""
    from harness.evaluate.runner import build_record
    from harness.interfaces.model import Generation
    from harness.plugins import get_registry

    parser = get_registry().get("parsers", spec.parser)
    sample = sample_of(doc)
    generations = [Generation(sample.id, i, text) for i, text in enumerate(texts)]
    return build_record(sample, _TaskView(spec), doc_to_text(spec, doc), generations, parser)


def parse_completions(spec: ExportSpec, resps, docs) -> list:
    """lm-eval filter: each completion becomes the harness's record of it (a JSON-able dict)."""
    return [[record_for(spec, doc, [text]).to_dict() for text in texts] for texts, doc in zip(resps, docs)]


def process_results(spec: ExportSpec, doc: dict, results: list) -> dict:
    """Each metric gets the document's record; the aggregations score the records together."""
    record = results[0]
    return {metric: record for metric in spec.metrics}


def aggregate(spec: ExportSpec, metric: str, items: list):
    """One metric over all documents, by :func:`harness.score.metrics.score_records` under the task's policy."""
    from harness.records import SampleRecord
    from harness.score.metrics import score_records

    records = [SampleRecord.from_dict(item) for item in items]
    return score_records(records, _TaskView(spec), spec.policy).get(metric)
