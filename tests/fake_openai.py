"""A fake OpenAI-compatible server for tests, run as its own process so a test can kill it mid-run.

``python -m tests.fake_openai --log FILE [--delay S] [--fail 500] [--die-after N]`` prints
its base URL on the first line of stdout, then answers ``/v1/completions`` and
``/v1/chat/completions`` with ``echo:<first 8 hex of sha256(prompt or messages)>``
after ``--delay`` seconds, logging every request body it received to FILE (one
JSON line each, written before answering).  ``--fail`` answers every request
with that status; ``--die-after N`` exits abruptly (``os._exit``, like a kill -9)
when request N+1 arrives, dropping it and every request in flight.
``--answer TEXT`` answers TEXT instead of the echo; ``--alternatives JSON``
(``{"harmful": {" harmful": 0.6, " safe": 0.3}}``) makes a request that asks for
``logprobs`` get them: the text split into whitespace-led words, each word's own
log-probability log 0.9, and a word listed in the JSON (stripped) those
alternatives (probabilities) as its top log-probabilities.
"""

import argparse
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def answer_for(body: dict) -> str:
    key = body["prompt"] if "prompt" in body else json.dumps(body["messages"], sort_keys=True)
    return "echo:" + hashlib.sha256(key.encode()).hexdigest()[:8]


def logprobs_for(text: str, alternatives: dict, chat: bool) -> dict:
    """The ``logprobs`` object of a completions (or chat) answer, as described in the module docstring."""
    tokens = re.findall(r"\s*\S+|\s+$", text)
    tops = [{alt: math.log(p) for alt, p in alternatives.get(t.strip(), {t: 0.9}).items()} for t in tokens]
    own = [top.get(t, math.log(0.9)) for t, top in zip(tokens, tops)]
    if chat:
        return {"content": [{"token": t, "logprob": lp, "top_logprobs": [{"token": a, "logprob": v} for a, v in top.items()]}
                            for t, lp, top in zip(tokens, own, tops)]}
    return {"tokens": tokens, "token_logprobs": own, "top_logprobs": tops}


def serve(log: str, delay: float, fail: int | None, die_after: int | None, answer: str | None = None,
          alternatives: dict | None = None):
    lock = threading.Lock()
    state = {"n": 0}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                state["n"] += 1
                if die_after is not None and state["n"] > die_after:
                    os._exit(9)
                with open(log, "a") as out:
                    out.write(json.dumps({"path": self.path, "body": body, "t": time.time()}) + "\n")
            time.sleep(delay)
            if fail:
                return self.reply(fail, b'{"error": "scripted failure"}')
            text = answer if answer is not None else answer_for(body)
            chat = self.path.endswith("/chat/completions")
            choice = {"message": {"role": "assistant", "content": text}} if chat else {"text": text}
            if alternatives is not None and body.get("logprobs"):
                choice["logprobs"] = logprobs_for(text, alternatives, chat)
            usage = {"prompt_tokens": 3, "completion_tokens": 2}
            self.reply(200, json.dumps({"choices": [choice], "usage": usage}).encode())

        def reply(self, status, payload):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"http://127.0.0.1:{httpd.server_address[1]}/v1", flush=True)
    httpd.serve_forever()


class FakeServer:
    """Start the fake server in a subprocess; ``requests()`` reads what it received."""

    def __init__(self, tmp_path, name, delay=0.0, fail=None, die_after=None, answer=None, alternatives=None):
        self.log = Path(tmp_path) / f"{name}.jsonl"
        self.log.touch()
        args = [sys.executable, "-m", "tests.fake_openai", "--log", str(self.log), "--delay", str(delay)]
        if fail:
            args += ["--fail", str(fail)]
        if die_after is not None:
            args += ["--die-after", str(die_after)]
        if answer is not None:
            args += ["--answer", answer]
        if alternatives is not None:
            args += ["--alternatives", json.dumps(alternatives)]
        root = Path(__file__).resolve().parent.parent
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=root)
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://"), "fake server did not start"

    def requests(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--fail", type=int, default=None)
    parser.add_argument("--die-after", type=int, default=None)
    parser.add_argument("--answer", default=None)
    parser.add_argument("--alternatives", type=json.loads, default=None)
    a = parser.parse_args()
    serve(a.log, a.delay, a.fail, a.die_after, a.answer, a.alternatives)
