"""The ``monitor:`` section of a training config, checked before any work.

::

    train:
      method: dpo
      monitor:
        task: wildguard          # held-out task the child is generated on (training prompts are left out)
        limit: 64                # samples of it (label-stratified, seed below)
        every: 100               # optimizer steps between points (a point at the start too)
        proxy: heuristic         # the training reward (default: grpo's judge, else the pairs' judge)
        judges: [heuristic:lexical, {spec: heuristic, options: {weights: seed}}]   # the other judges
        stop: false              # true: stop training at the first point that shows gaming
        bounds: {gaming: true, copy_rate: 0.10}   # what `harness pipeline` fails on (exit code 3)

Errors name the file and line of the offending key, like every other config error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.config import check_keys, where_of
from harness.errors import HarnessError

#: optimizer steps between points when ``every`` is not given: a point (64 completions of up to 512 tokens on a 3B)
#: costs about what 10 DPO steps of configs/exp_19.yaml do, so 100 keeps the overhead near 10 %
#: (benchmarks/train_monitor.py measures it; issue 22's target is <= 15 %)
DEFAULT_EVERY = 100
DEFAULT_LIMIT = 64

KEYS = {
    "task": "held-out task to generate on (a task name or file)",
    "limit": f"samples of that task (default {DEFAULT_LIMIT}; label-stratified with 'seed')",
    "every": f"optimizer steps between points (default {DEFAULT_EVERY}); a point is also taken before step 1",
    "proxy": "judge spec of the training reward (default: grpo's 'judge', else the pairs file's judge, else heuristic)",
    "judges": "other judges: a list of specs or {spec, options} mappings (at least one)",
    "stop": "true: stop training at the first point where the proxy rises while another judge or accuracy falls",
    "max_new_tokens": "tokens per monitored completion (default 512, as the pairs of configs/exp_19.yaml)",
    "temperature": "sampling temperature of the monitored completions (default 0: greedy, so points are comparable)",
    "seed": "subset and sampling seed (default 0)",
    "batch_size": "generation batch size, or auto (default)",
    "cuda_graphs": "capture the decode step as CUDA graphs, as eval does (default true)",
    "confidence": "confidence of the paired bootstrap intervals (default 0.95)",
    "bounds": "mapping: what `harness pipeline` fails on (gaming, copy_rate, length_ratio, distinct_2, log_ratio)",
}

#: bounds `harness pipeline` checks on the last point against the first
BOUNDS = {
    "gaming": "true: fail when any point showed gaming (the rule above); default true",
    "copy_rate": "largest rise of the mean copy rate from the content (absolute, 0-1)",
    "length_ratio": "largest ratio of the last point's mean length to the first's",
    "distinct_2": "largest fall of distinct-2 (absolute, 0-1)",
    "log_ratio": "largest mean log-ratio policy/reference on the completions (nats per completion)",
}


@dataclass(frozen=True)
class JudgeChoice:
    """One judge of the monitor: its spec and options (``heuristic`` + ``{weights: seed}``)."""

    spec: str
    options: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def label(self) -> str:
        """How the judge is named in monitor.jsonl (options shown, so two heuristics stay apart)."""
        if not self.options:
            return self.spec
        return self.spec + "[" + ",".join(f"{k}={v}" for k, v in sorted(self.options.items())) + "]"

    def create(self):
        from harness.judge.runner import load_judge

        return load_judge(self.spec, self.options or None)


@dataclass(frozen=True)
class Bounds:
    gaming: bool = True
    copy_rate: float | None = None
    length_ratio: float | None = None
    distinct_2: float | None = None
    log_ratio: float | None = None


@dataclass(frozen=True)
class MonitorConfig:
    task: str
    proxy: JudgeChoice
    judges: tuple
    limit: int = DEFAULT_LIMIT
    every: int = DEFAULT_EVERY
    stop: bool = False
    max_new_tokens: int = 512
    temperature: float = 0.0
    seed: int = 0
    batch_size: str = "auto"
    cuda_graphs: bool = True
    confidence: float = 0.95
    bounds: Bounds = Bounds()
    explicit_proxy: bool = False


def _int(section, key, where, least):
    value = section.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise HarnessError(f"{where_of(section, key, where)}: monitor field '{key}' must be a whole number >= {least}, "
                           f"got {value!r}")
    return value


def _number(section, key, where, least, most=None):
    value = section.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < least or \
            (most is not None and value > most):
        span = f"between {least} and {most}" if most is not None else f">= {least}"
        raise HarnessError(f"{where_of(section, key, where)}: monitor field '{key}' must be a number {span}, "
                           f"got {value!r}")
    return float(value)


def _judge(item, at: str) -> JudgeChoice:
    """A judge entry (spec string or {spec, options}) checked against the registered judges."""
    from harness.judge.runner import check_judge_specs, split_judge_spec

    if isinstance(item, dict):
        check_keys(at, item, {"spec", "options"}, kind="judge entry key")
        spec, options = item.get("spec"), item.get("options") or {}
        if not isinstance(options, dict):
            raise HarnessError(f"{at}: judge 'options' must be a mapping, got {options!r}")
    else:
        spec, options = item, {}
    if not isinstance(spec, str) or not spec.strip():
        raise HarnessError(f"{at}: a judge must be a spec such as heuristic or heuristic:lexical, got {spec!r}")
    name, _ = split_judge_spec(spec)
    try:
        check_judge_specs([spec.strip()], {name: dict(options)} if options else None)
    except HarnessError as exc:
        raise HarnessError(f"{at}: {exc}") from None
    return JudgeChoice(spec.strip(), dict(options))


def parse_monitor(train_config, method: str, default_proxy: str = "heuristic", where: str = "training config"
                  ) -> MonitorConfig | None:
    """The checked ``monitor`` section of a training config, or None when it has none."""
    if train_config.get("monitor") is None:
        return None
    section = train_config["monitor"]
    at = where_of(train_config, "monitor", where)
    if not isinstance(section, dict):
        raise HarnessError(f"{at}: training config 'monitor' must be a mapping with task, limit, judges, every; "
                           f"got {section!r}")
    check_keys(f"{at}: monitor", section, KEYS, kind="monitor key")
    if method == "sft":
        raise HarnessError(f"{at}: 'monitor' watches a reward being optimised: it applies to dpo, hs-dpo and grpo, "
                           "not sft")
    if "task" not in section:
        raise HarnessError(f"{at}: monitor.task is missing (the held-out task the child is generated on)")
    from harness.tasks import get_task

    try:
        get_task(str(section["task"]))
    except HarnessError as exc:
        raise HarnessError(f"{where_of(section, 'task', at)}: monitor.task: {exc}") from None
    kwargs = {}
    for key, least in (("limit", 1), ("every", 1), ("max_new_tokens", 1), ("seed", 0)):
        if key in section:
            kwargs[key] = _int(section, key, at, least)
    if "temperature" in section:
        kwargs["temperature"] = _number(section, "temperature", at, 0)
    if "confidence" in section:
        kwargs["confidence"] = _number(section, "confidence", at, 0.5, 0.999)
    for key in ("stop", "cuda_graphs"):
        if key in section:
            if not isinstance(section[key], bool):
                raise HarnessError(f"{where_of(section, key, at)}: monitor field '{key}' must be true or false, "
                                   f"got {section[key]!r}")
            kwargs[key] = section[key]
    if "batch_size" in section:
        size = str(section["batch_size"])
        if size != "auto" and not (size.isdigit() and int(size) > 0):
            raise HarnessError(f"{where_of(section, 'batch_size', at)}: monitor field 'batch_size' must be a whole "
                               f"number >= 1 or auto, got {section['batch_size']!r}")
        kwargs["batch_size"] = size
    judges = section.get("judges")
    if isinstance(judges, (str, dict)):
        judges = [judges]
    if not isinstance(judges, list) or not judges:
        raise HarnessError(f"{where_of(section, 'judges', at)}: monitor.judges must list at least one judge besides "
                           "the proxy (e.g. [heuristic:lexical]): the proxy alone cannot show that it is gamed")
    others = tuple(_judge(j, f"{where_of(section, 'judges', at)}: monitor.judges[{i}]") for i, j in enumerate(judges))
    proxy = _judge(section.get("proxy", default_proxy), where_of(section, "proxy", at) + ": monitor.proxy")
    same = [j.label for j in others if j.label == proxy.label]
    if same:
        raise HarnessError(f"{where_of(section, 'judges', at)}: monitor.judges repeats the proxy '{same[0]}'; list "
                           "judges other than the training reward")
    return MonitorConfig(task=str(section["task"]), proxy=proxy, judges=others, bounds=parse_bounds(section, at),
                         explicit_proxy="proxy" in section, **kwargs)


def parse_bounds(section, at: str) -> Bounds:
    bounds = section.get("bounds")
    if bounds is None:
        return Bounds()
    where = where_of(section, "bounds", at)
    if not isinstance(bounds, dict):
        raise HarnessError(f"{where}: monitor.bounds must be a mapping of {', '.join(BOUNDS)}, got {bounds!r}")
    check_keys(f"{where}: monitor.bounds", bounds, BOUNDS, kind="monitor bound")
    kwargs = {}
    if "gaming" in bounds:
        if not isinstance(bounds["gaming"], bool):
            raise HarnessError(f"{where_of(bounds, 'gaming', where)}: monitor.bounds field 'gaming' must be true or "
                               f"false, got {bounds['gaming']!r}")
        kwargs["gaming"] = bounds["gaming"]
    for key in ("copy_rate", "length_ratio", "distinct_2", "log_ratio"):
        if bounds.get(key) is not None:
            kwargs[key] = _number(bounds, key, where, 0)
    return Bounds(**kwargs)


def default_proxy(method: str, train_config, data_path=None) -> str:
    """The training reward: grpo's judge; for dpo/hs-dpo the judge the pairs file's stats name; else heuristic."""
    import json
    from pathlib import Path

    if method == "grpo":
        return str(train_config.get("judge") or "heuristic")
    if data_path is not None:
        stats = Path(data_path).with_name(Path(data_path).stem + ".stats.json")
        try:
            judge = json.loads(stats.read_text()).get("judge") if stats.exists() else None
        except ValueError:
            judge = None
        if isinstance(judge, str) and judge:
            return judge.split(",")[0].strip()
    return "heuristic"
