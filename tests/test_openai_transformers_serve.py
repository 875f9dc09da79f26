"""The ``openai`` plugin against ``transformers serve`` (transformers' own OpenAI-compatible server) on loopback,
serving a tiny random Llama: the exact number of prompt tokens the server saw in both APIs, and a run over
it and a second server that dies mid-run (tests/fake_openai.py, to start one slow server only), which
finishes on the real one with the retries recorded.

Skipped when the server cannot start offline here (its FastAPI/Uvicorn extra missing, or no answer)."""

import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from harness.interfaces.model import GenerationRequest, GenerationSettings
from harness.tasks import templates
from harness_plugins.openai_endpoint import OpenAIEndpoint
from tests.fake_openai import FakeServer
from tests.tiny_models import build_tiny_llama, llama3_tokenizer

SETTINGS = GenerationSettings(max_new_tokens=4, temperature=0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_dir, log):
    port = free_port()
    serve = Path(sys.executable).with_name("transformers")
    proc = subprocess.Popen([str(serve), "serve", str(model_dir), "--device", "cpu", "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return proc, f"http://127.0.0.1:{port}/v1"


def wait_healthy(proc, url, timeout=120):
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            if httpx.get(url.removesuffix("/v1") + "/health", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    return False


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    model_dir = build_tiny_llama(root / "tiny", seed=4)
    log = open(root / "serve.log", "w")
    proc, url = start_server(model_dir, log)
    try:
        if not wait_healthy(proc, url):
            pytest.skip(f"transformers serve did not start offline: {(root / 'serve.log').read_text()[-500:]}")
        yield model_dir, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        log.close()


def reqs(n):
    template = templates.resolve_template("seed-chatml")
    return [GenerationRequest(str(i), templates.render(template, f"question number {i}", None), 0,
                              SETTINGS.seed_for(str(i), 0), content=f"question number {i}") for i in range(n)]


def test_the_server_sees_exactly_the_prompt_and_the_messages_we_mean(served):
    model_dir, url = served
    tok = llama3_tokenizer()
    (request,) = reqs(1)
    (completion,) = OpenAIEndpoint(f"{model_dir}@{url}", {}).generate([request], SETTINGS)
    assert completion.error is None and completion.n_new_tokens == 4
    assert completion.n_prompt_tokens == len(tok(request.prompt, add_special_tokens=False)["input_ids"])
    (chat,) = OpenAIEndpoint(f"{model_dir}@{url}", {"api": "chat"}).generate([request], SETTINGS)
    # the server's chat template around the task's user turn, once: no ChatML markup inside it
    user_turn = ("Analyze this content for safety:\n\n\"question number 0\"\n\n"
                 "Is this content safe or harmful? Provide step-by-step reasoning.")
    text = tok.apply_chat_template([{"role": "user", "content": user_turn}], add_generation_prompt=True, tokenize=False)
    assert chat.error is None and chat.n_prompt_tokens == len(tok(text, add_special_tokens=False)["input_ids"])


def test_a_server_dying_mid_run_and_the_run_finishes_on_transformers_serve(served, tmp_path):
    model_dir, url = served
    doomed = FakeServer(tmp_path, "doomed", delay=0.05, die_after=2)
    try:
        model = OpenAIEndpoint(f"{model_dir}@{doomed.url},{url}", {"concurrency": 1, "timeout": 60, "backoff": 0.2})
        requests = reqs(8)
        gens = list(model.generate(requests, SETTINGS))
    finally:
        doomed.stop()
    assert Counter(g.sample_id for g in gens) == Counter(r.sample_id for r in requests)  # none lost or duplicated
    assert all(g.error is None and g.text is not None for g in gens)
    # Whether a request reaches the dead server before the real one has taken the rest depends on timing
    # (the real server's speed under load); what must hold either way: every failure there is recorded and
    # retried on the real server, and each answer comes from exactly one of the two.
    warned = [w for g in gens for w in g.warnings]
    assert all(f"at {doomed.url} failed: connection failed" in w for w in warned)
    counts = model.describe()["requests"]
    assert counts[doomed.url]["answered"] <= 2 and counts[doomed.url]["failed"] == len(warned)
    assert counts[url]["answered"] == 8 - counts[doomed.url]["answered"]
    echoed = sum(g.text.startswith("echo:") for g in gens)  # the fake server's answers are echo:<hash>
    assert echoed == counts[doomed.url]["answered"]
