"""The ``openai`` plugin over several fake servers (tests/fake_openai.py, real processes on loopback):
spreading, bounded concurrency, timeouts and failures retried elsewhere, a server killed mid-run, and
the exact body the server receives in chat mode."""

import json
from collections import Counter

import pytest

from harness.errors import HarnessError
from harness.interfaces.model import GenerationRequest, GenerationSettings
from harness.tasks import templates
from harness_plugins.openai_endpoint import OpenAIEndpoint, chat_messages
from tests.fake_openai import FakeServer, answer_for

SETTINGS = GenerationSettings(max_new_tokens=4, temperature=0)


@pytest.fixture()
def servers(tmp_path):
    started = []

    def start(name, **kw):
        started.append(FakeServer(tmp_path, name, **kw))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def reqs(n, template="seed-chatml"):
    out = []
    for i in range(n):
        prompt = f"question {i}"
        out.append(GenerationRequest(str(i), templates.render(templates.resolve_template(template), prompt, None), 0,
                                     SETTINGS.seed_for(str(i), 0), content=prompt))
    return out


def run(model, requests):
    gens = list(model.generate(requests, SETTINGS))
    ids = Counter(g.sample_id for g in gens)
    assert sorted(ids, key=int) == [r.sample_id for r in requests] and set(ids.values()) == {1}, "lost or duplicated"
    return {g.sample_id: g for g in gens}


def peak_in_flight(log, delay):
    """Most requests a server held at once, from the arrival times it logged and its fixed delay."""
    times = sorted(r["t"] for r in log)
    return max(sum(1 for u in times if t <= u < t + delay * 0.9) for t in times)


def test_requests_are_spread_over_servers_with_bounded_concurrency(servers):
    a, b = servers("a", delay=0.2), servers("b", delay=0.2)
    model = OpenAIEndpoint(f"m@{a.url},{b.url}", {"concurrency": 2})
    requests = reqs(12)
    gens = run(model, requests)
    for r in requests:
        assert gens[r.sample_id].text == answer_for({"prompt": r.prompt}) and gens[r.sample_id].warnings == []
    log_a, log_b = a.requests(), b.requests()
    assert len(log_a) + len(log_b) == 12 and len(log_a) >= 4 and len(log_b) >= 4  # both used, none sent twice
    assert peak_in_flight(log_a, 0.2) == 2 and peak_in_flight(log_b, 0.2) == 2
    counts = model.describe()["requests"]
    assert counts[a.url]["answered"] == len(log_a) and counts[b.url]["answered"] == len(log_b)


def test_endpoints_option_adds_servers_and_bad_lists_are_refused(servers):
    a, b = servers("a"), servers("b")
    model = OpenAIEndpoint("m", {"endpoints": f"[{a.url},{b.url}]"})  # what `-m endpoints=[..]` gives
    assert model.describe()["endpoints"] == [a.url, b.url]
    with pytest.raises(HarnessError, match="listed twice"):
        OpenAIEndpoint(f"m@{a.url}", {"endpoints": [a.url]})
    with pytest.raises(HarnessError, match="'localhost:1' must start with http"):
        OpenAIEndpoint(f"m@{a.url},localhost:1", {})
    with pytest.raises(HarnessError, match="timeout > 0"):
        OpenAIEndpoint("m", {"timeout": 0})
    with pytest.raises(HarnessError, match="messages 'both' is not one of turns, content"):
        OpenAIEndpoint("m", {"api": "chat", "messages": "both"})


def test_a_slow_server_times_out_and_the_request_is_answered_elsewhere_with_the_timeout_recorded(servers):
    slow, fast = servers("slow", delay=3.0), servers("fast")
    model = OpenAIEndpoint(f"m@{slow.url},{fast.url}", {"concurrency": 2, "timeout": 0.5, "backoff": 30})
    gens = run(model, reqs(6))
    retried = [g for g in gens.values() if g.warnings]
    assert len(retried) == 2  # the two sent to the slow server first (it then rests for 30 s)
    for g in retried:
        assert g.error is None and g.text.startswith("echo:")
        assert g.warnings == [f"attempt 1 at {slow.url} failed: timeout: no answer within 0.5 s"]
    counts = model.describe()["requests"]
    assert counts[slow.url] == {"sent": 2, "answered": 0, "timeouts": 2, "failed": 2}
    assert counts[fast.url] == {"sent": 6, "answered": 6, "timeouts": 0, "failed": 0}


def test_a_failing_server_is_avoided_and_a_request_failing_everywhere_is_recorded(servers, capsys):
    bad, good = servers("bad", fail=500), servers("good")
    gens = run(OpenAIEndpoint(f"m@{bad.url},{good.url}", {"concurrency": 1, "backoff": 0.05}), reqs(4))
    assert all(g.error is None for g in gens.values())
    assert any(g.warnings for g in gens.values())
    for g in gens.values():
        for warning in g.warnings:
            assert warning.startswith(f"attempt 1 at {bad.url} failed: HTTP 500")

    only_bad = OpenAIEndpoint(f"m@{bad.url}", {"retries": 2, "backoff": 0.01})
    (g,) = run(only_bad, reqs(1)).values()
    assert g.text is None and g.error.startswith("openai: failed after 3 attempt(s): HTTP 500")
    assert [w.split(" failed")[0] for w in g.warnings] == [f"attempt {i} at {bad.url}" for i in (1, 2, 3)]
    err = capsys.readouterr().err
    assert "openai: 1 requests, 1 retried, 1 failed" in err and f"{bad.url}: 3 sent, 0 answered, 3 failed" in err


def test_a_server_killed_mid_run_loses_nothing_and_the_run_finishes_on_the_other(servers):
    doomed, survivor = servers("doomed", delay=0.1, die_after=3), servers("survivor", delay=0.1)
    model = OpenAIEndpoint(f"m@{doomed.url},{survivor.url}", {"concurrency": 2, "backoff": 0.05})
    requests = reqs(16)
    gens = run(model, requests)  # every id exactly once
    assert doomed.proc.wait(timeout=5) == 9
    for r in requests:
        assert gens[r.sample_id].error is None and gens[r.sample_id].text == answer_for({"prompt": r.prompt})
    warnings = [w for g in gens.values() for w in g.warnings]
    assert warnings and all(w.split(" failed: ")[0].endswith(doomed.url) for w in warnings)
    assert all("connection failed" in w for w in warnings)
    counts = model.describe()["requests"]
    assert counts[doomed.url]["answered"] <= 3 and counts[doomed.url]["failed"] == len(warnings)
    assert counts[doomed.url]["answered"] + counts[survivor.url]["answered"] == 16
    assert len(survivor.requests()) == counts[survivor.url]["answered"]  # nothing sent twice to the survivor


def test_chat_mode_sends_the_template_turns_without_its_markup(servers):
    server = servers("chat")
    run(OpenAIEndpoint(f"m@{server.url}", {"api": "chat"}), reqs(1))
    run(OpenAIEndpoint(f"m@{server.url}", {"api": "chat", "messages": "content"}), reqs(1))
    run(OpenAIEndpoint(f"m@{server.url}", {"api": "chat"}), reqs(1, template="guardreasoner"))
    turns, content, plain = [r["body"] for r in server.requests()]
    assert turns["messages"] == [{"role": "user", "content": "Analyze this content for safety:\n\n\"question 0\"\n\n"
                                  "Is this content safe or harmful? Provide step-by-step reasoning."}]
    assert content["messages"] == [{"role": "user", "content": "question 0"}]
    assert plain["messages"] == [{"role": "user", "content": templates.GUARDREASONER_INSTRUCTION
                                  + "\nHuman user:\nquestion 0\n\nAI assistant:\nNone\n\n"}]
    assert "<|im_start|>" not in json.dumps(turns) and "prompt" not in turns
    assert {r["path"] for r in server.requests()} == {"/v1/chat/completions"}


def test_chat_messages_keeps_system_turns_and_drops_the_open_assistant_turn():
    prompt = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nLet me"
    assert chat_messages(prompt, "Hi", "turns") == [{"role": "system", "content": "Be brief."},
                                                    {"role": "user", "content": "Hi"}]


def test_eval_records_retries_and_the_manifest_counts(servers, cli, tmp_path):
    bad, good = servers("bad", fail=503), servers("good")
    data = tmp_path / "data"
    data.mkdir()
    (data / "t.jsonl").write_text("".join(json.dumps({"text": f"q{i}", "label": "bad"}) + "\n" for i in range(4)))
    task = tmp_path / "t.yaml"
    task.write_text("name: t\nsource: {path: t.jsonl}\nformat: jsonl\nfields: {prompt: text, label: label}\n"
                    "labels: {bad: harmful, good: safe}\npositive: harmful\n")
    code, out, err = cli("eval", "--model", f"openai:m@{bad.url},{good.url}", "--task", task, "--data-dir", data,
                         "--quiet", "-m", "concurrency=1", "-m", "backoff=0.05", "--json")
    assert code == 0, err
    run_dir = json.loads(out)["runs"]["t"]["dir"]
    records = [json.loads(line) for line in open(f"{run_dir}/samples.jsonl")]
    retried = [r["completions"][0]["warnings"] for r in records if r["completions"][0]["warnings"]]
    assert retried and all(w[0].startswith(f"attempt 1 at {bad.url} failed: HTTP 503") for w in retried)
    info = json.load(open(f"{run_dir}/manifest.json"))["model_info"]
    assert info["requests"][good.url]["answered"] == 4
    assert info["requests"][bad.url]["failed"] == len(retried) == info["requests"][bad.url]["sent"]
    assert "openai: 4 requests" in err
