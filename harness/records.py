"""The typed records a run is made of: the one schema of ``samples.jsonl``.

Every module that reads a run's samples gets these objects from
:meth:`harness.store.runs.Run.read_samples`, so "the first completion's
reasoning" or "was this sample answered" is computed in one place.  On disk a
record is the JSON object of :meth:`SampleRecord.to_dict`; the field names are
the run format (``FORMAT_VERSION``).  The run folder's two JSON files are
:class:`RunManifest` (``manifest.json``) and :class:`RunMetrics`
(``metrics.json``): each has one reader (``read``) and one writer
(``to_dict``, written by :class:`harness.store.runs.Run`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

#: the version of the run folder's format; a run of another version is refused, not misread
FORMAT_VERSION = 1


@dataclass
class Sample:
    """One input of a task, as a task source loads it (before any model sees it)."""

    id: str
    prompt: str
    gold: str
    gold_raw: str
    response: str | None = None
    category: str | None = None
    location: str = ""  # where it was read from (file:line), for errors about it


@dataclass
class Completion:
    """One generated completion of a sample, parsed."""

    sample_index: int
    text: str | None
    verdict: str | None
    status: str  # "ok", "fail" (no parsable verdict) or "abstain" (the model said unknown)
    reasoning: str = ""
    parse_error: str | None = None
    correct: bool = False
    seed: int | None = None
    n_prompt_tokens: int | None = None
    n_new_tokens: int | None = None
    seconds: float = 0.0
    error: str | None = None
    warnings: list = field(default_factory=list)
    #: probability of each canonical label at the label position ({label: p}, summing to 1); None when
    #: the model gave none (replay, a server without logprobs, records written before this field)
    label_probs: dict | None = None

    @property
    def answered(self) -> bool:
        return self.status == "ok"

    @property
    def reasoning_or_text(self) -> str:
        """What a judge or a reader sees as this completion's reasoning."""
        return self.reasoning or self.text or ""

    @classmethod
    def from_dict(cls, data: dict) -> "Completion":
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class SampleRecord:
    """One sample of a run: its input, gold label and every completion."""

    id: str
    task: str
    gold: str
    completions: list[Completion]
    prompt: str = ""
    response: str | None = None
    category: str | None = None
    rendered_prompt: str = ""
    gold_raw: object = None
    seconds: float = 0.0

    @property
    def first(self) -> Completion:
        """The completion that verdict metrics score (k > 1 adds samples, not votes)."""
        return self.completions[0]

    @property
    def verdict(self) -> str | None:
        return self.first.verdict

    @property
    def status(self) -> str:
        return self.first.status

    @property
    def correct(self) -> bool:
        return self.first.correct

    @property
    def reasoning(self) -> str:
        return self.first.reasoning_or_text

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "task": self.task,
            "input": {"prompt": self.prompt, "response": self.response, "category": self.category},
            "rendered_prompt": self.rendered_prompt,
            "gold": self.gold,
            "gold_raw": self.gold_raw,
            "completions": [asdict(c) for c in self.completions],
            # denormalised from the first completion so the JSONL reads well on its own
            "verdict": self.verdict,
            "status": self.status,
            "correct": self.correct,
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, data: dict, where: str = "record") -> "SampleRecord":
        from harness.errors import HarnessError

        try:
            inp = data.get("input") or {}
            completions = [Completion.from_dict(c) for c in data["completions"]]
            if not completions:
                raise ValueError("no completions")
            return cls(id=str(data["id"]), task=data.get("task", ""), gold=data["gold"], completions=completions,
                       prompt=inp.get("prompt", ""), response=inp.get("response"), category=inp.get("category"),
                       rendered_prompt=data.get("rendered_prompt", ""), gold_raw=data.get("gold_raw"),
                       seconds=data.get("seconds", 0.0))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise HarnessError(f"{where}: not a harness sample record ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True)
class JudgeIdentity:
    """What makes two judgments comparable: the judge, its version and a hash of its argument and options.

    Judgments of different identities are never served for one another (resume,
    cache) nor set side by side (compare, leaderboard, report).
    """

    judge: str
    version: str
    args_hash: str

    @property
    def key(self) -> str:
        return f"{self.judge}@{self.version}#{self.args_hash}"

    def __str__(self) -> str:
        return self.key

    @staticmethod
    def hash_args(arg: str, options: dict) -> str:
        """A short stable hash of a judge's argument and (defaults-filled) options."""
        import hashlib
        import json

        text = json.dumps({"arg": arg, "options": options}, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class JudgmentRecord:
    """One line of ``judgments.jsonl``: one judge's scores for one completion (sample id, k)."""

    id: str
    sample_index: int
    identity: JudgeIdentity
    scores: dict
    explanation: str = ""
    error: str | None = None
    input_hash: str = ""

    @property
    def key(self) -> tuple:
        """(identity key, sample id, k): a later record with the same key replaces an earlier one."""
        return (self.identity.key, self.id, self.sample_index)

    def to_dict(self) -> dict:
        return {"id": self.id, "sample_index": self.sample_index, "judge": self.identity.judge,
                "version": self.identity.version, "args_hash": self.identity.args_hash,
                "identity": self.identity.key, "scores": self.scores, "explanation": self.explanation,
                "error": self.error, "input_hash": self.input_hash}

    @classmethod
    def from_dict(cls, data: dict, where: str = "record") -> "JudgmentRecord":
        from harness.errors import HarnessError

        try:
            identity = JudgeIdentity(str(data["judge"]), str(data["version"]), str(data["args_hash"]))
            scores = data["scores"] or {}
            if not isinstance(scores, dict):
                raise TypeError(f"scores is a {type(scores).__name__}, not a mapping")
            return cls(id=str(data["id"]), sample_index=int(data["sample_index"]), identity=identity,
                       scores=scores, explanation=data.get("explanation") or "", error=data.get("error"),
                       input_hash=data.get("input_hash", ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise HarnessError(f"{where}: not a harness judgment record ({type(exc).__name__}: {exc}); "
                               "records without 'args_hash' were written by an older harness: "
                               "delete judgments.jsonl and judge the run again") from None


# -- manifest.json and metrics.json ------------------------------------------------------


def _field_error(where, name: str, expected: str, value):
    from harness.errors import HarnessError

    return HarnessError(f"{where}: field '{name}': expected {expected}, found {type(value).__name__} {value!r}")


def _check_mapping(where, name: str, value, optional: bool = True):
    if value is None and optional:
        return None
    if not isinstance(value, dict):
        raise _field_error(where, name, "a mapping", value)
    return value


@dataclass
class TaskRef:
    """The manifest's ``task`` section: which task file and data a run scored, and the subset it took."""

    name: str
    file: str | None = None
    file_sha256: str | None = None
    data_sha256: str | None = None
    target: str | None = None
    positive: str | None = None
    limit: int | None = None

    @classmethod
    def from_dict(cls, data, where) -> "TaskRef":
        from harness.errors import HarnessError

        if not isinstance(data, dict) or "name" not in data:
            raise HarnessError(f"{where}: field 'task' has no 'name'")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict:
        return asdict(self)


#: fields a manifest cannot do without (the run index is rebuilt from them)
MANIFEST_FIELDS = ("run_id", "key", "model", "task", "created_at", "policy")


@dataclass
class RunManifest:
    """``manifest.json``: what was run (model, task, settings, versions) and what happened to the run.

    Written when the run is created and updated by :meth:`harness.store.runs.Run.update_manifest`
    (the model's description, resumes, failures, topology, timeline).  Keys this
    harness does not know are kept in ``extra`` and written back unchanged.
    """

    model: str
    task: TaskRef
    policy: str
    created_at: str
    run_id: str = ""
    key: str = ""
    format_version: int | None = None
    model_spec: str | None = None
    model_options: dict = field(default_factory=dict)
    model_info: dict = field(default_factory=dict)
    n_total: int | None = None
    exclude_ids: dict | None = None  # --exclude-ids: {"file", "sha256", "n_excluded", "ids"}
    template: str | None = None
    parser: str | None = None
    generation: dict = field(default_factory=dict)  # GenerationSettings.to_dict()
    seed: int | None = None
    versions: dict = field(default_factory=dict)
    git_commit: str | None = None
    command: list = field(default_factory=list)
    host: str | None = None
    resumed_at: list | None = None
    failure: str | None = None
    no_output: bool = False  # the model produced nothing: the same command retries the run afresh
    topology: dict | None = None  # a data-parallel run's world size, launcher and ranks
    timeline: dict | None = None
    extra: dict = field(default_factory=dict)

    #: written in this order; the optional ones only when set
    ORDER = ("model", "model_spec", "model_options", "model_info", "task", "n_total", "exclude_ids", "template",
             "parser", "policy", "generation", "seed", "versions", "git_commit", "command", "host", "created_at",
             "format_version", "run_id", "key", "resumed_at", "failure", "no_output", "topology", "timeline")
    OPTIONAL = ("exclude_ids", "resumed_at", "failure", "no_output", "topology", "timeline")
    MAPPINGS = ("model_options", "model_info", "generation", "versions")

    @property
    def samples_per_prompt(self) -> int:
        """k, the completions sampled per prompt (1 unless --samples was given)."""
        return self.generation.get("samples", 1)

    def to_dict(self) -> dict:
        out = {}
        for name in self.ORDER:
            value = getattr(self, name)
            if name in self.OPTIONAL and not value and value != []:
                continue
            if name == "format_version" and value is None:
                continue
            out[name] = value.to_dict() if name == "task" else value
        return {**out, **self.extra}

    @classmethod
    def from_dict(cls, data: dict, where="manifest.json", required=MANIFEST_FIELDS) -> "RunManifest":
        """The manifest in ``data``; a missing or mistyped field is an error naming ``where`` and the field."""
        from harness.errors import HarnessError

        if not isinstance(data, dict):
            raise HarnessError(f"{where}: expected a JSON object, found {type(data).__name__}")
        missing = [f for f in required if f not in data]
        if missing:
            raise HarnessError(f"{where}: missing field(s) {', '.join(missing)}")
        known = {f.name for f in fields(cls)} - {"extra", "task"}
        values = {k: v for k, v in data.items() if k in known}
        for name in cls.MAPPINGS:
            if name in values:
                values[name] = _check_mapping(where, name, values[name], optional=False)
        for name in ("exclude_ids", "topology", "timeline"):
            _check_mapping(where, name, values.get(name))
        n_total = values.get("n_total")
        if n_total is not None and (isinstance(n_total, bool) or not isinstance(n_total, int)):
            raise _field_error(where, "n_total", "a whole number", n_total)
        for name in ("command", "resumed_at"):
            if values.get(name) is not None and not isinstance(values[name], list):
                raise _field_error(where, name, "a list", values[name])
        extra = {k: v for k, v in data.items() if k not in known and k != "task"}
        return cls(task=TaskRef.from_dict(data.get("task"), where), extra=extra, **values)

    @classmethod
    def read(cls, path, required=MANIFEST_FIELDS) -> "RunManifest":
        """The one reader of a ``manifest.json``: damaged JSON names the file, line and how to recover."""
        from harness.store.files import read_json_file

        return cls.from_dict(read_json_file(path), where=path, required=required)

    def check_format(self, where, doing: str = "reads"):
        """Refuse a run written in another format version (re-running it is the way to read it)."""
        from harness.errors import HarnessError

        if self.format_version != FORMAT_VERSION:
            raise HarnessError(f"{where}: run format version {self.format_version!r}, this harness {doing} "
                               f"version {FORMAT_VERSION}; re-run it with `harness eval`")

    def updated(self, **changes) -> "RunManifest":
        return replace(self, **changes)

    # Readers written against the dict (``manifest["task"]["name"]``) keep working while they move
    # to attributes; the values are those of :meth:`to_dict`.
    def __getitem__(self, key):
        return self.to_dict()[key]

    def get(self, key, default=None):
        return self.to_dict().get(key, default)

    def keys(self):
        return self.to_dict().keys()

    def __contains__(self, key) -> bool:
        return key in self.to_dict()


@dataclass
class RunMetrics:
    """``metrics.json``: a run's scores per parse-failure policy, and its judges' summaries.

    ``policies`` maps a policy to the metrics :meth:`harness.tasks.task.Task.score`
    computed under it (accuracy, f1, confusion matrix, per category, calibration,
    and a task source's own, e.g. ``lm_eval``); ``judges`` (see
    :mod:`harness.store.judgments`) belongs to the run, not to a policy.
    """

    policies: dict = field(default_factory=dict)
    judges: dict | None = None
    extra: dict = field(default_factory=dict)

    def policy(self, name: str) -> dict | None:
        """One policy's metrics with the run's judges beside them, or None if not scored under it."""
        metrics = self.policies.get(name)
        if metrics is None:
            return None
        return {**metrics, **({"judges": self.judges} if self.judges else {})}

    def by_policy(self) -> dict:
        return {p: self.policy(p) for p in self.policies}

    def with_policy(self, policy: str, metrics: dict) -> "RunMetrics":
        """These metrics plus ``metrics`` under ``policy`` (any 'judges' key is the run's, not the policy's)."""
        metrics = dict(metrics)
        judges = metrics.pop("judges") if "judges" in metrics else self.judges
        return replace(self, policies={**self.policies, policy: {**metrics, "policy": policy}}, judges=judges)

    def with_judges(self, summaries: dict) -> "RunMetrics":
        return replace(self, judges={**(self.judges or {}), **summaries})

    def to_dict(self) -> dict:
        return {"policies": self.policies, **({"judges": self.judges} if self.judges is not None else {}),
                **self.extra}

    @classmethod
    def from_dict(cls, data: dict, where="metrics.json", run_policy: str | None = None) -> "RunMetrics":
        """The metrics in ``data``; a run scored before metrics were kept per policy is read as one policy."""
        from harness.store.files import damaged

        if not isinstance(data, dict):
            raise damaged(where, f"expected a JSON object, found {type(data).__name__}")
        data = dict(data)
        if not isinstance(data.get("policies", {}), dict):
            raise damaged(where, "'policies' is not a mapping")
        if "policies" not in data:  # a run scored before metrics were kept per policy
            judges = data.pop("judges", None)
            if data.get("policy") == "guardreasoner-paper" and data.get("f1") is not None:
                data["f1"] /= 100.0  # that policy used to store F1 x 100
            data = {"policies": {data.get("policy", run_policy): data}, "judges": judges}
        policies = data.pop("policies")
        judges = data.pop("judges", None)
        if judges is not None and not isinstance(judges, dict):
            raise damaged(where, "'judges' is not a mapping")
        for name, scores in policies.items():
            if not isinstance(scores, dict):
                raise damaged(where, f"policy '{name}' holds a {type(scores).__name__}, not metrics")
            for key in ("n", "accuracy", "precision", "recall", "f1", "parse_failure_rate"):
                value = scores.get(key)
                if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                    raise damaged(where, f"field '{key}' of policy '{name}' is {value!r}, not a number")
        return cls(policies, judges or None, data)

    @classmethod
    def read(cls, path, run_policy: str | None = None) -> "RunMetrics":
        """The one reader of a ``metrics.json``; a run not yet scored has none (no policies)."""
        from pathlib import Path

        from harness.store.files import read_json_file

        if not Path(path).exists():
            return cls()
        return cls.from_dict(read_json_file(path), where=path, run_policy=run_policy)
