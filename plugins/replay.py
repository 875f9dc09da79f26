"""``replay:PATH``: replays completions made elsewhere (vLLM, an old run) as a model.

PATH is one of

* a GuardReasoner ``generated_predictions.jsonl`` (``prompt``, ``predict``);
* a harness ``samples.jsonl``;
* the seed's ``hard_samples_*.json`` (wizard101 exp_18).  The seed stored each
  completion's reasoning and *its own* parse of the label, and the texts carry no
  ``Label:`` line, so the harness cannot re-parse them.  Replay rebuilds each
  text as ``reasoning + "\\n\\nLabel: " + label``, exactly as the seed's pair
  builder did (see :func:`harness.train.pairs.groups_from_seed_hard_samples`): the
  verdicts scored are the seed's stored parses, and ``unknown`` ones abstain.
  These completions are matched by sample id (their position in the file), so
  replay them on the ``exp18_hard_samples`` task, which reads the same file;
* a folder: every ``*.jsonl`` below it.  With the model option ``file=REL``
  only that file inside the folder is read, so one stable checkpoint name
  (``spec: replay:DIR`` in checkpoints.yaml) can replay one file per task:
  ``harness eval --model NAME -m file=AegisSafetyTest/generated_predictions.jsonl``.
  Without ``file``, a prompt whose completions differ between two files is
  ambiguous (GuardReasoner's XSTest harmful and refusal files hold the same
  prompts with some different traces): it becomes a recorded failure naming the
  files, never a silent pick.

Completions are matched to requests by the exact rendered prompt, then by sample
id; a request with no completion is a recorded failure, not a crash.
"""

import hashlib
import json
import time
from pathlib import Path

from harness import Generation, HarnessError, Model, check_model_options, file_sha256, hookimpl, read_rows

OPTIONS = {"file"}


def read_completions(path: Path) -> tuple[dict, dict]:
    """(texts by rendered prompt, texts by sample id) from one replay file."""
    by_prompt, by_id = {}, {}
    if path.suffix == ".json":
        for i, sample in enumerate(seed_hard_samples(path)):
            by_id[str(i)] = [f"{o['reasoning']}\n\nLabel: {o['label']}" for o in sample["outputs"]]
        return by_prompt, by_id
    for row, where in read_rows(path, "jsonl"):
        if "predict" in row and "prompt" in row:  # GuardReasoner / LLaMA-Factory predictions
            if not isinstance(row["predict"], str) or not isinstance(row["prompt"], str):
                raise HarnessError(f"{where}: fields 'prompt' and 'predict' must be text, got "
                                   f"{type(row['prompt']).__name__} and {type(row['predict']).__name__}")
            by_prompt.setdefault(row["prompt"], []).append(row["predict"])
        elif "completions" in row and "id" in row:  # harness samples.jsonl
            texts = completion_texts(row["completions"], where)
            by_id[str(row["id"])] = texts
            if row.get("rendered_prompt"):
                by_prompt.setdefault(row["rendered_prompt"], []).extend(texts)
        else:
            raise HarnessError(
                f"{where}: expected GuardReasoner predictions ('prompt', 'predict') "
                f"or harness samples ('id', 'completions'); found fields {sorted(row)}"
            )
    return by_prompt, by_id


def completion_texts(completions, where) -> list[str]:
    """The texts of a samples.jsonl row's 'completions': a list of objects with a 'text' (or of texts)."""
    if not isinstance(completions, list) or not completions:
        raise HarnessError(f"{where}: field 'completions' must be a non-empty list of {{\"text\": ...}} objects, "
                           f"got {json.dumps(completions)[:60]}")
    texts = []
    for j, c in enumerate(completions):
        text = c.get("text") if isinstance(c, dict) else c
        if not isinstance(text, str):
            raise HarnessError(f"{where}: completions[{j}] must be an object with a 'text' string, "
                               f"got {json.dumps(c)[:60]}")
        texts.append(text)
    return texts


def seed_hard_samples(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{path}: not readable JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("hard_samples"), list):
        raise HarnessError(f"{path}: a .json replay file must be the seed's hard-samples file "
                           "(an object with a 'hard_samples' list); use .jsonl for predictions")
    for i, sample in enumerate(data["hard_samples"]):
        outputs = sample.get("outputs") if isinstance(sample, dict) else None
        if not isinstance(outputs, list) or not all(isinstance(o, dict) and "reasoning" in o and "label" in o
                                                    for o in outputs):
            raise HarnessError(f"{path}: hard_samples[{i}]: expected 'outputs', a list of "
                               "{'reasoning', 'label'} objects")
    return data["hard_samples"]


class Replay(Model):
    cacheable = False  # reading a file is cheaper than the cache

    def __init__(self, path, file=None):
        root = Path(path)
        if not root.exists():
            raise HarnessError(f"replay: {root} does not exist")
        if file is not None:
            if not root.is_dir():
                raise HarnessError(f"replay: option file={file} needs a folder spec (replay:DIR); {root} is a file")
            target = root / str(file)
            if not target.is_file():
                raise HarnessError(f"replay: option file={file}: {target} does not exist")
            self.files = [target]
        elif root.is_dir():
            self.files = sorted(p for p in root.rglob("*.jsonl") if p.is_file())
            if not self.files:
                raise HarnessError(f"replay: folder {root} holds no .jsonl files")
        else:
            self.files = [root]
        self.path = root
        self.file_option = file
        self.spec = f"replay:{root}"
        self.by_prompt, self.by_id = {}, {}
        self.ambiguous: dict[tuple[str, str], set] = {}
        origin = {}
        for f in self.files:
            prompts, ids = read_completions(f)
            for kind, mine, merged in (("prompt", prompts, self.by_prompt), ("id", ids, self.by_id)):
                for key, texts in mine.items():
                    if key in merged and merged[key] != texts:
                        self.ambiguous.setdefault((kind, key), {self.relative(origin[(kind, key)])}).add(
                            self.relative(f))
                        continue
                    merged[key] = texts
                    origin[(kind, key)] = f

    def relative(self, f: Path) -> str:
        return str(f.relative_to(self.path)) if self.path.is_dir() else f.name

    def fingerprint(self):
        return "replay:" + self.sha256()

    def sha256(self):
        if len(self.files) == 1:
            return file_sha256(self.files[0])
        h = hashlib.sha256()
        for f in self.files:
            h.update(f"{f.relative_to(self.path)}:{file_sha256(f)}\n".encode())
        return h.hexdigest()

    def describe(self):
        return {"spec": self.spec, "kind": "replay", "sha256": self.sha256(),
                "files": [str(f) for f in self.files],
                "completions": sum(map(len, self.by_prompt.values())) or sum(map(len, self.by_id.values()))}

    def lookup(self, req):
        """(texts, error) for one request."""
        for kind, key in (("prompt", req.prompt), ("id", req.sample_id)):
            if (kind, key) in self.ambiguous:
                files = ", ".join(sorted(self.ambiguous[(kind, key)]))
                return None, (f"ambiguous replay: this {kind} has different completions in {files}; "
                              "choose one with -m file=REL")
            texts = (self.by_prompt if kind == "prompt" else self.by_id).get(key)
            if texts:
                return texts, None
        return None, None

    def generate(self, requests, settings):
        for req in requests:
            start = time.perf_counter()
            texts, error = self.lookup(req)
            if texts and req.sample_index < len(texts):
                yield Generation(req.sample_id, req.sample_index, texts[req.sample_index], seed=req.seed,
                                 seconds=time.perf_counter() - start)
            else:
                where = self.files[0].name if len(self.files) == 1 else self.path.name
                yield Generation(req.sample_id, req.sample_index, None, seed=req.seed,
                                 error=error or f"no completion #{req.sample_index} for this prompt in {where}")


def load_replay(arg: str, options: dict) -> Replay:
    check_model_options("replay", options, OPTIONS)
    return Replay(arg, (options or {}).get("file"))


@hookimpl
def register_models(register):
    register("replay", load_replay,
             description="replay:PATH replays a predictions/samples JSONL file, the seed's hard-samples JSON, "
                         "or a folder of them (-m file=REL picks one) as a model")
