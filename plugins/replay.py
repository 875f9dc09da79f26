"""``replay:PATH``: replays completions made elsewhere (vLLM, an old run) as a model.

PATH is a GuardReasoner ``generated_predictions.jsonl`` (``prompt``, ``predict``)
or a harness ``samples.jsonl``.  Completions are matched to requests by the
exact rendered prompt, then by sample id; a request with no completion is a
recorded failure, not a crash.
"""

import time
from pathlib import Path

from harness.errors import HarnessError
from harness.hookspecs import hookimpl
from harness.models import Generation, Model
from harness.sources import file_sha256, read_rows


class Replay(Model):
    def __init__(self, path):
        self.path = Path(path)
        if not self.path.exists():
            raise HarnessError(f"replay: {self.path} does not exist")
        self.spec = f"replay:{self.path}"
        self.by_prompt, self.by_id = {}, {}
        for row, where in read_rows(self.path, "jsonl"):
            if "predict" in row and "prompt" in row:  # GuardReasoner / LLaMA-Factory predictions
                self.by_prompt.setdefault(row["prompt"], []).append(row["predict"])
            elif "completions" in row and "id" in row:  # harness samples.jsonl
                texts = [c.get("text") for c in row["completions"]]
                self.by_id[str(row["id"])] = texts
                if row.get("rendered_prompt"):
                    self.by_prompt.setdefault(row["rendered_prompt"], []).extend(texts)
            else:
                raise HarnessError(
                    f"{where}: expected GuardReasoner predictions ('prompt', 'predict') "
                    f"or harness samples ('id', 'completions'); found fields {sorted(row)}"
                )

    def fingerprint(self):
        return f"replay:{file_sha256(self.path)}"

    def describe(self):
        return {"spec": self.spec, "kind": "replay", "sha256": file_sha256(self.path),
                "completions": sum(map(len, self.by_prompt.values())) or sum(map(len, self.by_id.values()))}

    def generate(self, requests, settings):
        for req in requests:
            start = time.perf_counter()
            texts = self.by_prompt.get(req.prompt) or self.by_id.get(req.sample_id)
            if texts and req.sample_index < len(texts):
                yield Generation(req.sample_id, req.sample_index, texts[req.sample_index], seed=req.seed,
                                 seconds=time.perf_counter() - start)
            else:
                yield Generation(req.sample_id, req.sample_index, None, seed=req.seed,
                                 error=f"no completion #{req.sample_index} for this prompt in {self.path.name}")


@hookimpl
def register_models(register):
    register("replay", lambda arg, options: Replay(arg),
             description="replay:PATH replays a predictions/samples JSONL file as a model")
