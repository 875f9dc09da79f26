"""The ``openai`` plugin against a real HTTP server on 127.0.0.1 that serves a tiny local model."""

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.errors import HarnessError
from harness.interfaces.model import GenerationRequest, GenerationSettings
from harness_plugins.hf import load
from harness_plugins.openai_endpoint import OpenAIEndpoint
from tests.tiny_models import build_tiny_llama

SETTINGS = GenerationSettings(max_new_tokens=6, temperature=0)
KEY = "sk-test-123"


class TinyServer:
    """OpenAI-style /v1/completions and /v1/chat/completions over a tiny HF model, with scripted faults.

    Faults are asked for in the prompt: ``[500x2]`` fails twice with 500, ``[429]`` once with 429,
    ``[slow]`` answers the first attempt too late, ``[garbage]`` always answers non-JSON.
    """

    def __init__(self, model):
        self.model, self.lock = model, threading.Lock()
        self.attempts, self.in_flight, self.peak = Counter(), 0, 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.headers.get("Authorization") != f"Bearer {KEY}":
                    return self.reply(401, b'{"error": "bad key"}')
                chat = self.path.endswith("/chat/completions")
                prompt = body["messages"][0]["content"] if chat else body["prompt"]
                with server.lock:
                    server.attempts[prompt] += 1
                    attempt = server.attempts[prompt]
                    server.in_flight += 1
                    server.peak = max(server.peak, server.in_flight)
                self.counted = True
                try:
                    time.sleep(0.05)  # let concurrent requests overlap
                    if "[500x2]" in prompt and attempt <= 2:
                        return self.reply(500, b'{"error": "internal"}')
                    if "[429]" in prompt and attempt == 1:
                        return self.reply(429, b'{"error": "slow down"}', {"Retry-After": "0"})
                    if "[garbage]" in prompt:
                        return self.reply(200, b"<html>not json</html>")
                    if "[slow]" in prompt and attempt == 1:
                        time.sleep(1.0)
                    settings = GenerationSettings(max_new_tokens=body["max_tokens"], temperature=body["temperature"],
                                                  top_p=body["top_p"])
                    with server.lock:
                        gen = next(iter(server.model.generate([GenerationRequest("x", prompt, 0, body["seed"])],
                                                              settings)))
                    choice = {"message": {"role": "assistant", "content": gen.text}} if chat else {"text": gen.text}
                    usage = {"prompt_tokens": gen.n_prompt_tokens, "completion_tokens": gen.n_new_tokens}
                    self.reply(200, json.dumps({"choices": [choice], "usage": usage}).encode())
                finally:
                    self.done()

            def done(self):
                """A request stops counting before its answer is written: the client may send the next one
                as soon as it has read this answer, possibly before this thread runs again (seen under load:
                peak 5 with concurrency 3)."""
                if getattr(self, "counted", False):
                    self.counted = False
                    with server.lock:
                        server.in_flight -= 1

            def reply(self, status, payload, headers=None):
                self.done()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    return load(str(build_tiny_llama(tmp_path_factory.mktemp("tiny"), seed=4)), {"device": "cpu"})


@pytest.fixture()
def server(local, monkeypatch):
    monkeypatch.setenv("TEST_ENDPOINT_KEY", KEY)
    srv = TinyServer(local)
    yield srv
    srv.httpd.shutdown()


def endpoint(server, **options):
    return OpenAIEndpoint(f"tiny@{server.url}", {"api_key_env": "TEST_ENDPOINT_KEY", "backoff": 0.01, **options})


def reqs(prompts):
    return [GenerationRequest(str(i), p, 0, SETTINGS.seed_for(str(i), 0)) for i, p in enumerate(prompts)]


def test_completions_match_the_local_model_with_bounded_concurrency(server, local):
    prompts = ["Is this harmful?", "Bake bread", "How to pick a lock", "Hello", "Write a poem", "2+2"]
    remote = {g.sample_id: g for g in endpoint(server, concurrency=3).generate(reqs(prompts), SETTINGS)}
    direct = {g.sample_id: g.text for g in local.generate(reqs(prompts), SETTINGS)}
    assert {k: g.text for k, g in remote.items()} == direct
    assert all(g.error is None and g.n_new_tokens == 6 for g in remote.values())
    assert 1 < server.peak <= 3


def test_chat_api_sends_the_prompt_as_a_user_message(server, local):
    prompts = ["Is this harmful?", "Hello"]
    remote = {g.sample_id: g.text for g in endpoint(server, api="chat").generate(reqs(prompts), SETTINGS)}
    assert remote == {g.sample_id: g.text for g in local.generate(reqs(prompts), SETTINGS)}


def test_retries_then_records_failures_and_goes_on(server):
    prompts = ["flaky [500x2]", "busy [429]", "late [slow]", "broken [garbage]", "fine"]
    model = endpoint(server, retries=3, timeout=0.5)
    gens = {g.sample_id: g for g in model.generate(reqs(prompts), SETTINGS)}
    assert len(gens) == 5
    for i in ("0", "1", "2", "4"):
        assert gens[i].error is None and gens[i].text is not None
    assert gens["3"].text is None and "unreadable answer" in gens["3"].error and "4 attempt" in gens["3"].error
    assert server.attempts["flaky [500x2]"] == 3 and server.attempts["busy [429]"] == 2
    assert server.attempts["late [slow]"] == 2 and server.attempts["broken [garbage]"] == 4


def test_wrong_key_stops_the_run(server, monkeypatch):
    monkeypatch.setenv("TEST_ENDPOINT_KEY", "wrong")
    with pytest.raises(HarnessError, match="refused the request \\(401\\).*TEST_ENDPOINT_KEY"):
        list(endpoint(server).generate(reqs(["Hello"]), SETTINGS))


def test_bad_specs_and_options():
    with pytest.raises(HarnessError, match="expected a model name"):
        OpenAIEndpoint("", {})
    with pytest.raises(HarnessError, match="must start with http"):
        OpenAIEndpoint("m@localhost:8000", {})
    with pytest.raises(HarnessError, match="unknown option"):
        OpenAIEndpoint("m", {"concurency": 4})
    assert OpenAIEndpoint("m", {"dtype": "bfloat16"}).base_url  # local-model options are ignored
