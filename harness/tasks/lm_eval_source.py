"""lm-evaluation-harness tasks as harness tasks: ``harness eval --model M --task lm-eval:NAME``.

lm-eval builds the documents, prompts (few-shot context included), targets,
filters and metrics of a ``generate_until`` task; the harness generates through
its own model registry and engine, stores one record per document like any run,
and scores the stored completions with lm-eval's own filters, ``process_results``
and aggregations.  The run's ``metrics.json`` holds them under ``lm_eval``
(``{"metric,filter": value}``), and ``accuracy`` is the task's first metric so
the run has a leaderboard column.

Where lm-eval's hf backend and the harness's engine differ, the harness follows
lm-eval: generation uses the task's ``generation_kwargs`` (``max_gen_toks``,
default 256, and greedy unless the task samples), and each completion is cut
at the first of the task's ``until`` strings before filtering, as lm-eval does.
``--limit`` takes the harness's seeded subset of documents, not lm-eval's first N.

Data: lm-eval tasks read Hugging Face datasets.  Offline, a dataset comes from
the datasets cache, or from ``$HARNESS_LM_EVAL_DATA/<dataset_path>[/<dataset_name>]``
(split files such as ``test.jsonl``); when neither has it the error says so.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

from harness.errors import HarnessError
from harness.interfaces.parser import Parser, ParseResult

PREFIX = "lm-eval:"
DATA_ENV = "HARNESS_LM_EVAL_DATA"
INCLUDE_ENV = "HARNESS_LM_EVAL_INCLUDE"
DEFAULT_MAX_GEN_TOKS = 256  # lm-eval's HFLM default


def lm_eval_available():
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        raise HarnessError("lm-eval tasks need lm-evaluation-harness: pip install 'harness-guards[lm-eval]'") from None


def task_manager(spec: str):
    """A TaskManager that knows ``spec``: a YAML path needs only its folder, a name needs lm-eval's index."""
    from lm_eval.tasks import TaskManager

    extra = [p for p in os.environ.get(INCLUDE_ENV, "").split(os.pathsep) if p]
    if is_path(spec):
        return TaskManager(include_path=[str(Path(spec).resolve().parent), *extra], include_defaults=False)
    return TaskManager(include_path=extra or None)


def is_path(spec: str) -> bool:
    return spec.endswith((".yaml", ".yml"))


def local_data_dir(config: dict) -> Path | None:
    """``$HARNESS_LM_EVAL_DATA/<dataset_path>[/<dataset_name>]`` when it exists."""
    root = os.environ.get(DATA_ENV)
    path = config.get("dataset_path")
    if not root or not path:
        return None
    folder = Path(root) / path / (config.get("dataset_name") or "")
    return folder if folder.is_dir() else None


def data_error(name: str, config: dict, error: Exception) -> HarnessError:
    """Say where the data was looked for: the hub (online or not), the datasets cache, the local folder."""
    dataset = config.get("dataset_path") or "(no dataset_path)"
    if config.get("dataset_name"):
        dataset += f" (config '{config['dataset_name']}')"
    import datasets.config

    offline = bool(datasets.config.HF_HUB_OFFLINE)  # read from HF_HUB_OFFLINE / HF_DATASETS_OFFLINE at import
    root = os.environ.get(DATA_ENV)
    local = (Path(root) / (config.get("dataset_path") or "") / (config.get("dataset_name") or "")) if root else None
    hub = "the Hugging Face hub is switched off (HF_DATASETS_OFFLINE/HF_HUB_OFFLINE=1)" if offline else \
        "the Hugging Face hub could not be reached or refused it"
    where = (f"the local folder {local} does not exist" if local else
             f"no local folder is set ({DATA_ENV}=DIR, holding DIR/<dataset_path>/<dataset_name>/<split>.jsonl)")
    detail = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
    return HarnessError(
        f"lm-eval task '{name}' could not load its dataset {dataset}: {hub}, it is not in the datasets cache, "
        f"and {where}. Run once online, or copy its split files into that folder "
        f"({type(error).__name__}: {detail})")


#: whether task YAMLs outside the installed lm_eval package may run their ``!function`` code (--trust-remote-code)
_TRUST_TASK_CODE = [False]


def trust_task_code(on: bool = True) -> None:
    """Let lm-eval task YAMLs from outside lm_eval run Python (``!function``); the CLI's --trust-remote-code."""
    _TRUST_TASK_CODE[0] = bool(on)


def check_task_code(yaml_path) -> None:
    """Refuse a task YAML outside the lm_eval package that names Python code (``!function``), unless trusted.

    lm-eval imports the module a ``!function`` names while it builds the task: running a downloaded YAML
    would run its ``utils.py``.  Tasks shipped inside lm_eval are installed code like any package.
    """
    if _TRUST_TASK_CODE[0] or yaml_path is None:
        return
    import re

    import lm_eval

    package = Path(lm_eval.__file__).resolve().parent
    todo, seen = [Path(yaml_path).resolve()], set()
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file() or path.is_relative_to(package):
            continue
        seen.add(path)
        text = path.read_text(encoding="utf-8", errors="replace")
        for lineno, line in enumerate(text.splitlines(), 1):
            if re.search(r"!function\b", line.split("#", 1)[0]):
                raise HarnessError(f"{path}:{lineno}: this lm-eval task YAML runs Python code ({line.strip()[:80]}); "
                                   "pass --trust-remote-code to allow it")
        for include in re.findall(r"^include:\s*['\"]?([^'\"\s#]+)", text, flags=re.M):
            todo.append((path.parent / include).resolve())


def build_lm_eval_task(spec: str):
    """lm-eval's Task object for one ``generate_until`` task (a registered name or a YAML path)."""
    lm_eval_available()
    if is_path(spec) and not Path(spec).is_file():
        raise HarnessError(f"lm-eval task file {spec} does not exist")
    manager = task_manager(spec)
    if is_path(spec):
        from lm_eval.tasks._index import TaskIndex

        entry = TaskIndex.entry_from_path(Path(spec).resolve())
        if entry is None:
            raise HarnessError(f"{spec}: not an lm-eval task YAML (it needs a 'task:' key)")
        name = entry.name
    else:
        name = spec
        entry = manager.task_index.get(spec)
        if entry is None:
            close = [t for t in manager.all_subtasks if spec.lower() in t.lower()][:8]
            raise HarnessError(f"Unknown lm-eval task '{spec}'" + (f"; similar: {', '.join(close)}" if close else "")
                               + " (list them with: lm_eval ls tasks)")
    target = spec if is_path(spec) else name
    check_task_code(entry.yaml_path)
    config = dict(entry.cfg or {})
    if entry.yaml_path and "dataset_path" not in config:  # an index entry read from a path has no config yet
        from lm_eval.tasks._yaml_loader import load_yaml

        config = load_yaml(entry.yaml_path, resolve_func=False)
    if config.get("group") or config.get("task_list") or entry.kind.name in ("GROUP", "TAG"):
        raise HarnessError(f"lm-eval '{name}' is a group or tag; name one of its tasks (lm_eval ls tasks)")
    overrides = {}
    local = local_data_dir(config)
    if local is not None:
        overrides = {"dataset_path": str(local), "dataset_name": None}
    try:
        if overrides:
            from lm_eval.tasks._yaml_loader import load_yaml

            full = load_yaml(entry.yaml_path, resolve_func=True) if entry.yaml_path else config
            loaded = manager.load([{**full, **overrides}])
        else:
            loaded = manager.load([target])
    except (KeyError, TypeError, ValueError) as error:
        if "dataset" in str(error).lower() or "connect" in str(error).lower():
            raise data_error(name, config, error) from None
        raise HarnessError(f"lm-eval could not build task '{name}': {type(error).__name__}: {error}") from None
    except Exception as error:  # noqa: BLE001 -- datasets raises its own ConnectionError, DatasetNotFoundError, ...
        raise data_error(name, config, error) from None
    tasks = list(loaded["tasks"].values())
    if len(tasks) != 1:
        raise HarnessError(f"lm-eval '{name}' expands to {len(tasks)} tasks; name one of them")
    task = tasks[0]
    if task.OUTPUT_TYPE != "generate_until":
        raise HarnessError(f"lm-eval task '{name}' is {task.OUTPUT_TYPE}; the harness runs generate_until tasks "
                           "(its models generate text, they do not score log-likelihoods)")
    return task, Path(entry.yaml_path) if entry.yaml_path else None


def stable_json(value) -> str:
    """JSON of a task config with functions named (not their memory addresses), so run keys are stable."""
    def name_of(obj):
        if callable(obj):
            return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', type(obj).__name__)}"
        return repr(obj) if not hasattr(obj, "__dict__") else type(obj).__name__

    return json.dumps(value, sort_keys=True, default=name_of, ensure_ascii=False)


class StopAndFilterParser(Parser):
    """Cuts a completion at the task's first stop string and shows lm-eval's first filter's answer as the verdict."""

    name = "lm-eval"
    description = "lm-eval stop strings and filter"

    def __init__(self, source: LmEvalTask):
        self.source = source

    def parse(self, text):
        cut = self.source.cut(text or "")
        answer = self.source.filtered_answer(cut)
        return ParseResult(verdicts={"label": answer}, reasoning=cut)


class LmEvalTask:
    """An lm-eval ``generate_until`` task with the attributes the harness's planner, runner and scorer read."""

    template = "{prompt}"  # the prompt is lm-eval's context, verbatim
    parser = "lm-eval"
    target = "lm-eval"
    positive = None
    policy = "lm-eval"

    def __init__(self, spec: str):
        self.spec = spec
        self.lm_task, self.yaml_path = build_lm_eval_task(spec)
        self.lm_name = self.lm_task.task_name
        self.name = PREFIX + self.lm_name
        self.path = self.yaml_path or Path(self.name)
        self.description = f"lm-evaluation-harness task {self.lm_name}"
        self.parser_impl = StopAndFilterParser(self)
        self._instances = None

    # -- what lm-eval builds ---------------------------------------------------------------------------------
    @property
    def instances(self) -> dict:
        """doc_id -> lm-eval Instance (context, generation kwargs, doc), built once."""
        if self._instances is None:
            self.lm_task.build_all_requests(limit=None)
            self._instances = {inst.doc_id: inst for inst in self.lm_task.instances}
        return self._instances

    @property
    def generation_kwargs(self) -> dict:
        first = next(iter(self.instances.values()))
        return dict(first.args[1])

    def until(self) -> list[str]:
        until = self.generation_kwargs.get("until") or []
        return [until] if isinstance(until, str) else [u for u in until if u]

    def cut(self, text: str) -> str:
        """The completion up to the first stop string (lm-eval's postprocess_generated_text)."""
        for stop in self.until():
            text = text.split(stop)[0]
        return text

    def filtered_answer(self, text: str):
        """The first filter's answer for one completion (display only; scoring filters the whole run)."""
        filters = getattr(self.lm_task, "_filters", [])
        if not filters:
            return text
        resps = [[text]]
        try:
            for make_filter in filters[0].filters:  # the ensemble's pipeline, as FilterEnsemble.apply runs it
                resps = list(make_filter().apply(resps, [{}]))
        except Exception:  # noqa: BLE001 -- a filter that reads the document
            return text.strip()
        value = resps[0]
        return value if isinstance(value, str) else json.dumps(value, default=str)

    # -- the harness Task interface ----------------------------------------------------------------------------
    def file_hash(self) -> str:
        from importlib.metadata import version

        ident = {"config": stable_json(self.lm_task.dump_config()), "lm_eval": version("lm_eval")}
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()

    def data_fingerprint(self, data_dir=None) -> str:
        digest = hashlib.sha256()
        for doc_id in sorted(self.instances):
            digest.update(stable_json(self.instances[doc_id].doc).encode())
        return digest.hexdigest()

    def load(self, data_dir=None) -> list:
        from harness.records import Sample

        samples = []
        for doc_id in sorted(self.instances):
            inst = self.instances[doc_id]
            target = self.lm_task.doc_to_target(inst.doc)
            if isinstance(target, int) and self.lm_task.config.doc_to_choice is not None:
                target = self.lm_task.doc_to_choice(inst.doc)[target]
            samples.append(Sample(id=str(doc_id), prompt=inst.args[0], gold=str(target), gold_raw=target,
                                  location=f"{self.name} doc {doc_id}"))
        return samples

    def generation(self, settings, model_template=None, model_parser=None):
        """lm-eval's own prompt, parser and settings (the CLI's and a checkpoint's template/parser do not apply)."""
        kwargs = self.generation_kwargs
        greedy = not kwargs.get("do_sample", False)
        temperature = 0.0 if greedy else float(kwargs.get("temperature", 1.0))
        top_p = float(kwargs.get("top_p", 1.0)) if not greedy else 1.0
        max_new = int(kwargs.get("max_gen_toks", DEFAULT_MAX_GEN_TOKS))
        return self.template, self.parser, replace(settings, max_new_tokens=max_new, temperature=temperature,
                                                   top_p=top_p)

    # -- scoring with lm-eval's own filters, process_results and aggregations ---------------------------------
    def per_doc_metrics(self, records) -> dict:
        """{"metric,filter": {sample id: value}} from lm-eval's filters and process_results."""
        chosen = []
        for record in records:
            inst = self.instances.get(int(record.id))
            if inst is None:
                raise HarnessError(f"record {record.id} is not a document of lm-eval task {self.lm_name}")
            inst.resps = [self.cut(record.first.text or "")]
            inst.filtered_resps = {}
            chosen.append(inst)
        task = self.lm_task
        task._instances = chosen
        task.apply_filters()
        values: dict = {}
        for filter_key in (chosen[0].filtered_resps if chosen else {}):
            for inst in chosen:
                result = task.process_results(inst.doc, [inst.filtered_resps[filter_key]])
                for metric, value in result.items():
                    values.setdefault(f"{metric},{filter_key}", {})[str(inst.doc_id)] = value
        return values

    def output_parser(self, name: str):
        """Its own stop-and-filter parser, whatever parser name the plan carries."""
        return self.parser_impl

    def score(self, records, policy=None) -> dict:
        """lm-eval's aggregated metrics (its ``metric,filter`` keys) plus the harness's run summary fields."""
        per_doc = self.per_doc_metrics(records)
        aggregations = self.lm_task.aggregation()
        from lm_eval.api.metrics import mean

        results = {}
        for key, by_id in per_doc.items():
            metric = key.split(",")[0]
            value = aggregations.get(metric, mean)(list(by_id.values()))
            results[key] = float(value) if isinstance(value, (int, float)) else value
        primary = next(iter(results), None)
        value = results.get(primary)
        accuracy = value if isinstance(value, float) and 0.0 <= value <= 1.0 else None
        return {"lm_eval": results, "primary_metric": primary, "accuracy": accuracy, "n": len(records),
                "n_total": len(records), "policy": "lm-eval", "lm_eval_task": self.lm_name,
                "higher_is_better": self.lm_task.higher_is_better()}


def get_lm_eval_task(spec: str) -> LmEvalTask:
    if not spec:
        raise HarnessError("lm-eval task: expected a name or YAML path after 'lm-eval:', e.g. lm-eval:gsm8k")
    return LmEvalTask(spec)
